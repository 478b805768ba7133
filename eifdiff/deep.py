"""`--deep`: diffoscope's view of each divergent file pair, bounded in count and time.

Each pair is written to a private temporary folder under its own base name (so diffoscope can
recognise the file type) and compared by a diffoscope subprocess with a timeout; its text output
is attached to the report under the entry's path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from eifdiff.errors import display_path
from eifdiff.load import LoadedImage, Member
from eifdiff.records import Divergence
from eifdiff.rules import rule


@dataclass(frozen=True)
class DeepOptions:
    max_files: int = 10
    timeout: float = 60.0
    total_timeout: float = 300.0
    max_chars: int = 200_000


def diffoscope_command() -> str | None:
    """The diffoscope beside this interpreter (the project venv), else on PATH."""
    local = Path(sys.executable).parent / "diffoscope"
    return str(local) if local.exists() else shutil.which("diffoscope")


EntryKey = tuple[str, str, int]  # section, entry name, occurrence


def entry_keys(divergences: Iterable[Divergence]) -> list[EntryKey]:
    """Every entry whose content (not just a header field) differs, in report order: the rows
    whose rule says diffoscope can show more."""
    out: dict[EntryKey, None] = {}
    for d in divergences:
        if d.entry is not None and rule(d.layer, d.field).deep:
            out[(d.section, d.entry, d.occurrence)] = None
    return list(out)


def find_member(img: LoadedImage, key: EntryKey) -> Member | None:
    """The `occurrence`-th entry of that name in that ramdisk, if there is one."""
    section, name, occurrence = key
    for r in img.ramdisks:
        if r.name == section:
            seen = 0
            for m in r.members():
                if m.entry.name == name:
                    if seen == occurrence:
                        return m
                    seen += 1
    return None


def run_diffoscope(path_a: str, path_b: str, timeout: float) -> str:
    cmd = diffoscope_command()
    if cmd is None:
        return "diffoscope is not installed (pip install diffoscope)"
    env = dict(os.environ, LC_ALL="C.UTF-8")
    try:
        proc = subprocess.run(
            [cmd, "--text", "-", "--no-progress", "--exclude-directory-metadata=yes",
             path_a, path_b],
            capture_output=True, text=True, timeout=timeout, env=env, check=False,
        )
    except subprocess.TimeoutExpired:
        return f"diffoscope did not finish within {timeout:g} s"
    if proc.returncode not in (0, 1):
        return f"diffoscope failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
    return proc.stdout or "diffoscope found no differences"


def diffoscope_pair(name: str, data_a: bytes | memoryview, data_b: bytes | memoryview,
                    timeout: float, folder: str | None = None) -> str:
    """diffoscope's text for two versions of the entry `name`, written under their base name to
    a private temporary folder; the temporary paths read `a/<name>` and `b/<name>`."""
    base = os.path.basename(name) or "entry"
    with tempfile.TemporaryDirectory(prefix="eifdiff-deep-", dir=folder) as tmp:
        files = []
        for side, data in (("a", data_a), ("b", data_b)):
            (Path(tmp) / side).mkdir()
            target = Path(tmp) / side / base
            target.write_bytes(data)
            files.append(str(target))
        text = run_diffoscope(files[0], files[1], timeout)
    for side, f in zip(("a", "b"), files, strict=True):
        text = text.replace(f, f"{side}/{name}")
    return text


def deep_diffs(a: LoadedImage, b: LoadedImage, divergences: Iterable[Divergence],
               options: DeepOptions) -> dict[str, str]:
    """diffoscope text per divergent entry path, within the count and time bounds."""
    out: dict[str, str] = {}
    started = time.monotonic()
    keys = entry_keys(divergences)
    for i, key in enumerate(keys):
        if len(out) >= options.max_files:
            out["(more)"] = f"{len(keys) - i} more entries not compared (--deep-max-files)"
            break
        left = options.total_timeout - (time.monotonic() - started)
        if left <= 0:
            out["(more)"] = f"{len(keys) - i} more entries not compared (time bound)"
            break
        ma, mb = find_member(a, key), find_member(b, key)
        if ma is None or mb is None:
            continue
        text = diffoscope_pair(ma.entry.name, ma.data, mb.data, min(options.timeout, left))
        if len(text) > options.max_chars:
            text = text[: options.max_chars] + f"\n… cut at {options.max_chars} characters"
        out[display_path(*key)] = text
    return out
