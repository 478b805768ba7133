"""`eifdiff unpack`: sections and ramdisk trees written for inspection; hostile archives refused
and reported, nothing written outside the target folder, modes masked."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from eifdiff.errors import EifdiffError
from eifdiff.formats.cpio import S_IFDIR, S_IFLNK, S_IFREG, CpioMember
from eifdiff.load import load
from eifdiff.unpack import unpack
from tests.builders import BOOT_CPIO, cpio, make_eif
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "elf-build-path" / "a.eif"
S_IFCHR = 0o020000
S_IFIFO = 0o010000
S_IFBLK = 0o060000
S_IFSOCK = 0o140000


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under `folder` (not following links) with its type bits and size."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = os.lstat(p)
            out[str(p.relative_to(folder))] = (stat.S_IFMT(st.st_mode), st.st_size)
    return out


# --- a sample -------------------------------------------------------------------------------


def test_unpack_sample(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    result = unpack(SAMPLE, dest)
    assert not result.refused
    assert result.sections == ("0-kernel.bin", "1-cmdline.txt", "2-metadata.json",
                               "3-ramdisk-0.img", "4-ramdisk-1.img")
    with load(SAMPLE) as img:
        for s, name in zip(img.image.layout.sections, result.sections, strict=True):
            assert (dest / "sections" / name).read_bytes() == bytes(img.section_data(s))
        for r in img.ramdisks:
            base = dest / r.name.replace("[", "-").replace("]", "")
            for m in r.members():
                p = base / m.entry.name
                if m.entry.kind == "dir":
                    assert p.is_dir() and not p.is_symlink()
                else:
                    assert p.read_bytes() == bytes(m.data), m.entry.name
                    assert stat.S_IMODE(os.lstat(p).st_mode) == m.entry.mode & 0o755
        assert result.files == sum(m.entry.kind == "file" for r in img.ramdisks
                                   for m in r.members())
    assert (dest / "sections" / "1-cmdline.txt").read_text().startswith("reboot=k")
    assert os.access(dest / "ramdisk-1" / "rootfs" / "bin" / "app", os.X_OK)
    assert (dest / "ramdisk-0" / "init").read_bytes()[:4] == b"\x7fELF"


def test_unpack_sample_cli(tmp_path: Path) -> None:
    proc = run_cli("unpack", SAMPLE, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "5 sections" in proc.stdout and "0 refused" in proc.stdout
    assert (tmp_path / "out" / "ramdisk-1" / "rootfs" / "etc" / "os-release").is_file()


def test_unpack_refuses_a_non_empty_target(tmp_path: Path) -> None:
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(EifdiffError):
        unpack(SAMPLE, dest)
    proc = run_cli("unpack", SAMPLE, dest)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert str(dest) in proc.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]
    assert (dest / "keep.txt").read_text() == "mine"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert run_cli("unpack", SAMPLE, a_file).returncode == 2
    assert a_file.read_text() == "x"


def test_unpack_into_an_empty_existing_folder(tmp_path: Path) -> None:
    dest = tmp_path / "empty"
    dest.mkdir()
    assert unpack(SAMPLE, dest).files > 0


# --- hostile archives -----------------------------------------------------------------------


def _file(name: str, data: bytes = b"x\n", mode: int = 0o644) -> CpioMember:
    return CpioMember(name, data, mode=S_IFREG | mode)


def _dir(name: str, mode: int = 0o755) -> CpioMember:
    return CpioMember(name, mode=S_IFDIR | mode, nlink=2)


def _link(name: str, target: str) -> CpioMember:
    return CpioMember(name, target.encode(), mode=S_IFLNK | 0o777)


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, str]:
    token = uuid.uuid4().hex[:12]
    evil = f"eifdiff-evil-{token}"
    members = [
        _file("ok.txt", b"fine\n"),
        _file(f"/tmp/{evil}-abs"),  # absolute
        _file("/etc/x"),
        _file(f"../{evil}-up1"),  # '..' components
        _file(f"../../{evil}-up2"),
        _file(f"../../../{evil}-up3"),
        _file(f"a/../../{evil}-b"),
        _file(f"./x/../../../{evil}-c"),
        _link("link", "/tmp"),  # a symlink, then an entry through it
        _file(f"link/{evil}-through"),
        _dir("link"),
        _link("up", ".."),
        _file(f"up/{evil}-up"),
        _link("up2", "../.."),
        _file(f"up2/{evil}-up2"),
        _link("deep", "../../.."),
        _dir(f"deep/{evil}-dir"),
        _link("clobber", f"/tmp/{evil}-clobber"),  # a file of the link's name: not through it
        _file("clobber", b"overwrite\n"),
        _link("relclobber", "../sections/0-kernel.bin"),
        _file("relclobber", b"overwrite\n"),
        _file("plain", b"a file\n"),
        _file("plain/child"),  # parent is a file
        CpioMember("dev/null", mode=S_IFCHR | 0o666, rdevmajor=1, rdevminor=3),
        CpioMember("dev/sda", mode=S_IFBLK | 0o660, rdevmajor=8),
        CpioMember("fifo", mode=S_IFIFO | 0o644),
        CpioMember("sock", mode=S_IFSOCK | 0o644),
        _file("suid", b"#!/bin/sh\n", 0o4755),
        _file("sgid", b"#!/bin/sh\n", 0o2755),
        _file("world", b"w\n", 0o666),
        _file("groupexec", b"g\n", 0o1775),
        _dir("opendir", 0o1777),
        _file("opendir/f", b"f\n", 0o646),
    ]
    (tmp_path / "eifs").mkdir()
    return make_eif(tmp_path / "eifs" / "hostile.eif", ramdisks=[BOOT_CPIO, cpio(members)]), evil


_REFUSED = {
    "/tmp/{evil}-abs": "absolute",
    "/etc/x": "absolute",
    "../{evil}-up1": "..",
    "../../{evil}-up2": "..",
    "../../../{evil}-up3": "..",
    "a/../../{evil}-b": "..",
    "./x/../../../{evil}-c": "..",
    "link/{evil}-through": "symlink",
    "link": "",
    "up/{evil}-up": "symlink",
    "up2/{evil}-up2": "symlink",
    "deep/{evil}-dir": "symlink",
    "clobber": "",
    "relclobber": "",
    "plain/child": "non-directory",
    "dev/null": "chardev",
    "dev/sda": "blockdev",
    "fifo": "fifo",
    "sock": "socket",
}


def test_hostile_archive_is_refused(hostile: tuple[Path, str], tmp_path: Path) -> None:
    eif, evil = hostile
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "neighbour.txt").write_text("untouched")
    dest = parent / "out"
    etc_x = Path("/etc/x").exists()
    tmp_before = {p.name for p in Path("/tmp").iterdir() if evil in p.name}
    assert not tmp_before

    result = unpack(eif, dest)

    refused = {r.path.split(":", 1)[1]: r.reason for r in result.refused}
    want = {k.format(evil=evil): v for k, v in _REFUSED.items()}
    assert set(refused) == set(want), (set(refused) ^ set(want))
    for name, word in want.items():
        assert word in refused[name], (name, refused[name])
    assert all(r.path.startswith("ramdisk[1]:") for r in result.refused)

    # nothing outside the target folder: its parent, /tmp, /etc
    assert sorted(p.name for p in parent.iterdir()) == ["neighbour.txt", "out"]
    assert (parent / "neighbour.txt").read_text() == "untouched"
    assert not [p for p in Path("/tmp").iterdir() if evil in p.name]
    assert Path("/etc/x").exists() == etc_x
    assert not (tmp_path / "eifs" / f"{evil}-up").exists()
    # nor anywhere inside it, outside the ramdisk trees, and nothing through a link
    inside = _snapshot(dest)
    assert not [p for p in inside if evil in p]
    assert (dest / "sections" / "0-kernel.bin").stat().st_size > 1000
    tree = dest / "ramdisk-1"
    assert (tree / "ok.txt").read_text() == "fine\n"
    assert os.readlink(tree / "link") == "/tmp" and os.readlink(tree / "up") == ".."
    assert os.readlink(tree / "clobber") == f"/tmp/{evil}-clobber"
    assert (tree / "plain").read_text() == "a file\n"
    for name in ("dev/null", "dev/sda", "fifo", "sock"):
        assert not os.path.lexists(tree / name)


def test_hostile_archive_modes_are_masked(hostile: tuple[Path, str], tmp_path: Path) -> None:
    eif, _ = hostile
    dest = tmp_path / "out"
    unpack(eif, dest)
    tree = dest / "ramdisk-1"
    assert stat.S_IMODE(os.stat(tree / "suid").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tree / "sgid").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tree / "world").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tree / "groupexec").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tree / "opendir" / "f").st_mode) == 0o644
    for dirpath, dirnames, filenames in os.walk(dest):
        for n in dirnames + filenames:
            st = os.lstat(Path(dirpath) / n)
            if stat.S_ISLNK(st.st_mode):
                continue
            bits = stat.S_IMODE(st.st_mode)
            assert not bits & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX), (n, oct(bits))
            assert not bits & (stat.S_IWGRP | stat.S_IWOTH), (n, oct(bits))


def test_hostile_archive_cli_reports_refusals(hostile: tuple[Path, str], tmp_path: Path) -> None:
    eif, evil = hostile
    proc = run_cli("unpack", eif, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert f"{len(_REFUSED)} refused" in proc.stdout
    assert f"refused ramdisk[1]:../{evil}-up1: " in proc.stdout
    assert "refused ramdisk[1]:dev/null: chardev not created" in proc.stdout
    assert not [p for p in Path("/tmp").iterdir() if evil in p.name]


def test_unpack_refuses_names_the_file_system_cannot_hold(tmp_path: Path) -> None:
    """A component longer than NAME_MAX (255 bytes) is a valid CPIO name (up to 4096 bytes) that
    no Linux file system can create: refused and reported like any other unsafe entry, and the
    rest of the archive is still written (not an internal error half-way)."""
    long_name = "a" * 300
    members = [_file("first"), _file(long_name), _file(f"d/{'b' * 300}/x"), _file("last"),
               _file("caf\udce9", b"latin-1 name\n")]
    (tmp_path / "eifs").mkdir()
    eif = make_eif(tmp_path / "eifs" / "long.eif", ramdisks=[BOOT_CPIO, cpio(members)])
    result = unpack(eif, tmp_path / "out")
    refused = {r.path.split(":", 1)[1] for r in result.refused}
    assert refused == {long_name, f"d/{'b' * 300}/x"}
    tree = tmp_path / "out" / "ramdisk-1"
    assert (tree / "first").is_file() and (tree / "last").is_file()
    assert (tree / "caf\udce9").read_bytes() == b"latin-1 name\n"
    proc = run_cli("unpack", eif, tmp_path / "out2")
    assert proc.returncode == 0 and "internal error" not in proc.stderr
    assert "2 refused" in proc.stdout


@pytest.mark.slow
def test_unpack_of_a_large_file_keeps_memory_flat(tmp_path: Path) -> None:
    """A 96 MiB file: written in windows whose mapped pages are dropped as they go (writing
    the whole view at once kept it all resident: about 175 MB for a 150 MiB file)."""
    from tests.helpers import run_measured

    blob = os.urandom(96 << 20)
    src = make_eif(tmp_path / "big.eif", ramdisks=[BOOT_CPIO, cpio([
        _dir("app"), _file("app/blob.bin", blob)])])
    run = run_measured("unpack", src, tmp_path / "out")
    assert run.code == 0, run.err
    assert run.rss_mb < 100, f"unpack: {run.rss_mb:.0f} MB"
    assert (tmp_path / "out" / "ramdisk-1" / "app" / "blob.bin").read_bytes() == blob
