"""The notebook views of an outcome: DataFrames."""

from __future__ import annotations

from pathlib import Path

from eifdiff.attest import attest, load_root
from eifdiff.attest.frames import PCR_COLUMNS, chain, fields, pcrs
from eifdiff.image import open_image
from tests.attest.chain import DEBUG, SAMPLES, sample_document, shared, write_root


def _outcome(tmp_path: Path, side: str):
    doc = tmp_path / "doc.cbor"
    doc.write_bytes(sample_document("cpio-mtime", "a", module_id="i-\x1bx"))
    return attest(doc, SAMPLES / "cpio-mtime" / f"{side}.eif", load_root(write_root(tmp_path)))


def test_pcr_frame_beside_the_image(tmp_path: Path) -> None:
    df = pcrs(_outcome(tmp_path, "b"))
    assert list(df.columns) == PCR_COLUMNS
    assert list(df["pcr"]) == ["PCR0", "PCR1", "PCR2", "PCR8", "PCR3", "PCR4"]
    assert list(df["equal"]) == [False, True, False, True, None, None]
    image = open_image(SAMPLES / "cpio-mtime" / "b.eif").pcrs
    assert df.loc[2, "image"] == image["PCR2"] and df.loc[2, "sections"] == "ramdisk[1]"
    assert df.loc[2, "meaning"].startswith("the application ramdisk differs")


def test_pcr_frame_without_image() -> None:
    o = attest(shared(DEBUG))
    df = pcrs(o)
    assert list(df["pcr"]) == ["PCR0", "PCR1", "PCR2", "PCR3", "PCR4", "PCR8"]
    assert list(df["meaning"]) == ["zero", "zero", "zero", "zero", "", "zero"]
    assert len(pcrs(o, all_pcrs=True)) == 16


def test_chain_and_fields(tmp_path: Path) -> None:
    o = _outcome(tmp_path, "a")
    c = chain(o)
    assert list(c["role"]) == ["root", "intermediate", "leaf"]
    assert c["valid_at_document_time"].all()
    f = dict(zip(fields(o)["field"], fields(o)["value"], strict=True))
    assert f["verdict"] == "match" and f["verified"] is True and f["module id"] == "i-\\x1bx"
    assert f["summary"].startswith("PCR0 equal: same image")
