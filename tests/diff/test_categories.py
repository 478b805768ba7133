"""One cause per pair: every category of `eifdiff.records.CATEGORIES` from a pair of EIFs built
here that differ only in that cause, with the PCRs it moves and a hint; "name the cause, not the
symptom" (metadata-only changes give no content rows); compressed ramdisks.

The helpers at the top (kernel, ramdisks, `make_eif`, `compare_pair`, signers) are shared by the
other test modules of this change; their names do not start with `test`.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eifdiff.compare import compare_files
from eifdiff.formats.cpio import S_IFREG, CpioMember
from eifdiff.formats.elf import elf_facts
from eifdiff.load import Limits, load
from eifdiff.records import CATEGORIES
from eifdiff.report.model import Report
from tests.builders import (  # noqa: F401 (re-exported for the other diff tests)
    APP_SOURCE,
    BOOT,
    BOOT_CPIO,
    BUILD_TIME,
    CMDLINE,
    CUSTOMER_CPIO,
    KERNEL_SIZE,
    MTIME,
    MTIME_B,
    PY_SOURCE,
    RAMDISK0,
    RAMDISK1,
    VERSION,
    VERSION_PTR,
    VERSION_SLOT,
    boot_members,
    causes,
    changed,
    compare_pair,
    cpio,
    customer_members,
    gcc,
    gzip_bytes,
    kernel,
    make_eif,
    pyc,
    rows_of,
    signer,
    tree,
)

# --- built inputs shared by the cases -------------------------------------------------------


@dataclass(frozen=True)
class Assets:
    app_a: bytes  # compiled in .../a/src
    app_b: bytes  # the same source compiled in .../bb-longer/src
    app_again: bytes  # compiled a second time in .../a/src
    app_a4: bytes  # -gdwarf-4 (comp_dir in .debug_str) in .../a/src
    app_b4: bytes  # and in .../bb-longer/src
    app_same_length: bytes  # compiled in .../c/src (as long as .../a/src)
    app_changed: bytes  # another source compiled in .../a/src
    pyc_a: bytes
    pyc_b: bytes


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    root = tmp_path_factory.mktemp("builds")
    app_a = gcc(root / "a" / "src")
    app_again = gcc(root / "a" / "src")
    app_b = gcc(root / "bb-longer" / "src")
    app_a4 = gcc(root / "a" / "src", APP_SOURCE, "-gdwarf-4")
    app_b4 = gcc(root / "bb-longer" / "src", APP_SOURCE, "-gdwarf-4")
    same = gcc(root / "c" / "src")
    other = gcc(root / "a" / "src", APP_SOURCE.replace("counter = 7", "counter = 8")
                .replace("hello from", "greetings from"))
    return Assets(app_a, app_b, app_again, app_a4, app_b4, same, other,
                  pyc(root / "py", MTIME), pyc(root / "py", MTIME_B))


def with_build_id(elf: bytes, build_id: bytes) -> bytes:
    """`elf` with the descriptor of its GNU build-id note overwritten."""
    sec = elf_facts(elf).section(".note.gnu.build-id")
    assert sec is not None, "gcc did not write a build-id"
    namesz, descsz = struct.unpack_from("<II", elf, sec.offset)
    assert descsz == len(build_id)
    at = sec.offset + 12 + ((namesz + 3) & ~3)
    return elf[:at] + build_id + elf[at + descsz :]


def with_other_compiler(elf: bytes) -> bytes:
    """`elf` with the last digit of its compiler's package release in `.comment` changed
    (`GCC: (Debian 12.2.0-14+deb12u1) 12.2.0` -> `...deb12u2) 12.2.0`)."""
    sec = elf_facts(elf).section(".comment")
    assert sec is not None, "gcc did not write a .comment"
    body = elf[sec.offset : sec.offset + sec.size]
    end = body.index(b")")
    assert body[end - 1 : end].isdigit(), body
    digit = b"2" if body[end - 1 : end] != b"2" else b"3"
    at = sec.offset + end - 1
    return elf[:at] + digit + elf[at + 1 :]


# --- one cause per pair ---------------------------------------------------------------------

Kw = dict[str, Any]
Builder = Callable[[Assets], tuple[Kw, Kw]]


def _customer(ms: list[CpioMember]) -> Kw:
    return {"ramdisks": [BOOT_CPIO, cpio(ms)]}


def _boot(ms: list[CpioMember]) -> Kw:
    return {"ramdisks": [cpio(ms), CUSTOMER_CPIO]}


def _app(app: bytes) -> Kw:
    return _customer(customer_members(app))


@dataclass(frozen=True)
class Case:
    id: str
    build: Builder
    causes: frozenset[str]  # exactly the cause categories of the report
    category: str
    pcrs: tuple[str, ...]
    field: str | None = None  # the rows checked for `pcrs`; every row of `category` if None


def _swap(ms: list[CpioMember], x: str, y: str) -> list[CpioMember]:
    i = next(k for k, m in enumerate(ms) if m.name == x)
    j = next(k for k, m in enumerate(ms) if m.name == y)
    out = list(ms)
    out[i], out[j] = out[j], out[i]
    return out


def _pyc_pair(a: Assets) -> tuple[Kw, Kw]:
    name = "rootfs/usr/lib/app/__pycache__/greeting.cpython-311.pyc"
    return (_customer(customer_members(extra=[(name, a.pyc_a, 0o644)])),
            _customer(customer_members(extra=[(name, a.pyc_b, 0o644)])))


def _gz_entry_pair(_: Assets) -> tuple[Kw, Kw]:
    doc = b"changelog of the example package\n" * 40
    name = "rootfs/etc/changelog.gz"
    return (_customer(customer_members(extra=[(name, gzip_bytes(doc), 0o644)])),
            _customer(customer_members(extra=[(name, gzip_bytes(doc, mtime=MTIME_B), 0o644)])))


def _gzip_ramdisk(level: int = 9, mtime: int = MTIME) -> Kw:
    return {"ramdisks": [BOOT_CPIO, gzip_bytes(CUSTOMER_CPIO, level=level, mtime=mtime)]}


BASE: Kw = {}
_HOST_B = "6.1.0-test (ci-runner@build-host-b7) #1 SMP Mon Jan  1 00:00:00 UTC 2024"
_DATE_B = "6.1.0-test (builder@host-a) #1 SMP Fri Jun 14 09:27:51 UTC 2024"
_NUMBER_B = "6.1.0-test (builder@host-a) #2 SMP Mon Jan  1 00:00:00 UTC 2024"
_RELEASE_B = "6.1.1-test (builder@host-a) #1 SMP Mon Jan  1 00:00:00 UTC 2024"

CASES = [
    Case("timestamp-cpio-mtime",
         lambda a: (BASE, _customer(changed(customer_members(), "rootfs/bin/app",
                                            mtime=MTIME_B))),
         frozenset({"timestamp"}), "timestamp", RAMDISK1, "mtime"),
    Case("timestamp-cpio-mtime-ramdisk0",
         lambda a: (BASE, _boot(changed(boot_members(), "init", mtime=MTIME_B))),
         frozenset({"timestamp"}), "timestamp", RAMDISK0, "mtime"),
    Case("timestamp-build-time",
         lambda a: (BASE, {"build_time": "2024-06-14T09:27:51.372818214+00:00"}),
         frozenset({"timestamp"}), "timestamp", (), "build time"),
    Case("timestamp-gzip-ramdisk-mtime",
         lambda a: (_gzip_ramdisk(), _gzip_ramdisk(mtime=MTIME_B)),
         frozenset({"timestamp"}), "timestamp", RAMDISK1, "gzip mtime"),
    Case("timestamp-gzip-entry-mtime", _gz_entry_pair,
         frozenset({"timestamp"}), "timestamp", RAMDISK1, "gzip mtime"),
    Case("timestamp-pyc-source-mtime", _pyc_pair,
         frozenset({"timestamp"}), "timestamp", RAMDISK1, "pyc source mtime"),
    Case("timestamp-kernel-date",
         lambda a: (BASE, {"kernel_bytes": kernel(_DATE_B)}),
         frozenset({"timestamp"}), "timestamp", BOOT, "build date"),
    Case("ordering",
         lambda a: (BASE, _customer(_swap(customer_members(), "cmd", "env"))),
         frozenset({"ordering"}), "ordering", RAMDISK1, "order"),
    Case("ownership-uid-gid",
         lambda a: (BASE, _customer(changed(customer_members(), "rootfs/bin/app", uid=1000,
                                            gid=1000))),
         frozenset({"ownership"}), "ownership", RAMDISK1),
    Case("ownership-ramdisk0",
         lambda a: (BASE, _boot(changed(boot_members(), "nsm.ko", gid=100))),
         frozenset({"ownership"}), "ownership", RAMDISK0, "gid"),
    Case("permissions",
         lambda a: (BASE, _customer(changed(customer_members(), "rootfs/etc/os-release",
                                            mode=S_IFREG | 0o664))),
         frozenset({"permissions"}), "permissions", RAMDISK1, "mode"),
    Case("inode",
         lambda a: (BASE, _customer(changed(customer_members(), "rootfs/etc", ino=2_622_476,
                                            devmajor=259, devminor=1))),
         frozenset({"inode"}), "inode", RAMDISK1),
    Case("inode-nlink",
         lambda a: (BASE, _customer(changed(customer_members(), "rootfs/bin", nlink=3))),
         frozenset({"inode"}), "inode", RAMDISK1, "nlink"),
    Case("build-id-only",
         lambda a: (_app(a.app_a), _app(with_build_id(a.app_a, b"\x11" * 20))),
         frozenset({"build-id"}), "build-id", RAMDISK1, "build-id"),
    Case("toolchain-compiler",
         lambda a: (_app(a.app_a), _app(with_other_compiler(a.app_a))),
         frozenset({"toolchain"}), "toolchain", RAMDISK1, "compiler"),
    Case("build-host",
         lambda a: (BASE, {"kernel_bytes": kernel(_HOST_B)}),
         frozenset({"build-host"}), "build-host", BOOT, "build host"),
    Case("build-host-number",
         lambda a: (BASE, {"kernel_bytes": kernel(_NUMBER_B)}),
         frozenset({"build-host"}), "build-host", BOOT, "build number"),
    Case("content-entry",
         lambda a: (BASE, _customer(changed(customer_members(), "rootfs/etc/os-release",
                                            data=b'NAME="Example"\nVERSION_ID="2"\n'))),
         frozenset({"content"}), "content", RAMDISK1, "content"),
    Case("content-kernel-release",
         lambda a: (BASE, {"kernel_bytes": kernel(_RELEASE_B)}),
         frozenset({"content"}), "content", BOOT, "release"),
    Case("content-kernel-bytes",
         lambda a: (BASE, {"kernel_bytes": kernel(seed=b"another kernel")}),
         frozenset({"content"}), "content", BOOT, "image bytes"),
    Case("content-ramdisk0",
         lambda a: (BASE, _boot(changed(boot_members(), "init", data=b"another init\n"))),
         frozenset({"content"}), "content", RAMDISK0, "content"),
    Case("added",
         lambda a: (BASE, _customer(customer_members(extra=[("rootfs/etc/resolv.conf",
                                                             b"nameserver 10.0.0.2\n", 0o644)]))),
         frozenset({"added"}), "added", RAMDISK1, "added"),
    Case("removed",
         lambda a: (_customer(customer_members(extra=[("rootfs/etc/resolv.conf",
                                                       b"nameserver 10.0.0.2\n", 0o644)])), BASE),
         frozenset({"removed"}), "removed", RAMDISK1, "removed"),
    Case("added-ramdisk",
         lambda a: (BASE, {"ramdisks": [BOOT_CPIO, CUSTOMER_CPIO,
                                        cpio(tree([("extra", b"x\n", 0o644)]))]}),
         frozenset({"added"}), "added", RAMDISK1, "section added"),
    Case("metadata-image-name",
         lambda a: (BASE, {"name": "my-enclave"}),
         frozenset({"metadata"}), "metadata", (), "value"),
    Case("signature-two-keys",
         lambda a: ({"signer": signer("a")}, {"signer": signer("b")}),
         frozenset({"signature"}), "signature", ("PCR8",), "certificate"),
    Case("signature-same-key-twice",  # randomised ECDSA: PCR-equivalent
         lambda a: ({"signer": signer("a")}, {"signer": signer("a")}),
         frozenset({"signature"}), "signature", (), "signature"),
    Case("signed-vs-unsigned",
         lambda a: (BASE, {"signer": signer("a")}),
         frozenset({"signature", "added"}), "signature", ("PCR8",), "certificate"),
    Case("cmdline-token",
         lambda a: (BASE, {"cmdline": CMDLINE.replace(b"panic=30", b"panic=1")}),
         frozenset({"cmdline"}), "cmdline", BOOT, "token"),
    Case("cmdline-order",
         lambda a: (BASE, {"cmdline": b" ".join(reversed(CMDLINE.split()))}),
         frozenset({"cmdline"}), "cmdline", BOOT, "order"),
    Case("header-arch",
         lambda a: (BASE, {"arch": "aarch64"}),
         frozenset({"header"}), "header", (), "flags"),
    Case("compression-gzip-level",
         lambda a: (_gzip_ramdisk(level=9), _gzip_ramdisk(level=1)),
         frozenset({"compression"}), "compression", RAMDISK1),
    Case("compression-gzip-vs-none",
         lambda a: (_gzip_ramdisk(), BASE),
         frozenset({"compression"}), "compression", RAMDISK1, "format"),
    Case("compression-gzip-vs-xz",
         lambda a: (_gzip_ramdisk(),
                    {"ramdisks": [BOOT_CPIO, lzma.compress(CUSTOMER_CPIO,
                                                           format=lzma.FORMAT_XZ)]}),
         frozenset({"compression"}), "compression", RAMDISK1, "format"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_one_cause(case: Case, assets: Assets, tmp_path: Path) -> None:
    ka, kb = case.build(assets)
    report = compare_pair(tmp_path, ka, kb)
    assert report.verdict != "identical"
    assert not report.anomalies
    assert causes(report) == case.causes, [
        (d.path, d.field, d.category) for d in report.causes]
    rows = rows_of(report, case.category, case.field)
    assert rows, f"no {case.category} row with field {case.field}"
    for d in rows:
        assert d.pcrs == case.pcrs, (d.path, d.field, d.pcrs)
    for d in report.divergences:
        assert d.hint.strip(), d
    if not case.pcrs and case.category != "added":
        assert report.verdict == "pcr-equivalent"
    # a cause that moves a PCR is named on some cause row with that PCR, and the other way round
    moved = {p for p, eq in report.pcr_equal.items() if not eq}
    assert {p for d in report.causes for p in d.pcrs} == moved


def test_every_category_has_a_pair() -> None:
    covered = {c.category for c in CASES} | {"build-path", "derived"}  # the two tests below
    assert covered == set(CATEGORIES)


def test_derived_rows(tmp_path: Path) -> None:
    """CRC, section sizes and offsets, CPIO file sizes follow from a cause: `derived` rows,
    listed after every cause."""
    big = b"0123456789abcdef" * 256  # 4 KiB: the ramdisk grows past its 512-byte padding
    report = compare_pair(tmp_path, {}, {
        "name": "a-much-longer-image-name",
        **_customer(changed(customer_members(), "rootfs/etc/os-release", data=big))})
    derived = {(d.path, d.field) for d in rows_of(report, "derived")}
    assert {("eif-header", "crc32"), ("eif-header:2", "section size"),
            ("eif-header:4", "section size"), ("eif-header:3", "section offset"),
            ("metadata", "size"), ("ramdisk[1]", "size"),
            ("ramdisk[1]:rootfs/etc/os-release", "filesize")} <= derived
    assert causes(report) == {"metadata", "content"}
    kinds = [d.is_cause for d in report.divergences]
    assert kinds == sorted(kinds, reverse=True), "causes come before derived rows"
    crc = rows_of(report, "derived", "crc32")[0]
    assert crc.pcrs == () and crc.offset_a == crc.offset_b == 544 and crc.hint
    size = next(d for d in report.divergences if d.field == "filesize")
    assert size.pcrs == RAMDISK1 and (size.a, size.b) == (30, len(big))


# --- ELF built in two directories -----------------------------------------------------------


def _elf_pair(tmp: Path, app_a: bytes, app_b: bytes) -> Report:
    ms = [m for m in customer_members() if not m.name.startswith("rootfs")]
    spec = [("bin", None, 0o755), ("bin/app", b"", 0o755)]
    a = cpio([*ms, *changed(tree(spec), "bin/app", data=app_a)])
    b = cpio([*ms, *changed(tree(spec), "bin/app", data=app_b)])
    return compare_pair(tmp, {"ramdisks": [BOOT_CPIO, a]}, {"ramdisks": [BOOT_CPIO, b]})


@pytest.fixture(scope="module")
def elf_report(assets: Assets, tmp_path_factory: pytest.TempPathFactory) -> Report:
    return _elf_pair(tmp_path_factory.mktemp("elf"), assets.app_a, assets.app_b)


def test_elf_compiled_twice_in_one_directory_is_identical(assets: Assets) -> None:
    assert assets.app_a == assets.app_again, "gcc is not deterministic here: the ELF cases " \
        "below cannot isolate the build path"


def _check_build_path(report: Report, app_a: bytes, app_b: bytes, section: str,
                      suffix_b: str) -> None:
    # the GNU build-id hashes the link output, which differs only by the paths: derived
    assert causes(report) == {"build-path"}, [
        (d.path, d.field, d.category) for d in report.causes]
    comp = [d for d in rows_of(report, "build-path") if d.field == "comp_dir"]
    assert len(comp) == 1
    d = comp[0]
    assert d.layer == "elf"
    assert (d.section, d.entry, d.part) == ("ramdisk[1]", "bin/app", "DW_AT_comp_dir")
    assert d.path == "ramdisk[1]:bin/app:DW_AT_comp_dir"
    located = [r for r in rows_of(report, "build-path") if r.part == section]
    assert located, f"no build-path row for {section}"
    assert str(d.a).endswith("/a/src") and str(d.b).endswith(suffix_b)
    assert d.pcrs == RAMDISK1 and "prefix-map" in d.hint
    for row in rows_of(report, "build-path"):
        assert (row.section, row.entry) == ("ramdisk[1]", "bin/app"), row.path
        assert (row.part or "").startswith((".debug", "DW_AT_")), row.path
        assert row.pcrs == RAMDISK1
    assert not rows_of(report, "build-id")
    (bid,) = rows_of(report, "derived", "build-id from build path")
    assert bid.path == "ramdisk[1]:bin/app:.note.gnu.build-id" and bid.pcrs == RAMDISK1
    assert bid.a == elf_facts(app_a).build_id and bid.b == elf_facts(app_b).build_id
    assert bid.hint
    assert not rows_of(report, "content")
    for row in report.divergences:
        assert not row.path.endswith((":.text", ":.data", ":.rodata")), row


def test_elf_build_path(elf_report: Report, assets: Assets) -> None:
    _check_build_path(elf_report, assets.app_a, assets.app_b, ".debug_line_str",
                      "/bb-longer/src")


def test_elf_build_path_dwarf4(assets: Assets, tmp_path: Path) -> None:
    report = _elf_pair(tmp_path, assets.app_a4, assets.app_b4)
    _check_build_path(report, assets.app_a4, assets.app_b4, ".debug_str", "/bb-longer/src")


def test_elf_build_path_same_length(assets: Assets, tmp_path: Path) -> None:
    report = _elf_pair(tmp_path, assets.app_a, assets.app_same_length)
    _check_build_path(report, assets.app_a, assets.app_same_length, ".debug_line_str", "/c/src")


def test_elf_code_change_is_content(assets: Assets, tmp_path: Path) -> None:
    """The converse: another source in the same directory is content, not a build path."""
    report = _elf_pair(tmp_path, assets.app_a, assets.app_changed)
    content = {d.path for d in rows_of(report, "content")}
    assert "ramdisk[1]:bin/app:.rodata" in content or "ramdisk[1]:bin/app:.data" in content
    assert not rows_of(report, "build-path")


# --- name the cause, not the symptom --------------------------------------------------------


def test_metadata_only_changes_give_no_content_rows(tmp_path: Path) -> None:
    """mtimes, order, owners, inodes, modes and gzip header fields all at once."""
    ms = customer_members()
    ms = changed(ms, "rootfs/bin/app", mtime=MTIME_B, uid=1000, gid=1000)
    ms = changed(ms, "rootfs/etc/os-release", mode=S_IFREG | 0o666, ino=99)
    ms = changed(ms, "rootfs/bin", nlink=5, devmajor=259)
    ms = _swap(ms, "rootfs/etc", "rootfs/bin")
    gz_a = gzip.compress(cpio(customer_members()), compresslevel=9, mtime=MTIME)
    gz_b = gzip.compress(cpio(ms), compresslevel=9, mtime=MTIME_B)
    boot_b = cpio(changed(boot_members(), "init", mtime=MTIME_B, mode=S_IFREG | 0o4755))
    report = compare_pair(tmp_path, {"ramdisks": [BOOT_CPIO, gz_a]},
                          {"ramdisks": [boot_b, gz_b]})
    assert causes(report) == {"timestamp", "ownership", "permissions", "inode", "ordering"}
    assert not rows_of(report, "content")
    assert not rows_of(report, "added") and not rows_of(report, "removed")
    # the recompressed stream differs only because its content does: derived, not compression
    assert not rows_of(report, "compression")


def test_pyc_source_mtime_is_a_timestamp(assets: Assets, tmp_path: Path) -> None:
    assert assets.pyc_a[16:] == assets.pyc_b[16:], "py_compile wrote different code objects"
    ka, kb = _pyc_pair(assets)
    report = compare_pair(tmp_path, ka, kb)
    (d,) = report.causes
    assert (d.category, d.field, d.layer) == ("timestamp", "pyc source mtime", "cpio-entry")
    assert d.path.endswith("greeting.cpython-311.pyc")
    assert (d.a, d.b) == (MTIME, MTIME_B)
    assert d.shown_a.startswith(f"{MTIME} (2024-01-01T")
    assert d.length == 4 and d.offset_b - d.offset_a == 0
    assert not rows_of(report, "content")


def test_pyc_patched_mtime_bytes(assets: Assets, tmp_path: Path) -> None:
    patched = assets.pyc_a[:8] + struct.pack("<I", 1_234_567_890) + assets.pyc_a[12:]
    name = "lib/mod.pyc"
    report = compare_pair(
        tmp_path, _customer(customer_members(extra=[(name, assets.pyc_a, 0o644)])),
        _customer(customer_members(extra=[(name, patched, 0o644)])))
    assert [(d.category, d.field) for d in report.causes] == [("timestamp", "pyc source mtime")]


def test_pyc_code_change_is_content(assets: Assets, tmp_path: Path) -> None:
    other = pyc(tmp_path / "py", MTIME, source=PY_SOURCE.replace("hello", "howdy"))
    name = "lib/greeting.pyc"
    report = compare_pair(
        tmp_path, _customer(customer_members(extra=[(name, assets.pyc_a, 0o644)])),
        _customer(customer_members(extra=[(name, other, 0o644)])))
    assert causes(report) == {"content"}


def test_kernel_host_and_date_only(tmp_path: Path) -> None:
    b = "6.1.0-test (ci-runner@build-host-b7) #1 SMP Fri Jun 14 09:27:51 UTC 2024"
    report = compare_pair(tmp_path, {}, {"kernel_bytes": kernel(b)})
    got = sorted((d.field, d.category) for d in report.causes)
    assert got == [("build date", "timestamp"), ("build host", "build-host")]
    host = rows_of(report, "build-host")[0]
    assert (host.a, host.b) == ("builder@host-a", "ci-runner@build-host-b7")
    kernel_data = report.a.sections[0].offset + 12  # past the 12-byte section header
    assert host.offset_a == kernel_data + 0x500 + VERSION.index("builder@")
    assert not rows_of(report, "content")
    assert report.pcr_equal == {"PCR0": False, "PCR1": False, "PCR2": True}


def test_gzip_name_is_a_build_path(tmp_path: Path) -> None:
    def named(name: str) -> bytes:
        import io

        buf = io.BytesIO()
        with gzip.GzipFile(filename=name, mode="wb", fileobj=buf, mtime=MTIME) as f:
            f.write(CUSTOMER_CPIO)
        return buf.getvalue()

    report = compare_pair(tmp_path, {"ramdisks": [BOOT_CPIO, named("tmpaaaa.cpio")]},
                          {"ramdisks": [BOOT_CPIO, named("tmpbbbb.cpio")]})
    (d,) = report.causes
    assert (d.category, d.field, d.path) == ("build-path", "gzip name", "ramdisk[1]:gzip")
    assert (d.a, d.b) == ("tmpaaaa.cpio", "tmpbbbb.cpio") and d.pcrs == RAMDISK1


# --- compressed ramdisks --------------------------------------------------------------------


def _lz4_legacy(data: bytes) -> bytes:
    import lz4.block

    out = bytearray(struct.pack("<I", 0x184C2102))
    for pos in range(0, len(data), 8 << 20):
        block = lz4.block.compress(data[pos : pos + (8 << 20)], store_size=False)
        out += struct.pack("<I", len(block)) + block
    return bytes(out)


def _compressors() -> dict[str, Callable[[bytes], bytes]]:
    import lz4.frame
    import zstandard

    return {
        "gzip": lambda d: gzip.compress(d, mtime=0),
        "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
        "zstd": lambda d: zstandard.ZstdCompressor(level=3).compress(d),
        "lz4": lambda d: lz4.frame.compress(d),
        "lz4-legacy": _lz4_legacy,
        "bzip2": lambda d: bz2.compress(d),
    }


def _entries(path: Path, limits: Limits | None = None) -> list[tuple[Any, ...]]:
    with load(path, limits=limits) as img:
        r = img.ramdisks[1]
        return [(m.entry.name, m.entry.mode, m.entry.ino, m.entry.mtime, bytes(m.data))
                for m in r.members()]


@pytest.mark.parametrize("fmt", ["gzip", "xz", "zstd", "lz4", "lz4-legacy", "bzip2"])
def test_compressed_ramdisk_loads_like_uncompressed(fmt: str, tmp_path: Path) -> None:
    plain = make_eif(tmp_path / "plain.eif")
    packed = make_eif(tmp_path / f"{fmt}.eif",
                      ramdisks=[BOOT_CPIO, _compressors()[fmt](CUSTOMER_CPIO)])
    with load(packed) as img:
        r = img.ramdisks[1]
        assert r.compressions == (fmt,) and not r.anomalies
    assert _entries(packed) == _entries(plain)
    assert len(_entries(plain)) == len(customer_members())
    report = compare_files(plain, packed)
    assert causes(report) == {"compression"} and not report.anomalies


def test_gzip_bomb_is_an_anomaly(tmp_path: Path) -> None:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    bomb = b"".join(z.compress(chunk) for _ in range(200)) + z.flush()  # 200 MB of zeros
    assert len(bomb) < 400_000
    limits = Limits(max_ratio=20)
    a = make_eif(tmp_path / "a.eif", ramdisks=[BOOT_CPIO, bomb])
    b = make_eif(tmp_path / "b.eif", ramdisks=[BOOT_CPIO, CUSTOMER_CPIO])
    with load(a, limits=limits) as img:
        (anomaly,) = img.ramdisks[1].anomalies
        assert (anomaly.section, anomaly.part) == ("ramdisk[1]", "gzip stream")
        assert "bound for this ramdisk" in anomaly.message
        assert anomaly.offset == img.ramdisks[1].section.data_offset
    report = compare_files(a, b, limits=limits)
    assert report.verdict == "different"
    assert set(report.a.pcrs) == {"PCR0", "PCR1", "PCR2"}
    assert [x.path for x in report.anomalies] == ["a:ramdisk[1]:gzip stream"]
    assert {p for d in report.causes for p in d.pcrs} == {"PCR0", "PCR2"}


def test_two_gzip_bombs_still_name_a_cause(tmp_path: Path) -> None:
    """Neither ramdisk can be read: the differing bytes must still give a cause row for the PCRs
    that moved (the catch-all), not a silent `different` verdict."""
    def bomb(n: int) -> bytes:
        return gzip.compress(bytes(n << 20), compresslevel=9, mtime=0)

    limits = Limits(max_ratio=20)
    report = compare_pair(tmp_path, {"ramdisks": [BOOT_CPIO, bomb(40)]},
                          {"ramdisks": [BOOT_CPIO, bomb(41)]}, limits=limits)
    assert report.verdict == "different"
    assert len(report.anomalies) == 2
    assert {p for d in report.causes for p in d.pcrs} == {"PCR0", "PCR2"}, \
        [(d.path, d.field, d.category) for d in report.divergences]


def test_early_microcode_layout(tmp_path: Path) -> None:
    """An uncompressed CPIO (the microcode) followed by a gzip CPIO in one ramdisk."""
    ucode = cpio(tree([("kernel", None, 0o755), ("kernel/x86", None, 0o755),
                       ("kernel/x86/microcode", None, 0o755),
                       ("kernel/x86/microcode/GenuineIntel.bin", b"\x01" * 700, 0o644)]))
    rd = ucode + gzip.compress(CUSTOMER_CPIO, mtime=0)
    path = make_eif(tmp_path / "ucode.eif", ramdisks=[BOOT_CPIO, rd])
    with load(path) as img:
        r = img.ramdisks[1]
        assert r.compressions == ("none", "gzip") and not r.anomalies
        names = [m.entry.name for m in r.members()]
        pieces = [m.piece.index for m in r.members()]
    assert names[:4] == ["kernel", "kernel/x86", "kernel/x86/microcode",
                         "kernel/x86/microcode/GenuineIntel.bin"]
    assert names[4:] == [m.name for m in customer_members()]
    assert pieces == [0] * 4 + [1] * len(customer_members())
    # a change inside the compressed piece is found as such
    rd_b = ucode + gzip.compress(
        cpio(changed(customer_members(), "cmd", mtime=MTIME_B)), mtime=0)
    report = compare_files(path, make_eif(tmp_path / "b.eif", ramdisks=[BOOT_CPIO, rd_b]))
    assert [(d.path, d.field, d.category) for d in report.causes] == [
        ("ramdisk[1]:cmd", "mtime", "timestamp")]
