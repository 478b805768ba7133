"""eifdiff.image.open_image: conformance with the reference reader, and damaged containers."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import pytest

from eifdiff.errors import FormatError
from eifdiff.formats.eif import SectionType
from eifdiff.image import EifImage, open_image
from tests.helpers import (
    EMPTY_PCR,
    HEADER,
    Vector,
    header_values,
    patch_header,
    patch_section_header,
    section_offsets,
    truncation_points,
    vector_index,
    within_cpu,
)

# ---------------------------------------------------------------------------------------------
# conformance: every field of every vector against expected/*.json


def test_vector_set_is_complete(vectors_dir: Path) -> None:
    """Every vector in index.json is present with the stated size and sha256, plus its dump."""
    index = vector_index()
    assert len(index) >= 9
    for name, entry in index.items():
        data = (vectors_dir / "eif" / f"{name}.eif").read_bytes()
        assert len(data) == entry["size"], name
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert (vectors_dir / "expected" / f"{name}.json").is_file(), name


def test_header_fields(vec: Vector) -> None:
    img = open_image(vec.eif)
    exp = vec.expected["Header"]
    h = img.layout.header
    n = exp["num_sections"]
    assert h.magic == exp["magic"].encode() == b".eif"
    assert h.version == exp["version"]
    assert h.flags == exp["flags"]
    assert h.default_mem == exp["default_mem"]
    assert h.default_cpus == exp["default_cpus"]
    assert h.reserved == exp["reserved"]
    assert h.num_sections == n
    assert list(h.section_offsets[:n]) == exp["section_offsets"][:n]
    assert list(h.section_sizes[:n]) == exp["section_sizes"][:n]
    assert len(h.section_offsets) == len(h.section_sizes) == 32
    assert not any(h.section_offsets[n:]) and not any(h.section_sizes[n:])
    assert h.unused == exp["unused"]
    assert h.crc32 == int(exp["eif_crc32"], 16)
    assert h.arch == ("aarch64" if exp["flags"] & 1 else "x86_64")
    # the parsed header packs back to the file's first 548 bytes
    assert h.pack() == vec.data[: HEADER.size]


def test_crc(vec: Vector) -> None:
    img = open_image(vec.eif)
    exp = vec.expected["Header"]
    assert img.digests.crc32 == int(exp["computed_crc32"], 16)
    assert img.crc_ok is vec.expected["CrcCheck"] is True


def test_section_list(vec: Vector) -> None:
    img = open_image(vec.eif)
    got = [
        {"index": s.index, "type": s.type.reference_name, "offset": s.offset,
         "section_size": s.size, "header_size_field": s.size, "flags": s.flags}
        for s in img.layout.sections
    ]
    assert got == vec.expected["Sections"]
    # data follows each 12-byte section header; sections are contiguous up to EOF
    for s in img.layout.sections:
        assert s.data_offset == s.offset + 12
    assert img.layout.end == img.size == vec.entry["size"]
    assert img.layout.trailing == 0
    ramdisks = [s.name for s in img.layout.sections if s.type is SectionType.RAMDISK]
    assert ramdisks == [f"ramdisk[{i}]" for i in range(len(vec.entry["ramdisks"]))]


def test_measurements(vec: Vector) -> None:
    img = open_image(vec.eif)
    exp = {k: v for k, v in vec.expected["Measurements"].items() if k.startswith("PCR")}
    assert img.pcrs == exp
    assert img.digests.hex() == {k: exp[k] for k in ("PCR0", "PCR1", "PCR2")}
    assert ("PCR8" in img.pcrs) is vec.expected["IsSigned"]


def test_signature_fields(vec: Vector) -> None:
    img = open_image(vec.eif)
    assert img.is_signed is vec.expected["IsSigned"] is vec.signed
    if not vec.signed:
        assert img.signature is None
        assert "SignatureCheck" not in vec.expected
        return
    assert img.signature is not None
    assert img.signature.check is vec.expected["SignatureCheck"] is True
    assert img.signature.cose_verifies and img.signature.payload_matches_pcr0
    assert img.signature.certificate == vec.expected["SigningCertificate"]
    assert img.signature.algorithm == "ES384"
    assert img.signature.register_index == 0
    assert img.signature.register_value == vec.expected["Measurements"]["PCR0"]
    assert img.signature.entries == 1
    assert img.signature.certificate_pem == (vec.root / "inputs" / "cert.pem").read_bytes()


def _metadata_doc(img: EifImage) -> dict:
    md = img.metadata
    assert md is not None
    return {
        "ImageName": md.image_name, "ImageVersion": md.image_version,
        "BuildMetadata": md.build_metadata(), "DockerInfo": md.docker_info,
        "CustomMetadata": md.custom_metadata,
    }


def test_metadata_decoded(vec: Vector) -> None:
    img = open_image(vec.eif)
    assert _metadata_doc(img) == vec.expected["Metadata"]
    assert img.metadata.extra is None
    # and the raw section is exactly that JSON document
    md = img.layout.one(SectionType.METADATA)
    assert md is not None
    assert json.loads(vec.data[md.data_offset : md.end]) == vec.expected["Metadata"]


def test_vectors_are_clean(vec: Vector) -> None:
    img = open_image(vec.eif)
    assert img.anomalies == ()
    assert img.kernel_format == "bzImage"
    assert img.kernel_version is not None
    assert img.kernel_version.source == "setup-header"
    assert img.kernel_version.release == "4.14.256-209.484.amzn2.x86_64"


def test_single_ramdisk_pcr2_is_empty_measurement(vectors_dir: Path) -> None:
    img = open_image(vectors_dir / "eif" / "01-minimal-one-ramdisk.eif")
    assert img.pcrs["PCR2"] == EMPTY_PCR
    assert img.pcrs["PCR0"] == img.pcrs["PCR1"]


def test_build_time_pair_and_arch_flag_keep_pcrs(vectors_dir: Path) -> None:
    a, b = (open_image(vectors_dir / "eif" / f"{n}.eif") for n in
            ("08-build-time-a", "09-build-time-b"))
    assert a.pcrs == b.pcrs and a.size != b.size
    x86, arm = (open_image(vectors_dir / "eif" / f"{n}.eif") for n in
                ("02-nitro-two-ramdisks", "03-aarch64-flag"))
    assert x86.pcrs == arm.pcrs
    assert (x86.layout.header.arch, arm.layout.header.arch) == ("x86_64", "aarch64")


# ---------------------------------------------------------------------------------------------
# damaged containers: FormatError naming file and offset, or a flagged image, nothing else


def assert_refused(path: Path, exc: FormatError) -> None:
    text = str(exc)
    assert text.startswith(str(path)), text
    assert "offset" in text, f"FormatError without an offset: {text}"
    assert "\n" not in text


def open_damaged(path: Path, data: bytes | None) -> EifImage | None:
    """Open `data` written at `path` (already there when None); None when refused with a
    proper FormatError, the image when the damage is flagged (CRC or anomaly)."""
    if data is not None:
        path.write_bytes(data)
    try:
        img = open_image(path)
    except FormatError as exc:
        assert_refused(path, exc)
        return None
    assert not img.crc_ok or img.anomalies, "damage went unnoticed"
    return img


@pytest.mark.parametrize("name", ["01-minimal-one-ramdisk", "04-signed"])
def test_truncation_sweep(vectors_dir: Path, tmp_path: Path, name: str) -> None:
    data = (vectors_dir / "eif" / f"{name}.eif").read_bytes()
    path = tmp_path / "cut.eif"
    points = truncation_points(data)
    assert len(points) > 20
    for cut in points:
        path.write_bytes(data[:cut])
        with pytest.raises(FormatError) as info:
            open_image(path)
        assert_refused(path, info.value)
        assert info.value.offset is not None and info.value.source == str(path)


def _flip_positions(data: bytes) -> list[tuple[int, int]]:
    """(byte, bit) pairs: every bit of the live header fields and of every section header,
    one bit per byte of the zero tails of the section tables."""
    v = header_values(data)
    n = v[6]
    live = set(range(28)) | set(range(540, 548))
    live |= {28 + 8 * i + k for i in range(n) for k in range(8)}
    live |= {284 + 8 * i + k for i in range(n) for k in range(8)}
    flips = []
    for pos in range(HEADER.size):
        bits = range(8) if pos in live else [pos % 8]
        flips += [(pos, bit) for bit in bits]
    for off in section_offsets(data):
        flips += [(off + k, bit) for k in range(12) for bit in range(8)]
    return flips


def flip_sweep(path: Path, data: bytes, flips: list[tuple[int, int]]) -> tuple[int, int, dict]:
    """Open `data` with each single-bit flip, patched in place (one file write in all)."""
    path.write_bytes(data)
    refused = flagged = 0
    problems: dict[str, tuple[int, int]] = {}
    fd = os.open(path, os.O_WRONLY)
    try:
        for pos, bit in flips:
            os.pwrite(fd, bytes([data[pos] ^ (1 << bit)]), pos)
            try:
                img = open_damaged(path, None)
            except AssertionError as exc:  # collected, so one run reports every kind of miss
                key = str(exc).split("\n")[0].replace(str(path), "FILE")
                problems.setdefault(key, (pos, bit))
            else:
                refused += img is None
                flagged += img is not None
            os.pwrite(fd, data[pos : pos + 1], pos)
    finally:
        os.close(fd)
    return refused, flagged, problems


@pytest.mark.parametrize("name", ["02-nitro-two-ramdisks", "04-signed"])
def test_bit_flip_sweep(vectors_dir: Path, tmp_path: Path, name: str) -> None:
    data = (vectors_dir / "eif" / f"{name}.eif").read_bytes()
    refused, flagged, problems = flip_sweep(tmp_path / "flip.eif", data, _flip_positions(data))
    assert not problems, "\n".join(f"byte {p} bit {b}: {m}" for m, (p, b) in problems.items())
    assert refused > 100 and flagged > 100


def _timed_open(path: Path, data: bytes) -> tuple[EifImage | None, FormatError | None]:
    path.write_bytes(data)
    with within_cpu(0.5, "opening a damaged file"):
        try:
            img, err = open_image(path), None
        except FormatError as exc:
            img, err = None, exc
    if err is not None:
        assert_refused(path, err)
    return img, err


@pytest.mark.parametrize("size", [2**64 - 1, 2**64 - 12, 2**63, 2**64 - 548])
@pytest.mark.parametrize("index", [1, 3])
def test_section_size_near_2_64(vectors_dir: Path, tmp_path: Path, size: int, index: int) -> None:
    data = (vectors_dir / "eif" / "01-minimal-one-ramdisk.eif").read_bytes()
    damaged = patch_section_header(patch_header(data, sizes={index: size}), index, size=size)
    img, err = _timed_open(tmp_path / "huge.eif", damaged)
    assert img is None and err is not None


def test_section_size_disagreeing_with_table(vectors_dir: Path, tmp_path: Path) -> None:
    data = (vectors_dir / "eif" / "01-minimal-one-ramdisk.eif").read_bytes()
    img, err = _timed_open(tmp_path / "x.eif", patch_header(data, sizes={3: 2**64 - 1}))
    assert img is None and err is not None and err.offset == section_offsets(data)[3] + 4


@pytest.mark.parametrize("count", [0, 33, 0xFFFF])
def test_num_sections_out_of_range(vectors_dir: Path, tmp_path: Path, count: int) -> None:
    data = (vectors_dir / "eif" / "01-minimal-one-ramdisk.eif").read_bytes()
    img, err = _timed_open(tmp_path / "n.eif", patch_header(data, num_sections=count))
    assert img is None and err is not None and err.offset == 26
    assert str(count) in str(err)


@pytest.mark.parametrize("stype", [0, 6, 0xFFFF])
def test_unknown_section_type(vectors_dir: Path, tmp_path: Path, stype: int) -> None:
    data = (vectors_dir / "eif" / "02-nitro-two-ramdisks.eif").read_bytes()
    img, err = _timed_open(tmp_path / "t.eif", patch_section_header(data, 4, stype=stype))
    assert img is None and err is not None
    assert f"unknown type {stype}" in str(err)
    assert err.offset == section_offsets(data)[4]


@pytest.mark.parametrize("extra", [1, 11, 12, 4096])
def test_trailing_bytes_are_an_anomaly(vec_02: Vector, tmp_path: Path, extra: int) -> None:
    img, err = _timed_open(tmp_path / "trail.eif", vec_02.data + b"\xa5" * extra)
    assert err is None and img is not None
    assert img.crc_ok, "trailing bytes are not covered by the CRC"
    assert img.layout.trailing == extra
    trailing = [a for a in img.anomalies if "after the last section" in a.message]
    assert len(trailing) == 1 and trailing[0].offset == vec_02.entry["size"]
    assert img.pcrs == {k: v for k, v in vec_02.expected["Measurements"].items()
                        if k.startswith("PCR")}


@pytest.fixture
def vec_02(vectors_dir: Path) -> Vector:
    return Vector.load("02-nitro-two-ramdisks")


@pytest.mark.parametrize(("section", "moved"), [
    (0, {"PCR0", "PCR1"}), (1, {"PCR0", "PCR1"}), (3, {"PCR0", "PCR1"}), (4, {"PCR0", "PCR2"}),
])
def test_flipped_data_byte(vec_02: Vector, tmp_path: Path, section: int, moved: set) -> None:
    data = bytearray(vec_02.data)
    off = section_offsets(vec_02.data)[section] + 12 + 5
    data[off] ^= 0x40
    img, err = _timed_open(tmp_path / "d.eif", bytes(data))
    assert err is None and img is not None
    assert not img.crc_ok
    expected = vec_02.expected["Measurements"]
    assert {k for k in ("PCR0", "PCR1", "PCR2") if img.pcrs[k] != expected[k]} == moved


def test_flipped_metadata_byte_is_an_anomaly(vec_02: Vector, tmp_path: Path) -> None:
    data = bytearray(vec_02.data)
    md = section_offsets(vec_02.data)[2] + 12
    data[md] = ord("[")  # '{' -> '[': no longer a JSON object
    img, err = _timed_open(tmp_path / "m.eif", bytes(data))
    assert err is None and img is not None and img.metadata is None and not img.crc_ok
    assert [a.path for a in img.anomalies] == ["metadata"]
    assert img.anomalies[0].offset == md


def test_damaged_signature_is_an_anomaly(signed_vec: Vector, tmp_path: Path) -> None:
    data = bytearray(signed_vec.data)
    sig = section_offsets(signed_vec.data)[5] + 12
    data[sig] = 0xFF  # CBOR "break" where an array head is expected
    img, err = _timed_open(tmp_path / "s.eif", bytes(data))
    assert err is None and img is not None and img.is_signed and img.signature is None
    assert any(a.path == "signature" for a in img.anomalies)


def _with_signature(vec: Vector, section: bytes, path: Path) -> EifImage:
    """`vec` (signed) rewritten with another signature section, CRC recomputed."""
    from eifdiff.formats.eif import write_eif

    data = vec.data
    layout = open_image(vec.eif).layout
    parts = [(s.type, data[s.data_offset : s.end]) for s in layout.sections]
    assert parts[-1][0] is SectionType.SIGNATURE
    parts[-1] = (SectionType.SIGNATURE, section)
    path.write_bytes(write_eif(parts))
    return open_image(path)


def _vector_signature(vec: Vector):
    from eifdiff.formats import signature as sig

    img = open_image(vec.eif)
    s = img.layout.one(SectionType.SIGNATURE)
    entry = sig.decode_signature_section(vec.data[s.data_offset : s.end])[0]
    return img, entry, sig.decode_cose(entry.cose_bytes)


def test_tampered_signature_bytes_fail_the_check(signed_vec: Vector, tmp_path: Path) -> None:
    from eifdiff.formats import signature as sig

    img, entry, cose = _vector_signature(signed_vec)
    bad = bytearray(cose.signature)
    bad[10] ^= 1
    forged = sig.CoseSign1(cose.protected, cose.unprotected, cose.payload, bytes(bad), False)
    section = sig.encode_signature_section([sig.PcrSignature(entry.certificate_pem,
                                                             forged.encode())])
    forged_img = _with_signature(signed_vec, section, tmp_path / "forged.eif")
    assert forged_img.crc_ok and forged_img.anomalies == ()
    assert forged_img.signature is not None
    assert forged_img.signature.payload_matches_pcr0
    assert not forged_img.signature.cose_verifies
    assert forged_img.signature.check is False
    assert forged_img.pcrs == img.pcrs  # PCR8 measures the certificate, not the signature


def test_signature_over_another_pcr0_fails_the_check(signed_vec: Vector, tmp_path: Path,
                                                     inputs_dir: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from eifdiff.formats import signature as sig

    key = serialization.load_pem_private_key((inputs_dir / "key.pem").read_bytes(), None)
    cose = sig.sign_pcr0(bytes(48), key)  # a valid signature, but not over this image's PCR0
    pem = (inputs_dir / "cert.pem").read_bytes()
    section = sig.encode_signature_section([sig.PcrSignature(pem, cose.encode())])
    img = _with_signature(signed_vec, section, tmp_path / "other.eif")
    assert img.crc_ok and img.signature is not None
    assert img.signature.cose_verifies and not img.signature.payload_matches_pcr0
    assert img.signature.check is False
    assert img.signature.register_value == "00" * 48


def test_two_signature_entries_are_an_anomaly(signed_vec: Vector, tmp_path: Path) -> None:
    from eifdiff.formats import signature as sig

    _, entry, _ = _vector_signature(signed_vec)
    section = sig.encode_signature_section([entry, entry])
    img = _with_signature(signed_vec, section, tmp_path / "two.eif")
    assert img.signature is not None and img.signature.entries == 2 and img.signature.check
    assert [a.path for a in img.anomalies] == ["signature"]
    assert "2 signature entries" in img.anomalies[0].message


@pytest.mark.parametrize(("index", "stype"), [
    (0, 3),  # the kernel becomes a ramdisk: no kernel
    (1, 3),  # the cmdline becomes a ramdisk: no cmdline
    (2, 1),  # the metadata becomes a second kernel
    (2, 2),  # ... a second cmdline
    (4, 5),  # the second ramdisk becomes a second metadata section
])
def test_section_count_errors_name_an_offset(vec_02: Vector, tmp_path: Path, index: int,
                                             stype: int) -> None:
    """Missing or duplicated sections are fatal and, like every FormatError, say where."""
    path = tmp_path / "count.eif"
    path.write_bytes(patch_section_header(vec_02.data, index, stype=stype))
    with pytest.raises(FormatError) as info:
        open_image(path)
    assert info.value.offset is not None
    assert_refused(path, info.value)


def test_no_ramdisk_error_names_an_offset(vectors_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "nord.eif"
    data = (vectors_dir / "eif" / "01-minimal-one-ramdisk.eif").read_bytes()
    path.write_bytes(patch_section_header(data, 3, stype=4))  # the only ramdisk -> signature
    with pytest.raises(FormatError) as info:
        open_image(path)
    assert "ramdisk" in str(info.value)
    assert_refused(path, info.value)


def test_magic_and_version_refused(vec_02: Vector, tmp_path: Path) -> None:
    for patch, offset in (({"magic": b"EIF."}, 0), ({"version": 5}, 4), ({"version": 1}, 4)):
        img, err = _timed_open(tmp_path / "h.eif", patch_header(vec_02.data, **patch))
        assert img is None and err is not None and err.offset == offset


def test_reserved_fields_are_anomalies(vec_02: Vector, tmp_path: Path) -> None:
    cases = [{"reserved": 1}, {"unused": 7}, {"flags": 0x40},
             {"offsets": {20: 1}}, {"sizes": {31: 9}}]
    for patch in cases:
        img, err = _timed_open(tmp_path / "r.eif", patch_header(vec_02.data, **patch))
        assert err is None and img is not None, patch
        assert img.crc_ok and any(a.path == "eif-header" for a in img.anomalies), patch


def test_non_eif_and_tiny_files(tmp_path: Path) -> None:
    for data in (b"", b".ei", b".eif", b"\x7fELF" + bytes(600), bytes(548)):
        img, err = _timed_open(tmp_path / "junk.bin", data)
        assert img is None and err is not None and err.offset in (0, 4)


def test_header_struct_offsets() -> None:
    """num_sections sits at 26 and the CRC at 544, as the messages say."""
    packed = HEADER.pack(b".eif", 4, 0, 0, 0, 0, 0x1234, *([0] * 64), 0, 0xDEADBEEF)
    assert packed[26:28] == b"\x12\x34"
    assert struct.unpack(">I", packed[544:548])[0] == 0xDEADBEEF
