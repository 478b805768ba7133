"""eifdiff.measure: PCR0/1/2/8 and the CRC, against a naive reference, threaded and not."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import warnings
import zlib
from pathlib import Path

import pytest

import eifdiff.measure as measure_mod
from eifdiff.errors import EifdiffError
from eifdiff.formats.eif import SectionType, parse_layout, write_eif
from eifdiff.mapped import MappedFile
from eifdiff.measure import (
    THREADED_FROM,
    ZERO_PCR,
    PcrPlan,
    extend,
    in_parallel,
    measure,
    measure_chunks,
    measure_sections,
    pcr8,
    sections_feeding,
)
from tests.helpers import EMPTY_PCR, Vector, tiny_eif


def naive(data: bytes) -> dict[str, str]:
    """PCR0/1/2 and CRC straight from eif-format.md §5 and §8.2, one hashlib call each."""
    layout = parse_layout(data, "naive")

    def m(parts: list[bytes]) -> str:
        inner = hashlib.sha384(b"".join(parts)).digest()
        return hashlib.sha384(b"\0" * 48 + inner).hexdigest()

    secs = [(s.type, data[s.data_offset : s.end]) for s in layout.sections]
    image = [d for t, d in secs if t in (SectionType.KERNEL, SectionType.CMDLINE,
                                         SectionType.RAMDISK)]
    rds = [d for t, d in secs if t is SectionType.RAMDISK]
    boot = [d for t, d in secs if t in (SectionType.KERNEL, SectionType.CMDLINE)
            or (t is SectionType.RAMDISK and d is rds[0])]
    end = layout.end
    return {"PCR0": m(image), "PCR1": m(boot), "PCR2": m(rds[1:]),
            "CRC": f"{zlib.crc32(data[548:end], zlib.crc32(data[:544])):08x}"}


def measured(path: Path) -> dict[str, str]:
    with MappedFile.open(path) as mf:
        layout = parse_layout(mf.view, str(path))
        d = measure(mf, layout)
        with_sha = measure(mf, layout, sha256=True)
    assert d.sha256 is None
    assert with_sha.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (with_sha.pcr0, with_sha.pcr1, with_sha.pcr2, with_sha.crc32) == (
        d.pcr0, d.pcr1, d.pcr2, d.crc32)
    return {**d.hex(), "CRC": f"{d.crc32:08x}"}


def test_constants() -> None:
    assert bytes(48) == ZERO_PCR
    assert measure_chunks([]).hex() == EMPTY_PCR
    assert extend(hashlib.sha384(b"").digest()).hex() == EMPTY_PCR
    assert measure_chunks([b"ab", memoryview(b"c")]) == measure_chunks([b"abc"])
    # eif-format.md §11.3: the PCR8 formula on a two-byte "DER"
    assert pcr8(b"\x30\x00").hex() == (
        "5a434e6ae6e9d5140c40b536fa24f49bd6d86bc354acf1455277fe1a331a779b85b01acef7207352810f89"
        "7eb3f0d490")
    assert THREADED_FROM == 16 << 20


def test_vectors_against_naive_reference(vec: Vector) -> None:
    got = measured(vec.eif)
    assert got == naive(vec.data)
    exp = vec.expected
    assert got["CRC"] == exp["Header"]["computed_crc32"][2:]
    assert {k: got[k] for k in ("PCR0", "PCR1", "PCR2")} == {
        k: exp["Measurements"][k] for k in ("PCR0", "PCR1", "PCR2")}


def test_derived_vector_pcrs(tmp_path: Path) -> None:
    """eif-format.md §11.3 values."""
    path = tmp_path / "d.eif"
    path.write_bytes(tiny_eif())
    assert measured(path) == {
        "PCR0": "61fd2b06210a933b3db5e15c5752e394894bb097f7f1d96ad1f55a7525d0d7aa2c63b235f44420b1"
                "2d8376cc392bdefb",
        "PCR1": "a6d35ce3e7ba80048a2b23da9b15063726a7cea90e16e9d6934e92a15aa1896fd54de706310e2fbc"
                "585d9c37db9c1805",
        "PCR2": "5f699ae4300525c628f5c96fc521729dd6ca1a2c07cb07b69e7ae9e3fa935cfd7cc83b3e26d89201"
                "a486d9db2405c562",
        "CRC": "b9023b92",
    }
    path.write_bytes(tiny_eif((b"RAMDISK0",)))
    one = measured(path)
    assert one["PCR2"] == EMPTY_PCR and one["PCR0"] == one["PCR1"] and one["CRC"] == "5cecf964"


def _odd_order() -> bytes:
    """Sections in an order where PCR1's input is not a prefix of PCR0's."""
    return write_eif([
        (SectionType.KERNEL, b"K" * 100), (SectionType.RAMDISK, b"R0" * 50),
        (SectionType.RAMDISK, b"R1" * 70), (SectionType.METADATA, b"{}"),
        (SectionType.CMDLINE, b"console=ttyS0"), (SectionType.RAMDISK, b"R2" * 3),
        (SectionType.SIGNATURE, b"not measured"),
    ])


@pytest.mark.parametrize("threaded", [False, True])
def test_non_prefix_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threaded: bool) -> None:
    data = _odd_order()
    plan = PcrPlan.of(parse_layout(data, "odd"))
    assert not plan.boot_is_prefix
    assert [s.index for s in plan.boot] == [0, 1, 4]
    assert [s.index for s in plan.app] == [2, 5]
    if threaded:
        monkeypatch.setattr(measure_mod, "THREADED_FROM", 0)
    path = tmp_path / "odd.eif"
    path.write_bytes(data)
    assert measured(path) == naive(data)


def test_sections_feeding(vectors_dir: Path) -> None:
    signed = parse_layout((vectors_dir / "eif" / "04-signed.eif").read_bytes(), "s")
    assert sections_feeding(signed) == {
        "PCR0": ("kernel", "cmdline", "ramdisk[0]", "ramdisk[1]"),
        "PCR1": ("kernel", "cmdline", "ramdisk[0]"),
        "PCR2": ("ramdisk[1]",),
        "PCR8": ("signature",),
    }
    one = parse_layout((vectors_dir / "eif" / "01-minimal-one-ramdisk.eif").read_bytes(), "o")
    assert sections_feeding(one)["PCR2"] == () and "PCR8" not in sections_feeding(one)


def test_threaded_equals_unthreaded_on_a_large_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(2024)
    kernel = rng.randbytes(9 << 20)
    rd0 = rng.randbytes(7 << 20)
    rd1 = rng.randbytes((4 << 20) + 12345)  # not a multiple of the 8 MiB window or a page
    data = write_eif([(SectionType.KERNEL, kernel), (SectionType.CMDLINE, b"console=ttyS0"),
                      (SectionType.METADATA, b"{}"), (SectionType.RAMDISK, rd0),
                      (SectionType.RAMDISK, rd1)])
    assert len(data) >= THREADED_FROM
    path = tmp_path / "big.eif"
    path.write_bytes(data)
    threaded = measured(path)
    monkeypatch.setattr(measure_mod, "THREADED_FROM", 1 << 62)
    unthreaded = measured(path)
    assert threaded == unthreaded == naive(data)


def test_crc_stops_at_last_section(tmp_path: Path) -> None:
    data = tiny_eif()
    path = tmp_path / "t.eif"
    path.write_bytes(data + b"trailing")
    assert measured(path)["CRC"] == f"{zlib.crc32(data[548:], zlib.crc32(data[:544])):08x}"


def test_one_pass_crc_and_sha256_on_a_large_file_with_a_tail(tmp_path: Path) -> None:
    """The forked CRC+SHA-256 worker: the CRC stops at the last section, the SHA-256 covers
    the bytes after it, across window boundaries."""
    rng = random.Random(7)
    data = write_eif([(SectionType.KERNEL, rng.randbytes(3 << 20)),
                      (SectionType.CMDLINE, b"console=ttyS0"),
                      (SectionType.RAMDISK, rng.randbytes((14 << 20) + 77))])
    path = tmp_path / "tail.eif"
    path.write_bytes(data + rng.randbytes((2 << 20) + 5))
    assert path.stat().st_size >= THREADED_FROM
    assert measured(path) == naive(data)


def test_measure_sections_matches_the_file_measurement(vectors_dir: Path) -> None:
    """PCRs of (type, chunks) streams, chunks of every size, equal the file's own."""
    for name in ("01-minimal-one-ramdisk.eif", "04-signed.eif"):
        data = (vectors_dir / "eif" / name).read_bytes()
        layout = parse_layout(data, name)
        rng = random.Random(name)

        def pieces(b: bytes, rng: random.Random = rng) -> list[bytes]:
            out, pos = [], 0
            while pos < len(b):
                n = rng.choice((1, 3, 100, 70_000, 300_000))
                out.append(b[pos : pos + n])
                pos += n
            return out

        got = measure_sections([(s.type, pieces(data[s.data_offset : s.end]))
                                for s in layout.sections])
        want = naive(data)
        assert got == {k: want[k] for k in ("PCR0", "PCR1", "PCR2")}
    odd = _odd_order()
    layout = parse_layout(odd, "odd")
    got = measure_sections([(s.type, [odd[s.data_offset : s.end]]) for s in layout.sections])
    assert got == {k: v for k, v in naive(odd).items() if k != "CRC"}


def test_measure_sections_needs_a_ramdisk() -> None:
    with pytest.raises(EifdiffError, match="ramdisk"):
        measure_sections([(SectionType.KERNEL, [b"k"])])


def _square(n: int) -> int:
    return n * n


def _fail() -> int:
    raise EifdiffError("no such normalization here")


def test_in_parallel_keeps_the_order_and_passes_errors_on() -> None:
    calls = [functools.partial(_square, n) for n in range(7)]
    assert in_parallel(calls, workers=2) == [n * n for n in range(7)]
    assert in_parallel(calls[:1]) == [0]
    with pytest.raises(EifdiffError, match=r"^no such normalization here$"):
        in_parallel([calls[1], _fail, calls[2]], workers=2)


def test_in_parallel_uses_threads_while_another_thread_runs() -> None:
    before = threading.active_count()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Python 3.12 warns when a threaded process forks
            assert in_parallel([functools.partial(_square, 3), functools.partial(_square, 4)]
                               ) == [9, 16]
            assert in_parallel([lambda: os.getpid()] * 2) == [os.getpid()] * 2
    finally:
        stop.set()
        other.join()
    assert threading.active_count() == before  # no thread of its own left behind
    if before == 1 and hasattr(os, "fork"):
        assert in_parallel([lambda: os.getpid()] * 2) != [os.getpid()] * 2  # forked workers


def test_large_file_measured_in_threads_while_another_thread_runs(tmp_path: Path) -> None:
    rng = random.Random(11)
    data = write_eif([(SectionType.KERNEL, rng.randbytes(9 << 20)),
                      (SectionType.CMDLINE, b"console=ttyS0"),
                      (SectionType.RAMDISK, rng.randbytes(5 << 20)),
                      (SectionType.RAMDISK, rng.randbytes(3 << 20))])
    path = tmp_path / "big.eif"
    path.write_bytes(data)
    before = threading.active_count()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not measure_mod.may_fork()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert measured(path) == naive(data)
    finally:
        stop.set()
        other.join()
    assert threading.active_count() == before  # the measuring threads ended with their jobs


def test_background_priority_follows_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    cpus = os.cpu_count() or 1
    monkeypatch.setattr(os, "getloadavg", lambda: (cpus - 0.5, 0.0, 0.0))
    assert measure_mod._background_nice() == measure_mod.HASHING_NICE
    monkeypatch.setattr(os, "getloadavg", lambda: (cpus + 0.5, 0.0, 0.0))
    assert measure_mod._background_nice() == 0

    def unknown() -> tuple[float, float, float]:
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", unknown)
    assert measure_mod._background_nice() == measure_mod.HASHING_NICE


FRESH = """
import json, os, sys
from eifdiff.formats.eif import parse_layout
from eifdiff.mapped import MappedFile
from eifdiff.measure import in_parallel, may_fork, measure
assert may_fork()
with MappedFile.open(sys.argv[1]) as mf:
    d = measure(mf, parse_layout(mf.view, sys.argv[1]), sha256=True)
pids = in_parallel([os.getpid, os.getpid, os.getpid], workers=2)
assert os.getpid() not in pids, pids
print(json.dumps({**d.hex(), "CRC": f"{d.crc32:08x}", "sha256": d.sha256}))
"""


def test_forked_workers_in_a_fresh_process(tmp_path: Path) -> None:
    """The forked path, in a process with no other thread (the test session may run some),
    with warnings as errors (Python 3.12 warns when a threaded process forks)."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    rng = random.Random(5)
    data = write_eif([(SectionType.KERNEL, rng.randbytes(9 << 20)),
                      (SectionType.CMDLINE, b"console=ttyS0"),
                      (SectionType.RAMDISK, rng.randbytes(6 << 20)),
                      (SectionType.RAMDISK, rng.randbytes((3 << 20) + 3))])
    path = tmp_path / "fresh.eif"
    path.write_bytes(data + b"tail")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-W", "error", "-c", FRESH, str(path)],
                          capture_output=True, text=True, cwd=root, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got == {**naive(data), "sha256": hashlib.sha256(data + b"tail").hexdigest()}
