"""Builders shared by the tests: a synthetic kernel, CPIO trees as GNU cpio `--reproducible`
writes them, EIFs with the reference builder's defaults, signers, and compiled inputs (gcc,
py_compile). Tests build their fixtures here so that every byte is explained."""

from __future__ import annotations

import functools
import hashlib
import os
import py_compile
import shutil
import struct
import subprocess
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from eifdiff.build import Signer, build_eif, default_metadata
from eifdiff.compare import compare_files
from eifdiff.formats.cpio import S_IFDIR, S_IFREG, CpioMember, write_archive
from eifdiff.load import Limits
from eifdiff.records import Divergence
from eifdiff.report.model import Report

BUILD_TIME = "2024-01-01T00:00:00+00:00"
MTIME = 1_704_067_200  # 2024-01-01T00:00:00Z
MTIME_B = 1_718_357_271  # 2024-06-14T09:27:51Z
VERSION = "6.1.0-test (builder@host-a) #1 SMP Mon Jan  1 00:00:00 UTC 2024"
CMDLINE = b"reboot=k panic=30 pci=off console=ttyS0 random.trust_cpu=on"
KERNEL_SIZE = 0x1000
VERSION_PTR = 0x300  # relative to 0x200: the string sits at 0x500
VERSION_SLOT = 128
APP_SOURCE = """\
#include <stdio.h>
static const char greeting[] = "hello from the enclave";
int counter = 7;
int main(void) { printf("%s %d\\n", greeting, counter); return 0; }
"""
PY_SOURCE = 'def greet(name):\n    return "hello " + name\n'

RAMDISK0 = ("PCR0", "PCR1")
RAMDISK1 = ("PCR0", "PCR2")
BOOT = ("PCR0", "PCR1")  # kernel and cmdline


def kernel(version: str = VERSION, *, seed: bytes = b"eifdiff test kernel") -> bytes:
    """A synthetic bzImage: seeded bytes, `HdrS` at 0x202, `kernel_version` pointer at 0x20E and
    the version string in a NUL-padded slot at 0x500."""
    raw = bytearray(hashlib.shake_256(seed).digest(KERNEL_SIZE))
    raw[0x1FE:0x200] = b"\x55\xaa"
    raw[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", raw, 0x206, 0x020F)
    struct.pack_into("<H", raw, 0x20E, VERSION_PTR)
    text = version.encode("ascii")
    assert len(text) < VERSION_SLOT
    start = 0x200 + VERSION_PTR
    raw[start : start + VERSION_SLOT] = text.ljust(VERSION_SLOT, b"\0")
    return bytes(raw)


def tree(spec: Iterable[tuple[str, bytes | None, int]]) -> list[CpioMember]:
    """Members as `cpio --reproducible --owner=0:0` writes them: inodes 0, 1, 2... in order,
    every mtime MTIME; `data` None makes a directory."""
    out = []
    for i, (name, data, perm) in enumerate(spec):
        if data is None:
            m = CpioMember(name, mode=S_IFDIR | perm, nlink=2)
        else:
            m = CpioMember(name, data, mode=S_IFREG | perm)
        out.append(replace(m, mtime=MTIME, ino=i))
    return out


def boot_members() -> list[CpioMember]:
    return tree([("dev", None, 0o755), ("init", b"\x7fELF-not-really init\n" * 8, 0o755),
                 ("nsm.ko", b"nsm module bytes\n" * 4, 0o644)])


def customer_members(app: bytes = b"#!/bin/sh\necho app\n",
                     extra: Iterable[tuple[str, bytes | None, int]] = ()) -> list[CpioMember]:
    spec = [
        ("cmd", b"/bin/app\n", 0o644),
        ("env", b"PATH=/usr/bin:/bin\n", 0o644),
        ("rootfs", None, 0o755),
        ("rootfs/bin", None, 0o755),
        ("rootfs/bin/app", app, 0o755),
        ("rootfs/etc", None, 0o755),
        ("rootfs/etc/os-release", b'NAME="Example"\nVERSION_ID="1"\n', 0o644),
        *extra,
    ]
    return tree(sorted(spec, key=lambda s: s[0].encode("utf-8", "surrogateescape")))


def cpio(members: Iterable[CpioMember]) -> bytes:
    return write_archive(members)


def changed(members: list[CpioMember], name: str, **fields: Any) -> list[CpioMember]:
    """`members` with the named member's fields replaced."""
    assert any(m.name == name for m in members), name
    return [replace(m, **fields) if m.name == name else m for m in members]


BOOT_CPIO = cpio(boot_members())
CUSTOMER_CPIO = cpio(customer_members())


def make_eif(path: Path, *, kernel_bytes: bytes | None = None, cmdline: bytes = CMDLINE,
             ramdisks: Iterable[bytes] | None = None, name: str | None = None,
             build_time: str = BUILD_TIME, arch: str = "x86_64",
             signer: Signer | None = None) -> Path:
    """Build an EIF with the reference builder's metadata defaults and a fixed build time."""
    md = default_metadata("bzImage", name=name, build_time=build_time)
    build_eif(path, kernel=kernel() if kernel_bytes is None else kernel_bytes, cmdline=cmdline,
              ramdisks=list(ramdisks) if ramdisks is not None else [BOOT_CPIO, CUSTOMER_CPIO],
              metadata=md, arch=arch, signer=signer)
    return path


def compare_pair(tmp: Path, a: dict[str, Any], b: dict[str, Any],
                 limits: Limits | None = None) -> Report:
    """Build a.eif and b.eif in `tmp` from `make_eif` keyword arguments and compare them."""
    tmp.mkdir(parents=True, exist_ok=True)
    pa = make_eif(tmp / "a.eif", **a)
    pb = make_eif(tmp / "b.eif", **b)
    return compare_files(pa, pb, limits=limits)


def causes(report: Report) -> set[str]:
    return {d.category for d in report.divergences if d.is_cause}


def rows_of(report: Report, category: str, field: str | None = None) -> list[Divergence]:
    return [d for d in report.divergences
            if d.category == category and (field is None or d.field == field)]


@functools.cache
def signer(label: str) -> Signer:
    """A P-256 key with a self-signed certificate; signatures are randomised (not RFC 6979)."""
    secret = int.from_bytes(hashlib.sha256(f"eifdiff test key {label}".encode()).digest(), "big")
    key = ec.derive_private_key(secret % (2**255), ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"eifdiff-test-{label}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(0x1000 + len(label))
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2034, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    return Signer(cert.public_bytes(serialization.Encoding.PEM), key)


def gcc(src_dir: Path, source: str = APP_SOURCE, *args: str) -> bytes:
    """`gcc -g -O1` of `source` in `src_dir` (which DWARF records as the build directory)."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is not installed (make test installs it)")
    src_dir.mkdir(parents=True, exist_ok=True)
    (src_dir / "app.c").write_text(source)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
           "TMPDIR": str(src_dir)}
    subprocess.run(["gcc", "-g", "-O1", *args, "-o", "app", "app.c"], cwd=src_dir, env=env,
                   check=True)
    return (src_dir / "app").read_bytes()


def pyc(work: Path, mtime: int, source: str = PY_SOURCE) -> bytes:
    """A timestamp-based .pyc of `source`, whose source file has `mtime`."""
    work.mkdir(parents=True, exist_ok=True)
    src = work / "greeting.py"
    src.write_text(source)
    os.utime(src, (mtime, mtime))
    out = work / f"greeting-{mtime}.pyc"
    py_compile.compile(str(src), cfile=str(out), dfile="/usr/lib/app/greeting.py", doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    return out.read_bytes()


AWKWARD_NAMES = ("rootfs/bin/app:v2", "rootfs/etc/a#1", "rootfs/etc/new\nline",
                 "rootfs/etc/bad-\udcff-utf8")


def awkward_pair(tmp: Path) -> tuple[Path, Path]:
    """Two EIFs whose customer ramdisk is gzip-compressed and holds names with `:`, `#`, a
    newline and a byte that is not UTF-8: `rootfs/bin/app:v2` is one C program compiled in two
    directories, each odd name changes mtime, and `cmd` appears twice (its second copy changes)."""
    tmp.mkdir(parents=True, exist_ok=True)
    apps = [gcc(tmp / "build" / d / "src") for d in ("a", "bb-longer")]
    out = []
    for side, app in zip("ab", apps, strict=True):
        members = customer_members(extra=[
            (AWKWARD_NAMES[0], app, 0o755),
            *((n, f"{n!r}\n".encode(), 0o644) for n in AWKWARD_NAMES[1:])])
        members = [replace(m, mtime=MTIME_B) if side == "b" and m.name in AWKWARD_NAMES[1:]
                   else m for m in members]
        dup = replace(members[0], data=b"/bin/app --second\n" if side == "b" else
                      b"/bin/app --first\n")
        assert members[0].name == "cmd"
        data = gzip_bytes(write_archive([*members, dup]))
        out.append(make_eif(tmp / f"{side}.eif", ramdisks=[BOOT_CPIO, data]))
    return out[0], out[1]


def gzip_bytes(data: bytes, *, level: int = 9, mtime: int = MTIME) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=level, mtime=mtime)
