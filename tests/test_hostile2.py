"""Hostile inputs, round 2: each class of the second attack round, with inputs made here.

1. `normalize` never harms its input (hard links, symlinks, in-place truncation).
2. `normalize` refuses a ramdisk it cannot read whole (undecodable, over budget, damaged).
3. `--deep`: diffoscope bounded in memory, input, temporary disk and time, stopped gently,
   its temporary folder removed whatever happens, awkward names compared.
4. Budgets per image and per pair: xz dictionaries, decompression disk shared by an image's
   ramdisks and by a pair, entries and name bytes per image, a million empty files under
   400 MB for compare, normalize, inventory and unpack (peak RSS from RUSAGE_CHILDREN of a
   wrapper process whose only child is eifdiff), path substitution capped.
5-7. Escaped text, strict UTF-8 JSON: describe, inventory, unpack, one-line errors, metadata
   with NaN, Infinity and lone surrogates, a CBOR bignum PCR index.
8. Unpack edges: odd targets, a hard link whose first name was replaced, 2,000 nested folders.
"""

from __future__ import annotations

import gzip
import io
import json
import lzma
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest

from eifdiff import deep
from eifdiff.deep import DeepOptions, diffoscope_command, diffoscope_pair, safe_name
from eifdiff.diff.spans import replace_all
from eifdiff.errors import EifdiffError
from eifdiff.formats import signature as sig
from eifdiff.formats.cpio import S_IFDIR, S_IFLNK, S_IFREG, CpioMember, iter_archive
from eifdiff.formats.eif import SectionType, parse_layout, write_eif
from eifdiff.image import open_image
from eifdiff.load import Limits, load
from eifdiff.normalize import normalize_file, parse_fixes
from eifdiff.unpack import unpack
from tests.diff.test_categories import (
    BOOT_CPIO,
    CMDLINE,
    boot_members,
    cpio,
    kernel,
    make_eif,
    signer,
)
from tests.helpers import Measured, run_measured

RSS_LIMIT_MB = 400
MiB = 1 << 20


# ---------------------------------------------------------------------------------------------
# helpers


def run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 600) -> Measured:
    """One eifdiff run, its peak RSS its own and its workers' (`tests.helpers.run_measured`)."""
    return run_measured(*args, env=env, timeout=timeout)


def assert_clean(r: Measured, *, code: int) -> None:
    assert r.code == code, (r.code, r.err)
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    assert r.rss_mb < RSS_LIMIT_MB, f"peak RSS {r.rss_mb:.0f} MB"


def assert_one_line(r: Measured) -> None:
    assert_clean(r, code=2)
    assert r.err.endswith("\n") and r.err.count("\n") == 1, r.err
    assert r.err.isprintable() or r.err[:-1].isprintable(), repr(r.err)


def eif_with(path: Path, *, metadata: bytes | None = None, ramdisks: list[bytes] | None = None,
             signature: bytes | None = None) -> Path:
    """An EIF written section by section (raw metadata and signature bytes allowed)."""
    md = metadata if metadata is not None else json.dumps({
        "ImageName": "x", "ImageVersion": "1.0", "BuildMetadata": {
            "BuildTime": "t", "BuildTool": "b", "BuildToolVersion": "v",
            "OperatingSystem": "o", "KernelVersion": "k"},
        "DockerInfo": None, "CustomMetadata": None}).encode()
    sections = [(SectionType.KERNEL, kernel()), (SectionType.CMDLINE, CMDLINE),
                (SectionType.METADATA, md)]
    sections += [(SectionType.RAMDISK, r) for r in (ramdisks or [BOOT_CPIO, cpio(_files())])]
    if signature is not None:
        sections.append((SectionType.SIGNATURE, signature))
    path.write_bytes(write_eif(sections))
    return path


def _files(n: int = 3) -> list[CpioMember]:
    return [CpioMember(f"f{i}", data=b"data %d\n" % i, mtime=i) for i in range(n)]


def _gz(data: bytes, level: int = 6) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# 1. normalize never harms its input


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    return make_eif(tmp_path / "in.eif")


def test_normalize_refuses_a_hard_link_to_its_input(plain: Path, tmp_path: Path) -> None:
    before = _sha(plain)
    os.link(plain, tmp_path / "alias.eif")
    r = run("normalize", "--fix", "mtime", plain, tmp_path / "alias.eif")
    assert_one_line(r)
    assert "is the input file" in r.err
    assert _sha(plain) == before and plain.stat().st_size > 0


def test_normalize_refuses_a_symlink_to_its_input(plain: Path, tmp_path: Path) -> None:
    before = _sha(plain)
    (tmp_path / "link.eif").symlink_to(plain)
    r = run("normalize", "--fix", "mtime", plain, tmp_path / "link.eif")
    assert_one_line(r)
    assert _sha(plain) == before
    with pytest.raises(EifdiffError, match="is the input file"):
        normalize_file(tmp_path / "link.eif", plain, parse_fixes("mtime"))


def test_normalize_writes_beside_and_renames(plain: Path, tmp_path: Path) -> None:
    """An existing output is replaced by rename, not rewritten in place: a second name of the
    old output keeps the old bytes, and nothing temporary is left."""
    out = tmp_path / "out" / "n.eif"
    out.parent.mkdir()
    out.write_bytes(b"old output")
    os.link(out, tmp_path / "other-name")
    inode = out.stat().st_ino
    pcrs = normalize_file(plain, out, parse_fixes("mtime,order"))
    assert (tmp_path / "other-name").read_bytes() == b"old output"
    assert out.stat().st_ino != inode
    assert open_image(out).pcrs == pcrs
    assert sorted(p.name for p in out.parent.iterdir()) == ["n.eif"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_normalize_to_a_missing_folder_or_a_directory(plain: Path, tmp_path: Path) -> None:
    assert_one_line(run("normalize", "--fix", "mtime", plain, tmp_path / "no" / "x.eif"))
    r = run("normalize", "--fix", "mtime", plain, tmp_path)
    assert_one_line(r)
    assert "is a directory" in r.err


def test_normalize_failure_leaves_no_temporary_file(plain: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import eifdiff.normalize as nz

    def broken(*args: object, **kw: object) -> None:
        raise EifdiffError("disk full")

    monkeypatch.setattr(nz, "write_sections", broken)
    out = tmp_path / "o" / "x.eif"
    out.parent.mkdir()
    with pytest.raises(EifdiffError, match="disk full"):
        normalize_file(plain, out, parse_fixes("mtime"))
    assert list(out.parent.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 2. normalize refuses what it cannot read whole


@pytest.mark.parametrize("case", ["corrupt-gzip-after", "truncated-cpio-in-gzip",
                                  "empty-gzip", "over-ratio"])
def test_normalize_refuses_a_ramdisk_it_cannot_read_whole(case: str, tmp_path: Path) -> None:
    good = cpio(_files())
    ramdisk = {
        "corrupt-gzip-after": _gz(good) + b"\x1f\x8b\x08\x00" + b"\xff" * 64,
        "truncated-cpio-in-gzip": _gz(good[:200]),
        "empty-gzip": _gz(b""),
        "over-ratio": _gz(good + b"\0" * (4 * MiB)),
    }[case]
    src = eif_with(tmp_path / "in.eif", ramdisks=[BOOT_CPIO, ramdisk])
    out = tmp_path / "out.eif"
    args = ["--max-ratio", "1"] if case == "over-ratio" else []
    r = run("normalize", "--fix", "mtime", *args, src, out)
    assert_one_line(r)
    assert "refusing to normalize a ramdisk that cannot be read whole" in r.err
    assert "ramdisk[1]" in r.err and not out.exists()
    # the report still says what is wrong, and a fix that touches no ramdisk is written
    assert run("normalize", "--fix", "build-time", *args, src, out).code == 0
    assert out.exists()


# ---------------------------------------------------------------------------------------------
# 3. --deep


@pytest.mark.parametrize(("name", "expected"), [
    ("usr/lib/libc.so.6", "libc.so.6"), (".", "entry"), ("..", "entry"), ("a/..", "entry"),
    ("dir/", "dir"), ("x" * 300 + ".so", "entry.so"), ("a:b.py", "entry.py"),
    ("bad\udcff.pyc", "entry.pyc"), ("new\nline.txt", "entry.txt"), ("-rf", "entry"),
    (".bashrc", "entry.bashrc"), ("x.tar.\u00e9", "entry"), ("", "entry"),
])
def test_safe_name(name: str, expected: str) -> None:
    assert safe_name(name) == expected


@pytest.fixture
def fake_diffoscope(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A stand-in diffoscope (a shell script written by each test) and the folder it reports
    to (outside eifdiff's temporary folder)."""
    script = tmp_path / "fake-diffoscope"
    report = tmp_path / "report"
    report.mkdir()
    monkeypatch.setattr(deep, "diffoscope_command", lambda: str(script))
    yield script


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_deep_limits_and_private_tmpdir(fake_diffoscope: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    _script(fake_diffoscope, f"""
ulimit -v > {report}/as
ulimit -f > {report}/fsize
echo "$TMPDIR" > {report}/tmpdir
echo "$@" > {report}/args
echo "diff of $5 and $6"
exit 1
""")
    folder = tmp_path / "eifdiff-tmp"
    folder.mkdir()
    options = DeepOptions(max_memory=512 * MiB, max_temp=64 * MiB)
    text = diffoscope_pair("etc/x.conf", b"a", b"b", 10, str(folder), options=options)
    assert text == "diff of a/etc/x.conf and b/etc/x.conf\n"
    assert int((report / "as").read_text()) == 512 * 1024  # KiB
    assert int((report / "fsize").read_text()) * 512 == 64 * MiB  # 512-byte blocks
    tmpdir = Path((report / "tmpdir").read_text().strip())
    assert tmpdir.parent.parent == folder and tmpdir.name == "tmp"
    assert list(folder.iterdir()) == []  # removed


def test_deep_timeout_terminates_gently_then_kills(fake_diffoscope: Path,
                                                   tmp_path: Path) -> None:
    report = tmp_path / "report"
    _script(fake_diffoscope, f"""
trap 'echo term >> {report}/signals' TERM
sleep 30 &
echo $! > {report}/child
dd if=/dev/zero of="$TMPDIR/big" bs=1M count=8 2>/dev/null
while true; do sleep 0.05; done
""")
    folder = tmp_path / "t"
    folder.mkdir()
    start = time.monotonic()
    text = diffoscope_pair("x", b"a", b"b", 1.0, str(folder), options=DeepOptions(grace=0.5))
    assert text == "diffoscope did not finish within 1 s"
    assert time.monotonic() - start < 5
    assert (report / "signals").read_text().startswith("term")  # asked first
    child = int((report / "child").read_text())
    time.sleep(0.2)
    assert not _alive(child)  # the whole process group went
    assert list(folder.iterdir()) == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_deep_temporary_disk_bound(fake_diffoscope: Path, tmp_path: Path) -> None:
    _script(fake_diffoscope, """
i=0
while true; do i=$((i+1)); head -c 1048576 /dev/zero > "$TMPDIR/f$i" || exit 3; sleep 0.02; done
""")
    folder = tmp_path / "t"
    folder.mkdir()
    text = diffoscope_pair("x", b"a", b"b", 20, str(folder),
                           options=DeepOptions(max_temp=4 * MiB, grace=0.5))
    assert text == f"diffoscope stopped: its temporary files passed {4 * MiB} bytes"
    assert list(folder.iterdir()) == []


def test_deep_memory_bound_stops_a_bomb(fake_diffoscope: Path, tmp_path: Path) -> None:
    """What diffoscope (or a tool it runs) allocates past the bound fails in the child."""
    _script(fake_diffoscope, f"""
exec {sys.executable} -c 'b = bytearray(1 << 30); print(len(b))'
""")
    text = diffoscope_pair("x", b"a", b"b", 20, str(tmp_path),
                           options=DeepOptions(max_memory=256 * MiB))
    assert text.startswith("diffoscope found no differences") or "MemoryError" in text
    assert "1073741824" not in text


def test_deep_input_bound(fake_diffoscope: Path, tmp_path: Path) -> None:
    _script(fake_diffoscope, f"touch {tmp_path}/report/ran\n")
    text = diffoscope_pair("x", b"a" * 100, b"b", 5, str(tmp_path),
                           options=DeepOptions(max_input=10))
    assert text == "not compared: 100 bytes is over the 10-byte bound for diffoscope's input"
    assert not (tmp_path / "report" / "ran").exists()


def test_deep_removes_its_folder_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM to eifdiff while diffoscope runs: the child group stops and the folder goes."""
    slow = tmp_path / "slow"
    _script(slow, "sleep 30\n")
    folder = tmp_path / "t"
    folder.mkdir()
    code = textwrap.dedent(f"""
        import sys
        from eifdiff import deep
        deep.diffoscope_command = lambda: {str(slow)!r}
        try:
            deep.diffoscope_pair("x", b"a", b"b", 60, {str(folder)!r})
        except KeyboardInterrupt:
            sys.exit(130)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(folder.glob("*/tmp")):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 130
    assert list(folder.iterdir()) == []


@pytest.mark.slow
@pytest.mark.skipif(diffoscope_command() is None, reason="diffoscope is not installed")
@pytest.mark.parametrize("name", [".", "..", "d/" + "n" * 300, "lib:x.conf",
                                  "bad\udcffname", "line\nbreak"])
def test_deep_awkward_names_are_compared(name: str, tmp_path: Path) -> None:
    text = diffoscope_pair(name, b"hello\nworld\n", b"hello\nthere\n", 60, str(tmp_path))
    assert "-world" in text and "+there" in text, text
    assert f"--- a/{name}" in text
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 4. budgets per image and per pair


@pytest.mark.slow
def test_xz_dictionary_bomb_is_an_anomaly(tmp_path: Path) -> None:
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 0, "dict_size": 1536 * MiB}]
    bomb = lzma.compress(cpio(_files()), format=lzma.FORMAT_XZ, filters=filters)
    src = eif_with(tmp_path / "xz.eif", ramdisks=[BOOT_CPIO, bomb])
    with load(src) as img:
        found = [str(a) for r in img.ramdisks for a in r.anomalies]
    assert any(a.startswith("ramdisk[1]:xz stream") and "Memory usage limit" in a
               for a in found), found
    r = run(src, eif_with(tmp_path / "ok.eif"), "--json")
    assert_clean(r, code=1)
    assert r.rss_mb < 150


def _gzip_ramdisk(size: int, tag: int) -> bytes:
    data = cpio([CpioMember(f"blob{tag}", data=bytes([tag]) * size)])
    return _gz(data, level=1)


@pytest.mark.slow
def test_disk_budget_covers_every_ramdisk_of_an_image(tmp_path: Path) -> None:
    """Eight ramdisks of 2 MiB each, each within any per-ramdisk bound, against a 5 MiB
    budget: at most 5 MiB are ever decompressed, the rest are anomalies."""
    src = eif_with(tmp_path / "eight.eif",
                   ramdisks=[_gzip_ramdisk(2 * MiB, i) for i in range(8)])
    limits = Limits(max_size=5 * MiB)
    with load(src, limits=limits) as img:
        on_disk = sum(len(mm) for _, mm in img._temps)
        assert on_disk <= 5 * MiB and limits.disk_in_use == on_disk
        read = [r for r in img.ramdisks if r.pieces]
        refused = [a for r in img.ramdisks for a in r.anomalies]
    assert len(read) == 2 and len(refused) == 6
    assert all("decompression budget shared by every ramdisk" in a.message for a in refused)
    assert limits.disk_in_use == 0  # given back on close
    r = run("describe", src)
    assert_clean(r, code=0)
    r = run(src, src, "--max-decompressed", str(5 * MiB), "--json")
    assert_clean(r, code=0)
    doc = json.loads(r.text)
    assert sum("decompression budget" in a["message"] for a in doc["anomalies"]) >= 6


def test_disk_budget_covers_the_pair(tmp_path: Path) -> None:
    src = eif_with(tmp_path / "four.eif", ramdisks=[_gzip_ramdisk(2 * MiB, i) for i in range(4)])
    limits = Limits(max_size=11 * MiB)
    with load(src, limits=limits) as a, load(src, limits=limits) as b:
        on_disk = sum(len(mm) for img in (a, b) for _, mm in img._temps)
        assert on_disk <= 11 * MiB and limits.disk_in_use == on_disk
        assert sum(bool(r.pieces) for r in a.ramdisks) == 4
        assert sum(bool(r.pieces) for r in b.ramdisks) == 1
    assert limits.disk_in_use == 0


def test_entry_and_name_bounds_per_image(tmp_path: Path) -> None:
    members = [CpioMember(f"f{i:04d}") for i in range(40)]
    src = eif_with(tmp_path / "many.eif", ramdisks=[cpio(members[:25]), _gz(cpio(members[25:]))])
    with load(src, limits=Limits(max_entries=30)) as img:
        counts = [len(list(r.members())) for r in img.ramdisks]
        found = [str(a) for r in img.ramdisks for a in r.anomalies]
    assert counts == [25, 5]
    assert found == ["ramdisk[1] at offset 580 of the gzip stream: more than 30 entries; the "
                     "rest is not read (the bound on entries per image)"]
    with load(src, limits=Limits(max_name_bytes=100)) as img:
        assert sum(len(list(r.members())) for r in img.ramdisks) == 20  # 5 bytes a name
        assert "entry names pass 100 bytes" in img.ramdisks[0].anomalies[0].message


def _million(tmp_path: Path) -> tuple[Path, Path]:
    """Two EIFs whose ramdisk holds 1,000,000 empty files in 1,000 folders (about 6 MB of
    gzip), differing in one file's mtime."""
    def members() -> Iterator[CpioMember]:
        for d in range(1000):
            yield CpioMember(f"d{d}", mode=S_IFDIR | 0o755, ino=d + 1)
            for i in range(1000):
                yield CpioMember(f"d{d}/f{i}", ino=10_000 + 1000 * d + i)

    raw = bytearray(b"".join(bytes(c) for c in iter_archive(members())))
    a = eif_with(tmp_path / "a.eif", ramdisks=[BOOT_CPIO, _gz(bytes(raw), level=1)])
    at = raw.index(b"d0/f7\0") - 110
    raw[at + 46 : at + 54] = b"%08X" % 5
    b = eif_with(tmp_path / "b.eif", ramdisks=[BOOT_CPIO, _gz(bytes(raw), level=1)])
    return a, b


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _million(tmp_path_factory.mktemp("million"))


BOUND = "more than 150000 entries; the rest is not read (the bound on entries per image)"


@pytest.mark.slow
def test_million_files_compare(million: tuple[Path, Path]) -> None:
    r = run(*million, "--json")
    assert_clean(r, code=1)
    doc = json.loads(r.text)
    assert [d["path"] for d in doc["divergences"] if d["category"] == "timestamp"] == \
        ["ramdisk[1]:d0/f7"]
    assert sum(BOUND in a["message"] for a in doc["anomalies"]) == 2


@pytest.mark.slow
def test_million_files_inventory(million: tuple[Path, Path]) -> None:
    r = run("inventory", million[0])
    assert_clean(r, code=0)
    assert BOUND in r.text


@pytest.mark.slow
def test_million_files_normalize(million: tuple[Path, Path], tmp_path: Path) -> None:
    r = run("normalize", "--fix", "mtime,order,inode", million[0], tmp_path / "n.eif")
    assert_one_line(r)
    assert BOUND in r.err and not (tmp_path / "n.eif").exists()


@pytest.mark.slow
def test_million_files_unpack(million: tuple[Path, Path], tmp_path: Path) -> None:
    """The whole ramdisk is decompressed and walked; only 5,000 entries are written (file
    creation, not eifdiff, is what takes time on a busy disk: 1-2 ms per file here)."""
    r = run("unpack", million[0], tmp_path / "u", "--max-entries", "5000")
    assert_clean(r, code=0)
    boot = sum(1 for m in boot_members() if m.mode & S_IFDIR and m.name.strip("./"))
    dirs = 5 + boot  # d0..d4 with their files, after the boot ramdisk
    assert r.text.splitlines()[0].endswith(
        f"{5000 - dirs} files, {dirs} directories, 0 symlinks, 0 refused"), r.text[:300]
    assert "more than 5000 entries" in r.text


def test_path_substitution_cannot_blow_up() -> None:
    data = b"/" * (2 * MiB)
    tracemalloc.start()
    try:
        assert replace_all(data, [(b"", b"/build/dir")], len(data)) == data  # skipped
        assert replace_all(data, [(b"/", b"x" * 4096)], 4 * MiB) is None
        assert replace_all(data, [(b"/", b"/")], len(data)) == data
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 * MiB
    assert replace_all(b"a/src/x", [(b"/src", b"/bb-longer/src")], 100) == b"a/bb-longer/src/x"


# ---------------------------------------------------------------------------------------------
# 5-7. escaping and strict JSON

ESC = "\x1b]0;owned\x07\x1b[2J\rverdict: identical\x9b31m\x08"


def _metadata(**custom: object) -> bytes:
    return json.dumps({
        "ImageName": "img" + ESC, "ImageVersion": "1\nverdict: identical", "BuildMetadata": {
            "BuildTime": "t", "BuildTool": "b\x1b[31m", "BuildToolVersion": "v",
            "OperatingSystem": "o\x7f", "KernelVersion": "k"},
        "DockerInfo": {"x": 12345}, "CustomMetadata": custom or None}).encode()


def _no_control(text: str) -> None:
    for ch in "\x1b\x07\x08\r\x7f\x9b":
        assert ch not in text, (ch, text[:500])


def test_describe_escapes_metadata(tmp_path: Path) -> None:
    src = eif_with(tmp_path / "md.eif", metadata=_metadata(note="a\x1b[1mb"))
    r = run("describe", src)
    assert_clean(r, code=0)
    _no_control(r.text)
    assert not any(line.startswith("verdict") for line in r.text.splitlines())
    r = run("describe", src, "--json")
    assert_clean(r, code=0)
    doc = json.loads(r.text, parse_constant=lambda c: pytest.fail(f"non-standard {c}"))
    _no_control(r.text)
    assert doc["ImageName"] == "img" + ESC  # the value itself, escaped only as JSON
    assert doc["Metadata"]["DockerInfo"] == {"x": 12345}


@pytest.mark.parametrize(("label", "body", "message"), [
    ("nan", b'{"ImageName": NaN}', "NaN is not standard JSON"),
    ("infinity", b'{"ImageName": -Infinity}', "-Infinity is not standard JSON"),
    ("lone-surrogate", _metadata().replace(b'"v"', b'"\\udcff\\ud800"'),
     "lone surrogate \\udcff"),
    # past a double: Python would read inf, the reference reader refuses it
    ("past-a-double", _metadata().replace(b"12345", b"1e400"),
     "the number 1e400 is out of the 64-bit float range"),
])
def test_metadata_that_is_not_standard_json(label: str, body: bytes, message: str,
                                           tmp_path: Path) -> None:
    src = eif_with(tmp_path / f"{label}.eif", metadata=body)
    img = open_image(src)
    assert img.metadata is None
    assert any(message in a.message for a in img.anomalies), img.anomalies
    r = run("describe", src, "--json")
    assert_clean(r, code=0)
    assert "Metadata" not in json.loads(r.text)
    other = eif_with(tmp_path / "ok.eif")
    r = run(src, other, "--json")
    assert_clean(r, code=1)
    json.loads(r.text)
    r = run("normalize", "--fix", "build-time", src, tmp_path / "n.eif")
    assert_one_line(r)
    assert "refusing to set its build time" in r.err and message in r.err
    assert not (tmp_path / "n.eif").exists()
    assert run("normalize", "--fix", "mtime", src, tmp_path / "n.eif").code == 0
    import eifdiff

    c = eifdiff.compare_eifs(src, other)
    assert c.verdict == "pcr-equivalent" and len(c.divergences()) > 0  # metadata: unmeasured


def test_cbor_bignum_register_index(tmp_path: Path) -> None:
    good = make_eif(tmp_path / "signed.eif", signer=signer("bignum"))
    layout = parse_layout(good.read_bytes(), "signed")
    raw = good.read_bytes()
    sections = [(s.type, raw[s.data_offset : s.end]) for s in layout.sections]
    entries = sig.decode_signature_section(dict(sections)[SectionType.SIGNATURE])
    cose = sig.decode_cose(entries[0].cose_bytes)
    payload = cbor2.dumps({"register_index": 2**4000, "register_value": [0] * 48})
    bad_cose = cbor2.dumps([cose.protected, {}, payload, cose.signature])
    section = sig.encode_signature_section([sig.PcrSignature(entries[0].certificate_pem,
                                                             bad_cose)])
    sections = [(t, section if t is SectionType.SIGNATURE else d) for t, d in sections]
    src = tmp_path / "bignum.eif"
    src.write_bytes(write_eif(sections))
    r = run("describe", src, "--json")
    assert_clean(r, code=0)
    doc = json.loads(r.text)
    assert doc["SignatureCheck"] is False
    assert any("not a 32-bit integer" in a["message"] for a in doc["eifdiff"]["Anomalies"])


def test_one_line_error_escapes_the_path(tmp_path: Path) -> None:
    name = tmp_path / "x\x1b[31mred\nverdict: identical\x07\udcff.eif"
    r = run("describe", os.fsencode(name).decode("utf-8", "surrogateescape"))
    assert_one_line(r)
    _no_control(r.err)
    assert "\\x1b[31mred\\nverdict: identical\\a\\xff.eif" in r.err


def _dpkg_ramdisk() -> bytes:
    status = (b"Package: evil\x1b[2J\x07\nStatus: install ok installed\n"
              b"Version: 1.0\x1b]0;t\x07\nArchitecture: amd64\n\n")
    return cpio([CpioMember("var", mode=S_IFDIR | 0o755),
                 CpioMember("var/lib", mode=S_IFDIR | 0o755),
                 CpioMember("var/lib/dpkg", mode=S_IFDIR | 0o755),
                 CpioMember("var/lib/dpkg/status", data=status)])


def test_inventory_escapes_package_fields(tmp_path: Path) -> None:
    src = eif_with(tmp_path / "dpkg.eif", ramdisks=[BOOT_CPIO, _dpkg_ramdisk()])
    r = run("inventory", src)
    assert_clean(r, code=0)
    _no_control(r.text)
    assert "evil\\x1b[2J\\a" in r.text
    r = run("inventory", src, "--json")
    assert_clean(r, code=0)
    _no_control(r.text)
    assert json.loads(r.text)["packages"][0]["name"] == "evil\x1b[2J\x07"


def test_unpack_output_escapes_refused_names(tmp_path: Path) -> None:
    bad = [CpioMember("../\x1b[31mx\nverdict: identical"), CpioMember("/abs\udcfe\x07")]
    src = eif_with(tmp_path / "names.eif", ramdisks=[BOOT_CPIO, cpio(bad)])
    r = run("unpack", src, tmp_path / "u")
    assert_clean(r, code=0)
    _no_control(r.text)
    lines = r.text.splitlines()
    assert len(lines) == 3 and not any(line.startswith("verdict") for line in lines)
    assert "\\x1b[31mx\\nverdict: identical" in lines[1] and "/abs\\xfe\\a" in lines[2]


HOSTILE_NAMES = ("n\udcff\udcfe", "x\nverdict: identical", "e\x1b[2J\x07\x9b\u202e",
                 "![p](http://evil.example/p.png) *b* <b>t</b> | `c`")


@pytest.fixture(scope="module")
def hostile_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two EIFs whose customer ramdisks hold the same awkward names with other contents."""
    tmp = tmp_path_factory.mktemp("names")
    sides = []
    for side, data in (("a", b"one\n"), ("b", b"two\n")):
        members = [CpioMember(n, data + n.encode("utf-8", "surrogateescape"), mtime=7)
                   for n in HOSTILE_NAMES]
        sides.append(eif_with(tmp / f"{side}.eif", ramdisks=[BOOT_CPIO, cpio(members)]))
    return sides[0], sides[1]


STRICT = {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8:strict"}


def test_report_formats_under_a_strict_utf8_stdout(hostile_pair: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    md, page = tmp_path / "r.md", tmp_path / "r.html"
    r = run(*hostile_pair, "--markdown", md, "--html", page, env=STRICT)
    assert_clean(r, code=1)
    _no_control(r.text)
    lines = r.text.splitlines()
    assert sum(line.startswith("verdict:") for line in lines) == 1
    assert not any(line.lstrip().startswith("verdict: identical") for line in lines)
    assert "x\\nverdict: identical" in r.text and "n\\xff\\xfe" in r.text
    markdown_text = md.read_bytes().decode("utf-8")
    _no_control(markdown_text)
    outside_code = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", markdown_text.replace("\\`", ""))
    assert "](http" not in outside_code.replace("\\](", "") and "<b>" not in outside_code
    assert not any(line.startswith("verdict") for line in markdown_text.splitlines())
    html_text = page.read_bytes().decode("utf-8")
    _no_control(html_text)
    assert "<b>t</b>" not in html_text and "n\\xff\\xfe" in html_text


def test_json_report_is_utf8_for_non_utf8_names(hostile_pair: tuple[Path, Path]) -> None:
    r = run(*hostile_pair, "--json", env=STRICT)
    assert_clean(r, code=1)
    doc = json.loads(r.text)  # r.text decodes strictly
    _no_control(r.text)
    entries = {d["entry"]: d.get("entry_hex") for d in doc["divergences"] if d["entry"]}
    assert entries["n\ufffd\ufffd"] == "6efffe"  # readable, and exact in hex
    assert "e\x1b[2J\x07\x9b\u202e" in entries  # the value itself, escaped as JSON only


def test_text_output_survives_a_strict_ascii_stdout(tmp_path: Path) -> None:
    src = eif_with(tmp_path / "md.eif", metadata=_metadata(note="caf\u00e9"))
    r = run("describe", src, env={"PYTHONIOENCODING": "ascii:strict"})
    assert_clean(r, code=0)
    assert "caf\\xe9" in r.out.decode("ascii")


# ---------------------------------------------------------------------------------------------
# 8. unpack edges


def test_unpack_into_a_dangling_symlink(plain: Path, tmp_path: Path) -> None:
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    r = run("unpack", plain, tmp_path / "dangling")
    assert_one_line(r)
    assert "target is a symlink" in r.err
    assert not (tmp_path / "nowhere").exists()


def test_unpack_under_a_regular_file(plain: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    r = run("unpack", plain, tmp_path / "file" / "sub")
    assert_one_line(r)
    assert "cannot create the target directory" in r.err


def test_unpack_hard_link_whose_first_name_was_replaced(tmp_path: Path) -> None:
    """`a` (a hard-linked file) is replaced by a symlink; `b`, the group's other name, must
    not become a second name of that symlink: the tree holds what the report says."""
    members = [
        CpioMember("a", mode=S_IFREG | 0o644, ino=9, nlink=2),
        CpioMember("a", data=b"/etc/passwd", mode=S_IFLNK | 0o777, ino=10),
        CpioMember("b", data=b"payload", mode=S_IFREG | 0o644, ino=9, nlink=2),
    ]
    src = eif_with(tmp_path / "links.eif", ramdisks=[BOOT_CPIO, cpio(members)])
    result = unpack(src, tmp_path / "u")
    tree = tmp_path / "u" / "ramdisk-1"
    assert os.path.islink(tree / "a") and os.readlink(tree / "a") == "/etc/passwd"
    assert not os.path.islink(tree / "b") and (tree / "b").read_bytes() == b"payload"
    assert os.stat(tree / "b").st_nlink == 1
    refused = {r.path for r in result.refused}
    assert "ramdisk[1]:b" not in refused


@pytest.mark.slow
def test_unpack_two_thousand_nested_folders(tmp_path: Path) -> None:
    depth = 2000
    members = [CpioMember("/".join(["d"] * k), mode=S_IFDIR | 0o755, ino=k)
               for k in range(1, depth + 1)]
    members.append(CpioMember("/".join(["d"] * 1000) + "/file", data=b"x", ino=depth + 1))
    src = eif_with(tmp_path / "deep.eif", ramdisks=[BOOT_CPIO, cpio(members)])
    out = tmp_path / "u"
    try:
        start = time.process_time()
        result = unpack(src, out)
        cpu = time.process_time() - start
        assert cpu < 5, f"{cpu:.1f} s of CPU for {depth} nested folders"
        boot = sum(1 for m in boot_members() if m.mode & S_IFDIR and m.name.strip("./"))
        made = result.directories - boot
        too_long = [r for r in result.refused if "File name too long" in r.reason]
        assert made + len(too_long) == depth and made > 1900
        assert (out / "ramdisk-1" / "/".join(["d"] * 1000) / "file").read_bytes() == b"x"
    finally:
        _remove_deep(out / "ramdisk-1")


def _remove_deep(top: Path) -> None:
    """Remove a tree too deep for a recursive removal, deepest folder first (the test's
    temporary folders are removed later by a recursive walk)."""
    chain = [top]
    while True:
        subs = [p for p in chain[-1].iterdir() if p.is_dir() and not p.is_symlink()] \
            if chain[-1].is_dir() else []
        if not subs:
            break
        chain.append(subs[0])
    for folder in reversed(chain):
        for p in list(folder.iterdir()):
            if p.is_dir() and not p.is_symlink():
                _remove_deep(p)  # a side branch (shallow here)
            else:
                p.unlink()
        folder.rmdir()


def test_unpack_api_errors_are_one_line(plain: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(EifdiffError, match="cannot create the target directory"):
        unpack(plain, tmp_path / "file" / "sub")


# ---------------------------------------------------------------------------------------------
# sanity of the generated inputs


def test_generated_gzip_ramdisks_are_what_they_claim() -> None:
    data = _gzip_ramdisk(2 * MiB, 3)
    assert len(zlib.decompress(data, 31)) > 2 * MiB and len(data) < 64 * 1024
    assert io.BytesIO(_gz(b"")).read(2) == b"\x1f\x8b"
