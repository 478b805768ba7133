#!/usr/bin/env python3
"""Regenerate the sample EIF pairs: `samples/<pair>/a.eif` and `samples/<pair>/b.eif`.

Each pair differs in exactly one cause of non-reproducibility; everything else is byte-identical.
Every input is fixed (seeded kernel bytes, fixed mtimes, build time, keys, certificates, gcc
build directories), so two runs write the same bytes. The ELF files are compiled by gcc in fixed
directories under /tmp/eifdiff-build (held under a lock and removed afterwards), because `-g`
records the build directory; the bytes therefore depend on the gcc and python versions
(`GCC_VERSION`, and the `.pyc` magic of `PYTHON_CACHE_TAG`). See samples/README.md.

    .venv/bin/python scripts/make_samples.py [--out DIR]
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import hashlib
import importlib.util
import io
import json
import os
import py_compile
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from eifdiff.build import Signer, build_eif, default_metadata
from eifdiff.formats.cpio import S_IFDIR, S_IFREG, CpioMember, write_archive

ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = Path("/tmp/eifdiff-build")
SRC_A = BUILD_ROOT / "a" / "src"  # the usual build directory
SRC_B = BUILD_ROOT / "bb-longer" / "src"  # the other checkout of `elf-build-path`
GCC_VERSION = "gcc (Debian 12.2.0-14+deb12u1) 12.2.0"  # the samples were made with this
PYTHON_CACHE_TAG = "cpython-311"  # and this python (the .pyc magic and file name)

BUILD_TIME = "2024-01-01T00:00:00+00:00"
BUILD_TIME_B = "2024-06-14T09:27:51.372818214+00:00"
MTIME = 1_704_067_200  # 2024-01-01T00:00:00Z: every CPIO mtime (as if clamped to a release date)
MTIME_B = 1_718_357_271  # 2024-06-14T09:27:51Z: when the other build wrote its files
KERNEL_SIZE = 64 * 1024
KERNEL_VERSION_PTR = 0x300  # relative to 0x200, as in the reference inputs
KERNEL_VERSION_SLOT = 128  # NUL-padded room for the version string
KERNEL_VERSION = "6.1.0-eifdiff (builder@host-a) #1 SMP Mon Jan  1 00:00:00 UTC 2024"
KERNEL_VERSION_B = "6.1.0-eifdiff (ci-runner@build-host-b7) #1 SMP Fri Jun 14 09:27:51 UTC 2024"
CMDLINE = (
    b"reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp "
    b"i8042.dumbkbd random.trust_cpu=on"
)
APP_UID = 1000  # the unprivileged build user of `cpio-owner`
FS_DEV = (259, 1)  # an NVMe partition, as stat() reports it for `cpio-inode`
FS_INO_BASE = 2_621_440
GZIP_A = ("tmpq8x1k2fz.cpio", MTIME)  # temporary file name and time each build compressed
GZIP_B = ("tmp3n7wd0ma.cpio", MTIME_B)
# Entries the application build step writes (mtime and owner pairs change these).
APP_LAYER = ("rootfs/bin/app", "rootfs/usr/lib/app")

INIT_C = """\
/* Minimal enclave init for the samples: hand over to the application. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    char *const argv[] = {"/bin/app", NULL};
    char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    execve(argv[0], argv, envp);
    perror("init: execve /bin/app");
    return 1;
}
"""
NSM_C = """\
/* Stand-in for the nsm.ko module of the bootstrap ramdisk. */
static const char modinfo[] __attribute__((section(".modinfo"), used)) =
    "license=GPL\\0name=nsm\\0description=Nitro Secure Module (sample)";

int nsm_init(void) { return 0; }
void nsm_exit(void) { }
"""
APP_C = """\
/* The sample enclave application. */
#include <stdio.h>

static unsigned fnv1a(const char *s)
{
    unsigned h = 2166136261u;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 16777619u;
    }
    return h;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "enclave";
    printf("hello %s (%08x)\\n", name, fnv1a(name));
    return 0;
}
"""
GREETING_PY = 'def greet(name):\n    return "hello " + name\n'


@dataclass(frozen=True)
class Entry:
    """One file or directory of a ramdisk tree (`data` None for a directory)."""

    name: str
    perm: int
    data: bytes | None = None


@dataclass(frozen=True)
class Image:
    """Everything one EIF is built from."""

    kernel: bytes
    ramdisks: tuple[bytes, bytes]
    build_time: str = BUILD_TIME
    signer: Signer | None = None


@dataclass(frozen=True)
class Elfs:
    init: bytes
    nsm: bytes
    app: bytes


# --- build directory and compilers ---------------------------------------------------------


@contextmanager
def build_root() -> Iterator[Path]:
    """The fixed build directory, locked against concurrent runs and removed afterwards."""
    while True:
        BUILD_ROOT.mkdir(exist_ok=True)
        fd = os.open(BUILD_ROOT, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        st = os.fstat(fd)
        try:
            current = os.stat(BUILD_ROOT).st_ino == st.st_ino and st.st_nlink > 0
        except FileNotFoundError:
            current = False
        if current:  # else another run removed it while this one waited
            break
        os.close(fd)
    try:
        for child in BUILD_ROOT.iterdir():  # leftovers of an interrupted run
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        yield BUILD_ROOT
    finally:
        shutil.rmtree(BUILD_ROOT, ignore_errors=True)
        os.close(fd)


def _gcc(cwd: Path, *args: str) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
           "TMPDIR": str(BUILD_ROOT)}
    subprocess.run(["gcc", *args], cwd=cwd, env=env, check=True)


def compile_elfs(src: Path) -> Elfs:
    """Compile init, nsm.ko and the app in `src` (the app with `-g`, so `src` is recorded)."""
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name, text in (("init.c", INIT_C), ("nsm.c", NSM_C), ("app.c", APP_C)):
        (src / name).write_text(text)
    _gcc(src, "-O2", "-o", "init", "init.c")
    _gcc(src, "-O2", "-c", "-o", "nsm.ko", "nsm.c")
    _gcc(src, "-g", "-O1", "-o", "app", "app.c")
    return Elfs(*((src / n).read_bytes() for n in ("init", "nsm.ko", "app")))


def compile_pyc(work: Path) -> tuple[str, bytes]:
    """greeting.py compiled by py_compile: its in-archive path and bytes (timestamp mode)."""
    work.mkdir(parents=True, exist_ok=True)
    source = work / "greeting.py"
    source.write_text(GREETING_PY)
    os.utime(source, (MTIME, MTIME))  # the pyc records the source mtime: the archive's one
    out = work / "greeting.pyc"
    py_compile.compile(str(source), cfile=str(out), dfile="/usr/lib/app/greeting.py",
                       doraise=True, optimize=0,
                       invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    name = importlib.util.cache_from_source("rootfs/usr/lib/app/greeting.py", optimization="")
    return name, out.read_bytes()


# --- kernel ---------------------------------------------------------------------------------


def kernel(version: str = KERNEL_VERSION) -> bytes:
    """A synthetic bzImage: seeded bytes, a setup header and a NUL-padded version string."""
    raw = bytearray(hashlib.shake_256(b"eifdiff sample kernel").digest(KERNEL_SIZE))
    raw[0x1F1] = 15  # setup_sects
    raw[0x1FE:0x200] = b"\x55\xaa"  # boot_flag
    raw[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", raw, 0x206, 0x020F)  # boot protocol 2.15
    struct.pack_into("<H", raw, 0x20E, KERNEL_VERSION_PTR)
    text = version.encode("ascii")
    if len(text) >= KERNEL_VERSION_SLOT:
        raise ValueError("kernel version string too long for its slot")
    start = 0x200 + KERNEL_VERSION_PTR
    raw[start : start + KERNEL_VERSION_SLOT] = text.ljust(KERNEL_VERSION_SLOT, b"\0")
    return bytes(raw)


# --- ramdisks -------------------------------------------------------------------------------


def customer_tree(app: bytes, pyc_name: str, pyc: bytes) -> list[Entry]:
    """nitro-cli's customer ramdisk layout: cmd, env and rootfs/, C-sorted."""
    entries = [
        Entry("cmd", 0o644, b"/bin/app\n"),
        Entry("env", 0o644, b"PATH=/usr/bin:/bin\n"),
        Entry("rootfs/bin/app", 0o755, app),
        Entry("rootfs/etc/os-release", 0o644, b'NAME="Example"\nVERSION_ID="1"\n'),
        Entry("rootfs/usr/lib/app/config.json", 0o644, b'{"port": 8080, "mode": "enclave"}\n'),
        Entry("rootfs/usr/lib/app/greeting.py", 0o644, GREETING_PY.encode()),
        Entry(pyc_name, 0o644, pyc),
    ]
    dirs = {"rootfs/" + d for d in ("bin", "dev", "etc", "proc", "run", "sys", "tmp", "var")}
    for e in entries:
        parts = e.name.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    entries += [Entry(d, 0o755) for d in dirs]
    return sorted(entries, key=lambda e: e.name.encode())


DPKG_STANZA = """Package: {name}
Status: install ok installed
Priority: {priority}
Section: {section}
Installed-Size: {size}
Maintainer: Debian maintainers <maintainers@example.invalid>
Architecture: amd64
Version: {version}
Description: {name} (sample)

"""
APK_DB = """C:Q1sample0000000000000000000000000000=
P:musl
V:1.2.4-r2
A:x86_64
o:musl
F:lib
R:ld-musl-x86_64.so.1

C:Q1sample1111111111111111111111111111=
P:busybox
V:1.36.1-r5
A:x86_64
o:busybox
F:bin
R:busybox

"""


def packages_tree(xz: str, libssl: str, requests: str) -> list[Entry]:
    """A root filesystem recording its packages: dpkg (xz-utils, libssl3, base-files), apk
    (musl, busybox, unchanged) and a Python distribution (requests), at the given versions."""
    dpkg = [("base-files", "12.4+deb12u5", "required", "admin"),
            ("libssl3", libssl, "optional", "libs"), ("xz-utils", xz, "standard", "utils")]
    status = "".join(DPKG_STANZA.format(name=n, version=v, priority=p, section=s, size=100)
                     for n, v, p, s in dpkg)
    lib = "usr/lib/x86_64-linux-gnu/libssl.so.3"
    site = "usr/lib/python3/dist-packages"
    dist = f"{site}/requests-{requests}.dist-info"
    record = (f"requests/__init__.py,,\n{dist.rsplit('/', 1)[1]}/METADATA,,\n"
              f"{dist.rsplit('/', 1)[1]}/RECORD,,\n")
    files = {
        "var/lib/dpkg/status": status,
        "var/lib/dpkg/info/base-files.list": "/.\n/etc\n/etc/os-release\n",
        "var/lib/dpkg/info/libssl3:amd64.list": f"/.\n/usr\n/usr/lib\n/{lib}\n",
        "var/lib/dpkg/info/xz-utils.list": "/.\n/usr\n/usr/bin\n/usr/bin/xz\n",
        "usr/bin/xz": f"xz (XZ Utils) {xz.split('-')[0]}\n",
        lib: f"OpenSSL {libssl.split('-')[0]} (sample shared object)\n",
        "lib/apk/db/installed": APK_DB,
        "bin/busybox": "busybox 1.36.1\n",
        "lib/ld-musl-x86_64.so.1": "musl 1.2.4\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: requests\nVersion: {requests}\n",
        f"{dist}/RECORD": record,
        f"{site}/requests/__init__.py": f'__version__ = "{requests}"\n',
        "etc/os-release": 'NAME="Example"\nVERSION_ID="1"\n',
    }
    entries = [Entry("cmd", 0o644, b"/usr/bin/xz\n"), Entry("env", 0o644, b"PATH=/usr/bin\n")]
    entries += [Entry("rootfs/" + k, 0o755 if k.startswith(("usr/bin", "bin")) else 0o644,
                      v.encode()) for k, v in files.items()]
    dirs = {"rootfs/" + d for d in ("dev", "proc", "run", "sys", "tmp")}
    for e in entries:
        parts = e.name.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    entries += [Entry(d, 0o755) for d in dirs]
    return sorted(entries, key=lambda e: e.name.encode())


def members(entries: list[Entry]) -> list[CpioMember]:
    """Members as cpio --reproducible --owner=0:0 writes them: fixed mtime, inodes 0, 1, 2..."""
    subdirs: dict[str, int] = {}
    for e in entries:
        if e.data is None and "/" in e.name:
            parent = e.name.rsplit("/", 1)[0]
            subdirs[parent] = subdirs.get(parent, 0) + 1
    out = []
    for e in entries:
        if e.data is None:
            m = CpioMember(e.name, mode=S_IFDIR | e.perm, nlink=2 + subdirs.get(e.name, 0))
        else:
            m = CpioMember(e.name, e.data, mode=S_IFREG | e.perm)
        out.append(replace(m, mtime=MTIME))
    return renumber(out)


def renumber(ms: list[CpioMember]) -> list[CpioMember]:
    """Inode numbers in archive order from 0 and device 0:0, as cpio --reproducible gives."""
    return [replace(m, ino=i, devmajor=0, devminor=0) for i, m in enumerate(ms)]


def in_app_layer(name: str) -> bool:
    return any(name == p or name.startswith(p + "/") for p in APP_LAYER)


def hash_order(ms: list[CpioMember]) -> list[CpioMember]:
    """Depth-first, parents first, siblings in the order of a hash of their name: the order
    `find` lists a directory tree in on a file system with hashed directories."""
    children: dict[str, list[CpioMember]] = {}
    for m in ms:
        children.setdefault(m.name.rsplit("/", 1)[0] if "/" in m.name else "", []).append(m)

    def walk(parent: str) -> Iterator[CpioMember]:
        kids = children.get(parent, [])
        for m in sorted(kids, key=lambda m: hashlib.sha256(m.name.encode()).digest()):
            yield m
            yield from walk(m.name)

    out = list(walk(""))
    if len(out) != len(ms):
        raise ValueError("hash_order needs every member's parent directory in the archive")
    return out


def fs_inodes(ms: list[CpioMember]) -> list[CpioMember]:
    """Inode and device numbers as stat() gives them, as cpio without --reproducible keeps."""
    def ino(name: str) -> int:
        return FS_INO_BASE + int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big")

    out = [replace(m, ino=ino(m.name), devmajor=FS_DEV[0], devminor=FS_DEV[1]) for m in ms]
    if len({m.ino for m in out}) != len(out):
        raise ValueError("two members got the same inode number")
    return out


def gzipped(data: bytes, name: str, mtime: int) -> bytes:
    """`data` compressed by python's gzip module at level 9, with a file name and mtime."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", compresslevel=9, fileobj=buf, mtime=mtime) as f:
        f.write(data)
    return buf.getvalue()


def bootstrap(elfs: Elfs) -> bytes:
    """nitro-cli's bootstrap ramdisk: dev/, init, nsm.ko."""
    tree = [Entry("dev", 0o755), Entry("init", 0o755, elfs.init), Entry("nsm.ko", 0o755, elfs.nsm)]
    return write_archive(members(tree))


# --- signing --------------------------------------------------------------------------------


def signer(label: str, serial: int) -> Signer:
    """A deterministic P-384 key and self-signed certificate, signing with RFC 6979 nonces."""
    secret = int.from_bytes(hashlib.sha256(f"eifdiff sample key {label}".encode()).digest(), "big")
    key = ec.derive_private_key(secret, ec.SECP384R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "eifdiff samples"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"eifdiff-sample-signer-{label}"),
    ])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2034, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA384(), ecdsa_deterministic=True)
    )
    return Signer(cert.public_bytes(serialization.Encoding.PEM), key, deterministic=True)


# --- pairs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Builds:
    """What the compilers produced: the usual build, a second one in the same directory, and the
    app built in the other directory."""

    elfs: Elfs
    elfs_again: Elfs
    app_b: bytes
    pyc_name: str
    pyc: bytes

    def customer(self, app: bytes, change: Callable[[list[CpioMember]], list[CpioMember]] = list
                 ) -> bytes:
        """The customer CPIO holding `app`, its members passed through `change`."""
        return write_archive(change(members(customer_tree(app, self.pyc_name, self.pyc))))


def _pairs(b: Builds) -> dict[str, tuple[Image, Image]]:
    def mtime_b(ms: list[CpioMember]) -> list[CpioMember]:
        return [replace(m, mtime=MTIME_B + i) if in_app_layer(m.name) else m
                for i, m in enumerate(ms)]

    def owner_b(ms: list[CpioMember]) -> list[CpioMember]:
        return [replace(m, uid=APP_UID, gid=APP_UID) if in_app_layer(m.name) else m for m in ms]

    def mode_b(ms: list[CpioMember]) -> list[CpioMember]:
        return [replace(m, mode=m.mode | 0o020) for m in ms]

    def order_b(ms: list[CpioMember]) -> list[CpioMember]:
        return renumber(hash_order(ms))

    boot, cust = bootstrap(b.elfs), b.customer(b.elfs.app)
    base = Image(kernel(), (boot, cust))

    def with_customer(customer: bytes) -> Image:
        return replace(base, ramdisks=(boot, customer))

    again = Image(kernel(), (bootstrap(b.elfs_again), b.customer(b.elfs_again.app)))
    return {
        "identical": (base, again),
        "build-time": (base, replace(base, build_time=BUILD_TIME_B)),
        "cpio-mtime": (base, with_customer(b.customer(b.elfs.app, mtime_b))),
        "cpio-order": (base, with_customer(b.customer(b.elfs.app, order_b))),
        "cpio-owner": (base, with_customer(b.customer(b.elfs.app, owner_b))),
        "cpio-inode": (base, with_customer(b.customer(b.elfs.app, fs_inodes))),
        "cpio-mode": (base, with_customer(b.customer(b.elfs.app, mode_b))),
        "elf-build-path": (base, with_customer(b.customer(b.app_b))),
        "signature": (replace(base, signer=signer("a", 0x5A01)),
                      replace(base, signer=signer("b", 0x5B02))),
        "kernel-host": (base, replace(base, kernel=kernel(KERNEL_VERSION_B))),
        "gzip-header": (with_customer(gzipped(cust, *GZIP_A)),
                        with_customer(gzipped(cust, *GZIP_B))),
        "packages": (
            with_customer(write_archive(members(packages_tree("5.4.1-0.2", "3.0.11-1~deb12u2",
                                                              "2.31.0")))),
            with_customer(write_archive(members(packages_tree("5.6.1-1", "3.0.13-1~deb12u1",
                                                              "2.32.3")))),
        ),
    }


# Which of PCR0/1/2/8 are equal between a and b (PCR8 only for signed pairs).
EXPECTED = {
    "identical": {"PCR0": True, "PCR1": True, "PCR2": True},
    "build-time": {"PCR0": True, "PCR1": True, "PCR2": True},
    "cpio-mtime": {"PCR0": False, "PCR1": True, "PCR2": False},
    "cpio-order": {"PCR0": False, "PCR1": True, "PCR2": False},
    "cpio-owner": {"PCR0": False, "PCR1": True, "PCR2": False},
    "cpio-inode": {"PCR0": False, "PCR1": True, "PCR2": False},
    "cpio-mode": {"PCR0": False, "PCR1": True, "PCR2": False},
    "elf-build-path": {"PCR0": False, "PCR1": True, "PCR2": False},
    "signature": {"PCR0": True, "PCR1": True, "PCR2": True, "PCR8": False},
    "kernel-host": {"PCR0": False, "PCR1": False, "PCR2": True},
    "gzip-header": {"PCR0": False, "PCR1": True, "PCR2": False},
    "packages": {"PCR0": False, "PCR1": True, "PCR2": False},
}


# The cause categories each pair shows (the non-derived categories of its report), as
# samples/README.md tells each story.
CAUSES = {
    "identical": [],
    "build-time": ["timestamp"],  # metadata BuildTime
    "cpio-mtime": ["timestamp"],
    "cpio-order": ["ordering"],  # the inode numbers that follow the order are derived
    "cpio-owner": ["ownership"],
    "cpio-inode": ["inode"],  # c_ino and c_devmajor/c_devminor
    "cpio-mode": ["permissions"],
    "elf-build-path": ["build-path"],  # the build-id only follows from the paths (derived)
    "signature": ["signature"],
    "kernel-host": ["build-host", "timestamp"],  # user@host and the build date
    "gzip-header": ["build-path", "timestamp"],  # gzip MTIME, and FNAME filed as a build path
    "packages": ["added", "content", "removed"],  # new package versions: real content
}
EXPECTATIONS = "expected.json"


def write_expectations(out: Path, sums: dict[str, dict[str, str]]) -> None:
    """`out/expected.json`: per pair, the sha256 of both files, which PCRs are equal and the
    cause categories; the tests read their expectations from it."""
    doc = {pair: {"sha256": {"a": s["a"], "b": s["b"]}, "pcr_equal": EXPECTED[pair],
                  "causes": CAUSES[pair]} for pair, s in sums.items()}
    (out / EXPECTATIONS).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def build(image: Image, out: Path) -> dict[str, str]:
    out.parent.mkdir(parents=True, exist_ok=True)
    md = default_metadata("bzImage", build_time=image.build_time)
    return build_eif(out, kernel=image.kernel, cmdline=CMDLINE, ramdisks=list(image.ramdisks),
                     metadata=md, signer=image.signer).pcrs


def make_samples(out: Path) -> dict[str, dict[str, str]]:
    """Write every pair under `out`; return per pair the sha256 of a and b and its PCR pattern."""
    with build_root() as root:
        elfs = compile_elfs(SRC_A)
        elfs_again = compile_elfs(SRC_A)
        app_b = compile_elfs(SRC_B).app
        pyc_name, pyc = compile_pyc(root / "py")
    pairs = _pairs(Builds(elfs, elfs_again, app_b, pyc_name, pyc))
    sums: dict[str, dict[str, str]] = {}
    for pair, (a, b) in pairs.items():
        pa, pb = build(a, out / pair / "a.eif"), build(b, out / pair / "b.eif")
        pattern = {k: pa.get(k) == pb.get(k) for k in pa}
        if pattern != EXPECTED[pair]:
            raise SystemExit(f"{pair}: PCR pattern {pattern}, expected {EXPECTED[pair]}")
        ha, hb = (hashlib.sha256((out / pair / f).read_bytes()).hexdigest()
                  for f in ("a.eif", "b.eif"))
        if (ha == hb) != (pair == "identical"):
            raise SystemExit(f"{pair}: a.eif and b.eif are {'' if ha == hb else 'not '}identical")
        sums[pair] = {"a": ha, "b": hb, **{k: "=" if v else "≠" for k, v in pattern.items()}}
    write_expectations(out, sums)
    return sums


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "samples",
                    help="directory to write <pair>/a.eif and b.eif into (default: samples/)")
    args = ap.parse_args(argv)
    version = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True)
    if version.stdout.splitlines()[0] != GCC_VERSION or \
            sys.implementation.cache_tag != PYTHON_CACHE_TAG:
        print(f"note: not {GCC_VERSION} and {PYTHON_CACHE_TAG}: the ELF and .pyc bytes will "
              "differ from the committed samples", file=sys.stderr)
    sums = make_samples(args.out)
    total = sum(f.stat().st_size for f in args.out.glob("*/*.eif"))
    for pair, s in sums.items():
        pcrs = " ".join(f"{k}{v}" for k, v in s.items() if k.startswith("PCR"))
        print(f"{pair:15} {pcrs}\n  a {s['a']}\n  b {s['b']}")
    print(f"total {total} bytes in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
