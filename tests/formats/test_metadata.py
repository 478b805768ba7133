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
    TOP_KEYS,
    Metadata,
    decode_metadata,
    encode_metadata,
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


json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=12)
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
