"""eifdiff.describe and `eifdiff describe`: nitro-cli's describe-eif shape, checked per vector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eifdiff.describe import HASH_ALGORITHM, describe_json, describe_text, eifdiff_block
from eifdiff.image import open_image
from tests.helpers import CliBatch, Vector, tiny_eif


def flattened_metadata(expected: dict[str, Any]) -> dict[str, Any]:
    """describe-eif's `Metadata`: BuildMetadata fields, DockerInfo, then CustomMetadata's keys."""
    md = expected["Metadata"]
    out = dict(md["BuildMetadata"])
    out["DockerInfo"] = md["DockerInfo"]
    if isinstance(md["CustomMetadata"], dict):
        out.update(md["CustomMetadata"])
    return out


def check_describe(doc: dict[str, Any], vec: Vector) -> None:
    exp = vec.expected
    assert doc["EifVersion"] == exp["Header"]["version"]
    assert doc["Measurements"] == exp["Measurements"]
    assert doc["Measurements"]["HashAlgorithm"] == HASH_ALGORITHM
    assert doc["IsSigned"] is exp["IsSigned"]
    assert doc["CheckCRC"] is exp["CrcCheck"]
    if exp["IsSigned"]:
        assert doc["SignatureCheck"] is exp["SignatureCheck"]
        assert doc["SigningCertificate"] == exp["SigningCertificate"]
    else:
        assert "SignatureCheck" not in doc and "SigningCertificate" not in doc
    assert doc["ImageName"] == exp["Metadata"]["ImageName"]
    assert doc["ImageVersion"] == exp["Metadata"]["ImageVersion"]
    assert doc["Metadata"] == flattened_metadata(exp)
    assert list(doc["Metadata"])[:6] == [
        "BuildTime", "BuildTool", "BuildToolVersion", "OperatingSystem", "KernelVersion",
        "DockerInfo"]
    extra = doc["eifdiff"]
    assert extra["StoredCRC"] == exp["Header"]["eif_crc32"]
    assert extra["ComputedCRC"] == exp["Header"]["computed_crc32"]
    assert extra["FileSize"] == vec.entry["size"]
    assert extra["Architecture"] == ("aarch64" if exp["Header"]["flags"] & 1 else "x86_64")
    assert [(s["index"], s["type"], s["offset"], s["size"], s["flags"])
            for s in extra["Sections"]] == [
        (s["index"], s["type"], s["offset"], s["section_size"], s["flags"])
        for s in exp["Sections"]]
    assert extra["Anomalies"] == [] and extra["TrailingBytes"] == 0


def test_describe_json_api(vec: Vector) -> None:
    doc = describe_json(open_image(vec.eif))
    check_describe(doc, vec)
    assert list(doc)[:3] == ["EifVersion", "Measurements", "IsSigned"]
    assert json.loads(json.dumps(doc)) == doc


def test_describe_json_cli(vec: Vector, vector_cli: CliBatch) -> None:
    proc = vector_cli.result(f"describe-{vec.name}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    check_describe(json.loads(proc.stdout), vec)


def test_custom_metadata_flattened(vectors_dir: Path) -> None:
    doc = describe_json(open_image(vectors_dir / "eif" / "05-custom-metadata.eif"))
    assert doc["Metadata"]["team"] == "platform"
    assert doc["Metadata"]["git"] == {"commit": "0123abcd", "dirty": False}
    assert "CustomMetadata" not in doc["Metadata"]


def test_describe_text(vectors_dir: Path) -> None:
    img = open_image(vectors_dir / "eif" / "04-signed.eif")
    text = describe_text(img)
    for name, value in img.pcrs.items():
        assert f"{name}  {value}" in text
    assert "CRC-32 ok" in text
    assert "signature verifies, payload matches PCR0" in text
    assert "commonName=eifdiff-test-signer" in text
    assert "ramdisk[1]" in text and "feeds PCR0,PCR2" in text
    assert "4.14.256-209.484.amzn2.x86_64 (mockbuild@build-a)" in text


def test_describe_text_damaged(tmp_path: Path) -> None:
    data = bytearray(tiny_eif())
    data[560] ^= 1  # kernel byte: CRC mismatch
    path = tmp_path / "bad.eif"
    path.write_bytes(bytes(data) + b"xx")
    img = open_image(path)
    text = describe_text(img)
    assert "CRC-32 MISMATCH (stored 0xb9023b92" in text
    assert "anomaly: eif at offset 881: 2 bytes after the last section" in text
    assert "no version string found" in text
    block = eifdiff_block(img)
    assert block["TrailingBytes"] == 2 and block["StoredCRC"] == "0xb9023b92"
    assert block["KernelVersion"] is None and block["KernelFormat"] == "unknown"
    assert describe_json(img)["CheckCRC"] is False


def test_pcr_inputs_block(vectors_dir: Path) -> None:
    block = eifdiff_block(open_image(vectors_dir / "eif" / "06-three-ramdisks.eif"))
    assert block["PcrInputs"] == {
        "PCR0": ["kernel", "cmdline", "ramdisk[0]", "ramdisk[1]", "ramdisk[2]"],
        "PCR1": ["kernel", "cmdline", "ramdisk[0]"],
        "PCR2": ["ramdisk[1]", "ramdisk[2]"],
    }
    assert block["Sections"][3]["name"] == "ramdisk[0]"
    assert block["Sections"][3]["data_offset"] == block["Sections"][3]["offset"] + 12
