"""Go build info: real binaries (when `go` is installed), the real section bytes of one in a
small ELF made here (always), the pre-1.18 pointer layout, and damage."""

from __future__ import annotations

import struct

from eifdiff.packages import golang
from tests.packages.helpers import GO_BUILDINFO_SECTION, VADDR, tiny_elf


def test_real_go_binaries(go_binaries: dict[str, bytes]) -> None:
    hello = golang.buildinfo(go_binaries["hello"])
    assert hello is not None and hello.go.startswith("go1.")
    assert hello.path == "example.com/hello" and hello.deps == ()
    assert hello.main is not None and hello.main.path == "example.com/hello"
    assert ("GOOS", "linux") in hello.settings
    pkgs = golang.read_binary(go_binaries["app"], path="rootfs/usr/bin/app", ramdisk="r")
    assert [(p.name, p.version) for p in pkgs][1:] == [("example.com/greet", "v1.2.3"),
                                                       ("stdlib", hello.go)]
    main = pkgs[0]
    assert main.name == "example.com/app" and main.files == ("rootfs/usr/bin/app",)
    assert main.extra == {"binary": "rootfs/usr/bin/app", "go": hello.go, "main": True}
    assert pkgs[1].files is None and pkgs[1].ramdisk == "r"


def test_recorded_section_of_a_real_binary() -> None:
    """The `.go.buildinfo` bytes Go 1.19.8 wrote, including a `=>` replacement line."""
    elf = tiny_elf(GO_BUILDINFO_SECTION)
    info = golang.buildinfo(elf)
    assert info is not None and info.go == "go1.19.8" and info.path == "example.com/app"
    assert info.main == golang.Module("example.com/app", "(devel)", "")
    greet, other = info.deps
    assert (greet.path, greet.version, greet.sum) == (
        "example.com/greet", "v1.2.3", "h1:z+HNTZEa+XlyO97V4Ai+NjEue9qcSIk/nadU4Eho78k=")
    assert other.replace == golang.Module("../greet2", "(devel)", "")
    pkgs = golang.read_binary(elf, path="app")
    assert [(p.name, p.version) for p in pkgs] == [
        ("example.com/app", "(devel)"), ("example.com/greet", "v1.2.3"),
        ("example.com/other", "v0.1.0"), ("stdlib", "go1.19.8")]
    assert pkgs[2].extra["replace"] == "../greet2 (devel)"
    assert pkgs[3].files is None  # the main module owns the binary


def test_without_section_headers_the_magic_is_scanned_for() -> None:
    stripped = tiny_elf(GO_BUILDINFO_SECTION, section=None, pad=0x40)
    info = golang.buildinfo(stripped)
    assert info is not None and info.go == "go1.19.8"
    # not 16-byte aligned: not the build info (the linker aligns it)
    assert golang.buildinfo(tiny_elf(GO_BUILDINFO_SECTION, section=None, pad=8)) is None


def test_pre_118_pointer_layout() -> None:
    """Go 1.13-1.17: two pointers to string headers, strings elsewhere in the image."""
    mod = "path\tex.com/old\nmod\tex.com/old\t(devel)\t\ndep\tgolang.org/x/sys\tv0.1.0\th1:x=\n"
    framed = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6" + mod.encode() + \
        b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
    version = b"go1.16.15"
    body_off = 0x100
    strings_at = body_off + 64  # header (32), then two string headers (16 each)
    vers_addr, mod_addr = VADDR + strings_at, VADDR + strings_at + len(version)
    body = golang.MAGIC + bytes([8, 0]) + struct.pack("<QQ", VADDR + body_off + 32,
                                                      VADDR + body_off + 48)
    body += struct.pack("<QQ", vers_addr, len(version)) + struct.pack("<QQ", mod_addr,
                                                                      len(framed))
    body += version + framed
    info = golang.buildinfo(tiny_elf(body))
    assert info is not None and info.go == "go1.16.15"
    assert [d.path for d in info.deps] == ["golang.org/x/sys"]
    # a pointer outside every PT_LOAD: no build info, no exception
    bad = body[:16] + struct.pack("<Q", 0xDEAD0000) + body[24:]
    assert golang.buildinfo(tiny_elf(bad)) is None


def test_damage_gives_none() -> None:
    s = GO_BUILDINFO_SECTION
    cases = [
        b"", b"\x7fELF", b"not an elf" * 100, s,  # not ELF
        tiny_elf(s[:40]),  # strings cut
        tiny_elf(s[:14] + b"\x03" + s[15:]),  # pointer size 3
        tiny_elf(s[:32] + b"\xff" * 12),  # varint that never ends
        tiny_elf(s[:32] + b"\x00\x05ab"),  # empty version, module info cut
        tiny_elf(b"\0" * 64),  # .go.buildinfo without the magic
        tiny_elf(s)[:200],  # ELF cut before its section table
        tiny_elf(s, section=".data"),  # sections, none of them .go.buildinfo
    ]
    for data in cases:
        assert golang.buildinfo(data) is None
    assert golang.read_binary(b"\x7fELF" + b"\xff" * 100, path="x") == []


def test_modinfo_lines() -> None:
    info = golang.parse_modinfo("go1.22.0", "path\tx\nmod\tx\tv1.0.0\th1:a\n=>\ty\tv2.0.0\t\n"
                                "=>\tz\tv3\n" "dep\t\n" "dep\td\tv0.0.1\n" "junk\n\nbuild\tk=v=w\n")
    assert info.main == golang.Module("x", "v1.0.0", "h1:a", golang.Module("y", "v2.0.0", ""))
    assert [d.path for d in info.deps] == ["d"] and info.settings == (("k", "v=w"),)
    main, dep, std = golang.packages(info, path="b")
    assert main.version == "v2.0.0" and main.extra["replace"] == "y v2.0.0"
    assert (dep.name, std.name, std.version) == ("d", "stdlib", "go1.22.0")


def test_toolchain_commands_have_no_main_module() -> None:
    """`cmd/go` and `go build file.go` record a path but no `mod` line: stdlib owns them."""
    info = golang.parse_modinfo("go1.19.8", "path\tcmd/go\nbuild\t-compiler=gc\n")
    (std,) = golang.packages(info, path="usr/lib/go/bin/go")
    assert (std.name, std.version, std.files) == ("stdlib", "go1.19.8", ("usr/lib/go/bin/go",))


def test_a_view_works_like_bytes(go_binaries: dict[str, bytes]) -> None:
    assert golang.raw_buildinfo(memoryview(go_binaries["hello"])) is not None


def _info(settings: tuple[tuple[str, str], ...], deps: tuple[golang.Module, ...] = (),
          go: str = "go1.22.1") -> golang.BuildInfo:
    return golang.BuildInfo(go, "example.com/app", golang.Module("example.com/app", "(devel)"),
                            deps, settings)


def test_vcs_stamp_and_trimpath() -> None:
    info = _info((("-trimpath", "true"), ("vcs", "git"), ("vcs.revision", "abc"),
                  ("vcs.time", "2024-01-01T00:00:00Z"), ("vcs.modified", "false")))
    assert info.trimpath and info.setting("vcs") == "git"
    assert info.vcs == {"vcs": "git", "vcs.revision": "abc", "vcs.time": "2024-01-01T00:00:00Z",
                        "vcs.modified": "false"}
    main = golang.packages(info, path="bin/app")[0]
    assert main.extra["vcs.revision"] == "abc" and main.extra["main"] is True


def test_compare_buildinfo() -> None:
    net = golang.Module("golang.org/x/net", "v0.1.0")
    a = _info((("vcs.revision", "abc"), ("vcs.time", "2024-01-01T00:00:00Z"),
               ("CGO_ENABLED", "1")), (net, golang.Module("example.com/gone", "v1.0.0")))
    b = _info((("vcs.revision", "def"), ("vcs.time", "2024-02-01T00:00:00Z"),
               ("CGO_ENABLED", "0"), ("-trimpath", "true")),
              (golang.Module("golang.org/x/net", "v0.2.0"),), go="go1.22.2")
    got = [(c.field, c.name, c.a, c.b, c.category) for c in golang.compare_buildinfo(a, b)]
    assert got == [
        ("go version", "stdlib", "go1.22.1", "go1.22.2", "content"),
        ("module", "example.com/gone", "v1.0.0", None, "removed"),
        ("module", "golang.org/x/net", "v0.1.0", "v0.2.0", "content"),
        ("setting", "-trimpath", None, "true", "build-path"),
        ("setting", "CGO_ENABLED", "1", "0", "content"),
        ("vcs.revision", "vcs.revision", "abc", "def", "content"),
        ("vcs.time", "vcs.time", "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "timestamp"),
    ]
    assert golang.compare_buildinfo(a, a) == ()
