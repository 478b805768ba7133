"""The report model: typed records for everything a report shows, and its JSON form.

Every presenter (text, Markdown, HTML, pandas frames, figures) reads a `Report` and nothing else,
so a report saved as JSON (`eifdiff a b --json > r.json`) opens again with `load_report` and
gives the same tables and figures without the EIF files.

JSON schema `eifdiff/2` (see the README): text is always valid Unicode. A CPIO name that is not
valid UTF-8 is written with each undecodable byte as U+FFFD in `entry` and, exactly, as hex in
`entry_hex`; any other text replaces such bytes with U+FFFD.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from eifdiff.errors import Anomaly, EifdiffError
from eifdiff.escape import json_dumps
from eifdiff.packages.model import PackageChange
from eifdiff.records import Divergence
from eifdiff.rules import CATEGORIES, LAYERS

SCHEMA = "eifdiff/2"
PCR_NAMES = ("PCR0", "PCR1", "PCR2", "PCR8")


@dataclass(frozen=True, slots=True)
class SectionSummary:
    name: str
    offset: int
    size: int


@dataclass(frozen=True)
class FileSummary:
    """One compared file: where it is, its digest, PCRs, sections and what feeds each PCR."""

    path: str
    size: int
    sha256: str
    pcrs: Mapping[str, str]
    arch: str
    sections: tuple[SectionSummary, ...]
    pcr_inputs: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Remaining:
    """Causes no normalization removes, by category, with an example and the usual fix."""

    category: str
    count: int
    example: str
    field: str
    hint: str


@dataclass(frozen=True)
class Remedy:
    """The PCRs both images would have after a normalization, and whether they then match.

    `kind`: `single`, `smallest` (smallest fixing combination), `all`, or `none` (nothing
    applies)."""

    name: str
    kind: str
    pcrs_after: Mapping[str, Mapping[str, str]]
    pcr_equal_after: Mapping[str, bool]
    fixes: bool
    identical_after: bool
    remaining: tuple[Remaining, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class ReportWarning:
    """Something in one image that needs attention whatever the comparison says (a known-bad
    package version, an inconsistent image)."""

    kind: str
    side: str | None
    message: str
    ecosystem: str | None = None
    name: str | None = None
    version: str | None = None
    advisory: str | None = None
    ramdisk: str | None = None


@dataclass(frozen=True)
class RootCause:
    """One explanation behind a group of rows: what happened (`title`), the numbers behind it
    (`evidence`, and structured `facts`), how many rows and entries it explains (`count` cause
    rows, `derived` rows that follow from it), where (`examples`), which PCRs it moves, and its
    fix: a normalization name (`fix`, empty when none removes it) and the build change."""

    id: str
    kind: str
    category: str
    title: str
    evidence: str
    count: int
    entries: int
    derived: int
    examples: tuple[str, ...]
    pcrs: tuple[str, ...]
    hint: str
    fix: str
    build_fix: str
    facts: Mapping[str, int | str] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """Everything a report shows; all report formats and notebook views read only this."""

    a: FileSummary
    b: FileSummary
    verdict: str
    pcr_equal: Mapping[str, bool]
    divergences: tuple[Divergence, ...]
    anomalies: tuple[Anomaly, ...]
    deep: Mapping[str, str] = field(default_factory=dict)
    remedies: tuple[Remedy, ...] = ()
    remedies_note: str = ""
    package_changes: tuple[PackageChange, ...] = ()
    warnings: tuple[ReportWarning, ...] = ()
    root_causes: tuple[RootCause, ...] = ()

    @property
    def causes(self) -> tuple[Divergence, ...]:
        return tuple(d for d in self.divergences if d.is_cause)

    def summary(self) -> dict[str, Any]:
        by_cat = Counter(d.category for d in self.divergences)
        by_layer = Counter(d.layer for d in self.divergences)
        by_pcr = Counter(p for d in self.divergences if d.is_cause for p in d.pcrs)
        causes = sum(n for c, n in by_cat.items() if c != "derived")
        return {
            "root_causes": len(self.root_causes),
            "divergences": len(self.divergences),
            "causes": causes,
            "by_category": {c: by_cat[c] for c in CATEGORIES if by_cat[c]},
            "by_layer": {x: by_layer[x] for x in LAYERS if by_layer[x]},
            "causes_by_pcr": {p: by_pcr[p] for p in PCR_NAMES if by_pcr[p]},
            "anomalies": len(self.anomalies),
            "package_changes": len(self.package_changes),
            "warnings": len(self.warnings),
        }


# --- JSON ------------------------------------------------------------------------------------

def _text(s: str) -> str:
    """Valid Unicode: surrogates (undecodable bytes kept by surrogateescape) become U+FFFD."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in s)


def _value(v: object) -> object:
    return _text(v) if isinstance(v, str) else v


def _name(d: dict[str, Any], key: str, name: str | None) -> None:
    """`key` (readable) and, for a name that is not valid UTF-8, `key_hex` (exact)."""
    d[key] = None if name is None else _text(name)
    if name is not None and d[key] != name:
        d[f"{key}_hex"] = name.encode("utf-8", "surrogateescape").hex()


def _unname(d: Mapping[str, Any], key: str) -> str | None:
    if f"{key}_hex" in d:
        return bytes.fromhex(d[f"{key}_hex"]).decode("utf-8", "surrogateescape")
    return d.get(key)


def divergence_doc(x: Divergence) -> dict[str, Any]:
    d: dict[str, Any] = {"section": x.section}
    _name(d, "entry", x.entry)
    d.update(occurrence=x.occurrence, part=_value(x.part), path=_text(x.path), layer=x.layer,
             field=x.field, a=_value(x.a), b=_value(x.b), category=x.category,
             pcrs=list(x.pcrs), stream_a=x.stream_a, offset_a=x.offset_a, stream_b=x.stream_b,
             offset_b=x.offset_b, length=x.length, hint=_text(x.hint), package=x.package,
             root_cause=x.root_cause, because=x.because)
    return d


def anomaly_doc(x: Anomaly) -> dict[str, Any]:
    d: dict[str, Any] = {"side": x.side, "section": x.section}
    _name(d, "entry", x.entry)
    d.update(occurrence=x.occurrence, part=_value(x.part), path=_text(x.path),
             stream=x.stream, offset=x.offset, message=_text(x.message))
    return d


def _side_doc(f: FileSummary) -> dict[str, Any]:
    return {
        "path": _text(f.path), "size": f.size, "sha256": f.sha256, "pcrs": dict(f.pcrs),
        "arch": f.arch,
        "sections": [{"name": s.name, "offset": s.offset, "size": s.size} for s in f.sections],
        "pcr_inputs": {k: list(v) for k, v in f.pcr_inputs.items()},
    }


def _remedy_doc(r: Remedy) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": r.name, "kind": r.kind, "pcrs_after": {k: dict(v) for k, v in r.pcrs_after.items()},
        "pcr_equal_after": dict(r.pcr_equal_after), "fixes": r.fixes,
        "identical_after": r.identical_after,
    }
    if r.remaining:
        out["remaining"] = [{"category": x.category, "count": x.count,
                             "example": _text(x.example), "field": x.field,
                             "hint": _text(x.hint)} for x in r.remaining]
    if r.note:
        out["note"] = r.note
    return out


def _warning_doc(w: ReportWarning) -> dict[str, Any]:
    return {k: _value(getattr(w, k)) for k in ReportWarning.__slots__}


def root_cause_doc(r: RootCause) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "category": r.category, "title": _text(r.title),
            "evidence": _text(r.evidence), "count": r.count, "entries": r.entries,
            "derived": r.derived, "examples": [_text(x) for x in r.examples],
            "pcrs": list(r.pcrs), "hint": _text(r.hint), "fix": r.fix,
            "build_fix": _text(r.build_fix), "facts": {k: _value(v) for k, v in r.facts.items()}}


def report_doc(report: Report) -> dict[str, Any]:
    """The JSON document of a report (schema `eifdiff/2`)."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "a": _side_doc(report.a),
        "b": _side_doc(report.b),
        "verdict": report.verdict,
        "pcr_equal": dict(report.pcr_equal),
        "summary": report.summary(),
        "root_causes": [root_cause_doc(r) for r in report.root_causes],
        "divergences": [divergence_doc(d) for d in report.divergences],
        "anomalies": [anomaly_doc(x) for x in report.anomalies],
        "package_changes": [c.to_dict() for c in report.package_changes],
        "warnings": [_warning_doc(w) for w in report.warnings],
        "remedies": [_remedy_doc(r) for r in report.remedies],
    }
    if report.remedies_note:
        doc["remedies_note"] = report.remedies_note
    if report.deep:
        doc["deep"] = {_text(k): _text(v) for k, v in report.deep.items()}
    return doc


def write_json(report: Report, out: IO[str]) -> None:
    """The JSON report, written as it is made: one divergence per line."""
    doc = report_doc(report)
    rows = doc.pop("divergences")
    head = json_dumps(doc, indent=1)
    out.write(head[:-2] + ',\n "divergences": [')
    for i, row in enumerate(rows):
        out.write(("\n  " if i == 0 else ",\n  ")
                  + json_dumps(row, indent=None))
    out.write("\n ]\n}\n")


# --- reading a saved report back ---------------------------------------------------------------

def _divergence(d: Mapping[str, Any]) -> Divergence:
    return Divergence(
        section=d["section"], layer=d["layer"], field=d["field"], a=d["a"], b=d["b"],
        category=d["category"], pcrs=tuple(d["pcrs"]), hint=d["hint"], entry=_unname(d, "entry"),
        occurrence=d["occurrence"], part=d["part"], stream_a=d["stream_a"],
        stream_b=d["stream_b"], offset_a=d["offset_a"], offset_b=d["offset_b"],
        length=d["length"], package=d["package"], root_cause=d["root_cause"],
        because=d["because"])


def _anomaly(d: Mapping[str, Any]) -> Anomaly:
    return Anomaly(section=d["section"], message=d["message"], offset=d["offset"],
                   stream=d["stream"], entry=_unname(d, "entry"), occurrence=d["occurrence"],
                   part=d["part"], side=d["side"])


def _side(d: Mapping[str, Any]) -> FileSummary:
    return FileSummary(
        path=d["path"], size=d["size"], sha256=d["sha256"], pcrs=d["pcrs"], arch=d["arch"],
        sections=tuple(SectionSummary(s["name"], s["offset"], s["size"]) for s in d["sections"]),
        pcr_inputs={k: tuple(v) for k, v in d["pcr_inputs"].items()})


def _remedy(d: Mapping[str, Any]) -> Remedy:
    return Remedy(
        name=d["name"], kind=d["kind"], pcrs_after=d["pcrs_after"],
        pcr_equal_after=d["pcr_equal_after"], fixes=d["fixes"],
        identical_after=d["identical_after"],
        remaining=tuple(Remaining(**x) for x in d.get("remaining", ())), note=d.get("note", ""))


def report_from_doc(doc: Mapping[str, Any], source: str = "report") -> Report:
    """A `Report` from its JSON document; a document of another schema or shape is refused."""
    if not isinstance(doc, Mapping) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, Mapping) else type(doc).__name__
        raise EifdiffError(f"{source}: not an eifdiff report of schema {SCHEMA} "
                           f"(found {found!r})")
    try:
        return Report(
            a=_side(doc["a"]), b=_side(doc["b"]), verdict=doc["verdict"],
            pcr_equal=doc["pcr_equal"],
            divergences=tuple(_divergence(d) for d in doc["divergences"]),
            anomalies=tuple(_anomaly(x) for x in doc["anomalies"]),
            deep=doc.get("deep", {}), remedies=tuple(_remedy(r) for r in doc["remedies"]),
            remedies_note=doc.get("remedies_note", ""),
            package_changes=tuple(PackageChange(c["ecosystem"], c["name"], c["a"], c["b"],
                                                c["ramdisk"]) for c in doc["package_changes"]),
            warnings=tuple(ReportWarning(**w) for w in doc["warnings"]),
            root_causes=tuple(RootCause(**{**r, "examples": tuple(r["examples"]),
                                           "pcrs": tuple(r["pcrs"])})
                              for r in doc["root_causes"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EifdiffError(f"{source}: damaged eifdiff report ({type(exc).__name__}: "
                           f"{exc})") from None


def load_report(path: str | Path) -> Report:
    """Read a JSON report saved by `eifdiff A B --json` back into a `Report`."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EifdiffError(f"{path}: cannot read the report ({exc})") from None
    return report_from_doc(doc, str(path))


def sections_of(summaries: Iterable[SectionSummary]) -> list[dict[str, Any]]:
    return [{"name": s.name, "offset": s.offset, "size": s.size} for s in summaries]
