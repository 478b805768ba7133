"""Golden reports for the sample pairs, and each pair's causes as samples/README.md documents them.

The stable part of each pair's JSON report (verdict, PCR equality, summary, the divergences with
path, layer, field, values, category, PCRs and offsets, both files' sizes, digests, PCRs and
sections, the anomalies; not the file paths, not the hint wording) is kept in
tests/golden/<pair>.json. Regenerate after an intended change with

    EIFDIFF_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

and review the diff of tests/golden/.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from eifdiff.compare import compare_files
from eifdiff.report import model

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = os.environ.get("EIFDIFF_REGEN_GOLDEN") == "1"
PAIRS = sorted(p.name for p in SAMPLES.iterdir() if (p / "a.eif").is_file())
ROW_KEYS = ("section", "entry", "occurrence", "part", "path", "layer", "field", "a", "b",
            "category", "pcrs", "stream_a", "offset_a", "stream_b", "offset_b", "length")

# What each pair shows, as scripts/make_samples.py wrote it beside the samples.
EXPECTED = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
DOCUMENTED_CAUSES = {pair: set(e["causes"]) for pair, e in EXPECTED.items()}
DIFFERING_PCRS = {pair: {k for k, eq in e["pcr_equal"].items() if not eq}
                  for pair, e in EXPECTED.items()}
# Which cause rows each documented story must produce: (path, field, category).
KEY_ROWS: dict[str, set[tuple[str, str, str]]] = {
    "build-time": {("metadata:BuildTime", "build time", "timestamp")},
    "cpio-mtime": {(f"ramdisk[1]:{n}", "mtime", "timestamp") for n in (
        "rootfs/bin/app", "rootfs/usr/lib/app", "rootfs/usr/lib/app/__pycache__",
        "rootfs/usr/lib/app/__pycache__/greeting.cpython-311.pyc",
        "rootfs/usr/lib/app/config.json", "rootfs/usr/lib/app/greeting.py")},
    "elf-build-path": {("ramdisk[1]:rootfs/bin/app:DW_AT_comp_dir", "comp_dir", "build-path")},
    "signature": {("signature", "certificate", "signature")},
    "kernel-host": {("kernel", "build host", "build-host"),
                    ("kernel", "build date", "timestamp")},
    "gzip-header": {("ramdisk[1]:gzip", "gzip mtime", "timestamp"),
                    ("ramdisk[1]:gzip", "gzip name", "build-path")},
}


def _scrub(v: Any, pair: str) -> Any:
    """`v` with the samples' location replaced, so goldens do not depend on the checkout."""
    if isinstance(v, str):
        for root in (str(SAMPLES / pair), f"samples/{pair}"):
            v = v.replace(root, f"<{pair}>")
        return v
    if isinstance(v, list):
        return [_scrub(x, pair) for x in v]
    if isinstance(v, dict):
        return {k: _scrub(x, pair) for k, x in v.items()}
    return v


def stable_part(doc: dict[str, Any], pair: str) -> dict[str, Any]:
    """The location-independent, hint-independent part of a JSON report."""
    out = {
        "schema": doc["schema"],
        "a": {k: v for k, v in doc["a"].items() if k != "path"},
        "b": {k: v for k, v in doc["b"].items() if k != "path"},
        "verdict": doc["verdict"],
        "pcr_equal": doc["pcr_equal"],
        "summary": doc["summary"],
        "divergences": [{k: d[k] for k in ROW_KEYS} for d in doc["divergences"]],
        "anomalies": doc["anomalies"],
    }
    return _scrub(out, pair)


@functools.cache
def report_doc(pair: str) -> dict[str, Any]:
    report = compare_files(SAMPLES / pair / "a.eif", SAMPLES / pair / "b.eif")
    return model.report_doc(report)


def golden_path(pair: str) -> Path:
    return GOLDEN / f"{pair}.json"


def test_pairs_and_expectations_agree() -> None:
    assert PAIRS, f"no sample pairs in {SAMPLES}"
    assert set(PAIRS) == set(DOCUMENTED_CAUSES) == set(DIFFERING_PCRS)
    if not REGEN:
        assert sorted(p.stem for p in GOLDEN.glob("*.json")) == PAIRS, \
            "tests/golden/ and samples/ hold different pairs (EIFDIFF_REGEN_GOLDEN=1 rewrites)"


@pytest.mark.parametrize("pair", PAIRS)
def test_golden_report(pair: str) -> None:
    got = stable_part(report_doc(pair), pair)
    path = golden_path(pair)
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.is_file(), f"{path} is missing; run with EIFDIFF_REGEN_GOLDEN=1 to write it"
    want = json.loads(path.read_text(encoding="utf-8"))
    assert got == want, f"the report of samples/{pair} changed (EIFDIFF_REGEN_GOLDEN=1 rewrites)"


@pytest.mark.parametrize("pair", PAIRS)
def test_golden_is_location_independent(pair: str) -> None:
    text = golden_path(pair).read_text(encoding="utf-8")
    assert str(ROOT) not in text and "samples/" not in text and '"path": "/' not in text


@pytest.mark.parametrize("pair", PAIRS)
def test_documented_causes(pair: str) -> None:
    doc = report_doc(pair)
    rows = doc["divergences"]
    cause_rows = [d for d in rows if d["category"] != "derived"]
    assert {d["category"] for d in cause_rows} == DOCUMENTED_CAUSES[pair]
    differing = {p for p, eq in doc["pcr_equal"].items() if not eq}
    assert differing == DIFFERING_PCRS[pair]
    # the cause rows name exactly the PCRs that moved, and every row a hint
    assert {p for d in cause_rows for p in d["pcrs"]} == differing
    for d in rows:
        assert set(d["pcrs"]) <= differing, d
        assert d["hint"].strip(), d
    got = {(d["path"], d["field"], d["category"]) for d in cause_rows}
    assert KEY_ROWS.get(pair, set()) <= got
    assert doc["summary"]["causes"] == len(cause_rows)
    assert not doc["anomalies"]
    if pair == "identical":
        assert doc["verdict"] == "identical" and not rows
    elif not differing:
        assert doc["verdict"] == "pcr-equivalent"
    else:
        assert doc["verdict"] == "different"


def test_cpio_order_inode_rows_follow_the_order() -> None:
    """18 of 20 members get another inode number (`cmd` keeps 0, `rootfs/sys` keeps 10): both
    archives number inodes densely in archive order, so these rows are derived from the order's
    root cause, and the fix for it is order and inode together."""
    doc = report_doc("cpio-order")
    rows = [d for d in doc["divergences"] if d["field"] == "ino"]
    assert len(rows) == 18 and {d["category"] for d in rows} == {"derived"}
    (order,) = doc["root_causes"]
    assert order["kind"] == "order" and {d["because"] for d in rows} == {order["id"]}
    assert order["derived"] == 18 and order["fix"] == "order,inode"
    paths = {d["path"] for d in rows}
    assert "ramdisk[1]:cmd" not in paths and "ramdisk[1]:rootfs/sys" not in paths


def test_cpio_inode_rows_from_the_build_filesystem_stay_a_cause() -> None:
    doc = report_doc("cpio-inode")
    assert [r["kind"] for r in doc["root_causes"]] == ["inode"]
    assert {d["category"] for d in doc["divergences"] if d["field"] == "ino"} == {"inode"}


def test_cpio_inode_rows() -> None:
    rows = [d for d in report_doc("cpio-inode")["divergences"] if d["category"] == "inode"]
    assert {d["field"] for d in rows} == {"ino", "devmajor", "devminor"}
    assert len(rows) == 60  # 20 members, three fields each
