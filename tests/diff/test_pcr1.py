"""The enclave's own layer (PCR1) in comparisons: two builds each of stand-ins for nitro-cli's
`init` and `nsm.ko` (tests/boot_blobs.py, named through a test catalog; eifdiff.diff.content),
consistency warnings in every report and nitro-cli blob sets named
(eifdiff.enclave.pcr1_findings). Kernels: tests/diff/test_vmlinux.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eifdiff.compare import compare_files
from eifdiff.escape import markdown
from eifdiff.formats.cpio import CpioMember, write_archive
from eifdiff.formats.eif import SectionType, write_eif
from eifdiff.formats.metadata import encode_metadata
from eifdiff.report.html import report_html
from eifdiff.report.markdown import report_markdown
from eifdiff.report.model import Report
from eifdiff.report.text import report_text
from tests.boot_blobs import BootBlobs
from tests.formats.test_bzimage import make_kernel
from tests.helpers import run_cli, small_metadata

KERNEL_414 = "4.14.256-209.484.amzn2.x86_64"
VERMAGIC_246 = "4.14.246-198.474.amzn2.x86_64 SMP mod_unload modversions "
VERMAGIC_256 = "4.14.256-209.484.amzn2.x86_64 SMP mod_unload modversions "


BLOBS: dict[str, bytes] = {}


@pytest.fixture(autouse=True)
def _stand_ins(boot_blobs: BootBlobs, blob_catalog: object) -> None:
    """Every test here reads the stand-ins, identified through the test catalog."""
    BLOBS.update(boot_blobs.files)


def blob(name: str) -> bytes:
    return BLOBS[name]


def kernel_414() -> bytes:
    mk = make_kernel()
    return mk.make_bzimage(mk.make_vmlinux(
        release=KERNEL_414, builder="mockbuild@build-a",
        compiler="gcc version 7.3.1 20180712 (Red Hat 7.3.1-13) (GCC)", linker="",
        tail="#1 SMP Mon Nov 22 20:25:48 UTC 2021", build_id=b"\x14" * 20))


def eif(path: Path, *, kernel: bytes | None = None, init: str | bytes = "init-2022-02",
        module: str | bytes | None = "nsm-2022-02.ko", arch: str = "x86_64") -> Path:
    """An EIF with nitro-cli's bootstrap ramdisk layout (blobs named by their sample file)."""
    members = [CpioMember("dev", mode=0o040755),
               CpioMember("init", blob(init) if isinstance(init, str) else init, mode=0o100755)]
    if module is not None:
        members.append(CpioMember("nsm.ko", blob(module) if isinstance(module, str) else module))
    path.write_bytes(write_eif([
        (SectionType.KERNEL, kernel if kernel is not None else kernel_414()),
        (SectionType.CMDLINE, b"reboot=k panic=30 pci=off nomodules console=ttyS0"),
        (SectionType.METADATA, encode_metadata(small_metadata())),
        (SectionType.RAMDISK, write_archive(members)),
        (SectionType.RAMDISK, write_archive([CpioMember("rootfs/app", b"app\n")]))], arch=arch))
    return path


def compare(tmp: Path, a: dict[str, object], b: dict[str, object]) -> Report:
    return compare_files(eif(tmp / "a.eif", **a), eif(tmp / "b.eif", **b))  # type: ignore[arg-type]


def entry_rows(report: Report, entry: str) -> list[tuple[str, str, object, object]]:
    return [(d.category, d.field, d.a, d.b) for d in report.divergences if d.entry == entry]


def test_init_pure_rebuild_is_a_build_id_row(tmp_path: Path) -> None:
    """Two `init` files that differ only in their GNU build-id: one build-id row naming both
    ids, no content row (their stapsdt notes have the same type number and are not read as
    build-ids)."""
    report = compare(tmp_path, {"init": "init-2021-12"}, {"init": "init-2022-02"})
    assert entry_rows(report, "init") == [
        ("build-id", "build-id", "bc037dbce97236ca52748950b98a767188a39332",
         "aa942fa284918fdd64ea861537c9198839256693")]
    (row,) = [d for d in report.divergences if d.entry == "init"]
    assert row.part == ".note.gnu.build-id" and row.length == 20
    assert {d.category for d in report.causes} == {"build-id"}
    # both are nitro-cli blobs and only they differ: the hint says so
    assert row.hint.startswith("different nitro-cli blob sets: init: 2021-12 (unreleased) vs "
                               "2022-02 (v1.2.0 to v1.3.0). ")


def test_nsm_ko_rebuilt_for_another_kernel(tmp_path: Path) -> None:
    """Two builds of nsm.ko: the vermagic row names both strings and says the same source was
    rebuilt for another kernel; the symbol CRCs and renumbered labels are derived."""
    report = compare(tmp_path, {"module": "nsm-2021-10.ko"}, {"module": "nsm-2022-02.ko"})
    rows = {d.field: d for d in report.divergences if d.entry == "nsm.ko"}
    assert set(rows) == {"build-id", "vermagic", "symbol CRCs", "renumbered labels"}
    vm = rows["vermagic"]
    assert (vm.category, vm.part, vm.a, vm.b) == ("toolchain", ".modinfo", VERMAGIC_246,
                                                  VERMAGIC_256)
    assert "Same source (srcversion D3B5E8FDCD94DD8FF56025B) rebuilt for another kernel" in \
        vm.hint
    assert (rows["symbol CRCs"].category, rows["symbol CRCs"].part) == ("derived", "__versions")
    assert rows["symbol CRCs"].b == "11 CRCs changed"
    assert (rows["renumbered labels"].category, rows["renumbered labels"].part) == (
        "derived", ".strtab")
    assert not [d for d in report.divergences if d.entry == "nsm.ko" and
                d.category == "content"]
    assert "different nitro-cli blob sets: nsm.ko: 2021-10 (v1.1.0) vs 2022-02" in vm.hint


def test_init_toolchain_change(tmp_path: Path) -> None:
    """GCC 7.3.1-13 vs 7.3.1-17 in `.comment`: a toolchain row naming both releases."""
    a = blob("init-2022-02")
    b = a.replace(b"(Red Hat 7.3.1-13)", b"(Red Hat 7.3.1-17)")
    assert b != a and len(b) == len(a)
    report = compare(tmp_path, {"init": a}, {"init": b})
    assert entry_rows(report, "init") == [
        ("toolchain", "compiler", "Red Hat 7.3.1-13", "Red Hat 7.3.1-17")]


def debian_kernel(abi: str, package: str, date: str, build_id: bytes, *,
                  compiler: str = "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0") -> bytes:
    mk = make_kernel()
    vm = mk.make_vmlinux(release=f"{abi}-cloud-amd64", compiler=compiler,
                         tail=f"#1 SMP PREEMPT_DYNAMIC Debian {package} ({date})",
                         build_id=build_id, text=abi.encode() * 50,
                         initramfs={"dev": b""}, config={"CONFIG_X": abi})
    return mk.make_bzimage(vm, compression="xz")


def test_61_kernel_with_414_module_warned_in_every_report(tmp_path: Path) -> None:
    """A 6.1 kernel beside a 4.14 nsm.ko: a warning naming both, in each report format."""
    k61 = debian_kernel("6.1.0-47", "6.1.170-3", "2026-05-08", b"\x47" * 20)
    report = compare(tmp_path, {}, {"kernel": k61})
    (w,) = report.warnings
    assert (w.kind, w.side) == ("module-release", "b")
    assert KERNEL_414 in w.message and "6.1.0-47-cloud-amd64" in w.message
    assert w.message.startswith("ramdisk[0]:nsm.ko: module built for kernel")
    line = f"WARNING: b: {w.message}"
    assert line in report_text(report)
    assert markdown(w.message) in report_markdown(report)
    assert "cannot load" in report_html(report)
    proc = run_cli(tmp_path / "a.eif", tmp_path / "b.eif", "--json")
    doc = json.loads(proc.stdout)
    assert [(x["kind"], x["side"]) for x in doc["warnings"]] == [("module-release", "b")]


def test_architecture_warning_in_reports(tmp_path: Path) -> None:
    """An x86 kernel and init in an image whose header says aarch64."""
    report = compare(tmp_path, {}, {"arch": "aarch64", "module": None})
    assert [(w.kind, w.side, w.message) for w in report.warnings] == [
        ("architecture", "b", "kernel: x86_64 kernel in an aarch64 image (EIF header flags "
                              "say aarch64)"),
        ("architecture", "b", "ramdisk[0]:init: init built for x86_64 in an aarch64 image")]
