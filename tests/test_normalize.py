"""`eifdiff normalize`: each normalization does what eifdiff/normalize.py says, field by field,
on CPIOs and EIFs built here; they compose in any order, are idempotent, write valid EIFs, and
reproduce what GNU cpio `--reproducible` writes. Bad `--fix` input is exit 2, one line."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import struct
import subprocess
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from eifdiff.build import Signer, build_eif
from eifdiff.errors import EifdiffError
from eifdiff.formats.cpio import (
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    CpioEntry,
    CpioMember,
    member_from_entry,
    read_archive,
    write_archive,
)
from eifdiff.formats.eif import SectionType
from eifdiff.load import load
from eifdiff.normalize import NAMES, normalize_file, normalize_members, parse_fixes
from tests.helpers import cli, run_cli, self_signed, small_metadata

S_IFCHR = 0o020000
KERNEL = hashlib.shake_256(b"eifdiff test kernel").digest(8192)
CMDLINE = b"reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on"
BUILD_TIME = "2024-06-14T09:27:51.372818214+00:00"
FIELDS = ("name", "ino", "mode", "uid", "gid", "nlink", "mtime", "devmajor", "devminor",
          "rdevmajor", "rdevminor")
FNAME, FEXTRA, FCOMMENT, FHCRC = 0x08, 0x04, 0x10, 0x02
PAYLOAD = b"the same payload, compressed\n" * 40


def gz(data: bytes, *, name: str, mtime: int) -> bytes:
    """gzip as python's module writes it from a named temporary file: FNAME and MTIME set."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buf, compresslevel=9,
                       mtime=mtime) as f:
        f.write(data)
    out = buf.getvalue()
    assert out[3] & FNAME and struct.unpack_from("<I", out, 4)[0] == mtime
    return out


def fancy_gz(data: bytes) -> bytes:
    """A gzip member with every optional header field: FEXTRA, FNAME, FCOMMENT and FHCRC."""
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = c.compress(data) + c.flush()
    head = struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, FEXTRA | FNAME | FCOMMENT | FHCRC,
                       1718357275, 0, 3)
    head += struct.pack("<H", 6) + b"EX\x02\x00ab" + b"build-output.bin\0" + b"a comment\0"
    head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
    out = head + body + struct.pack("<II", zlib.crc32(data), len(data))
    assert zlib.decompress(out, 31) == data  # zlib checks the header CRC
    return out


def _dir(name: str, perm: int = 0o755, nlink: int = 2, **kw: Any) -> CpioMember:
    return CpioMember(name, mode=S_IFDIR | perm, nlink=nlink, **kw)


NV = {"devmajor": 259, "devminor": 1}  # as cpio without --reproducible records an NVMe disk

# The bootstrap ramdisk: not in C order, real inodes and devices, a build user's owner.
BOOTSTRAP = [
    CpioMember("nsm.ko", data=b"\x7fELF nsm module", uid=1000, gid=1000, mtime=1718357275,
               ino=4001, **NV),
    _dir("dev", nlink=7, mtime=1718357200, ino=4000, **NV),
    CpioMember("init", data=b"\x7fELF init", mode=S_IFREG | 0o775, mtime=1718357276,
               ino=4002, **NV),
]

# The customer ramdisk, deliberately unnormalized in every field a normalization touches:
# children before parents, unsorted names (uppercase, '-', '.', UTF-8), owners, times, real
# inodes and devices, wrong directory nlinks, group-writable and special permission bits, a
# hard-link pair (data on its last link, as GNU cpio writes newc), a file with the same inode
# on another device, a symlink, a character device and two gzip files with names and mtimes.
CUSTOMER = [
    CpioMember("rootfs/usr/lib/app.conf", data=b"key=value\n", mode=S_IFREG | 0o664,
               uid=1000, gid=1000, mtime=1718357275, ino=2622476, **NV),
    _dir("rootfs", 0o775, nlink=9, mtime=1718357200, ino=2622400, **NV),
    _dir("rootfs/usr", nlink=3, uid=1000, gid=100, mtime=1718357201, ino=2622401, **NV),
    _dir("rootfs/usr/lib", nlink=5, mtime=1718357202, ino=2622402, **NV),
    CpioMember("init", data=b"#!/bin/sh\nexec /bin/app\n", mode=S_IFREG | 0o4775,
               uid=33, gid=33, mtime=1718357203, ino=2622403, **NV),
    CpioMember("rootfs/a-b", data=b"dash", mtime=1718357204, ino=2622404, **NV),
    _dir("rootfs/a", nlink=2, mtime=1718357205, ino=2622405, **NV),
    CpioMember("rootfs/a/x", nlink=2, mtime=1718357206, ino=2622777, **NV),
    CpioMember("rootfs/B", data=b"upper", mode=S_IFREG | 0o600, mtime=1718357207,
               ino=2622407, **NV),
    CpioMember("rootfs/\u00e9", data=b"accent", mtime=1718357208, ino=2622408, **NV),
    CpioMember("rootfs/hl2", data=b"shared payload\n", nlink=2, mtime=1718357206,
               ino=2622777, **NV),
    CpioMember("rootfs/link", data=b"a/x", mode=S_IFLNK | 0o777, uid=1000, gid=1000,
               mtime=1718357209, ino=2622409, **NV),
    _dir("rootfs/dev", nlink=2, mtime=1718357210, ino=2622410, **NV),
    CpioMember("rootfs/dev/console", mode=S_IFCHR | 0o620, gid=5, mtime=1718357211,
               ino=2622411, rdevmajor=5, rdevminor=1, **NV),
    _dir("rootfs/tmp", 0o1777, nlink=4, mtime=1718357212, ino=2622412, **NV),
    CpioMember("rootfs/data.gz", data=gz(PAYLOAD, name="tmpq8x1k2fz.txt", mtime=1718357271),
               mtime=1718357213, ino=2622413, **NV),
    CpioMember("rootfs/fancy.gz", data=fancy_gz(PAYLOAD), mtime=1718357214, ino=2622414, **NV),
    CpioMember("rootfs/other-dev", data=b"same inode, other device", mtime=1718357215,
               ino=2622476, devmajor=8, devminor=3),
    _dir("rootfs/a/sub", 0o700, nlink=2, mtime=1718357216, ino=2622416, **NV),
    CpioMember("rootfs/a.b", data=b"dot", mtime=1718357217, ino=2622417, **NV),
]

CUSTOMER_C_ORDER = [
    "init", "rootfs", "rootfs/B", "rootfs/a", "rootfs/a-b", "rootfs/a.b", "rootfs/a/sub",
    "rootfs/a/x", "rootfs/data.gz", "rootfs/dev", "rootfs/dev/console", "rootfs/fancy.gz",
    "rootfs/hl2", "rootfs/link", "rootfs/other-dev", "rootfs/tmp", "rootfs/usr",
    "rootfs/usr/lib", "rootfs/usr/lib/app.conf", "rootfs/\u00e9",
]
BOOTSTRAP_C_ORDER = ["dev", "init", "nsm.ko"]
ORIGINAL = [BOOTSTRAP, CUSTOMER]
# GNU cpio holds a hard-linked file's names back until the last of them and writes them
# together there (the data on the last): rootfs/a/x (linked to rootfs/hl2) moves to hl2.
CUSTOMER_GNU_ORDER = [n for n in CUSTOMER_C_ORDER if n != "rootfs/a/x"]
CUSTOMER_GNU_ORDER.insert(CUSTOMER_GNU_ORDER.index("rootfs/hl2"), "rootfs/a/x")

# ---------------------------------------------------------------------------------------------
# helpers


def build(path: Path, ramdisks: Sequence[bytes] | None = None, *, build_time: str = BUILD_TIME,
          signer: Signer | None = None, cmdline: bytes = CMDLINE) -> Path:
    rds = ramdisks if ramdisks is not None else [write_archive(m) for m in ORIGINAL]
    build_eif(path, kernel=KERNEL, cmdline=cmdline, ramdisks=list(rds),
              metadata=small_metadata("normalize-test", build_time=build_time), signer=signer)
    return path


def normalize(src: Path, dest: Path, spec: str) -> Path:
    normalize_file(src, dest, parse_fixes(spec))
    return dest


Record = dict[str, Any]


def record(m: CpioEntry | CpioMember, data: bytes | memoryview | None = None) -> Record:
    out = {f: getattr(m, f) for f in FIELDS}
    out["data"] = bytes(m.data if data is None else data)  # type: ignore[union-attr]
    return out


def records_of(path: Path) -> list[list[Record]]:
    """Every ramdisk's members, read back with eifdiff.load, as plain records."""
    with load(path) as img:
        assert not any(r.anomalies for r in img.ramdisks)
        return [[record(m.entry, m.data) for m in r.members()] for r in img.ramdisks]


def original_records() -> list[list[Record]]:
    return [[record(m) for m in rd] for rd in ORIGINAL]


def sections_of(path: Path) -> list[tuple[SectionType, bytes]]:
    with load(path) as img:
        return [(s.type, bytes(img.section_data(s))) for s in img.image.layout.sections]


def describe(path: Path) -> dict[str, Any]:
    rc, out, err = cli("describe", "--json", path)
    assert rc == 0, err
    return json.loads(out)


def is_dir(r: Record) -> bool:
    return (r["mode"] & S_IFMT) == S_IFDIR


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An EIF whose two ramdisks are BOOTSTRAP and CUSTOMER, with a wall-clock BuildTime."""
    path = build(tmp_path_factory.mktemp("rich") / "rich.eif")
    assert records_of(path) == original_records()  # the reader returns what was written
    return path


# ---------------------------------------------------------------------------------------------
# each normalization, field by field


@pytest.mark.parametrize(("spec", "t"), [("mtime", 0), ("mtime=1704067200", 1704067200)])
def test_mtime(rich: Path, tmp_path: Path, spec: str, t: int) -> None:
    got = records_of(normalize(rich, tmp_path / "out.eif", spec))
    want = [[{**r, "mtime": t} for r in rd] for rd in original_records()]
    assert got == want


def test_order(rich: Path, tmp_path: Path) -> None:
    got = records_of(normalize(rich, tmp_path / "out.eif", "order"))
    assert [[r["name"] for r in rd] for rd in got] == [BOOTSTRAP_C_ORDER, CUSTOMER_GNU_ORDER]
    for rd, orig in zip(got, original_records(), strict=True):
        names = [r["name"] for r in rd]
        links = {"rootfs/a/x"}  # C locale (bytes), but for the held-back hard link
        assert [n for n in names if n not in links] == sorted(
            (n for n in names if n not in links), key=lambda n: n.encode())
        for i, name in enumerate(names):  # parents before children
            parts = name.split("/")
            for k in range(1, len(parts)):
                parent = "/".join(parts[:k])
                if parent in names:
                    assert names.index(parent) < i, (parent, name)
        # nothing but the position changes: same fields, inode numbers included
        assert {r["name"]: r for r in rd} == {r["name"]: r for r in orig}


def test_order_is_c_locale_sort() -> None:
    """The order is what `LC_ALL=C sort` gives for the same names."""
    names = "\n".join(m.name for m in CUSTOMER) + "\n"
    proc = subprocess.run(["sort"], input=names.encode(), capture_output=True, check=True,
                          env={**os.environ, "LC_ALL": "C"})
    assert proc.stdout.decode().splitlines() == CUSTOMER_C_ORDER
    ordered = normalize_members(CUSTOMER, parse_fixes("order"))
    assert [m.name for m in ordered] == CUSTOMER_GNU_ORDER


def test_owner(rich: Path, tmp_path: Path) -> None:
    got = records_of(normalize(rich, tmp_path / "out.eif", "owner"))
    want = [[{**r, "uid": 0, "gid": 0} for r in rd] for rd in original_records()]
    assert got == want


def parent(name: str) -> str:
    return name.rpartition("/")[0] if "/" in name else "."


def expected_inodes(rd: list[Record]) -> list[Record]:
    """The rule, written out independently: distinct files numbered 0, 1, 2, ... in archive
    order, links of one file (nlink > 1, same device and inode) share the number of the first,
    device numbers 0 (rdev kept), directory nlink 2 + the directories directly under it."""
    numbers: dict[tuple[int, int, int], int] = {}
    fresh = 0
    out = []
    for r in rd:
        key = (r["devmajor"], r["devminor"], r["ino"])
        if not is_dir(r) and r["nlink"] > 1 and key in numbers:
            ino = numbers[key]
        else:
            ino = numbers[key] = fresh
            fresh += 1
        nlink = r["nlink"]
        if is_dir(r):
            nlink = 2 + sum(1 for s in rd if is_dir(s) and s is not r
                            and parent(s["name"]) == r["name"])
        out.append({**r, "ino": ino, "devmajor": 0, "devminor": 0, "nlink": nlink})
    return out


def test_inode(rich: Path, tmp_path: Path) -> None:
    got = records_of(normalize(rich, tmp_path / "out.eif", "inode"))
    want = [expected_inodes(rd) for rd in original_records()]
    # spelled out for the customer ramdisk: the hard-link pair shares 7; no number is skipped
    assert [r["ino"] for r in want[1]] == [*range(10), 7, *range(10, 19)]
    assert {r["name"]: r["nlink"] for r in want[1] if is_dir(r)} == {
        "rootfs": 6, "rootfs/usr": 3, "rootfs/usr/lib": 2, "rootfs/a": 3, "rootfs/dev": 2,
        "rootfs/tmp": 2, "rootfs/a/sub": 2}
    assert [[(r["name"], r["ino"]) for r in rd] for rd in got] == \
        [[(r["name"], r["ino"]) for r in rd] for rd in want]
    assert got == want


def test_inode_hard_links_share_one_number_and_none_is_skipped() -> None:
    members = [
        CpioMember("a", data=b"1", ino=90, **NV),
        CpioMember("h1", nlink=2, ino=91, **NV),
        CpioMember("h2", data=b"linked", nlink=2, ino=91, **NV),
        CpioMember("z", data=b"2", ino=92, **NV),
        CpioMember("same-ino-other-dev", data=b"3", nlink=2, ino=91, devmajor=8, devminor=3),
    ]
    out = normalize_members(members, parse_fixes("inode"))
    # GNU cpio --renumber-inodes hands out 0, 1, 2, ... to distinct files
    assert [m.ino for m in out] == [0, 1, 1, 2, 3]
    assert all((m.devmajor, m.devminor) == (0, 0) for m in out)
    assert [m.nlink for m in out] == [1, 2, 2, 1, 2]


def test_inode_directory_nlink_counts_top_level_directories_under_dot() -> None:
    """`find . | cpio` archives start with `.`; its subdirectories are the top-level ones."""
    members = [_dir(".", nlink=9), _dir("a", nlink=9), _dir("a/b", nlink=9), _dir("e", nlink=9),
               CpioMember("f", data=b"x")]
    out = normalize_members(members, parse_fixes("inode"))
    assert {m.name: m.nlink for m in out if m.mode & S_IFDIR} == {".": 4, "a": 3, "a/b": 2,
                                                                  "e": 2}


@pytest.mark.parametrize(("spec", "mask"), [("mode", 0o022), ("mode=027", 0o027),
                                            ("mode=077", 0o077), ("mode=0", 0)])
def test_mode(rich: Path, tmp_path: Path, spec: str, mask: int) -> None:
    got = records_of(normalize(rich, tmp_path / "out.eif", spec))
    want = [[{**r, "mode": (r["mode"] & ~0o777) | (r["mode"] & 0o777 & ~mask)} for r in rd]
            for rd in original_records()]
    assert got == want
    by_name = {r["name"]: r["mode"] for r in got[1]}
    if mask == 0o022:  # spelled out: type, setuid and sticky bits stay
        assert by_name["init"] == S_IFREG | 0o4755
        assert by_name["rootfs/tmp"] == S_IFDIR | 0o1755
        assert by_name["rootfs"] == S_IFDIR | 0o755
        assert by_name["rootfs/link"] == S_IFLNK | 0o755
        assert by_name["rootfs/dev/console"] == S_IFCHR | 0o600


def test_mode_never_touches_the_file_type() -> None:
    """A umask is permission bits; a larger value must not clear S_IFMT (or must be refused)."""
    try:
        fixes = parse_fixes("mode=170022")
    except EifdiffError:
        return
    out = normalize_members(CUSTOMER, fixes)
    assert [m.mode & S_IFMT for m in out] == [m.mode & S_IFMT for m in CUSTOMER]


def gzip_parts(data: bytes) -> tuple[int, int, int, int, int]:
    """flags, mtime, xfl, os, header size of a gzip member."""
    flags, mtime, xfl, os_ = struct.unpack_from("<BIBB", data, 3)
    pos = 10
    if flags & FEXTRA:
        pos += 2 + struct.unpack_from("<H", data, pos)[0]
    if flags & FNAME:
        pos = data.index(b"\0", pos) + 1
    if flags & FCOMMENT:
        pos = data.index(b"\0", pos) + 1
    if flags & FHCRC:
        pos += 2
    return flags, mtime, xfl, os_, pos


def test_gzip_files_inside_cpio(rich: Path, tmp_path: Path) -> None:
    got = records_of(normalize(rich, tmp_path / "out.eif", "gzip"))
    orig = original_records()
    assert got[0] == orig[0]
    gz_names = {"rootfs/data.gz", "rootfs/fancy.gz"}
    for g, o in zip(got[1], orig[1], strict=True):
        if o["name"] not in gz_names:
            assert g == o
            continue
        assert {**g, "data": b""} == {**o, "data": b""}  # header fields untouched
        old, new = o["data"], g["data"]
        of, _, oxfl, oos, ohs = gzip_parts(old)
        nf, nmtime, nxfl, nos, nhs = gzip_parts(new)
        assert nf == of & ~FNAME and nmtime == 0 and (nxfl, nos) == (oxfl, oos)
        # deflate data and trailer (CRC-32, size) byte-identical; header CRC (FHCRC) valid
        assert new[nhs:] == old[ohs:]
        assert zlib.decompress(new, 31) == PAYLOAD
        assert b"tmpq8x1k2fz" not in new and b"build-output.bin" not in new
        if of & FCOMMENT:
            assert b"EX\x02\x00ab" in new[:nhs] and b"a comment\0" in new[:nhs]


def deflate_gzip(data: bytes, *, strategy: int = zlib.Z_DEFAULT_STRATEGY) -> bytes:
    """`gzip -9 -n` framing around zlib's raw deflate with the given strategy (as other
    compressors, pigz or libdeflate say, make streams zlib's defaults would not)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS, 9, strategy)
    body = c.compress(data) + c.flush()
    return (struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, 0, 2, 3) + body
            + struct.pack("<II", zlib.crc32(data), len(data)))


WITHOUT_GZ = [m for m in CUSTOMER if not m.name.endswith(".gz")]


def test_gzip_compressed_ramdisk(tmp_path: Path) -> None:
    inner = write_archive(normalize_members(WITHOUT_GZ, parse_fixes("order,inode")))
    packed = gz(inner, name="tmp3n7wd0ma.cpio", mtime=1718357271)
    src = build(tmp_path / "in.eif", [write_archive(BOOTSTRAP), packed])
    out = normalize(src, tmp_path / "out.eif", "gzip")
    before, after = sections_of(src), sections_of(out)
    assert [k for k, _ in after] == [k for k, _ in before]
    assert after[:4] == before[:4]  # kernel, cmdline, metadata, ramdisk[0]
    new = after[4][1]
    of, _, oxfl, oos, ohs = gzip_parts(packed)
    nf, nmtime, nxfl, nos, nhs = gzip_parts(new)
    assert (nf, nmtime, nxfl, nos) == (of & ~FNAME, 0, oxfl, oos)
    assert new[nhs:] == packed[ohs:]  # the deflate stream and trailer are kept, not redone
    assert gzip.decompress(new) == inner
    # a ramdisk already written as `gzip -n` writes it is left as it is
    plain = build(tmp_path / "plain.eif", [write_archive(BOOTSTRAP), new])
    assert normalize(plain, tmp_path / "again.eif", "gzip").read_bytes() == plain.read_bytes()


def test_gzip_ramdisk_holding_clean_gzip_files_is_not_recompressed(tmp_path: Path) -> None:
    """Nothing to strip, inside or out: the ramdisk's deflate stream must stay as it is, even
    when another compressor wrote it (eifdiff's zlib would write other bytes)."""
    clean = [*WITHOUT_GZ, CpioMember("rootfs/clean.gz", data=gzip.compress(PAYLOAD, mtime=0))]
    inner = write_archive(normalize_members(clean, parse_fixes("order,inode")))
    packed = deflate_gzip(inner, strategy=zlib.Z_FILTERED)
    assert packed != deflate_gzip(inner)  # the precondition: zlib's default differs
    src = build(tmp_path / "in.eif", [write_archive(BOOTSTRAP), packed])
    out = normalize(src, tmp_path / "out.eif", "gzip")
    assert sections_of(out)[4][1] == packed
    assert out.read_bytes() == src.read_bytes()


def test_gzip_ramdisk_holding_named_gzip_files(tmp_path: Path) -> None:
    """A gzip file inside a gzip ramdisk must change, so the ramdisk is compressed again: a
    gzip stream without name and mtime whose CPIO is the original with the inner headers
    stripped (and nothing else changed)."""
    members = normalize_members(CUSTOMER, parse_fixes("order,inode"))
    packed = gz(write_archive(members), name="tmp3n7wd0ma.cpio", mtime=1718357271)
    src = build(tmp_path / "in.eif", [write_archive(BOOTSTRAP), packed])
    new = sections_of(normalize(src, tmp_path / "out.eif", "gzip"))[4][1]
    flags, mtime, _, _, _ = gzip_parts(new)
    assert not flags & FNAME and mtime == 0
    inner = gzip.decompress(new)
    assert inner == write_archive(normalize_members(members, parse_fixes("gzip")))
    got = {e.name: e for e in read_archive(inner).members}
    assert gzip_parts(inner[got["rootfs/data.gz"].data_offset:])[:2] == (0, 0)


@pytest.mark.parametrize(("spec", "value"), [
    ("build-time", "1970-01-01T00:00:00+00:00"),
    ("build-time=2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00+00:00"),
])
def test_build_time(rich: Path, tmp_path: Path, spec: str, value: str) -> None:
    out = normalize(rich, tmp_path / "out.eif", spec)
    before, after = sections_of(rich), sections_of(out)
    assert [x for x in after if x[0] is not SectionType.METADATA] == \
        [x for x in before if x[0] is not SectionType.METADATA]
    with load(rich) as a, load(out) as b:
        ma, mb = a.image.metadata, b.image.metadata
        pcrs_a, pcrs_b = a.image.pcrs, b.image.pcrs
        assert not b.image.anomalies
    assert ma is not None and mb is not None and ma.build_time == BUILD_TIME
    assert mb.build_time == value
    assert mb.__dict__ == {**ma.__dict__, "build_time": value}
    assert pcrs_a == pcrs_b  # the metadata section is not measured


@pytest.mark.parametrize("spec", ["gzip", "build-time=" + BUILD_TIME])
def test_nothing_to_do_keeps_the_bytes(tmp_path: Path, spec: str) -> None:
    src = build(tmp_path / "in.eif", [write_archive(m) for m in ORIGINAL[:1]] * 2)
    assert normalize(src, tmp_path / "out.eif", spec).read_bytes() == src.read_bytes()


# ---------------------------------------------------------------------------------------------
# composition and idempotence

ALL = "mtime,order,owner,inode,mode,gzip,build-time"


def test_cli_order_of_fixes_does_not_matter(rich: Path, tmp_path: Path) -> None:
    outputs = {}
    for spec in ("mtime,order", "order,mtime", ALL, ",".join(reversed(ALL.split(","))),
                 "gzip,inode,build-time,mode,owner,mtime,order"):
        out = tmp_path / f"{len(outputs)}.eif"
        rc, stdout, err = cli("normalize", "--fix", spec, rich, out)
        assert rc == 0, err
        outputs[spec] = out.read_bytes()
        assert json.loads(stdout)["Fixes"] in ("mtime,order", ALL)
    assert outputs["mtime,order"] == outputs["order,mtime"]
    assert len({v for k, v in outputs.items() if len(k.split(",")) == 7}) == 1


def test_fixes_compose(rich: Path, tmp_path: Path) -> None:
    """Applying fixes one after another gives what applying them together gives (any order
    of passes, as long as `inode` numbers the final order: it comes after `order`)."""
    together = normalize(rich, tmp_path / "together.eif", ALL).read_bytes()
    passes = ["build-time", "mode", "gzip", "owner", "mtime", "order", "inode"]
    for n, sequence in enumerate([passes, [*passes[::-1][1:], "inode"]]):
        src = rich
        for i, spec in enumerate(sequence):
            src = normalize(src, tmp_path / f"seq{n}-{i}.eif", spec)
        assert src.read_bytes() == together, sequence
    # what `together` means, spelled out on the customer ramdisk
    recs = records_of(tmp_path / "together.eif")[1]
    assert [r["name"] for r in recs] == CUSTOMER_GNU_ORDER
    assert all(r["mtime"] == 0 and r["uid"] == 0 and r["gid"] == 0 for r in recs)
    assert all(r["devmajor"] == 0 == r["devminor"] for r in recs)
    assert all(r["mode"] & 0o022 == 0 for r in recs)


@pytest.mark.parametrize("spec", [*NAMES, "order,inode", ALL])
def test_idempotent(rich: Path, tmp_path: Path, spec: str) -> None:
    once = normalize(rich, tmp_path / "once.eif", spec)
    twice = normalize(once, tmp_path / "twice.eif", spec)
    assert twice.read_bytes() == once.read_bytes()


# ---------------------------------------------------------------------------------------------
# the command's output is a valid EIF


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = ec.derive_private_key(0x5A01, ec.SECP384R1())
    pem = self_signed(key, "normalize-test").public_bytes(serialization.Encoding.PEM)
    return build(tmp_path_factory.mktemp("signed") / "signed.eif",
                 signer=Signer(pem, key, deterministic=True))


@pytest.mark.parametrize("spec", ["mtime", "order,inode", ALL])
@pytest.mark.parametrize("which", ["rich", "signed"])
def test_cli_output_is_a_valid_eif(request: pytest.FixtureRequest, tmp_path: Path, spec: str,
                                   which: str) -> None:
    src: Path = request.getfixturevalue(which)
    out = tmp_path / "out.eif"
    rc, stdout, err = cli("normalize", "--fix", spec, src, out)
    assert rc == 0 and err == ""
    printed = json.loads(stdout)
    assert printed["Output"] == str(out)
    before, after = describe(src), describe(out)
    assert after["CheckCRC"] is True
    assert after["eifdiff"]["StoredCRC"] == after["eifdiff"]["ComputedCRC"]
    assert after["eifdiff"]["Anomalies"] == []
    types = [s["type"] for s in after["eifdiff"]["Sections"]]
    expect = ["EifSectionKernel", "EifSectionCmdline", "EifSectionMetadata",
              "EifSectionRamdisk", "EifSectionRamdisk"]
    assert types == expect + (["EifSectionSignature"] if which == "signed" else [])
    assert after["Metadata"]["BuildTime"] == ("1970-01-01T00:00:00+00:00"
                                              if "build-time" in spec else BUILD_TIME)
    assert after["ImageName"] == "normalize-test" and after["ImageVersion"] == "1.0"
    assert after["Measurements"] == printed["Measurements"]
    assert after["IsSigned"] is (which == "signed")
    if which == "signed":
        assert after["Measurements"]["PCR8"] == before["Measurements"]["PCR8"]
        assert after["SigningCertificate"] == before["SigningCertificate"]
        # the signature is kept as it is: it verifies, but signs the old PCR0
        assert before["SignatureCheck"] is True and after["SignatureCheck"] is False
        assert after["eifdiff"]["Signature"]["CoseVerifies"] is True
        assert after["eifdiff"]["Signature"]["PayloadMatchesPCR0"] is False
    assert after["Measurements"]["PCR0"] != before["Measurements"]["PCR0"]
    assert after["Measurements"]["PCR1"] != before["Measurements"]["PCR1"]


def test_console_script_end_to_end(rich: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.eif"
    proc = run_cli("normalize", "--fix", "order,inode,mtime", rich, out)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    pcrs = json.loads(proc.stdout)["Measurements"]
    described = run_cli("describe", "--json", out)
    assert described.returncode == 0
    doc = json.loads(described.stdout)
    assert doc["CheckCRC"] is True and doc["Measurements"] == pcrs


def test_signature_section_is_kept(signed: Path, tmp_path: Path) -> None:
    out = normalize(signed, tmp_path / "out.eif", "mtime")
    assert sections_of(out)[-1] == sections_of(signed)[-1]


# ---------------------------------------------------------------------------------------------
# bad input: exit 2, one line on stderr, no traceback, nothing written


@pytest.mark.parametrize("fix", ["bogus", "mtime=abc", "mode=9", "mtime=-5", "owner=1", "",
                                 "order,bogus"])
def test_bad_fix(rich: Path, tmp_path: Path, fix: str) -> None:
    out = tmp_path / "out.eif"
    proc = run_cli("normalize", "--fix", fix, rich, out)
    assert proc.returncode == 2, proc
    assert proc.stderr.count("\n") == 1 and proc.stderr.strip(), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not out.exists()


def test_output_equal_to_input(rich: Path, tmp_path: Path) -> None:
    copy = tmp_path / "in.eif"
    shutil.copyfile(rich, copy)
    data = copy.read_bytes()
    (tmp_path / "sub").mkdir()
    for out in (copy, tmp_path / "sub" / ".." / "in.eif"):
        proc = run_cli("normalize", "--fix", "mtime", copy, out)
        assert proc.returncode == 2, proc
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert copy.read_bytes() == data


def test_unreadable_input_and_unwritable_output(rich: Path, tmp_path: Path) -> None:
    for args in ((tmp_path / "missing.eif", tmp_path / "o.eif"),
                 (rich, tmp_path / "no-such-dir" / "o.eif")):
        rc, out, err = cli("normalize", "--fix", "mtime", *args)
        assert rc == 2 and err.count("\n") == 1 and out == "", err


# ---------------------------------------------------------------------------------------------
# GNU cpio --reproducible


def make_tree(root: Path, *, hard_links: bool) -> None:
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "d").mkdir()
    (root / "e").mkdir()
    (root / "a" / "f").write_bytes(b"hello\n")
    (root / "a" / "b" / "g").write_bytes(b"x" * 1000)
    (root / "a-b").write_bytes(b"z")
    (root / "B").write_bytes(b"upper")
    (root / "e" / "sym").symlink_to("../a/f")
    if hard_links:
        (root / "e" / "h1").write_bytes(b"linked twice\n")
        os.link(root / "e" / "h1", root / "e" / "h2")
    for p in [root, *root.rglob("*")]:
        os.utime(p, (1704067200, 1704067200), follow_symlinks=False)


def gnu_cpio(root: Path, names: list[str], *, reproducible: bool) -> bytes:
    cmd = ["cpio", "-o", "-H", "newc", "--quiet"] + (["--reproducible"] if reproducible else [])
    proc = subprocess.run(cmd, input=("\n".join(names) + "\n").encode(), cwd=root,
                          capture_output=True, check=True)
    return proc.stdout


def tree_names(root: Path) -> list[str]:
    """`find . | LC_ALL=C sort`"""
    found = subprocess.run(["find", "."], cwd=root, capture_output=True, check=True).stdout
    return sorted(found.decode().splitlines(), key=lambda n: n.encode())


def headers(archive: bytes) -> list[tuple[Any, ...]]:
    return [(e.name, *(getattr(e, f) for f in FIELDS[1:]), e.filesize)
            for e in read_archive(archive).entries]


def assert_same_archive(got: bytes, want: bytes) -> None:
    assert headers(got) == headers(want)  # (name, ino, mode, ..., filesize): readable diffs
    assert got == want


def normalized_ramdisk(tmp_path: Path, archive: bytes, spec: str, tag: str) -> bytes:
    src = build(tmp_path / f"{tag}.eif", [write_archive(BOOTSTRAP), archive])
    return sections_of(normalize(src, tmp_path / f"{tag}.norm.eif", spec))[4][1]


@pytest.fixture(scope="module")
def cpio_tool() -> str:
    found = shutil.which("cpio")
    assert found, "GNU cpio is not installed (scripts/install-debian-tools installs it)"
    return found


@pytest.mark.parametrize("hard_links", [False, True], ids=["plain", "hard-links"])
def test_reproduces_gnu_cpio_reproducible(cpio_tool: str, tmp_path: Path,
                                          hard_links: bool) -> None:
    """`find . | LC_ALL=C sort | cpio -o -H newc --reproducible` == our `order,inode` of the
    same tree archived without --reproducible, from a shuffled list."""
    root = tmp_path / "tree"
    root.mkdir()
    make_tree(root, hard_links=hard_links)
    names = tree_names(root)
    reference = gnu_cpio(root, names, reproducible=True)
    shuffled = names[:]
    random.Random(7).shuffle(shuffled)
    if hard_links:  # keep the links' relative order: GNU puts the data on the last one
        i, j = shuffled.index("./e/h1"), shuffled.index("./e/h2")
        shuffled[min(i, j)], shuffled[max(i, j)] = "./e/h1", "./e/h2"
    assert shuffled != names
    raw = gnu_cpio(root, shuffled, reproducible=False)
    entries = read_archive(raw).members
    assert any(e.devmajor or e.devminor for e in entries) or any(e.ino > 1000 for e in entries)
    assert raw != reference
    assert_same_archive(normalized_ramdisk(tmp_path, raw, "order,inode", "raw"), reference)
    # GNU's own reproducible output is already normal: normalizing it changes nothing
    assert_same_archive(normalized_ramdisk(tmp_path, reference, "order,inode", "ref"), reference)


def test_gnu_order_with_hard_links(cpio_tool: str, tmp_path: Path) -> None:
    """Two `--reproducible` archives of one tree from differently ordered lists (the
    cpio-order story, with a hard-link pair): `order,inode` makes them byte-identical."""
    root = tmp_path / "tree"
    root.mkdir()
    make_tree(root, hard_links=True)
    names = tree_names(root)
    other = names[::-1]  # children before parents, h2 before h1: the data is on h1
    a = gnu_cpio(root, names, reproducible=True)
    b = gnu_cpio(root, other, reproducible=True)
    data_on = {e.name: e.filesize for e in read_archive(b).members if e.name.startswith("e/h")}
    assert data_on == {"e/h2": 0, "e/h1": len(b"linked twice\n")}
    assert_same_archive(normalized_ramdisk(tmp_path, b, "order,inode", "b"),
                        normalized_ramdisk(tmp_path, a, "order,inode", "a"))


def test_our_writer_matches_gnu_for_what_we_read(cpio_tool: str, tmp_path: Path) -> None:
    """The writer alone: reading GNU's archive and writing the same members gives its bytes."""
    root = tmp_path / "tree"
    root.mkdir()
    make_tree(root, hard_links=True)
    reference = gnu_cpio(root, tree_names(root), reproducible=True)
    archive = read_archive(reference)
    members = [member_from_entry(e, reference[e.data_offset:e.data_offset + e.filesize])
               for e in archive.members]
    assert write_archive(members) == reference
    assert members[0].name == "."


# ---------------------------------------------------------------------------------------------
# memory: a recompressed ramdisk is spooled to disk and mapped pages are dropped as they stream


def _peak_rss_mb(*args: str | Path) -> float:
    from tests.helpers import run_measured

    run = run_measured(*args)
    assert run.code in (0, 1), run.err
    return run.rss_mb


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["mtime", "gzip"])
def test_gzip_ramdisk_is_normalized_in_bounded_memory(tmp_path: Path, spec: str) -> None:
    """64 MiB of incompressible data in a gzip ramdisk: normalizing it (recompressing the
    archive for `mtime`, patching the header for `gzip`) and the remedies of a pair both stay
    near the interpreter's own size; holding the recompressed ramdisk in memory, or letting the
    mapped pages of the image and the decompressed archive stay resident, took 200-400 MB."""
    blob = random.Random(5).randbytes(64 << 20)
    archives = [write_archive([CpioMember("app", mode=S_IFDIR | 0o755, nlink=2, mtime=t),
                               CpioMember("app/blob", data=blob, mtime=t)])
                for t in (1704067200, 1718357275)]
    a = build(tmp_path / "a.eif", [write_archive([]), gz(archives[0], name="a.cpio", mtime=1)])
    b = build(tmp_path / "b.eif", [write_archive([]), gz(archives[1], name="b.cpio", mtime=2)])
    peak = _peak_rss_mb("normalize", "--fix", spec, a, tmp_path / "n.eif")
    assert peak < 110, f"normalize --fix {spec}: {peak:.0f} MB"
    assert load(tmp_path / "n.eif").ramdisks[1].pieces[0].compression == "gzip"
    if spec == "mtime":
        peak = _peak_rss_mb(a, b, "--remedies")
        assert peak < 130, f"remedies: {peak:.0f} MB"


@pytest.mark.slow
def test_a_large_gzip_file_inside_the_archive_is_not_copied(tmp_path: Path) -> None:
    """`--fix gzip` on a 96 MiB gzip file inside an uncompressed archive: the file gets the
    `gzip -n` header and its body is streamed from the image, not copied (a copy per pass took
    about 480 MB for a 150 MiB file)."""
    blob = random.Random(6).randbytes(96 << 20)
    inner = gz(blob, name="data.bin", mtime=1718357275)
    src = build(tmp_path / "a.eif", [write_archive([]), write_archive([
        _dir("app"), CpioMember("app/data.gz", data=inner)])])
    peak = _peak_rss_mb("normalize", "--fix", "gzip", src, tmp_path / "n.eif")
    assert peak < 110, f"normalize --fix gzip: {peak:.0f} MB"
    ramdisk = load(tmp_path / "n.eif").ramdisks[1]
    (entry,) = [e for e in ramdisk.pieces[0].archive.members if e.name == "app/data.gz"]
    start = entry.data_offset - ramdisk.pieces[0].base
    data = bytes(ramdisk.pieces[0].view[start : start + entry.filesize])
    assert data[3] & 0x08 == 0 and data[4:8] == bytes(4)  # no name, mtime 0
    assert gzip.decompress(data) == blob
