"""Realistic package-database contents and encoders for the package-reader tests."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

# A Debian bookworm status file, stanzas as dpkg writes them (xz-utils and liblzma5 at the
# backdoored 5.6.1-1 that reached Debian unstable, libssl3 as in bookworm), plus a package
# removed with its conffiles kept (not installed) and a held one (installed).
DPKG_STATUS = b"""\
Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6029
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.19-1~deb12u2
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation of the SSL
 and TLS cryptographic protocols for secure communication over the
 Internet.
 .
 It provides the libssl and libcrypto shared libraries.
Homepage: https://www.openssl.org/

Package: liblzma5
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 333
Maintainer: Sebastian Andrzej Siewior <sebastian@breakpoint.cc>
Architecture: amd64
Multi-Arch: same
Source: xz-utils
Version: 5.6.1-1
Depends: libc6 (>= 2.34)
Breaks: liblzma2 (<< 5.1.1alpha+20110809-3~)
Description: XZ-format compression library
 XZ is the successor to the Lempel-Ziv/Markov-chain Algorithm
 compression format, which provides memory-hungry but powerful
 compression (often better than bzip2) and fast, easy decompression.
Homepage: https://tukaani.org/xz/

Package: xz-utils
Status: install ok installed
Priority: standard
Section: utils
Installed-Size: 1226
Maintainer: Sebastian Andrzej Siewior <sebastian@breakpoint.cc>
Architecture: amd64
Multi-Arch: foreign
Version: 5.6.1-1
Replaces: lzip (<< 1.8~rc2), xz-lzma
Provides: lzma
Depends: libc6 (>= 2.34), liblzma5 (>= 5.4.0)
Conflicts: lzma (<< 9.22-1), xz-lzma
Description: XZ-format compression utilities
 XZ is the successor to the Lempel-Ziv/Markov-chain Algorithm
 compression format, which provides memory-hungry but powerful
 compression (often better than bzip2) and fast, easy decompression.
Homepage: https://tukaani.org/xz/

Package: adduser
Status: deinstall ok config-files
Priority: important
Section: admin
Installed-Size: 849
Maintainer: Debian Adduser Developers <adduser@packages.debian.org>
Architecture: all
Multi-Arch: foreign
Version: 3.134
Conffiles:
 /etc/adduser.conf cc3493ecd2d09837ffdcc3e25fdfff18
 /etc/deluser.conf 11a06baf8245fd8d690b99024d228c1f
Description: add and remove users and groups

Package: tzdata
Status: hold ok installed
Priority: required
Section: localization
Installed-Size: 3413
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: all
Multi-Arch: foreign
Version: 2024a-0+deb12u1
Provides: tzdata-bookworm
Depends: debconf (>= 0.5) | debconf-2.0
Description: time zone and daylight-saving time data
"""

XZ_UTILS_LIST = b"""\
/.
/usr
/usr/bin
/usr/bin/lzmainfo
/usr/bin/xz
/usr/share
/usr/share/doc
/usr/share/doc/xz-utils
/usr/share/doc/xz-utils/copyright
/usr/bin/unxz
/usr/bin/xzcat
"""

LIBSSL3_LIST = b"""\
/.
/usr
/usr/lib
/usr/lib/x86_64-linux-gnu
/usr/lib/x86_64-linux-gnu/libcrypto.so.3
/usr/lib/x86_64-linux-gnu/libssl.so.3
/usr/share
/usr/share/doc
/usr/share/doc/libssl3
/usr/share/doc/libssl3/copyright
"""

LIBLZMA5_MD5SUMS = b"""\
1b1f0f4b1b0a4c7b7e0c2e3b4d5a6f70  usr/lib/x86_64-linux-gnu/liblzma.so.5.6.1
9e2d8a6c1f5b3e7d0a4c6b8e2f1d3a5c  usr/share/doc/liblzma5/copyright
"""

# A distroless image: one stanza a file in status.d, md5sums beside it, no Status field.
DISTROLESS_LIBC6 = b"""\
Package: libc6
Source: glibc
Version: 2.36-9+deb12u4
Architecture: amd64
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Installed-Size: 12987
Section: libs
Priority: optional
Multi-Arch: same
Description: GNU C Library: Shared libraries
"""
DISTROLESS_LIBC6_MD5SUMS = b"""\
2b8c1fbd0a2e4d5f6a7b8c9d0e1f2a3b  lib/x86_64-linux-gnu/libc.so.6
"""

# Alpine lib/apk/db/installed blocks, in the field order apk writes.
APK_INSTALLED = b"""\
C:Q1Deb0jNytkrjPW4N/eKLZ43BwOlw=
P:musl
V:1.2.4-r2
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1698074616
c:1b8d1fad7e58ab3d8fd3b33d7ddaa0f2d4a0bbd5
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q12adwqQOjo9dFl+VJD2Ecd901vhE=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1kqY5V8qb0DBAfHX4ZgyQK9cGJwo=
P:xz-libs
V:5.6.1-r1
A:x86_64
S:86015
I:225280
T:Library for XZ and LZMA compressed files
U:https://tukaani.org/xz
L:GPL-2.0-or-later AND 0BSD AND Public-Domain AND LGPL-2.1-or-later
o:xz
m:Natanael Copa <ncopa@alpinelinux.org>
t:1711700000
c:8b2a1a7f9a7d2b6f7e1c4d3b2a190817263544ff
D:so:libc.musl-x86_64.so.1
p:so:liblzma.so.5=5.6.1
F:usr
F:usr/lib
R:liblzma.so.5
a:0:0:777
Z:Q1fPp7nSM9Z4M4R4y9u0W3HC5NVGg=
R:liblzma.so.5.6.1
a:0:0:755
Z:Q1Ec7oGmzx0u3T3lCPK1qVYR6V8rM=
"""

# A wheel installed by pip: METADATA and RECORD as pip writes them.
YAML_METADATA = b"""\
Metadata-Version: 2.1
Name: PyYAML
Version: 6.0.1
Summary: YAML parser and emitter for Python
Home-page: https://pyyaml.org/
Author: Kirill Simonov
Author-email: xi@resolvent.net
License: MIT
Requires-Python: >=3.6
License-File: LICENSE

YAML is a data serialization format designed for human readability
and interaction with scripting languages.
Name: not-a-header
"""
YAML_RECORD = b"""\
../../../bin/yaml-tool,sha256=27MuBvgLlsL2ail9KlSbmr2S8SKvgZlg8uBBJSZ-q4o,168
PyYAML-6.0.1.dist-info/INSTALLER,sha256=zuuue4knoyJ-UwPPXg8fezS7VCrXJQrAP7zeNuwvFQg,4
PyYAML-6.0.1.dist-info/METADATA,sha256=T9_RgAub7U8QxYfgHjsn3jOaTVrgMBY6mHQNabEIrzc,2052
PyYAML-6.0.1.dist-info/RECORD,,
PyYAML-6.0.1.dist-info/WHEEL,sha256=7P8GidDsaXvW2PfiijZHTmvWiV7SBC5jnR0sxU6wjXg,152
PyYAML-6.0.1.dist-info/top_level.txt,sha256=rpj0IVMTisAjh_1vG3Ccf9v5jpCQwAz6cD1IVU5ZdhQ,11
_yaml/__init__.py,sha256=04Ae_5osxahpJHa3XBZUAf4wi6XX32gR8D6X6p64GEA,1402
yaml/__init__.py,sha256=bhl05qSeO-1ZxlSRjGrvl2m9nrXb1n9-GQatTN0Mrqc,12311
yaml/__pycache__/__init__.cpython-311.pyc,,
yaml/composer.py,sha256=_Ko30Wr6eDWUeUpauUGT3Lcg9QPBnOPVlTnIMRGJ9FM,4883
"../../../etc/yaml,conf",sha256=AAAA,1
../../../../../../../etc/passwd,,
"""

# Go build info as the Go 1.19.8 linker wrote it for a module with one versioned dependency and
# one replaced by a local directory: the whole 368-byte `.go.buildinfo` section of that binary.
GO_BUILDINFO_SECTION = bytes.fromhex(
    "ff20476f206275696c64696e663a08020000000000000000000000000000000008676f312e31392e38c4023077af0c92"
    "74080241e1c107e6d618e670617468096578616d706c652e636f6d2f6170700a6d6f64096578616d706c652e636f6d2f"
    "6170700928646576656c29090a646570096578616d706c652e636f6d2f67726565740976312e322e330968313a7a2b48"
    "4e545a45612b586c794f3937563441692b4e6a45756539716353496b2f6e6164553445686f37386b3d0a646570096578"
    "616d706c652e636f6d2f6f746865720976302e312e300a3d3e092e2e2f6772656574320928646576656c29090a0a6275"
    "696c64092d636f6d70696c65723d67630a6275696c64092d7472696d706174683d747275650a6275696c640943474f5f"
    "454e41424c45443d300a6275696c6409474f415243483d616d6436340a6275696c6409474f4f533d6c696e75780a6275"
    "696c6409474f414d4436343d76310af932433186182072008242104116d8f200"
)

# rpm header tags and types (rpm's rpmtag.h).
NAME, VERSION, RELEASE, EPOCH, ARCH = 1000, 1001, 1002, 1003, 1022
DIRINDEXES, BASENAMES, DIRNAMES = 1116, 1117, 1118
HEADERIMMUTABLE = 63
INT32, STRING, BIN, STRING_ARRAY, I18NSTRING = 4, 6, 7, 8, 9


def rpm_header(tags: list[tuple[int, int, object]]) -> bytes:
    """An rpm header blob (as rpmdb stores it: no preamble) with the given (tag, type, value)."""
    index = bytearray()
    store = bytearray()
    for tag, typ, value in tags:
        if typ == INT32:
            store += b"\0" * (-len(store) % 4)
        offset = len(store)
        if typ == INT32:
            assert isinstance(value, list)
            store += struct.pack(f">{len(value)}I", *value)
            count = len(value)
        elif typ in (STRING, I18NSTRING):
            store += str(value).encode() + b"\0"
            count = 1
        elif typ == STRING_ARRAY:
            assert isinstance(value, list)
            for s in value:
                store += s.encode() + b"\0"
            count = len(value)
        else:
            assert isinstance(value, bytes)
            store += value
            count = len(value)
        index += struct.pack(">IIII", tag, typ, offset, count)
    return struct.pack(">II", len(tags), len(store)) + bytes(index) + bytes(store)


def rpm_package(name: str, version: str, release: str, files: list[str], *,
                epoch: int | None = None, arch: str = "x86_64") -> bytes:
    dirs = sorted({f.rsplit("/", 1)[0] + "/" for f in files})
    tags: list[tuple[int, int, object]] = [
        (HEADERIMMUTABLE, BIN, b"\0" * 16),  # the region tag real headers start with
        (NAME, STRING, name), (VERSION, STRING, version), (RELEASE, STRING, release),
        (ARCH, STRING, arch), (1004, I18NSTRING, f"{name} summary"),
    ]
    if epoch is not None:
        tags.append((EPOCH, INT32, [epoch]))
    if files:
        tags += [
            (DIRINDEXES, INT32, [dirs.index(f.rsplit("/", 1)[0] + "/") for f in files]),
            (BASENAMES, STRING_ARRAY, [f.rsplit("/", 1)[1] for f in files]),
            (DIRNAMES, STRING_ARRAY, dirs),
        ]
    return rpm_header(tags)


def rpmdb_sqlite(path: Path, blobs: list[bytes]) -> bytes:
    """An rpmdb.sqlite with rpm's `Packages` table holding `blobs`; returns its bytes."""
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, "
               "blob BLOB NOT NULL)")
    db.execute("CREATE TABLE Name (key TEXT NOT NULL, hnum INTEGER NOT NULL, "
               "idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES Packages(hnum))")
    db.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    db.commit()
    db.close()
    return path.read_bytes()


ELF_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
PROGRAM_HEADER = struct.Struct("<IIQQQQQQ")
SECTION_HEADER = struct.Struct("<IIQQQQIIQQ")
VADDR = 0x500000


def tiny_elf(body: bytes, *, section: str | None = ".go.buildinfo", pad: int = 0) -> bytes:
    """A little-endian ELF64 executable: one PT_LOAD mapping the whole file at VADDR, `body`
    at a 16-aligned offset (after `pad` bytes) and, when `section` is given, a section table
    naming `body`'s span `section`. Address of file offset o: VADDR + o."""
    body_off = 0x100 + pad
    shstrtab = b"\0" + (section or "").encode() + b"\0.shstrtab\0"
    strtab_off = body_off + len(body)
    shoff = (strtab_off + len(shstrtab) + 7) & ~7
    nsec = 3 if section else 0
    size = shoff + SECTION_HEADER.size * nsec
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    head = ELF_HEADER.pack(ident, 2, 62, 1, VADDR, 64, shoff if section else 0, 0, 64, 56, 1,
                           64, nsec, 2 if section else 0)
    phdr = PROGRAM_HEADER.pack(1, 6, 0, VADDR, VADDR, size, size, 0x1000)
    out = bytearray(head + phdr)
    out += b"\0" * (body_off - len(out)) + body + shstrtab
    out += b"\0" * (shoff - len(out))
    if section:
        name2 = 1 + len(section) + 1
        out += SECTION_HEADER.pack(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        out += SECTION_HEADER.pack(1, 1, 3, VADDR + body_off, body_off, len(body), 0, 0, 16, 0)
        out += SECTION_HEADER.pack(name2, 3, 0, 0, strtab_off, len(shstrtab), 0, 0, 1, 0)
    assert len(out) == size
    return bytes(out)


GO_MAIN = 'package main\n\nfunc main() { println("hello") }\n'  # no fmt: a quicker cold build
GO_APP = 'package main\n\nimport "example.com/greet"\n\nfunc main() { println(greet.Hello()) }\n'


def build_go_binaries(work: Path) -> dict[str, bytes]:
    """Build two real Go binaries with the `go` command: `hello` (a module requiring nothing)
    and `app` (requiring example.com/greet v1.2.3, served from a file:// module proxy made
    here, so no network is used). Returns their bytes by name."""
    go = shutil.which("go")
    assert go is not None
    proxy = work / "proxy" / "example.com" / "greet" / "@v"
    proxy.mkdir(parents=True)
    mod = "module example.com/greet\n\ngo 1.18\n"
    (proxy / "list").write_text("v1.2.3\n")
    (proxy / "v1.2.3.info").write_text('{"Version":"v1.2.3","Time":"2024-01-01T00:00:00Z"}')
    (proxy / "v1.2.3.mod").write_text(mod)
    with zipfile.ZipFile(proxy / "v1.2.3.zip", "w") as z:
        z.writestr("example.com/greet@v1.2.3/go.mod", mod)
        z.writestr("example.com/greet@v1.2.3/greet.go",
                   'package greet\n\nfunc Hello() string { return "hi" }\n')
    env = {**os.environ, "GOPATH": str(work / "gopath"), "GOPROXY": f"file://{work / 'proxy'}",
           "GOSUMDB": "off", "GOFLAGS": "-mod=mod -modcacherw", "CGO_ENABLED": "0",
           "GOTOOLCHAIN": "local", "GOWORK": "off"}
    if "GOCACHE" not in env and "HOME" not in env and "XDG_CACHE_HOME" not in env:
        env["GOCACHE"] = str(work / "gocache")
    out = {}
    for name, gomod, src in (
        ("hello", "module example.com/hello\n\ngo 1.18\n", GO_MAIN),
        ("app", "module example.com/app\n\ngo 1.18\n\nrequire example.com/greet v1.2.3\n",
         GO_APP),
    ):
        d = work / name
        d.mkdir()
        (d / "go.mod").write_text(gomod)
        (d / "main.go").write_text(src)
        subprocess.run([go, "build", "-trimpath", "-o", name, "."], cwd=d, env=env, check=True,
                       capture_output=True, timeout=300)
        out[name] = (d / name).read_bytes()
    return out
