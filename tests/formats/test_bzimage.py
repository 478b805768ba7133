"""eifdiff.formats.bzimage: bzImage setup header, payload in every compression the kernel builds
with, the vmlinux inside (banner, build-id, config, built-in initramfs), arm64 Images, and
refusals with the offset named."""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eifdiff.errors import FormatError
from eifdiff.formats.bzimage import (
    UnsupportedCompression,
    parse_setup_header,
    payload_compression,
    read_kernel,
    vmlinux,
)
from eifdiff.formats.kernel import find_version

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_kernel.py"


def make_kernel() -> ModuleType:
    name = "_eifdiff_make_kernel"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


CONFIG = {"CONFIG_IKCONFIG": "y", "CONFIG_MODVERSIONS": "y", "CONFIG_KVM": "n",
          "CONFIG_LOCALVERSION": '"-cloud"'}


@pytest.fixture(scope="module")
def vm() -> bytes:
    return make_kernel().make_vmlinux(config=CONFIG, initramfs={"init": b"#!/bin/sh\n"},
                                      build_id=bytes(range(20)))


@pytest.mark.parametrize("fmt", ["gzip", "bzip2", "lzma", "xz", "lz4", "zstd", "none"])
def test_every_payload_compression(vm: bytes, fmt: str) -> None:
    image = make_kernel().make_bzimage(vm, compression=fmt)
    k = read_kernel(image)
    assert k.format == "bzImage" and k.arch == "x86_64"
    assert k.compression == {"lz4": "lz4-legacy"}.get(fmt, fmt)
    assert k.vmlinux == vm
    assert k.setup is not None and k.setup.protocol == "2.15"
    assert k.payload_offset == k.setup.payload_start == 0x400 + 0x200
    if fmt != "none":
        end = k.payload_offset + k.payload_size
        assert image[end - 4 : end] == struct.pack("<I", len(vm))
    assert k.build_id == bytes(range(20)).hex()
    b = k.banner
    assert b is not None and b.source == "banner"
    assert (b.release, b.build_host, b.build_number, b.flags, b.distro_version, b.build_date) == (
        "6.1.0-47-cloud-amd64", "debian-kernel@lists.debian.org", "#1", "SMP PREEMPT_DYNAMIC",
        "Debian 6.1.170-3", "2026-05-08")
    assert b.compiler == "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"
    assert b.linker == "GNU ld (GNU Binutils for Debian) 2.40"
    assert k.config is not None and k.config.as_dict() == CONFIG
    assert k.config.release == "6.1.0-47-cloud-amd64"
    assert k.initramfs is not None and k.initramfs.names == ("init",)
    assert vm[k.initramfs.offset : k.initramfs.offset + 6] == b"070701"
    assert k.elf is not None and [t.release for t in k.elf.compilers] == [
        "Debian 12.2.0-14+deb12u1"]
    assert [t.tool for t in k.elf.linkers] == ["GNU ld"]
    assert {(n.owner, n.value) for n in k.elf.notes} >= {("Linux", "6.1.0-47-cloud-amd64")}
    assert k.problems == ()
    assert vmlinux(image) == vm
    # the setup header's own copy of the version string has no toolchain group
    hv = find_version(image)
    assert hv is not None and hv.source == "setup-header" and hv.compiler == ""
    assert hv.release == "6.1.0-47-cloud-amd64" and hv.distro_version == "Debian 6.1.170-3"


def test_setup_header_fields(vm: bytes) -> None:
    image = make_kernel().make_bzimage(vm)
    s = parse_setup_header(image)
    assert (s.setup_sects, s.setup_size, s.kernel_version_ptr, s.loadflags) == (1, 0x400, 0x100, 1)
    assert (s.kernel_alignment, s.relocatable, s.xloadflags, s.cmdline_size) == (
        0x200000, True, 0x7F, 2047)
    assert (s.pref_address, s.init_size) == (0x1000000, 2 * len(vm))
    assert s.syssize * 16 == len(image) - 0x400
    assert s.arch == "x86_64"


def test_lzo_is_an_unsupported_compression(vm: bytes) -> None:
    image = make_kernel().make_bzimage(vm, compression="lzo")
    with pytest.raises(UnsupportedCompression, match="lzo-compressed") as err:
        read_kernel(image)
    assert err.value.fmt == "lzo"
    assert isinstance(err.value, FormatError)


def test_unknown_payload_and_damage(vm: bytes) -> None:
    mk = make_kernel()
    image = bytearray(mk.make_bzimage(vm))
    payload_at = 0x600
    image[payload_at : payload_at + 4] = b"ABCD"
    with pytest.raises(FormatError, match=r"41424344.*no known compression"):
        read_kernel(bytes(image))
    with pytest.raises(FormatError, match=r"payload_length 0x24c.*runs past"):
        read_kernel(mk.make_bzimage(vm)[:-200])
    old = bytearray(mk.make_bzimage(vm))
    struct.pack_into("<H", old, 0x206, 0x206)
    with pytest.raises(FormatError, match=r"boot protocol 2\.6 at offset 0x206"):
        read_kernel(bytes(old))
    with pytest.raises(FormatError, match="shorter than its setup header"):
        parse_setup_header(b"\0" * 0x100)
    corrupt = bytearray(mk.make_bzimage(vm, compression="xz"))
    corrupt[payload_at + 200 : payload_at + 260] = bytes(60)
    with pytest.raises(FormatError, match="kernel payload: corrupt xz"):
        read_kernel(bytes(corrupt))
    with pytest.raises(FormatError, match="not a kernel image"):
        read_kernel(b"\0" * 0x400)


def test_size_bound(vm: bytes) -> None:
    big = make_kernel().make_vmlinux(text=bytes(4 << 20))
    image = make_kernel().make_bzimage(big, compression="gzip")
    with pytest.raises(FormatError, match="inflates past"):
        read_kernel(image, max_size=1 << 20)
    assert len(read_kernel(image).vmlinux) == len(big)


def test_damaged_config_is_a_problem_not_a_failure(vm: bytes) -> None:
    bad = vm.replace(b"IKCFG_ST\x1f\x8b", b"IKCFG_ST\x1f\x8b\xff\xff")[: len(vm)]
    k = read_kernel(make_kernel().make_bzimage(bad, compression="none"))
    assert k.config is None
    assert len(k.problems) == 1 and "embedded config at offset" in k.problems[0]
    assert k.banner is not None and k.banner.release == "6.1.0-47-cloud-amd64"


def arm64_image(banner: bytes) -> bytes:
    img = bytearray(0x4000)
    img[0x38:0x3C] = b"ARM\x64"
    img[0x1000 : 0x1000 + len(banner)] = banner
    return bytes(img)


def test_arm64_image_raw_and_gzip() -> None:
    mk = make_kernel()
    line = mk.banner(release="4.14.256-209.484.amzn2.aarch64").encode() + b"\n\0"
    config = mk.ikconfig({"CONFIG_ARM64": "y"}, "4.14.256")
    raw = bytearray(arm64_image(line))
    raw[0x2000 : 0x2000 + len(config)] = config
    for data, compression in ((bytes(raw), None), (gzip.compress(bytes(raw), mtime=0), "gzip")):
        k = read_kernel(data)
        assert (k.format, k.arch, k.compression, k.elf) == ("arm64-image", "aarch64",
                                                            compression, None)
        assert k.vmlinux == bytes(raw)
        assert k.banner is not None and k.banner.release == "4.14.256-209.484.amzn2.aarch64"
        assert k.banner.offset == 0x1000
        assert k.config is not None and k.config.as_dict() == {"CONFIG_ARM64": "y"}
    with pytest.raises(FormatError, match="does not hold an arm64 Image"):
        read_kernel(gzip.compress(b"not a kernel" * 100))


def test_vmlinux_elf_directly(vm: bytes) -> None:
    k = read_kernel(vm)
    assert (k.format, k.arch, k.compression, k.setup) == ("elf", "x86_64", None, None)
    assert k.build_id == bytes(range(20)).hex()


def test_payload_compression_names() -> None:
    assert payload_compression(b"\x5d\x00\x00\x80\x00" + b"\xff" * 8) == "lzma"
    assert payload_compression(b"\x7fELF\x02") == "none"
    assert payload_compression(b"\x89LZO\x00\r\n\x1a\n") == "lzo"
    assert payload_compression(b"\x02\x21\x4c\x18") == "lz4-legacy"


@pytest.mark.parametrize("fmt", ["gzip", "xz", "lz4", "zstd", "bzip2", "lzma"])
def test_truncations_and_bit_flips_raise_format_errors_only(vm: bytes, fmt: str) -> None:
    """Cut at every header boundary and flip bytes across the header and payload: the reader
    returns or raises FormatError, nothing else, and never allocates past its bound."""
    image = make_kernel().make_bzimage(vm, compression=fmt)
    setup = parse_setup_header(image)
    end = setup.payload_start + setup.payload_length
    points = {0, 1, 0x1F1, 0x1F2, 0x202, 0x206, 0x210, 0x248, 0x250, 0x26F, 0x270, 0x400,
              0x600, 0x601, 0x610, end // 2, end - 5, end - 1}
    for cut in sorted(points):
        with pytest.raises(FormatError):
            read_kernel(image[:cut])
    assert read_kernel(image[:end]).vmlinux == vm  # only the padding after the payload cut
    for at in [*range(0x1F1, 0x270, 7), *range(0x600, min(len(image), 0x600 + 4096), 97)]:
        flipped = bytearray(image)
        flipped[at] ^= 0xFF
        with contextlib.suppress(FormatError):
            read_kernel(bytes(flipped), max_size=4 << 20)


FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.data())
def test_mutated_kernels_raise_format_errors_only(vm: bytes, data: st.DataObject) -> None:
    """Random byte changes to a bzImage (header and payload) and random prefixes: a kernel or
    FormatError, within the size bound."""
    fmt = data.draw(st.sampled_from(["gzip", "xz", "zstd", "lz4", "bzip2", "lzma", "none"]))
    image = bytearray(make_kernel().make_bzimage(vm, compression=fmt))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.one_of(st.integers(0x1F0, 0x270), st.integers(0, len(image) - 1)))
        image[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(image)))
    with contextlib.suppress(FormatError):
        k = read_kernel(bytes(image[:cut]), max_size=1 << 20)
        assert len(k.vmlinux) <= 1 << 20


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_are_no_kernel(raw: bytes) -> None:
    with contextlib.suppress(FormatError):
        read_kernel(b"\0" * 0x202 + b"HdrS" + raw, max_size=1 << 20)
    with contextlib.suppress(FormatError):
        read_kernel(raw, max_size=1 << 20)
