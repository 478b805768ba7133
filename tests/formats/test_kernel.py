"""eifdiff.formats.kernel: kernel format and version string."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from eifdiff.formats.kernel import find_banner, find_version, kernel_format, parse_version

UBUNTU = ("5.15.0-91-generic (buildd@lcy02-amd64-045) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) "
          "11.4.0, GNU ld (GNU Binutils for Ubuntu) 2.38) #101-Ubuntu SMP Tue Nov 14 13:30:08 "
          "UTC 2023")
AMZN = ("4.14.256-209.484.amzn2.x86_64 (mockbuild@ip-10-0-1-32) (gcc version 7.3.1 20180712 "
        "(Red Hat 7.3.1-13) (GCC)) #1 SMP Mon Nov 22 20:25:48 UTC 2021")
FEDORA = ("6.5.6-300.fc39.x86_64 (mockbuild@bkernel01) (gcc (GCC) 13.2.1 20230918 (Red Hat "
          "13.2.1-3), GNU ld version 2.40-13.fc39) #1 SMP PREEMPT_DYNAMIC Fri Oct  6 19:57:21 "
          "UTC 2023")


def bzimage(version: bytes, *, size: int = 0x1000, at: int = 0x600) -> bytes:
    data = bytearray(size)
    data[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", data, 0x20E, at - 0x200)
    data[at : at + len(version) + 1] = version + b"\0"
    return bytes(data)


def test_vector_kernel(inputs_dir: Path) -> None:
    data = (inputs_dir / "bzImage").read_bytes()
    assert kernel_format(data) == "bzImage"
    kv = find_version(data)
    assert kv is not None and kv.source == "setup-header"
    (ptr,) = struct.unpack_from("<H", data, 0x20E)
    assert kv.offset == 0x200 + ptr
    assert kv.release == "4.14.256-209.484.amzn2.x86_64"
    assert kv.build_host == "mockbuild@build-a"
    assert kv.build_number == "#1"
    assert kv.build_date == "Mon Jan 1 00:00:00 UTC 2024"
    assert data[kv.offset : kv.offset + len(kv.text)].decode() == kv.text


@pytest.mark.parametrize(("text", "release", "host", "build", "date"), [
    (UBUNTU, "5.15.0-91-generic", "buildd@lcy02-amd64-045", "#101-Ubuntu",
     "Tue Nov 14 13:30:08 UTC 2023"),
    (AMZN, "4.14.256-209.484.amzn2.x86_64", "mockbuild@ip-10-0-1-32", "#1",
     "Mon Nov 22 20:25:48 UTC 2021"),
    (FEDORA, "6.5.6-300.fc39.x86_64", "mockbuild@bkernel01", "#1", "Fri Oct  6 19:57:21 UTC 2023"),
    ("6.1.0 (me@host) #3 SMP Mon Jan 1 00:00:00 UTC 2024", "6.1.0", "me@host", "#3",
     "Mon Jan 1 00:00:00 UTC 2024"),
])
def test_setup_header_version_nested_parentheses(text: str, release: str, host: str,
                                                 build: str, date: str) -> None:
    kv = find_version(bzimage(text.encode()))
    assert kv is not None
    assert (kv.text, kv.source, kv.offset) == (text, "setup-header", 0x600)
    assert (kv.release, kv.build_host, kv.build_number, kv.build_date) == (
        release, host, build, date)


def test_banner_in_clear() -> None:
    banner = b"Linux version " + AMZN.encode() + b"\n"
    arm = bytearray(0x2000)
    arm[0x38:0x3C] = b"ARM\x64"
    arm[0x1000 : 0x1000 + len(banner)] = banner
    assert kernel_format(arm) == "arm64-image"
    kv = find_version(bytes(arm))
    assert kv is not None and kv.source == "banner" and kv.offset == 0x1000
    assert kv.text == "Linux version " + AMZN
    assert kv.release == "4.14.256-209.484.amzn2.x86_64" and kv.build_number == "#1"
    elf = b"\x7fELF" + bytes(100) + banner[:-1] + b"\0rest"
    assert kernel_format(elf) == "elf"
    assert find_version(elf).text == "Linux version " + AMZN


def test_bzimage_with_bad_pointer_falls_back_to_banner() -> None:
    data = bytearray(bzimage(b"\x01\x02binary"))
    data[0x900:0x900 + 30] = b"Linux version 6.6.1 (a@b) #2\0"
    kv = find_version(bytes(data))
    assert kv is not None and kv.source == "banner" and kv.release == "6.6.1"
    assert kv.build_host == "a@b" and kv.build_number == "#2" and kv.build_date == ""
    past_end = bytearray(bzimage(b"x", size=0x400))
    struct.pack_into("<H", past_end, 0x20E, 0xFFFF)
    assert find_version(bytes(past_end)) is None


def test_unknown_and_unparsable() -> None:
    assert kernel_format(b"") == "unknown"
    assert kernel_format(bytes(0x300)) == "unknown"
    assert find_version(b"") is None
    assert find_version(bytes(0x300)) is None
    kv = parse_version("weird", 5, "banner")
    assert (kv.text, kv.offset, kv.release, kv.build_host) == ("weird", 5, "", "")


def test_memoryview_input() -> None:
    data = bzimage(UBUNTU.encode())
    kv = find_version(memoryview(data))
    assert kv is not None and kv.release == "5.15.0-91-generic"
    assert kernel_format(memoryview(data)) == "bzImage"


DEBIAN = ("Linux version 6.1.0-47-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian "
          "12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP "
          "PREEMPT_DYNAMIC Debian 6.1.170-3 (2026-05-08)")


@pytest.mark.parametrize(("text", "fields"), [
    (DEBIAN, ("6.1.0-47-cloud-amd64", "debian-kernel@lists.debian.org",
              "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", "GNU ld (GNU Binutils for Debian) 2.40",
              "#1", "SMP PREEMPT_DYNAMIC", "Debian 6.1.170-3", "2026-05-08")),
    ("Linux version " + AMZN, ("4.14.256-209.484.amzn2.x86_64", "mockbuild@ip-10-0-1-32",
                               "gcc version 7.3.1 20180712 (Red Hat 7.3.1-13) (GCC)", "", "#1",
                               "SMP", "", "Mon Nov 22 20:25:48 UTC 2021")),
    ("Linux version " + UBUNTU, ("5.15.0-91-generic", "buildd@lcy02-amd64-045",
                                 "gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0",
                                 "GNU ld (GNU Binutils for Ubuntu) 2.38", "#101-Ubuntu", "SMP",
                                 "", "Tue Nov 14 13:30:08 UTC 2023")),
    ("6.1.0-47-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian "
     "6.1.170-3 (2026-05-08)", ("6.1.0-47-cloud-amd64", "debian-kernel@lists.debian.org", "",
                                "", "#1", "SMP PREEMPT_DYNAMIC", "Debian 6.1.170-3",
                                "2026-05-08")),
])
def test_banner_parts(text: str, fields: tuple[str, ...]) -> None:
    kv = parse_version(text, 0, "banner")
    assert (kv.release, kv.builder, kv.compiler, kv.linker, kv.build_number, kv.flags,
            kv.distro_version, kv.build_date) == fields


def test_banner_with_build_number_preferred() -> None:
    """Linux 6.1 links a banner with a bare `#` first and the real one (`#1`) later."""
    placeholder = DEBIAN.replace(" #1 ", " # ").encode() + b"\n\0"
    real = DEBIAN.encode() + b"\n\0"
    data = bytes(100) + placeholder + bytes(50) + real
    kv = find_banner(data)
    assert kv is not None and kv.build_number == "#1"
    assert kv.offset == 100 + len(placeholder) + 50
    only = find_banner(bytes(10) + placeholder)
    assert only is not None and only.build_number == "#" and only.offset == 10
    assert find_banner(bytes(100)) is None
