"""Root causes: the few explanations behind the rows, each with its evidence and its fix.

Two steps over the differ's rows. First, rows that follow from another change become `derived`
and say which root cause they follow from (`because`): inode numbers of archives numbered
densely in archive order (they move only because entries were added, removed or moved), a
directory's link count that changed with its subdirectories, a file's size and checksum after
its content. Then every cause row joins one root cause, grouped as an expert would: one build
clock offset or one clamp value for all mtimes, entries added or removed under one directory,
one owner or mode pattern, logs and caches, one pair of build directories across ELF files, one
package version change, and so on.
"""

from __future__ import annotations

import posixpath
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from eifdiff import rules as R
from eifdiff.diff.ramdisk import RamdiskFacts
from eifdiff.packages.model import PackageChange
from eifdiff.records import Divergence
from eifdiff.report.model import RootCause
from eifdiff.rules import rule

EXAMPLES = 5
# rows whose values are the two build directories (a file's other build-path rows join them)
BUILD_DIRECTORY_FIELDS = (R.COMP_DIR, R.RUST_COMP_DIR, R.GO_BUILD_PATH, R.RUST_BUILD_PATH,
                          R.PYC_COMPILED_IN, R.FILE_BUILD_PATH)
Bucket = tuple[str, ...]

_CLOCK_FIX = ("clamp every mtime before archiving: set SOURCE_DATE_EPOCH and run "
              "`find . -exec touch -h -d @$SOURCE_DATE_EPOCH {} +` (or BuildKit's "
              "`rewrite-timestamp=true`)")
_KIND = {  # kind -> (label, normalization, build change); the rows' hint says the rest
    "build-clock": ("Build clock", "mtime", _CLOCK_FIX),
    "clamp": ("Clamped mtimes on one side", "mtime", _CLOCK_FIX),
    "log": ("Build logs in the image", None,
            "delete /var/log/* (dpkg.log, alternatives.log, apt/) in the image build"),
    "cache": ("Caches in the image", None,
              "delete /var/cache/ldconfig/aux-cache in the image build"),
    "owner": ("Owners", "owner", "archive with GNU cpio `--owner=0:0`"),
    "mode": ("Permissions", "mode", "set `umask 022` and explicit modes before archiving"),
    "inode": ("Inode numbers from the build filesystem", "inode",
              "archive with GNU cpio `--reproducible`"),
    "order": ("Archive order", "order",
              "feed cpio a C-locale sorted list (`find . | LC_ALL=C sort | cpio -o -H newc`)"),
    "added": ("Entries only in b", None, "pin the package versions or build step that adds them"),
    "removed": ("Entries only in a", None,
                "pin the package versions or build step that drops them"),
    "package": ("Package version", None, "pin the package index or base image digest"),
    "build-path": ("Build directory", None,
                   "build in a fixed directory or map it away (`-ffile-prefix-map=$PWD=.`, Go "
                   "`-trimpath`, Rust `--remap-path-prefix`)"),
    "gzip-header": ("gzip header", "gzip", "compress with `gzip -n`"),
    "pyc-mtime": ("Python bytecode source mtimes", None,
                  "set SOURCE_DATE_EPOCH when compiling (checked hash-based .pyc)"),
    "build-time": ("EIF build time", "build-time", "pin `--build-time`"),
    "kernel": ("Another kernel", None,
               "pin the kernel package (or the nitro-cli blob set) so both builds boot the same "
               "kernel"),
    "kernel-build": ("Kernel build identity", None,
                     "set KBUILD_BUILD_USER, KBUILD_BUILD_HOST, KBUILD_BUILD_VERSION and "
                     "KBUILD_BUILD_TIMESTAMP, or use the same kernel blob"),
}


def _dir(name: str, depth: int = 3) -> str:
    """The entry's folder, cut to `depth` components (`rootfs/usr/lib`)."""
    parent = posixpath.dirname(name)
    return "/".join(parent.split("/")[:depth]) if parent else "."


def _under(folder: str) -> str:
    return "at the top level" if folder == "." else f"under {folder}/"


def _duration(seconds: float) -> str:
    s = abs(seconds)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} days"


def _date(t: int) -> str:
    try:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(t)


def _bucket(d: Divergence, changes: dict[tuple[str, str], PackageChange],
            paths: dict[tuple[str, str, int], tuple[str, str]]) -> Bucket:
    """The group a cause row belongs to."""
    f, sec = d.field, d.section
    if d.package is not None and (sec, d.package) in changes and d.category in (
            "content", "added", "removed"):
        return ("package", sec, d.package)
    if d.layer == R.CPIO and f == R.MTIME:
        return ("mtime", sec)
    if f == R.LOG or (f == R.TEXT_TIMES and "/var/log/" in f"/{d.entry}"):
        return ("log", sec)
    if f == R.AUX_CACHE:
        return ("cache", sec)
    if d.category in ("ownership", "permissions", "inode", "ordering"):
        kind = {"ownership": "owner", "permissions": "mode", "inode": "inode",
                "ordering": "order"}[d.category]
        return (kind, sec)
    if d.category in ("added", "removed") and d.entry is not None:
        return (d.category, sec, _dir(d.entry))
    key = (sec, d.entry or "", d.occurrence)
    if key in paths and d.category in ("build-path", "build-id"):
        return ("build-path", *paths[key])
    if f in (R.GZIP_MTIME, R.GZIP_NAME):
        return ("gzip-header", sec)
    if f == R.PYC_SOURCE_MTIME:
        return ("pyc-mtime", sec)
    if f == R.BUILD_TIME:
        return ("build-time",)
    if d.layer == R.KERNEL and d.category in ("build-host", "timestamp"):
        return ("kernel-build",)
    if sec == "kernel" and d.entry is None and d.category in ("content", "build-id"):
        return ("kernel",)  # another kernel: its release, its code and the build-id with them
    if d.category == "content" and d.entry is not None:
        return ("content", sec, _dir(d.entry))
    return (d.category, sec, d.field if d.category == "toolchain" else "")


def _structure(rows: Sequence[Divergence]) -> dict[str, Bucket]:
    """Per ramdisk, the bucket of the change that renumbers a densely numbered archive: entries
    added, removed, or moved (in that order of preference)."""
    out: dict[str, Bucket] = {}
    for category in ("ordering", "removed", "added"):
        for d in rows:
            if d.category == category and d.is_cause:
                kind = "order" if category == "ordering" else category
                out[d.section] = (kind, d.section) if kind == "order" else (
                    kind, d.section, _dir(d.entry or ""))
    return out


def find_root_causes(rows: Sequence[Divergence], facts: Iterable[RamdiskFacts],
                     changes: Iterable[PackageChange] = ()
                     ) -> tuple[tuple[Divergence, ...], tuple[RootCause, ...]]:
    """The rows with `root_cause` (cause rows) and `because` (derived rows) set, and the root
    causes, those that move a PCR first, then the rarest first."""
    by_change = {(c.ramdisk, c.name): c for c in changes}
    paths = {(d.section, d.entry or "", d.occurrence): (str(d.a), str(d.b))
             for d in rows if d.field in BUILD_DIRECTORY_FIELDS}
    dense = {f.section for f in facts if f.dense}
    nlink = {(f.section, *k) for f in facts for k in f.nlink_follows}
    structure = _structure(rows)
    buckets: dict[Bucket, list[int]] = {}
    follows: dict[int, Bucket] = {}  # derived row index -> the bucket it follows from
    for i, d in enumerate(rows):
        if not d.is_cause:
            continue
        renumbered = d.field == R.INO and d.section in dense
        linked = d.field == R.NLINK and (d.section, d.entry, d.occurrence) in nlink
        if (renumbered or linked) and d.section in structure:
            follows[i] = structure[d.section]
            continue
        buckets.setdefault(_bucket(d, by_change, paths), []).append(i)
    entry_bucket = {(rows[i].section, rows[i].entry, rows[i].occurrence): b
                    for b, idx in buckets.items() for i in idx if rows[i].entry is not None}
    for i, d in enumerate(rows):
        if not d.is_cause and i not in follows and d.entry is not None:
            b = entry_bucket.get((d.section, d.entry, d.occurrence))
            if b is not None:
                follows[i] = b
    made = [_root_cause(b, [rows[i] for i in idx],
                        sum(1 for j, fb in follows.items() if fb == b), by_change)
            for b, idx in buckets.items()]
    keys = list(buckets)
    order = sorted(range(len(made)), key=lambda k: (not made[k].pcrs, made[k].count,
                                                   made[k].kind))
    ids = {keys[k]: f"rc{n + 1}" for n, k in enumerate(order)}
    out = list(rows)
    for b, idx in buckets.items():
        for i in idx:
            out[i] = replace(rows[i], root_cause=ids[b])
    for i, b in follows.items():
        out[i] = replace(rows[i], category="derived", because=ids.get(b))
    causes = tuple(replace(made[k], id=ids[keys[k]]) for k in order)
    out.sort(key=lambda d: not d.is_cause)  # causes first, as the differ left them
    return tuple(out), causes


def _root_cause(bucket: Bucket, rows: list[Divergence], derived: int,
                changes: dict[tuple[str, str], PackageChange]) -> RootCause:
    kind = bucket[0]
    entries = list(dict.fromkeys(d.path if d.entry is None else
                                 f"{d.section}:{d.entry}" for d in rows))
    n = len(entries)
    pcrs = tuple(sorted({p for d in rows for p in d.pcrs}))
    categories = Counter(d.category for d in rows)
    category = categories.most_common(1)[0][0]
    first = rows[0]
    hint = first.hint
    facts: dict[str, int | str] = {}
    label, fix, build = _KIND.get(kind, (None, None, None))
    where = bucket[1] if len(bucket) > 1 else first.section
    if kind == "mtime":
        kind, title, evidence, facts = _clock(rows, where)
        label, fix, build = _KIND[kind]
    elif kind == "package":
        change = changes[(bucket[1], bucket[2])]
        title = f"{change.ecosystem} package {change.name}: {change.a or '(absent)'} → " \
                f"{change.b or '(absent)'}"
        evidence = f"{n:,} entries of the package differ ({_counts(categories)})"
        facts = {"package": change.name, "version_a": change.a or "", "version_b": change.b or ""}
    elif kind == "build-path":
        dir_a, dir_b = bucket[1], bucket[2]
        title = f"Built in {dir_a} in a and {dir_b} in b"
        evidence = (f"{n:,} file(s) record their build directory; every differing byte of "
                    f"their {_counts(categories)} rows follows from it")
        facts = {"dir_a": dir_a, "dir_b": dir_b}
    elif kind in ("added", "removed"):
        title = f"{n:,} {'entries' if n != 1 else 'entry'} {kind} {_under(bucket[2])} " \
                f"in {where}"
        evidence = ", ".join(entries[:EXAMPLES]) + (" …" if n > EXAMPLES else "")
    elif kind == "content":
        title = (f"{n:,} file{'s' if n != 1 else ''} with other content {_under(bucket[2])} "
                 f"in {where}")
        evidence = "; ".join(f"{d.path}: {d.field}, {d.shown_a} → {d.shown_b}"
                             for d in rows[:3]) + (" …" if len(rows) > 3 else "")
    elif kind in ("owner", "mode"):
        patterns = Counter((d.field, d.shown_a, d.shown_b) for d in rows)
        top = ", ".join(f"{f} {x} → {y} ({c:,})" for (f, x, y), c in patterns.most_common(3))
        title = f"{label}: {n:,} entries in {where}"
        evidence = top + (f" and {len(patterns) - 3} more patterns" if len(patterns) > 3 else "")
    elif kind == "order":
        title = f"{label} in {where}: {_short(first.shown_a, 80)}"
        evidence = f"{first.shown_b}" + (f"; {len(rows) - 1:,} hard-link groups keep their data "
                                          "on another name" if len(rows) > 1 else "")
    elif first.entry is None:
        title = f"{label or _title(first)} in {where}: " + "; ".join(
            f"{d.field} {_short(d.shown_a, 30)} → {_short(d.shown_b, 30)}" for d in rows[:2])
        evidence = f"{len(rows):,} row{'s' if len(rows) != 1 else ''} ({_counts(categories)})"
    else:
        title = f"{label or _title(first)}: {n:,} {'entries' if n != 1 else 'entry'} in {where}"
        evidence = f"{len(rows):,} row{'s' if len(rows) != 1 else ''} " \
            f"({_counts(categories)}), e.g. " + \
            "; ".join(f"{d.path} {d.field}: {_short(d.shown_a)} → {_short(d.shown_b)}"
                      for d in rows[:2])
    norm = fix if fix is not None else rule(first.layer, first.field).normalization
    if kind == "order" and derived:
        norm = "order,inode"  # re-archiving renumbers the inodes that followed the old order
    return RootCause(
        id="", kind=kind, category=category, title=title, evidence=evidence, count=len(rows),
        entries=n, derived=derived, examples=tuple(entries[:EXAMPLES]), pcrs=pcrs, hint=hint,
        fix=norm or "", build_fix=build or _first_sentence(hint), facts=facts)


def _clock(rows: list[Divergence], where: str) -> tuple[str, str, str, dict[str, int | str]]:
    """Kind, title, evidence and facts of a set of mtime rows: one side clamped, or a clock
    offset between the builds."""
    pairs = [(d.a, d.b) for d in rows if isinstance(d.a, int) and isinstance(d.b, int)]
    n = len(pairs)
    values_a, values_b = {a for a, _ in pairs}, {b for _, b in pairs}
    if n > 1 and len(values_a) == len(values_b) == 1:
        (va,), (vb,) = values_a, values_b
        return ("clamp", f"Both builds clamp mtimes, to different values ({n:,} entries, {where})",
                f"all {n:,} set to {va} ({_date(va)}) in a and to {vb} ({_date(vb)}) in b: the "
                "builds used another SOURCE_DATE_EPOCH", {"side": "both", "clamp_a": va,
                                                          "clamp_b": vb})
    for side, values in (("b", values_b), ("a", values_a)):
        if n > 1 and len(values) == 1:
            (value,) = values
            return ("clamp", f"All {n:,} mtimes set to {value} in {side} ({where})",
                    f"all {n:,} set to {value} ({_date(value)}) in {side}; the other build "
                    "kept each file's own time", {"side": side, "clamp": value})
    deltas = sorted(b - a for a, b in pairs)
    median = int(statistics.median(deltas)) if deltas else 0
    width = max(5, abs(median) // 4)
    main = [x for x in deltas if abs(x - median) <= width]
    near = [(a, b) for a, b in pairs if abs((b - a) - median) <= width]
    later = "later" if median >= 0 else "earlier"
    facts: dict[str, int | str] = {
        "offset_median": median, "offset_min": main[0] if main else 0,
        "offset_max": main[-1] if main else 0, "near": len(main), "others": n - len(main)}
    if near:
        facts.update(window_a_start=min(a for a, _ in near), window_a_end=max(a for a, _ in near),
                     window_b_start=min(b for _, b in near), window_b_end=max(b for _, b in near))
    if len(main) * 2 >= n:
        lo, hi = abs(main[0]), abs(main[-1])
        span = f"{lo}–{hi} s" if lo != hi else f"{lo} s"
        evidence = (f"{len(main):,} entries: b is {span} {later}, median {median:+d} s: the "
                    f"builds ran {_duration(median)} apart and nothing clamps mtimes")
        if n > len(main):
            evidence += f"; {n - len(main):,} more differ by other amounts"
        if near:
            evidence += (f" (a built {_date(int(facts['window_a_start']))} to "
                         f"{_date(int(facts['window_a_end']))}, b "
                         f"{_date(int(facts['window_b_start']))} to "
                         f"{_date(int(facts['window_b_end']))})")
        title = f"Build clock: b's files are {_duration(median)} {later} ({n:,} entries, {where})"
    else:
        evidence = (f"{n:,} entries differ by {_duration(deltas[0])} to "
                    f"{_duration(deltas[-1])} (median {median:+d} s): each file keeps the "
                    "time its build step wrote it, and nothing clamps mtimes")
        title = f"Unclamped mtimes: {n:,} entries in {where}"
    return "build-clock", title, evidence, facts


def _counts(c: Counter[str]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in c.most_common())


def _short(v: str, width: int = 40) -> str:
    return v if len(v) <= width else v[: width - 1] + "…"


def _title(d: Divergence) -> str:
    return f"{d.category.capitalize()} ({d.layer} {d.field})"


def _first_sentence(text: str) -> str:
    return text.split("; ", 1)[-1].rstrip(".") if "; " in text else text.rstrip(".")
