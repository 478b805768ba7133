"""The JSON report, schema `eifdiff/1` (documented in the README)."""

from __future__ import annotations

from typing import Any

from eifdiff.compare import SCHEMA, FileSummary, Report


def _side(f: FileSummary) -> dict[str, Any]:
    return {
        "path": f.path, "size": f.size, "sha256": f.sha256, "pcrs": f.pcrs, "arch": f.arch,
        "sections": list(f.sections),
        "pcr_inputs": {k: list(v) for k, v in f.pcr_inputs.items()},
    }


def report_json(report: Report) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "a": _side(report.a),
        "b": _side(report.b),
        "verdict": report.verdict,
        "pcr_equal": report.pcr_equal,
        "summary": report.summary(),
        "divergences": [d.to_dict() for d in report.divergences],
        "anomalies": [{"path": x.path, "offset": x.offset, "message": x.message}
                      for x in report.anomalies],
    }
    doc["package_changes"] = [c.to_dict() for c in report.package_changes]
    doc["warnings"] = list(report.warnings)
    doc["remedies"] = [r.to_dict() for r in report.remedies]
    if report.remedies_note:
        doc["remedies_note"] = report.remedies_note
    if report.deep:
        doc["deep"] = report.deep
    return doc
