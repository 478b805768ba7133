"""A pair like two debootstraps built minutes apart, small enough for tests: every file's mtime
moved by the build clock (about +130 s, a few seconds either way), three entries at mtime 0 on
both sides, one log with other text, one binary with other bytes, one entry added in b."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from eifdiff.formats.cpio import S_IFDIR, S_IFREG, CpioMember
from tests.builders import BOOT_CPIO, cpio, make_eif

START = 1_795_913_973  # 2026-11-29 00:59:33 UTC
OFFSETS = (127, 128, 129, 130, 130, 131, 133)  # b's clock minus a's, per file in turn
FILES = 120


def _members(side: str) -> list[CpioMember]:
    out = [CpioMember("rootfs", mode=S_IFDIR | 0o755, nlink=2, mtime=START, ino=1)]
    for i in range(FILES):
        t = START + i // 3
        if side == "b":
            t += OFFSETS[i % len(OFFSETS)]
        data = f"file {i}\n".encode() * 4
        out.append(CpioMember(f"rootfs/usr/share/f{i:03d}.txt", data, S_IFREG | 0o644,
                              mtime=t, ino=10 + i))
    for k in range(3):  # entries a package ships at mtime 0
        out.append(CpioMember(f"rootfs/etc/zero{k}", b"z\n", S_IFREG | 0o644, mtime=0,
                              ino=200 + k))
    log = "\n".join(f"2026-11-29 01:0{i % 3}:{i:02d} status installed pkg{i}" for i in range(20))
    blob = bytes(range(256)) * 8
    if side == "b":
        log = log.replace("pkg7", "pkg7-rebuilt").replace("01:01", "01:03")
        blob = blob[:300] + b"\xff\xfe" + blob[302:1500] + b"\x00" + blob[1501:]
    out += [
        CpioMember("rootfs/var/log/dpkg.log", log.encode() + b"\n", S_IFREG | 0o644,
                   mtime=START + 50, ino=300),
        CpioMember("rootfs/usr/lib/blob.bin", blob, S_IFREG | 0o644, mtime=START + 51, ino=301),
    ]
    if side == "b":
        out.append(CpioMember("rootfs/usr/lib/added.so", b"new\n", S_IFREG | 0o755,
                              mtime=START + 52, ino=302))
    return [replace(m) for m in out]


def clock_pair(tmp: Path) -> tuple[Path, Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    a = make_eif(tmp / "a.eif", ramdisks=[BOOT_CPIO, cpio(_members("a"))])
    b = make_eif(tmp / "b.eif", ramdisks=[BOOT_CPIO, cpio(_members("b"))])
    return a, b
