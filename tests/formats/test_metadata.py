"""eifdiff.formats.metadata: the metadata section, byte for byte as the reference builder."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eifdiff.errors import FormatError
from eifdiff.formats.eif import SectionType, parse_layout
from eifdiff.formats.metadata import (
    BUILD_KEYS,
    MAX_NESTING,
    TOP_KEYS,
    Metadata,
    decode_metadata,
    encode_metadata,
    reference_float,
    shortest_float,
)
from tests.helpers import Vector, small_metadata


def _section(vec: Vector) -> tuple[bytes, int]:
    data = vec.data
    md = parse_layout(data, vec.name).one(SectionType.METADATA)
    assert md is not None
    return data[md.data_offset : md.end], md.data_offset


def test_decode_encode_byte_exact(vec: Vector) -> None:
    raw, _ = _section(vec)
    md = decode_metadata(raw)
    assert encode_metadata(md) == raw
    exp = vec.expected["Metadata"]
    assert md.image_name == exp["ImageName"] and md.image_version == exp["ImageVersion"]
    assert md.build_metadata() == exp["BuildMetadata"]
    assert md.docker_info == exp["DockerInfo"] and md.custom_metadata == exp["CustomMetadata"]
    assert md.extra is None


def test_encoded_layout() -> None:
    raw = encode_metadata(small_metadata())
    assert raw == (
        b'{"ImageName":"test","ImageVersion":"1.0","BuildMetadata":{"BuildTime":'
        b'"1970-01-01T00:00:00+00:00","BuildTool":"eif_build","BuildToolVersion":"0.3.1",'
        b'"OperatingSystem":"OS","KernelVersion":"kernel"},"DockerInfo":null,'
        b'"CustomMetadata":null}'
    )
    assert len(raw) == 238
    assert list(json.loads(raw)) == list(TOP_KEYS)
    assert list(json.loads(raw)["BuildMetadata"]) == list(BUILD_KEYS)


def test_nested_objects_sorted_and_strings_raw() -> None:
    md = small_metadata(
        image_name="naïve/\u2028\x01\"\\", custom_metadata={"b": {"z": 1, "a": [True, None]},
                                                          "a": "é"},
        docker_info={"Config": {"Env": ["A=1"]}, "Architecture": "amd64"},
    )
    raw = encode_metadata(md)
    assert b'"ImageName":"na\xc3\xafve/\xe2\x80\xa8\\u0001\\"\\\\"' in raw
    assert raw.endswith(b'"DockerInfo":{"Architecture":"amd64","Config":{"Env":["A=1"]}},'
                        b'"CustomMetadata":{"a":"\xc3\xa9","b":{"a":[true,null],"z":1}}}')
    assert b" " not in raw.replace(b"\xe2\x80\xa8", b"")
    assert decode_metadata(raw) == md


# floats that the reference reader reads back from their shortest form (most do; some come
# back one bit off, as `test_numbers_read_and_written_as_the_reference_does` shows)
json_floats = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda x: reference_float(shortest_float(x)) == x)
json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=12)
                | json_floats)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(name=st.text(max_size=20), version=st.text(max_size=10), custom=json_values,
       docker=json_values, times=st.lists(st.text(max_size=30), min_size=5, max_size=5))
def test_roundtrip(name: str, version: str, custom: object, docker: object,
                   times: list[str]) -> None:
    md = Metadata(name, version, *times, docker_info=docker, custom_metadata=custom)
    raw = encode_metadata(md)
    back = decode_metadata(raw)
    assert back == md
    assert encode_metadata(back) == raw


@pytest.mark.parametrize(("raw", "words"), [
    (b"\xff\xfe", "not UTF-8 JSON"),
    (b"{", "not UTF-8 JSON"),
    (b"[]", "not a JSON object"),
    (b'{"ImageName":"x"}', "lacks ImageVersion, BuildMetadata, DockerInfo"),
    (b'{"ImageName":1e400}', "out of the 64-bit float range"),
    (b'{"ImageName":1' + b"0" * 400 + b'}', "out of the 64-bit float range"),
    (b'{"ImageName":"x","ImageVersion":"1","BuildMetadata":{"BuildTime":1},"DockerInfo":null,'
     b'"CustomMetadata":null}', "BuildMetadata.BuildTime"),
])
def test_decode_errors(raw: bytes, words: str) -> None:
    with pytest.raises(FormatError) as info:
        decode_metadata(raw, source="a.eif", offset=99007)
    assert words in str(info.value)
    assert str(info.value).startswith("a.eif: metadata section at offset 99007")
    assert info.value.offset == 99007


def test_unknown_keys_kept_in_extra() -> None:
    doc = json.loads(encode_metadata(small_metadata()))
    doc["Future"] = {"x": 1}
    md = decode_metadata(json.dumps(doc).encode())
    assert md.extra == {"Future": {"x": 1}}


# The reference serializer's layout of an f64 (the Ryu crate's): each case from its rules.
FLOATS = [
    (1234e7, "12340000000.0"), (100.0, "100.0"), (1e15, "1000000000000000.0"),  # integral
    (1234e-2, "12.34"), (1.5, "1.5"), (-2.5, "-2.5"),  # a point inside
    (1234e-6, "0.001234"), (1e-4, "0.0001"), (1e-5, "0.00001"),  # down to 10^-5
    (1e16, "1e16"), (1e30, "1e30"), (1e-6, "1e-6"), (5e-324, "5e-324"),  # one digit
    (1234e30, "1.234e33"), (1.2345e-7, "1.2345e-7"),  # more digits
    (1.7976931348623157e308, "1.7976931348623157e308"), (0.0, "0.0"), (-0.0, "-0.0"),
]


@pytest.mark.parametrize(("value", "text"), FLOATS)
def test_floats_are_written_as_the_reference_writes_them(value: float, text: str) -> None:
    assert shortest_float(value) == text
    assert float(text) == value


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_reads_back_and_uses_no_python_only_form(value: float) -> None:
    text = shortest_float(value)
    assert float(text) == value and "+" not in text and "e-0" not in text
    assert len(text.lstrip("-").split("e")[0].replace(".", "").strip("0")) <= 17


def test_numbers_in_custom_metadata() -> None:
    custom = {"ratio": 0.00001, "big": 1e16, "n": 2**64 - 1, "past_u64": 2**64, "neg": -2**63,
              "nested": [[{"x": 1.0}]]}
    raw = encode_metadata(small_metadata(custom_metadata=custom))
    assert (b'"CustomMetadata":{"big":1e16,"n":18446744073709551615,"neg":-9223372036854775808,'
            b'"nested":[[{"x":1.0}]],"past_u64":1.8446744073709552e19,"ratio":0.00001}') in raw
    assert encode_metadata(decode_metadata(raw)) == raw


def _nested(levels: int) -> object:
    deep: object = 1
    for _ in range(levels):
        deep = [deep]
    return deep


def test_nesting_up_to_the_reference_readers_limit() -> None:
    ok = small_metadata(custom_metadata=_nested(MAX_NESTING - 1))  # inside the top object
    assert encode_metadata(decode_metadata(encode_metadata(ok))) == encode_metadata(ok)
    deep = encode_metadata(small_metadata(custom_metadata=_nested(MAX_NESTING)))
    with pytest.raises(FormatError, match=f"deeper than {MAX_NESTING} levels"):
        decode_metadata(deep)
    assert encode_metadata(small_metadata(custom_metadata=_nested(5000)))  # no recursion


# How the reference reader reads a number literal (serde_json's default parser): the value it
# then writes back, which is not always the correctly rounded one.
READ = [
    ("795063e275", "7.950629999999999e280"),  # one rounding in the u64, one in the multiply
    ("39e-299", None), ("1E5", "100000.0"), ("0.30000000000000004", "0.30000000000000004"),
    ("-0", "-0.0"), ("-0.0", "-0.0"), ("0", "0"), ("-9223372036854775808", "-9223372036854775808"),
    ("-9223372036854775809", "-9.223372036854776e18"),
    ("18446744073709551615", "18446744073709551615"),
    ("18446744073709551616", "1.8446744073709552e19"),
    ("123456789012345678901234567890.5e-10", "1.2345678901234567e19"),  # digits past a u64 dropped
    ("1e-400", "0.0"), ("-1e-400", "-0.0"), ("0e99999999999", "0.0"), ("1e-99999999999", "0.0"),
]


@pytest.mark.parametrize(("literal", "written"), READ)
def test_numbers_read_and_written_as_the_reference_does(literal: str, written: str | None) -> None:
    doc = json.loads(encode_metadata(small_metadata()))
    raw = json.dumps(doc).replace('"CustomMetadata": null', f'"CustomMetadata": [{literal}]')
    out = encode_metadata(decode_metadata(raw.encode()))
    if written is None:  # a value the reference reads differently from Python's float()
        assert reference_float(literal) != float(literal)
        written = shortest_float(reference_float(literal))
    assert out.endswith(f'"CustomMetadata":[{written}]}}'.encode()), out[-80:]


@pytest.mark.parametrize("literal", ["1e400", "1e99999999999", "-1" + "0" * 400])
def test_numbers_past_a_double_are_refused(literal: str) -> None:
    with pytest.raises(FormatError, match="out of the 64-bit float range"):
        decode_metadata(b'{"ImageName":' + literal.encode() + b"}")
