"""Property-based fuzzing of the readers (hypothesis), bounded to run in `make test`.

Each test mutates real inputs (the conformance vectors, the archives beside them, a signed
vector's CBOR, compressed archives) or draws random bytes, and checks the reader's contract:

(a) `open_image` on a mutated vector EIF: a FormatError naming the file and an offset, or an
    image; nothing else;
(b) `read_archive` never raises, and every offset it returns lies inside its buffer;
(c) the CBOR decoders of the signature section raise FormatError or nothing;
(d) `load` of an EIF whose ramdisk bytes are mutated raises nothing (damage is an anomaly);
(e) `decompress_to` on a mutated gzip, xz, zstd, lz4 or bzip2 stream raises FormatError or
    nothing, and never writes past its bound.

The examples are derandomized, so that a run of the suite is reproducible; fuzz/fuzz_readers.py
explores further with coverage guidance. Every test stays under about 10 s.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import struct
from collections.abc import Callable
from functools import cache
from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eifdiff.build import build_eif, default_metadata
from eifdiff.errors import FormatError
from eifdiff.formats import signature as sig
from eifdiff.formats.compression import decompress_to
from eifdiff.formats.cpio import CpioMember, read_archive, write_archive
from eifdiff.formats.eif import SectionType, parse_layout
from eifdiff.image import open_image
from eifdiff.load import Limits, load
from tests.helpers import require_vectors, section_offsets

pytestmark = pytest.mark.slow

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
INTERESTING = (0, 1, 2, 3, 4, 5, 6, 12, 32, 33, 547, 548, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000,
               0x7FFFFFFF, 0xFFFFFFFF, 1 << 32, 1 << 63, (1 << 64) - 1)


# ---------------------------------------------------------------------------------------------
# mutations


@st.composite
def mutated(draw: st.DrawFn, data: bytes, hot: tuple[range, ...] = ()) -> bytes:
    """`data` after 1..6 edits (bit flips, bytes and integer fields set to edge values,
    insertions, deletions, a truncation), most of them inside the `hot` ranges when given."""
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        if hot and draw(st.integers(0, 3)):
            region = draw(st.sampled_from(hot))
        else:
            region = range(max(len(b), 1))
        pos = min(draw(st.integers(region.start, max(region.start, region.stop - 1))), len(b))
        op = draw(st.sampled_from(("flip", "byte", "int", "insert", "delete", "truncate")))
        if op == "flip" and pos < len(b):
            b[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and pos < len(b):
            b[pos] = draw(st.integers(0, 255))
        elif op == "int":
            width, fmt = draw(st.sampled_from(((2, ">H"), (4, ">I"), (8, ">Q"), (4, "<I"),
                                               (8, "<Q"))))
            value = draw(st.sampled_from(INTERESTING) | st.integers(0, (1 << 64) - 1))
            b[pos : pos + width] = struct.pack(fmt, value % (1 << (8 * width)))
        elif op == "insert":
            b[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del b[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del b[pos:]
    return bytes(b)


@cache
def _vector(name: str) -> bytes:
    return (require_vectors() / "eif" / f"{name}.eif").read_bytes()


def _container_hot(data: bytes) -> tuple[range, ...]:
    """The header and every section header (with a few bytes either side)."""
    return (range(0, 600), *(range(max(o - 4, 0), o + 16) for o in section_offsets(data)))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# ---------------------------------------------------------------------------------------------
# (a) the container


@FUZZ
@given(data=st.data(), name=st.sampled_from(["02-nitro-two-ramdisks", "04-signed",
                                             "07-gzip-customer-ramdisk"]))
def test_open_image_on_mutated_vectors(data: st.DataObject, name: str, scratch: Path) -> None:
    original = _vector(name)
    damaged = data.draw(mutated(original, _container_hot(original)))
    path = scratch / "mutated.eif"
    path.write_bytes(damaged)
    try:
        img = open_image(path)
    except FormatError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        assert exc.offset is not None and exc.source == str(path)
        return
    assert img.size == len(damaged)
    assert img.layout.end + img.layout.trailing == len(damaged)
    assert all(a.offset is None or 0 <= a.offset <= len(damaged) for a in img.anomalies)


@FUZZ
@given(head=st.binary(min_size=0, max_size=700), tail=st.binary(max_size=64))
def test_parse_layout_on_random_bytes(head: bytes, tail: bytes) -> None:
    for buf in (head, b".eif" + head[4:] + tail, b".eif\x00\x04" + head[6:] + tail):
        try:
            layout = parse_layout(buf, "r.eif")
        except FormatError as exc:
            assert exc.offset is not None and str(exc).startswith("r.eif: ")
        else:
            assert layout.end <= len(buf)


# ---------------------------------------------------------------------------------------------
# (b) CPIO


@cache
def _archives() -> tuple[bytes, ...]:
    inputs = require_vectors() / "inputs"
    crc = write_archive([CpioMember("a", b"payload"), CpioMember("b/c", b"x" * 5000)], crc=True)
    return ((inputs / "customer.cpio").read_bytes(), (inputs / "extra.cpio").read_bytes(),
            (inputs / "bootstrap.cpio").read_bytes()[:4096], crc,
            (inputs / "extra.cpio").read_bytes() + crc)


def _check_archive(buf: bytes, base: int, stop: bool) -> None:
    arc = read_archive(buf, base=base, path="rd", stop_at_foreign=stop)
    lo, hi = base, base + len(buf)
    assert lo <= arc.end <= hi
    for e in arc.entries:
        assert lo <= e.header_offset < e.data_offset <= e.data_offset + e.filesize <= hi, e
    for s, t in arc.segments:
        assert lo <= s <= t <= hi
    for a in arc.anomalies:
        assert a.offset is not None and lo <= a.offset <= hi, a
        assert a.path.startswith("rd")


@FUZZ
@given(buf=st.binary(max_size=2048), base=st.integers(0, 1 << 40), stop=st.booleans())
def test_read_archive_on_random_bytes(buf: bytes, base: int, stop: bool) -> None:
    _check_archive(buf, base, stop)
    _check_archive(b"070701" + buf, base, stop)


@FUZZ
@given(data=st.data(), which=st.integers(0, 4), base=st.integers(0, 1 << 40), stop=st.booleans())
def test_read_archive_on_mutated_archives(data: st.DataObject, which: int, base: int,
                                          stop: bool) -> None:
    raw = _archives()[which]
    arc = read_archive(raw)
    hot = tuple(range(e.header_offset, e.header_offset + 116) for e in arc.entries[:40])
    _check_archive(data.draw(mutated(raw, hot)), base, stop)


# ---------------------------------------------------------------------------------------------
# (c) the signature section's CBOR


@cache
def _signature_parts() -> tuple[bytes, bytes, bytes]:
    data = _vector("04-signed")
    s = parse_layout(data, "04").one(SectionType.SIGNATURE)
    assert s is not None
    section = data[s.data_offset : s.end]
    entry = sig.decode_signature_section(section)[0]
    return section, entry.cose_bytes, sig.decode_cose(entry.cose_bytes).payload


def _decode_all(raw: bytes) -> None:
    """Each decoder on `raw`: FormatError or a result, nothing else."""
    try:
        entries = sig.decode_signature_section(raw)
    except FormatError:
        pass
    else:
        assert entries and all(isinstance(e.certificate_pem, bytes) for e in entries)
    try:
        cose = sig.decode_cose(raw)
    except FormatError:
        pass
    else:
        assert isinstance(cose.payload, bytes)
        _ = cose.algorithm_name
        with contextlib.suppress(FormatError):
            sig.decode_payload(cose)
    try:
        payload = sig.decode_payload(sig.CoseSign1(b"", {}, raw, b"", False))
    except FormatError:
        pass
    else:
        assert isinstance(payload.register_value, bytes)


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.binary(max_size=40)
    | st.text(max_size=20) | st.floats(allow_nan=True),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
        st.text(max_size=20) | st.integers(-5, 5), inner, max_size=5)
    | st.builds(cbor2.CBORTag, st.sampled_from([0, 1, 2, 3, 4, 5, 18, 24, 28, 29, 30, 258,
                                                55799]), inner),
    max_leaves=20,
)


@FUZZ
@given(data=st.data(), which=st.integers(0, 2))
def test_signature_decoders_on_mutated_cbor(data: st.DataObject, which: int) -> None:
    raw = _signature_parts()[which]
    _decode_all(data.draw(mutated(raw, (range(0, 64),))))


@FUZZ
@given(value=cbor_values, raw=st.binary(max_size=256))
def test_signature_decoders_on_random_cbor(value: object, raw: bytes) -> None:
    try:
        encoded = cbor2.dumps(value)
    except (ValueError, TypeError, OverflowError, cbor2.CBOREncodeError):
        encoded = b""
    for buf in (encoded, raw, cbor2.dumps([value]), cbor2.dumps([{"signing_certificate": value,
                                                                  "signature": value}])):
        _decode_all(buf)


# ---------------------------------------------------------------------------------------------
# (d) ramdisks inside a valid container


@pytest.fixture(scope="module")
def ramdisk_eif(scratch: Path) -> tuple[bytes, tuple[range, ...]]:
    """An EIF whose ramdisk[1] is the customer archive and ramdisk[2] a gzip of it; its bytes
    and the ranges of both ramdisks' CPIO headers and the gzip stream's first bytes."""
    inputs = require_vectors() / "inputs"
    cust = (inputs / "customer.cpio").read_bytes()
    path = scratch / "ramdisks.eif"
    build_eif(path, kernel=(inputs / "bzImage").read_bytes()[:4096], cmdline=b"console=ttyS0",
              ramdisks=[(inputs / "extra.cpio").read_bytes(), cust,
                        gzip.compress(cust, mtime=0)],
              metadata=default_metadata("bzImage", build_time="2024-01-01T00:00:00+00:00"))
    data = path.read_bytes()
    layout = parse_layout(data, "r")
    rd = layout.ramdisks
    hot = [range(rd[2].data_offset, rd[2].data_offset + 64),
           range(rd[2].end - 16, rd[2].end)]
    for s in rd[:2]:
        arc = read_archive(data[s.data_offset : s.end])
        hot += [range(s.data_offset + e.header_offset, s.data_offset + e.data_offset + 4)
                for e in arc.entries]
    return data, tuple(hot)


@FUZZ
@given(data=st.data())
def test_load_with_mutated_ramdisks(data: st.DataObject, ramdisk_eif: tuple, scratch: Path) -> None:
    original, hot = ramdisk_eif
    layout = parse_layout(original, "r")
    # edits inside the ramdisks only, sizes kept: the container stays valid
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.sampled_from(hot).flatmap(
            lambda r: st.integers(r.start, r.stop - 1)))
        if data.draw(st.booleans()):
            damaged[pos] = data.draw(st.sampled_from(b"0789AFfx\x00\xff"))
        else:
            damaged[pos] ^= 1 << data.draw(st.integers(0, 7))
    path = scratch / "ramdisk-mutated.eif"
    path.write_bytes(bytes(damaged))
    with load(path, limits=Limits(max_size=64 << 20)) as img:
        assert img.image.layout.sections == layout.sections
        for r in img.ramdisks:
            for a in r.anomalies:
                assert a.offset is not None
                if "~" not in a.path:  # raw pieces: absolute file offsets inside the section
                    assert r.section.data_offset <= a.offset <= r.section.end, a
            for m in r.members():
                assert len(m.data) == m.entry.filesize


# ---------------------------------------------------------------------------------------------
# (e) decompression


def _compressors() -> dict[str, Callable[[bytes], bytes]]:
    import lz4.block
    import lz4.frame
    import zstandard

    def legacy(raw: bytes) -> bytes:
        block = lz4.block.compress(raw, store_size=False)
        return struct.pack("<II", 0x184C2102, len(block)) + block

    return {
        "gzip": lambda d: gzip.compress(d, mtime=0), "xz": lzma.compress,
        "zstd": lambda d: zstandard.ZstdCompressor().compress(d), "lz4": lz4.frame.compress,
        "lz4-legacy": legacy, "bzip2": bz2.compress,
    }


@cache
def _compressed(fmt: str) -> bytes:
    inputs = require_vectors() / "inputs"
    return _compressors()[fmt]((inputs / "customer.cpio").read_bytes())


class _Bounded(io.RawIOBase):
    def __init__(self) -> None:
        self.n = 0

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.n += len(b)
        return len(b)


@pytest.mark.parametrize("fmt", ["gzip", "xz", "zstd", "lz4", "lz4-legacy", "bzip2"])
@FUZZ
@given(data=st.data())
def test_decompress_mutated_streams(fmt: str, data: st.DataObject) -> None:
    raw = _compressed(fmt)
    damaged = data.draw(mutated(raw, (range(0, 32), range(len(raw) - 16, len(raw)))))
    out = _Bounded()
    limit = 4 << 20
    try:
        written, consumed = decompress_to(memoryview(damaged), fmt, out, max_size=limit)
    except FormatError:
        assert out.n <= limit
        return
    assert written == out.n <= limit
    assert 0 <= consumed <= len(damaged)
