"""`--deep`: diffoscope's view of each divergent file pair, bounded in count, time, input
size, memory and temporary disk.

Each pair is written to a private temporary folder under its base name when that name is plain
(else a generated one keeping a plain suffix, so diffoscope can still recognise the file type)
and compared by a diffoscope subprocess in its own process group, with an address-space limit,
TMPDIR inside that folder (watched against a byte bound) and a timeout after which it gets
SIGTERM, then SIGKILL. The folder is removed whatever happens. The text output is attached to
the report under the entry's path. When the kernels differ, the two vmlinux
files decompressed from them are compared first, under `kernel:vmlinux`.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from eifdiff.errors import FormatError, display_path
from eifdiff.formats.bzimage import read_kernel
from eifdiff.formats.eif import SectionType
from eifdiff.load import LoadedImage, Member
from eifdiff.mapped import write_view
from eifdiff.records import Divergence
from eifdiff.rules import rule

KERNEL_KEY = "kernel:vmlinux"


@dataclass(frozen=True)
class DeepOptions:
    """Bounds on `--deep`: pairs compared, seconds per run and for all runs, characters kept
    per pair, bytes of either file given to diffoscope, diffoscope's address space (inherited
    by the tools it runs), bytes of its temporary files (and of any one file it writes), and
    seconds between SIGTERM and SIGKILL."""

    max_files: int = 10
    timeout: float = 60.0
    total_timeout: float = 300.0
    max_chars: int = 200_000
    max_input: int = 64 << 20
    max_memory: int = 2 << 30
    max_temp: int = 1 << 30
    grace: float = 2.0


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


def _limit(memory: int, file_size: int) -> Callable[[], None]:
    """Resource limits for the diffoscope child and what it runs (inherited): address space
    and the size of any one file it writes."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _tree_size(folder: str, cap: int) -> int:
    """Bytes in the files under `folder` (stops counting past `cap`)."""
    total = 0
    stack = [folder]
    while stack and total <= cap:
        try:
            with os.scandir(stack.pop()) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        elif e.is_file(follow_symlinks=False):
                            total += e.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def _stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM to the child's process group, then SIGKILL to what is left after `grace`."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            if sig is signal.SIGTERM:  # the leader left; make sure its helpers did too
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


def _remove_tree(folder: str) -> None:
    """Remove `folder` whatever its children did to their modes."""
    def retry(func: Callable[..., object], path: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)
            func(path)
    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=retry)
    else:
        shutil.rmtree(folder, onerror=retry)  # pragma: no cover (3.11)
    with contextlib.suppress(OSError):
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    """While diffoscope runs, SIGTERM to eifdiff unwinds (so temporary files are removed)
    instead of ending the process on the spot."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_diffoscope(path_a: str, path_b: str, timeout: float, *,
                   options: DeepOptions | None = None, tmpdir: str | None = None) -> str:
    """diffoscope's text for two files: in its own process group, with `options`' memory and
    file-size limits, TMPDIR set to `tmpdir` (watched against `options.max_temp`), stopped
    gently (SIGTERM, then SIGKILL) at the timeout; its output is read up to `max_chars`."""
    options = options or DeepOptions()
    cmd = diffoscope_command()
    if cmd is None:
        return "diffoscope is not installed (pip install diffoscope)"
    env = dict(os.environ, LC_ALL="C.UTF-8")
    if tmpdir is not None:
        env.update(TMPDIR=tmpdir, TEMP=tmpdir, TMP=tmpdir)
    with tempfile.TemporaryFile(dir=tmpdir) as out, tempfile.TemporaryFile(dir=tmpdir) as err:
        proc = subprocess.Popen(
            [cmd, "--text", "-", "--no-progress", "--exclude-directory-metadata=yes",
             path_a, path_b],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, start_new_session=True,
            preexec_fn=_limit(options.max_memory, options.max_temp),
        )
        verdict = None
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    proc.wait(min(0.2, max(0.0, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    pass
                if time.monotonic() >= deadline:
                    verdict = f"diffoscope did not finish within {timeout:g} s"
                    break
                if tmpdir is not None and _tree_size(tmpdir, options.max_temp) > \
                        options.max_temp:
                    verdict = (f"diffoscope stopped: its temporary files passed "
                               f"{options.max_temp} bytes")
                    break
        finally:
            _stop_group(proc, options.grace)
        if verdict is not None:
            return verdict
        text = _read_text(out, options.max_chars)
        if proc.returncode not in (0, 1):
            why = (f"signal {-proc.returncode}" if proc.returncode < 0
                   else f"exit {proc.returncode}")
            tail = _read_text(err, 4000, tail=True).strip()[-500:]
            return f"diffoscope failed ({why}): {tail}".rstrip(": ")
        return text or "diffoscope found no differences"


def _read_text(f: IO[bytes], max_chars: int, *, tail: bool = False) -> str:
    """At most about `max_chars` characters of a captured output, decoded leniently."""
    size = f.seek(0, os.SEEK_END)
    limit = 4 * max_chars + 4
    f.seek(max(0, size - limit) if tail else 0)
    return f.read(limit).decode("utf-8", "replace")


_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+@,=-]{0,127}")
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9_+-]{1,16}")


def safe_name(name: str) -> str:
    """A file name to write the entry `name` under: its base name when that is plain
    (letters, digits and `._+@,=-`, at most 128 bytes, not `.` or `..`), else `entry` with
    the base name's suffix when that suffix is plain (`.so`, `.pyc`)."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    if _SAFE_NAME.fullmatch(base) and base not in (".", ".."):
        return base
    dot = base.rfind(".")
    suffix = base[dot:] if dot >= 0 else ""
    return "entry" + (suffix if _SAFE_SUFFIX.fullmatch(suffix) else "")


def diffoscope_pair(name: str, data_a: bytes | memoryview, data_b: bytes | memoryview,
                    timeout: float, folder: str | None = None, *,
                    options: DeepOptions | None = None) -> str:
    """diffoscope's text for two versions of the entry `name`, written under a safe name
    (`safe_name`) to a private temporary folder that also holds diffoscope's own temporary
    files and is removed whatever happens; the temporary paths read `a/<name>`, `b/<name>`."""
    options = options or DeepOptions()
    big = max(len(data_a), len(data_b))
    if big > options.max_input:
        return (f"not compared: {big} bytes is over the {options.max_input}-byte bound for "
                "diffoscope's input")
    base = safe_name(name)
    tmp = tempfile.mkdtemp(prefix="eifdiff-deep-", dir=folder)
    files = []
    try:
        with _terminated_as_interrupt():
            os.mkdir(os.path.join(tmp, "tmp"), 0o700)
            for side, data in (("a", data_a), ("b", data_b)):
                os.mkdir(os.path.join(tmp, side), 0o700)
                target = os.path.join(tmp, side, base)
                with open(target, "xb") as f:
                    write_view(f, data)
                files.append(target)
            text = run_diffoscope(files[0], files[1], timeout, options=options,
                                  tmpdir=os.path.join(tmp, "tmp"))
    finally:
        _remove_tree(tmp)
    for side, path in zip(("a", "b"), files, strict=True):
        text = text.replace(path, f"{side}/{name}")
    return text


def deep_diffs(a: LoadedImage, b: LoadedImage, divergences: Iterable[Divergence],
               options: DeepOptions) -> dict[str, str]:
    """diffoscope text per divergent entry path, within the count and time bounds."""
    out: dict[str, str] = {}
    started = time.monotonic()
    divergences = list(divergences)
    keys = entry_keys(divergences)
    if any(d.layer == "kernel" for d in divergences) and options.max_files > 0:
        text = _vmlinux_diff(a, b, options.timeout)
        if text is not None:
            out[KERNEL_KEY] = _cut(text, options.max_chars)
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
        text = diffoscope_pair(ma.entry.name, ma.data, mb.data, min(options.timeout, left),
                               options=options)
        out[display_path(*key)] = _cut(text, options.max_chars)
    return out


def _cut(text: str, max_chars: int) -> str:
    if len(text) > max_chars:
        return text[:max_chars] + f"\n… cut at {max_chars} characters"
    return text


def _vmlinux(img: LoadedImage) -> memoryview | None:
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
