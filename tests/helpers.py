"""Shared helpers for the test suite: where the vectors are, how to run the CLI, EIF surgery."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eifdiff.formats.eif import SectionType, write_eif
from eifdiff.formats.metadata import Metadata, encode_metadata

REPO_ROOT = Path(__file__).resolve().parents[1]
VECTORS = REPO_ROOT / ".." / "shared" / "vectors"

HEADER = struct.Struct(">4sHHQQHH32Q32QII")
SECTION = struct.Struct(">HHQ")
EMPTY_PCR = (
    "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c"
    "10edb30948c90ba67310f7b964fc500a"
)
PCRS = ("PCR0", "PCR1", "PCR2", "PCR8")


@contextlib.contextmanager
def within_cpu(seconds: float, what: str = "work") -> Iterator[None]:
    """Assert that the block used under `seconds` of this process's CPU time.

    CPU time, not wall time: a bound meant to catch work proportional to what a header claims
    must not fail because a CI machine is busy with other jobs."""
    start = time.process_time()
    yield
    used = time.process_time() - start
    assert used < seconds, f"{what} took {used:.2f} s of CPU (bound {seconds} s)"


def require_vectors() -> Path:
    """The vectors directory; a missing one is a hard failure (CI always has ../shared)."""
    if not (VECTORS / "index.json").is_file():
        raise AssertionError(
            f"conformance vectors not found at {VECTORS.resolve()} "
            "(expected ../shared/vectors beside the repository)"
        )
    return VECTORS


@functools.cache
def vector_index() -> dict[str, dict[str, Any]]:
    return json.loads((require_vectors() / "index.json").read_text())


def vector_names() -> list[str]:
    """Vector names for parametrisation; a placeholder when the directory is missing, so that
    the tests fail (in `require_vectors`) instead of silently collecting nothing."""
    if not (VECTORS / "index.json").is_file():
        return ["<vectors missing>"]
    return sorted(vector_index())


@dataclass(frozen=True)
class Vector:
    name: str
    root: Path
    entry: dict[str, Any]
    expected: dict[str, Any]

    @classmethod
    def load(cls, name: str) -> Vector:
        root = require_vectors()
        index = vector_index()
        assert name in index, f"{name} not in {root / 'index.json'}"
        expected = json.loads((root / "expected" / f"{name}.json").read_text())
        return cls(name, root, index[name], expected)

    @property
    def eif(self) -> Path:
        return self.root / "eif" / f"{self.name}.eif"

    @property
    def data(self) -> bytes:
        return self.eif.read_bytes()

    @property
    def options(self) -> list[str]:
        return shlex.split(self.entry["options"])

    @property
    def signed(self) -> bool:
        return "--signing-certificate" in self.options

    @property
    def cmdline_text(self) -> str:
        return (self.root / self.entry["cmdline"]).read_text()

    def build_args(self, output: Path, *, cmdline_file: bool = False,
                   options: list[str] | None = None) -> list[str]:
        """`eifdiff build` arguments reproducing this vector (paths relative to the vectors dir)."""
        args = ["build", "--kernel", f"inputs/{self.entry['kernel']}"]
        if cmdline_file:
            args += ["--cmdline-file", self.entry["cmdline"]]
        else:
            args += ["--cmdline", self.cmdline_text]
        for rd in self.entry["ramdisks"]:
            args += ["--ramdisk", f"inputs/{rd}"]
        args += self.options if options is None else options
        args += ["--build-time", self.entry["build_time"], "--output", str(output)]
        return args


def eifdiff_command() -> list[str]:
    script = Path(sys.executable).parent / "eifdiff"
    if script.is_file():
        return [str(script)]
    found = shutil.which("eifdiff")
    return [found] if found else [sys.executable, "-m", "eifdiff"]


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*eifdiff_command(), *map(str, args)], capture_output=True, text=True, cwd=cwd,
        timeout=120, check=False,
    )


@dataclass(frozen=True)
class Measured:
    """One `eifdiff` run: exit code, output, wall time, CPU time and peak RSS of eifdiff and
    its workers (not of the test process)."""

    code: int
    out: bytes
    err: str
    wall: float
    cpu: float
    rss_mb: float

    @property
    def text(self) -> str:
        return self.out.decode("utf-8")  # strict: every output must be UTF-8


# A fresh, small interpreter whose only child is eifdiff: its RUSAGE_CHILDREN peak is eifdiff's.
# Spawning eifdiff from the test process itself would count the test process's own peak (a
# vfork child's exec records its parent's high-water mark; a fork child starts at its size).
_MEASURER = textwrap.dedent("""
    import json, resource, subprocess, sys
    out, nofile, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if nofile:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    try:
        rc = subprocess.call(sys.argv[4:], stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        rc = -9
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        json.dump({"rss_kb": u.ru_maxrss, "cpu": u.ru_utime + u.ru_stime}, f)
    sys.exit(rc & 0xFF)
""")


def run_measured(*args: str | Path, nofile: int = 0, timeout: float = 300,
                 env: dict[str, str] | None = None,
                 program: list[str] | None = None) -> Measured:
    """Run `eifdiff ARGS` (or `program ARGS`; with at most `nofile` open files, when given) and
    measure it."""
    with tempfile.TemporaryDirectory(prefix="eifdiff-measure-") as tmp:
        usage = Path(tmp) / "usage.json"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _MEASURER, str(usage), str(nofile),
                               str(timeout), *(program or eifdiff_command()),
                               *map(str, args)],
                              capture_output=True, timeout=timeout + 60, check=False,
                              env={**os.environ, **(env or {})})
        wall = time.perf_counter() - start
        used = json.loads(usage.read_text())
    code = proc.returncode if proc.returncode < 128 else proc.returncode - 256
    return Measured(code, proc.stdout, proc.stderr.decode("utf-8", "replace"), wall,
                    used["cpu"], used["rss_kb"] / 1024)


def cli(*args: object) -> tuple[int, str, str]:
    """`eifdiff ARGS` in this process (the same `main` the console script runs): exit code,
    stdout and stderr; argparse's SystemExit becomes the exit code."""
    import contextlib
    import io

    from eifdiff.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 2
    return rc, out.getvalue(), err.getvalue()


def header_values(buf: bytes) -> list[Any]:
    return list(HEADER.unpack_from(buf, 0))


def with_crc(buf: bytes | bytearray) -> bytes:
    """`buf` with the CRC at 544 recomputed over [0, 544) and [548, end)."""
    b = bytearray(buf)
    crc = zlib.crc32(b[548:], zlib.crc32(b[:544]))
    b[544:548] = struct.pack(">I", crc)
    return bytes(b)


def patch_header(buf: bytes, *, fix_crc: bool = True, **fields: Any) -> bytes:
    """Rewrite header fields by name (`num_sections=0`, `offsets={3: 123}`, `sizes={...}`)."""
    v = header_values(buf)
    names = ["magic", "version", "flags", "default_mem", "default_cpus", "reserved",
             "num_sections"]
    for name, value in fields.items():
        if name in names:
            v[names.index(name)] = value
        elif name == "offsets":
            for i, x in value.items():
                v[7 + i] = x
        elif name == "sizes":
            for i, x in value.items():
                v[39 + i] = x
        elif name == "unused":
            v[71] = value
        else:
            raise KeyError(name)
    out = HEADER.pack(*v) + buf[HEADER.size:]
    return with_crc(out) if fix_crc else out


def section_offsets(buf: bytes) -> list[int]:
    v = header_values(buf)
    return list(v[7 : 7 + v[6]])


def patch_section_header(buf: bytes, index: int, *, fix_crc: bool = True, stype: int | None = None,
                         flags: int | None = None, size: int | None = None) -> bytes:
    off = section_offsets(buf)[index]
    t, f, s = SECTION.unpack_from(buf, off)
    new = SECTION.pack(t if stype is None else stype, f if flags is None else flags,
                       s if size is None else size)
    out = buf[:off] + new + buf[off + SECTION.size :]
    return with_crc(out) if fix_crc else out


def small_metadata(name: str = "test", **kw: Any) -> Metadata:
    base = dict(
        image_name=name, image_version="1.0", build_time="1970-01-01T00:00:00+00:00",
        build_tool="eif_build", build_tool_version="0.3.1", operating_system="OS",
        kernel_version="kernel",
    )
    base.update(kw)
    return Metadata(**base)


def tiny_eif(ramdisks: tuple[bytes, ...] = (b"RAMDISK0", b"RAMDISK1"), *,
             kernel: bytes = b"KERNEL", cmdline: bytes = b"console=ttyS0",
             arch: str = "x86_64") -> bytes:
    """The §11.3 derived example of eif-format.md (with these default arguments)."""
    sections = [(SectionType.KERNEL, kernel), (SectionType.CMDLINE, cmdline),
                (SectionType.METADATA, encode_metadata(small_metadata()))]
    sections += [(SectionType.RAMDISK, r) for r in ramdisks]
    return write_eif(sections, arch=arch)


class CliBatch:
    """`eifdiff` subprocesses run a few at a time in the background; results fetched by key.

    Starting every vector's describe and rebuild at once lets two cores overlap the
    interpreter start-up of each run; each parametrised test then waits for its own result.
    """

    def __init__(self, workers: int = 4, out_dir: Path | None = None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.out_dir = out_dir
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._jobs: dict[str, Any] = {}

    def submit(self, key: str, *args: str | Path, cwd: Path | None = None) -> None:
        if key not in self._jobs:
            self._jobs[key] = self._pool.submit(run_cli, *args, cwd=cwd)

    def result(self, key: str) -> subprocess.CompletedProcess[str]:
        return self._jobs[key].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def self_signed(key: Any, cn: str = "test") -> Any:
    """A self-signed certificate for `key` (CN=cn, O=eifdiff), valid for January 2024."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "eifdiff")])
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(7)
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def truncation_points(data: bytes) -> list[int]:
    points = {0, 1, 3, 4, 547, 548, 559, 560, len(data) - 1}
    v = header_values(data)
    n = v[6]
    for off, size in zip(v[7 : 7 + n], v[39 : 39 + n], strict=True):
        points |= {off, off + 1, off + 11, off + 12, off + 12 + size - 1}
    return sorted(p for p in points if 0 <= p < len(data))
