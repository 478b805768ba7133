"""eifdiff.enclave and `eifdiff describe` on EIFs holding a synthesised kernel and compiled
stand-ins for nitro-cli's `init` and `nsm.ko` (tests/boot_blobs.py, identified through a test
catalog): the kernel read down to its vmlinux, blobs identified, consistency warnings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from eifdiff.describe import describe_json, describe_text
from eifdiff.enclave import layer_of, open_bootstrap
from eifdiff.formats.cpio import CpioMember, write_archive
from eifdiff.formats.eif import SectionType, write_eif
from eifdiff.formats.metadata import encode_metadata
from tests.boot_blobs import BootBlobs
from tests.formats.test_bzimage import make_kernel
from tests.helpers import cli, run_cli, small_metadata

CMDLINE = b"reboot=k panic=30 pci=off nomodules console=ttyS0"


@pytest.fixture
def bootstrap(boot_blobs: BootBlobs, blob_catalog: object) -> Callable[..., bytes]:
    """nitro-cli's bootstrap ramdisk with the stand-ins (`module` replaces nsm.ko's bytes)."""
    def make(init: str = "init-2022-02", module: bytes | None = None) -> bytes:
        ko = module if module is not None else boot_blobs["nsm-2022-02.ko"]
        return write_archive([CpioMember("dev", mode=0o040755),
                              CpioMember("init", boot_blobs[init], mode=0o100755),
                              CpioMember("nsm.ko", ko)])
    return make


def eif(path: Path, kernel: bytes, ramdisk0: bytes, *, arch: str = "x86_64") -> Path:
    user = write_archive([CpioMember("rootfs/app.ko", b"not an ELF")])
    path.write_bytes(write_eif([
        (SectionType.KERNEL, kernel), (SectionType.CMDLINE, CMDLINE),
        (SectionType.METADATA, encode_metadata(small_metadata())),
        (SectionType.RAMDISK, ramdisk0), (SectionType.RAMDISK, user)], arch=arch))
    return path


@pytest.fixture(scope="module")
def kernel_61() -> bytes:
    mk = make_kernel()
    return mk.make_bzimage(mk.make_vmlinux(build_id=bytes(range(20))), compression="xz")


def test_61_kernel_with_414_module_is_warned(tmp_path: Path, kernel_61: bytes,
        bootstrap: Callable[..., bytes]) -> None:
    path = eif(tmp_path / "x.eif", kernel_61, bootstrap())
    with open_bootstrap(path) as loaded:
        assert len(loaded.ramdisks) == 1  # the user ramdisk is not read
        layer = layer_of(loaded)
    assert layer.kernel is not None and layer.kernel_error is None
    assert layer.kernel_release == "6.1.0-47-cloud-amd64"
    assert layer.kernel.build_id == bytes(range(20)).hex()
    assert [(p.path, p.role, p.arch) for p in layer.parts] == [
        ("ramdisk[0]:init", "init", "x86_64"), ("ramdisk[0]:nsm.ko", "module", "x86_64")]
    init, ko = layer.parts
    assert init.blob is not None and init.blob.label == \
        "init: nitro-cli x86_64 blob of 2022-02 (v1.2.0 to v1.3.0)"
    assert ko.blob is not None and ko.blob.label.startswith("nsm.ko: nitro-cli x86_64 blob of "
                                                            "2022-02")
    (w,) = layer.warnings
    assert (w.kind, w.path, w.found, w.expected) == (
        "module-release", "ramdisk[0]:nsm.ko", "4.14.256-209.484.amzn2.x86_64",
        "6.1.0-47-cloud-amd64")
    assert layer.anomalies == ()
    assert layer.kernel_blob is None and layer.cmdline_blob is None
    assert [r for r, _, _ in layer.blobs()] == ["kernel", "init", "nsm.ko"]
    assert layer.blobs()[1] == ("init", init.sha256, init.blob)


def test_describe_cli_json_and_text(tmp_path: Path, kernel_61: bytes,
        bootstrap: Callable[..., bytes]) -> None:
    path = eif(tmp_path / "x.eif", kernel_61, bootstrap())
    # in this process, where the test catalog names the stand-ins
    code, out, err = cli("describe", path, "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)["eifdiff"]
    k = doc["Kernel"]
    assert (k["format"], k["arch"], k["compression"], k["vmlinux_build_id"]) == (
        "bzImage", "x86_64", "xz", bytes(range(20)).hex())
    assert k["banner"]["distro_version"] == "Debian 6.1.170-3"
    assert k["banner"]["compiler"] == "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"
    assert [t["release"] for t in k["toolchain"] if t["role"] == "compiler"] == [
        "Debian 12.2.0-14+deb12u1"]
    parts = {p["path"]: p for p in doc["BootParts"]}
    assert parts["ramdisk[0]:init"]["blob"]["releases"][0] == "v1.2.0"
    assert parts["ramdisk[0]:init"]["build_id"] == "aa942fa284918fdd64ea861537c9198839256693"
    assert parts["ramdisk[0]:nsm.ko"]["vermagic"].startswith("4.14.256-209.484.amzn2.x86_64")
    assert parts["ramdisk[0]:nsm.ko"]["srcversion"] == "D3B5E8FDCD94DD8FF56025B"
    assert [(w["kind"], w["found"], w["expected"]) for w in doc["Warnings"]] == [
        ("module-release", "4.14.256-209.484.amzn2.x86_64", "6.1.0-47-cloud-amd64")]
    assert doc["Anomalies"] == []
    text = cli("describe", path)[1]
    assert "ramdisk[0]:init: x86_64; init: nitro-cli x86_64 blob of 2022-02 (v1.2.0 to " \
        "v1.3.0)" in text
    assert "WARNING ramdisk[0]:nsm.ko: module built for kernel 4.14.256-209.484.amzn2.x86_64" \
        in text and "the kernel is 6.1.0-47-cloud-amd64" in text
    assert "build-id 000102030405060708090a0b0c0d0e0f10111213" in text


def test_matching_kernel_and_module_give_no_warning(tmp_path: Path,
        bootstrap: Callable[..., bytes]) -> None:
    mk = make_kernel()
    kernel = mk.make_bzimage(mk.make_vmlinux(
        release="4.14.256-209.484.amzn2.x86_64", builder="mockbuild@build-a",
        compiler="gcc version 7.3.1 20180712 (Red Hat 7.3.1-13) (GCC)", linker="",
        tail="#1 SMP Mon Nov 22 20:25:48 UTC 2021"))
    with open_bootstrap(eif(tmp_path / "x.eif", kernel, bootstrap())) as loaded:
        layer = layer_of(loaded)
    assert layer.warnings == ()
    assert layer.kernel is not None and layer.kernel.banner is not None
    assert layer.kernel.banner.compiler.startswith("gcc version 7.3.1")


def test_arm64_kernel_in_an_x86_image(tmp_path: Path,
        bootstrap: Callable[..., bytes]) -> None:
    mk = make_kernel()
    image = bytearray(0x4000)
    image[0x38:0x3C] = b"ARM\x64"
    line = mk.banner(release="4.14.256-209.484.amzn2.x86_64").encode() + b"\n"
    image[0x1000 : 0x1000 + len(line)] = line
    with open_bootstrap(eif(tmp_path / "x.eif", bytes(image), bootstrap())) as loaded:
        layer = layer_of(loaded)
    got = [(w.kind, w.path, w.found, w.expected) for w in layer.warnings]
    assert got == [("architecture", "kernel", "aarch64", "x86_64"),
                   ("architecture", "ramdisk[0]:init", "x86_64", "aarch64"),
                   ("architecture", "ramdisk[0]:nsm.ko", "x86_64", "aarch64")]
    text = describe_text(loaded.image, layer)
    assert "WARNING kernel: aarch64 kernel in an x86_64 image" in text


def test_unreadable_kernel_and_damaged_module(tmp_path: Path, kernel_61: bytes,
        bootstrap: Callable[..., bytes], boot_blobs: BootBlobs) -> None:
    mk = make_kernel()
    lzo = mk.make_bzimage(mk.make_vmlinux(), compression="lzo")
    ko = boot_blobs["nsm-2022-02.ko"]
    broken = ko[:64] + b"\xff" * 200  # section headers now point past the end
    path = eif(tmp_path / "x.eif", lzo, bootstrap(module=broken))
    with open_bootstrap(path) as loaded:
        layer = layer_of(loaded)
        image = loaded.image
    assert layer.kernel is None
    assert layer.kernel_error == "kernel payload is lzo-compressed, which eifdiff cannot " \
        "decompress"
    assert layer.anomalies == ()
    ko = layer.parts[1]
    assert ko.path == "ramdisk[0]:nsm.ko" and ko.elf is None
    assert ko.error is not None and ko.error.startswith("ELF file cannot be parsed")
    assert layer.warnings == ()  # a module that cannot be read has no vermagic to compare
    doc = describe_json(image, layer)["eifdiff"]
    assert doc["Kernel"] == {"error": layer.kernel_error}
    assert doc["Anomalies"] == []
    assert doc["BootParts"][1]["error"] == ko.error
    proc = run_cli("describe", path)
    assert proc.returncode == 0 and "vmlinux: not read (kernel payload is lzo" in proc.stdout
    # with the vmlinux unread, the module is compared with the setup header's version string
    with open_bootstrap(eif(tmp_path / "y.eif", lzo, bootstrap())) as loaded:
        layer = layer_of(loaded)
    assert [(w.kind, w.expected) for w in layer.warnings] == [
        ("module-release", "6.1.0-47-cloud-amd64")]


def test_terminal_text_is_escaped(tmp_path: Path,
        bootstrap: Callable[..., bytes]) -> None:
    mk = make_kernel()
    kernel = mk.make_bzimage(mk.make_vmlinux(builder="a\x1b[31m@b"), version="6.1 (x) #1")
    with open_bootstrap(eif(tmp_path / "x.eif", kernel, bootstrap())) as loaded:
        text = describe_text(loaded.image, layer_of(loaded))
    assert "\x1b" not in text and "a\\x1b[31m@b" in text
