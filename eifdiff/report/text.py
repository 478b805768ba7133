"""The terminal report: verdict and PCR table first, then counts, then the top divergences."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from eifdiff.escape import terminal
from eifdiff.records import Divergence
from eifdiff.report.model import Report, ReportWarning, RootCause

TOP = 40
DEEP_LINES = 40


def _cut(v: object, width: int) -> str:
    s = "-" if v is None else str(v)
    return s if len(s) <= width else s[: width - 1] + "…"


def by_package(report: Report) -> list[tuple[str, int, Counter[str], str]]:
    """Cause rows grouped by owning package: (package, rows, categories, example path), largest
    group first; rows no package owns come last as "(no package)"."""
    groups: dict[str, list[Divergence]] = {}
    for d in report.causes:
        if d.layer in ("cpio-entry", "elf"):
            groups.setdefault(d.package or "(no package)", []).append(d)
    out = [(k, len(v), Counter(d.category for d in v), v[0].path) for k, v in groups.items()]
    return sorted(out, key=lambda g: (g[0] == "(no package)", -g[1], g[0]))


def warning_lines(report: Report) -> list[str]:
    return [warning_line(w) for w in report.warnings]


def warning_line(w: ReportWarning) -> str:
    side = f"{w.side}: " if w.side else ""
    if w.kind == "known-bad":
        return (f"WARNING: {side}{w.ecosystem} {w.name} {w.version} in {w.ramdisk} "
                f"({w.advisory}): {w.message}")
    return f"WARNING: {side}{w.message}"


def package_lines(report: Report) -> list[str]:
    """Package changes, then the divergent files grouped by package (when packages changed)."""
    if not report.package_changes:
        return []
    lines = ["", f"package changes ({len(report.package_changes)}):"]
    for c in report.package_changes:
        lines.append(f"  {c.ramdisk} {c.ecosystem} {c.name}: {c.a or '(absent)'} -> "
                     f"{c.b or '(absent)'}")
    groups = by_package(report)
    if groups:
        lines += ["", "divergent files by package:"]
        for pkg, n, cats, example in groups:
            kinds = ", ".join(f"{k} {v}" for k, v in cats.most_common())
            lines.append(f"  {pkg}: {n} rows ({kinds}), e.g. {example}")
    return lines


def rank(divergences: Iterable[Divergence]) -> list[Divergence]:
    """Causes first; among them the rarest kind (category and field) first, so a handful of
    content rows is not buried under thousands of mtime rows; then those moving more PCRs;
    then in report order."""
    rows = list(divergences)
    kinds = Counter((d.category, d.field) for d in rows)
    return sorted(rows, key=lambda d: (not d.is_cause, kinds[(d.category, d.field)],
                                       -len(d.pcrs)))


def plural(n: int, word: str) -> str:
    """`1 row`, `2,000 rows`."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def headline(report: Report) -> str:
    """`different: 5 root causes (22,645 rows: 1,003 cause rows, 21,642 derived), 0 anomalies`"""
    s = report.summary()
    if report.verdict == "identical":
        return "identical: the same bytes"
    n = s["root_causes"]
    return (f"{report.verdict}: {n:,} root cause{'s' if n != 1 else ''} "
            f"({s['divergences']:,} rows: {s['causes']:,} cause rows, "
            f"{s['divergences'] - s['causes']:,} derived), {s['anomalies']:,} anomalies")


def fix_text(r: RootCause) -> str:
    """How to remove a root cause: the normalization that shows it, and the build change."""
    norm = f"`eifdiff normalize --fix {r.fix}` shows the effect; " if r.fix else ""
    return f"{norm}in the build: {r.build_fix}"


def root_cause_lines(report: Report) -> list[str]:
    lines = []
    for r in report.root_causes:
        pcrs = ",".join(r.pcrs) or "no PCR"
        more = f", {r.derived:,} derived" if r.derived else ""
        lines += [f"  {r.id:<4} [{pcrs}] {r.title}",
                  f"       {plural(r.count, 'row')}{more}; evidence: {r.evidence}",
                  f"       fix: {fix_text(r)}"]
        if r.examples and r.kind not in ("added", "removed", "order"):
            lines.append("       e.g. " + ", ".join(r.examples[:3]))
    return lines


def report_text(report: Report, *, top: int = TOP) -> str:
    s = report.summary()
    lines = [f"verdict: {headline(report)}", *warning_lines(report), ""]
    if report.root_causes:
        lines += ["root causes:", *root_cause_lines(report), ""]
    lines.append(f"  a: {report.a.path}  ({report.a.size} bytes, sha256 {report.a.sha256[:16]}…)")
    lines.append(f"  b: {report.b.path}  ({report.b.size} bytes, sha256 {report.b.sha256[:16]}…)")
    lines.append("")
    lines.append(f"  {'PCR':<5} {'equal':<6} {'a':<24} {'b':<24} measures")
    for name, eq in report.pcr_equal.items():
        a, b = report.a.pcrs.get(name, "-"), report.b.pcrs.get(name, "-")
        feeds = ", ".join(report.a.pcr_inputs.get(name, ())) or "(nothing)"
        lines.append(f"  {name:<5} {'yes' if eq else 'NO':<6} {_cut(a, 24):<24} {_cut(b, 24):<24}"
                     f" {feeds}")
    if s["by_category"]:
        lines.append("")
        lines.append("rows by category: " + ", ".join(f"{k} {v}"
                                                      for k, v in s["by_category"].items()))
    ranked = rank(report.divergences)
    if ranked:
        lines.append("")
        lines.append(f"rows, rarest kind first ({min(top, len(ranked))} of {len(ranked)}):")
        for d in ranked[:top]:
            pcrs = ",".join(d.pcrs) or "no PCR"
            owner = f"  [{d.package}]" if d.package else ""
            why = f" {d.root_cause}" if d.root_cause else (f" ← {d.because}" if d.because else "")
            lines.append(f"  [{d.category}{why}] {d.path}  {d.field}: {_cut(d.shown_a, 40)} -> "
                         f"{_cut(d.shown_b, 40)}  ({pcrs}){owner}")
    lines += package_lines(report)
    if report.remedies:
        lines.append("")
        lines += remedy_lines(report)
    elif report.remedies_note:
        lines += ["", f"what would fix it: {report.remedies_note}"]
    for x in report.anomalies:
        lines.append(f"anomaly: {x}")
    for path, text in list(report.deep.items())[:5]:
        lines.append("")
        lines.append(f"diffoscope {path}:")
        body = text.splitlines()
        lines += ["  " + t for t in body[:DEEP_LINES]]
        if len(body) > DEEP_LINES:
            lines.append(f"  … {len(body) - DEEP_LINES} more lines (see --json)")
    return "\n".join(terminal(line) for line in lines)  # a name cannot break or forge a line


def remedy_lines(report: Report) -> list[str]:
    """What each normalization would do to the PCRs (`eifdiff normalize --fix NAME`)."""
    lines = ["what would fix it (eifdiff normalize --fix NAME, on both files):"]
    for r in report.remedies:
        unequal = [k for k, eq in r.pcr_equal_after.items() if not eq]
        verdict = ("fixes: every PCR equal" + (", files identical" if r.identical_after else "")
                   if r.fixes else f"still differ: {', '.join(unequal)}")
        label = {"single": "", "smallest": " (smallest combination)", "all": " (all together)"}
        if r.kind == "none":
            lines.append(f"  no normalization applies; PCRs differ: {', '.join(unequal)}")
        else:
            lines.append(f"  --fix {r.name}{label[r.kind]}: {verdict}")
        if r.note and r.kind != "none":
            lines.append(f"      note: {r.note}")
        for left in r.remaining:
            lines.append(f"      remains: {left.category} ({left.count}, e.g. "
                         f"{left.example}): {left.hint}")
    return lines
