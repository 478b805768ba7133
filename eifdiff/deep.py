"""`--deep`: diffoscope's view of each divergent file pair, bounded in count and time.

Each pair is written to a private temporary folder under its own base name (so diffoscope can
recognise the file type) and compared by a diffoscope subprocess with a timeout; its text output
is attached to the report under the entry's path. When the kernels differ, the two vmlinux
files decompressed from them are compared first, under `kernel:vmlinux`.
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

from eifdiff.errors import FormatError
from eifdiff.formats.bzimage import read_kernel
from eifdiff.formats.eif import SectionType
from eifdiff.load import LoadedImage, Member
from eifdiff.records import Divergence

KERNEL_KEY = "kernel:vmlinux"

_HEADER_FIELDS = {
    "mode", "type", "uid", "gid", "mtime", "ino", "nlink", "devmajor", "devminor", "rdevmajor",
    "rdevminor", "filesize", "check", "magic", "order", "entry",
}


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


def entry_paths(divergences: Iterable[Divergence]) -> list[str]:
    """`ramdisk[i]:name` of every entry whose content (not just header) differs, in order."""
    out: dict[str, None] = {}
    for d in divergences:
        if d.layer == "elf" or (d.layer == "cpio-entry" and d.field not in _HEADER_FIELDS
                                and d.category not in ("added", "removed", "derived")):
            ramdisk, _, rest = d.path.partition(":")
            name = rest.split(":", 1)[0] if d.layer == "elf" else rest
            out[f"{ramdisk}:{name}"] = None
    return list(out)


def _find(img: LoadedImage, path: str) -> Member | None:
    ramdisk, _, name = path.partition(":")
    for r in img.ramdisks:
        if r.name == ramdisk:
            return next((m for m in r.members() if m.entry.name == name), None)
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
    divergences = list(divergences)
    paths = entry_paths(divergences)
    if any(d.layer == "kernel" for d in divergences) and options.max_files > 0:
        text = _vmlinux_diff(a, b, options.timeout)
        if text is not None:
            out[KERNEL_KEY] = _cut(text, options.max_chars)
    for i, path in enumerate(paths):
        if len(out) >= options.max_files:
            out["(more)"] = f"{len(paths) - i} more entries not compared (--deep-max-files)"
            break
        left = options.total_timeout - (time.monotonic() - started)
        if left <= 0:
            out["(more)"] = f"{len(paths) - i} more entries not compared (time bound)"
            break
        ma, mb = _find(a, path), _find(b, path)
        if ma is None or mb is None:
            continue
        text = diffoscope_pair(ma.entry.name, ma.data, mb.data, min(options.timeout, left))
        out[path] = _cut(text, options.max_chars)
    return out


def _cut(text: str, max_chars: int) -> str:
    if len(text) > max_chars:
        return text[:max_chars] + f"\n… cut at {max_chars} characters"
    return text


def _vmlinux(img: LoadedImage) -> bytes | None:
    section = img.layout.one(SectionType.KERNEL)
    if section is None:
        return None
    try:
        return read_kernel(img.section_data(section)).vmlinux
    except FormatError:
        return None


def _vmlinux_diff(a: LoadedImage, b: LoadedImage, timeout: float) -> str | None:
    """diffoscope on the two kernels' vmlinux files; None when either cannot be decompressed
    or both are the same."""
    va, vb = _vmlinux(a), _vmlinux(b)
    if va is None or vb is None or va == vb:
        return None
    return diffoscope_pair("vmlinux", va, vb, timeout)
