"""eifdiff.diff.vmlinux: two kernels read down to their vmlinux, compared like ELF files, with
rows for the banner, the config, the built-in initramfs; the payload and setup derived."""

from __future__ import annotations

from pathlib import Path

from tests.diff.test_pcr1 import compare, debian_kernel
from tests.formats.test_bzimage import make_kernel


def test_two_debian_kernels(tmp_path: Path) -> None:
    """Rows name both releases, both Debian versions, the compiler and both vmlinux
    build-ids; the compressed payload and what surrounds it are derived."""
    ka = debian_kernel("6.1.0-47", "6.1.170-3", "2026-05-08", b"\x47" * 20)
    kb = debian_kernel("6.1.0-50", "6.1.176-1", "2026-07-02", b"\x50" * 20)
    report = compare(tmp_path, {"kernel": ka}, {"kernel": kb})
    rows = {(d.layer, d.field, d.part): d for d in report.divergences if d.section == "kernel"}
    release = rows[("kernel", "release", None)]
    assert (release.a, release.b) == ("6.1.0-47-cloud-amd64", "6.1.0-50-cloud-amd64")
    assert release.hint.startswith("Both built by gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0.")
    distro = rows[("kernel", "distribution version", None)]
    assert (distro.a, distro.b) == ("Debian 6.1.170-3", "Debian 6.1.176-1")
    date = rows[("kernel", "build date", None)]
    assert (date.category, date.a, date.b) == ("timestamp", "2026-05-08", "2026-07-02")
    build_id = rows[("elf", "build-id", ".notes")]
    assert (build_id.a, build_id.b) == ("47" * 20, "50" * 20)
    assert (build_id.stream_a, build_id.stream_b) == ("vmlinux", "vmlinux")
    config = rows[("kernel", "config option", "CONFIG_X")]
    assert (config.a, config.b) == ("6.1.0-47", "6.1.0-50")
    assert rows[("kernel", "payload", None)].category == "derived"
    assert rows[("kernel", "setup and decompressor", None)].category == "derived"
    assert ("kernel", "image bytes", None) not in rows
    assert rows[("elf", "section bytes", ".text")].category == "content"


def test_kernel_compiler_change_is_a_toolchain_row(tmp_path: Path) -> None:
    ka = debian_kernel("6.1.0-47", "6.1.170-3", "2026-05-08", b"\x47" * 20)
    kb = debian_kernel("6.1.0-47", "6.1.170-3", "2026-05-08", b"\x48" * 20,
                       compiler="gcc-12 (Debian 12.2.0-14+deb12u2) 12.2.0")
    report = compare(tmp_path, {"kernel": ka}, {"kernel": kb})
    rows = {(d.layer, d.field): d for d in report.divergences if d.section == "kernel"}
    compiler = rows[("kernel", "compiler")]
    assert (compiler.category, compiler.part, compiler.stream_a) == (
        "toolchain", "banner", "vmlinux")
    assert (compiler.a, compiler.b) == ("gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0",
                                        "gcc-12 (Debian 12.2.0-14+deb12u2) 12.2.0")
    assert ("kernel", "release") not in rows


def test_same_vmlinux_recompressed(tmp_path: Path) -> None:
    mk = make_kernel()
    vm = mk.make_vmlinux(text=b"kernel code " * 2000)
    report = compare(tmp_path, {"kernel": mk.make_bzimage(vm, level=9)},
                     {"kernel": mk.make_bzimage(vm, level=1)})
    rows = [(d.category, d.field) for d in report.divergences if d.section == "kernel"]
    assert ("compression", "recompressed payload") in rows
    assert ("content", "image bytes") not in rows
    assert {d.category for d in report.causes} == {"compression"}


def test_lzo_kernels_are_an_anomaly_and_compared_as_bytes(tmp_path: Path) -> None:
    mk = make_kernel()
    ka = mk.make_bzimage(mk.make_vmlinux(release="6.1.0-1"), compression="lzo")
    kb = mk.make_bzimage(mk.make_vmlinux(release="6.1.0-2"), compression="lzo")
    report = compare(tmp_path, {"kernel": ka}, {"kernel": kb})
    assert [(x.section, x.side, x.message) for x in report.anomalies] == [
        ("kernel", "a", "kernel payload is lzo-compressed, which eifdiff cannot decompress"),
        ("kernel", "b", "kernel payload is lzo-compressed, which eifdiff cannot decompress")]
    # only the setup header's version strings differ (the stand-in payload is the same)
    assert [d.field for d in report.divergences if d.section == "kernel"] == ["release"]


def test_another_kernel_is_one_root_cause(tmp_path: Path) -> None:
    ka = debian_kernel("6.1.0-47", "6.1.170-3", "2026-05-08", b"\x47" * 20)
    kb = debian_kernel("6.1.0-50", "6.1.176-1", "2026-07-02", b"\x50" * 20)
    report = compare(tmp_path, {"kernel": ka}, {"kernel": kb})
    (root,) = [r for r in report.root_causes if r.kind == "kernel"]
    assert root.title.startswith("Another kernel in kernel: release 6.1.0-47-cloud-amd64 → "
                                 "6.1.0-50-cloud-amd64; distribution version Debian 6.1.170-3 → "
                                 "Debian 6.1.176-1")
    assert "kernel:.notes" in root.examples  # the vmlinux build-id follows with the release
