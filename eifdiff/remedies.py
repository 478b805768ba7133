"""Counterfactual PCRs: which normalization of the build would make the two images match.

For each normalization that touches a divergence present in the pair, both images are rewritten
in memory (streamed) and their PCRs recomputed. Then the smallest combination that makes every
PCR equal, if one exists; if none does, what remains and why (each with its hint).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial

from eifdiff.load import LoadedImage
from eifdiff.measure import in_parallel
from eifdiff.normalize import NAMES, Normalized, measure_normalized, parse_fixes
from eifdiff.records import Divergence
from eifdiff.report.model import Remaining, Remedy
from eifdiff.rules import rule

MAX_COMBINATION = 4  # combinations larger than this are not searched (2^7 would be possible)


def _touches(d: Divergence) -> str | None:
    """The normalization that would remove this divergence, if any (from the rule table)."""
    return rule(d.layer, d.field).normalization


def applicable(divergences: Iterable[Divergence]) -> list[str]:
    """Names of the normalizations that touch at least one divergence, in canonical order."""
    found = {n for d in divergences if (n := _touches(d)) is not None}
    return [n for n in NAMES if n in found]


class _Evaluator:
    """Evaluates fix sets on both images, each set once, every image of a batch of sets in a
    worker process of its own (both cores busy; see `in_parallel`)."""

    def __init__(self, a: LoadedImage, b: LoadedImage) -> None:
        self.a, self.b = a, b
        self.cache: dict[tuple[str, ...], tuple[Normalized, Normalized]] = {}

    @staticmethod
    def _key(names: Sequence[str]) -> tuple[str, ...]:
        return tuple(n for n in NAMES if n in names)

    def batch(self, sets: Iterable[Sequence[str]]) -> None:
        """Evaluate every set not yet known, all at once."""
        keys = list(dict.fromkeys(k for k in map(self._key, sets) if k not in self.cache))
        calls = [partial(measure_normalized, img, parse_fixes(",".join(key)))
                 for key in keys for img in (self.a, self.b)]
        done = in_parallel(calls)
        for i, key in enumerate(keys):
            self.cache[key] = (done[2 * i], done[2 * i + 1])

    def __call__(self, names: Sequence[str]) -> tuple[Normalized, Normalized]:
        key = self._key(names)
        if key not in self.cache:
            self.batch([key])
        return self.cache[key]


def _remedy(names: Sequence[str], kind: str, result: tuple[Normalized, Normalized]) -> Remedy:
    na, nb = result
    keys = [k for k in ("PCR0", "PCR1", "PCR2", "PCR8") if k in na.pcrs or k in nb.pcrs]
    equal: dict[str, bool] = {k: na.pcrs.get(k) == nb.pcrs.get(k) for k in keys}
    fixes = all(equal.values())
    return Remedy(
        name=",".join(n for n in NAMES if n in names), kind=kind,
        pcrs_after={"a": na.pcrs, "b": nb.pcrs}, pcr_equal_after=equal, fixes=fixes,
        identical_after=fixes and na.unmeasured == nb.unmeasured,
    )


def remaining_rows(divergences: Iterable[Divergence], *,
                   untouched: bool = False) -> tuple[Remaining, ...]:
    """The cause rows that move a PCR, by category, with an example and the usual fix (only
    those no normalization touches, with `untouched`)."""
    left = [d for d in divergences if d.is_cause and d.pcrs and not (
        untouched and _touches(d) is not None)]
    counts = Counter(d.category for d in left)
    out = []
    for category, count in counts.most_common():
        example = next(d for d in left if d.category == category)
        out.append(Remaining(category, count, example.path, example.field, example.hint))
    return tuple(out)


After = Callable[[str], tuple[Remaining, ...]]


def find_remedies(a: LoadedImage, b: LoadedImage, divergences: Sequence[Divergence],
                  after: After | None = None) -> tuple[Remedy, ...]:
    """Each applicable normalization alone, then the smallest fixing combination (or, when none
    fixes, all of them together). `after(names)` compares the images as those normalizations
    leave them: each remedy that does not fix the pair then carries what truly remains (those
    comparisons run in worker processes, one per core)."""
    found = _find_remedies(a, b, divergences)
    need = [i for i, r in enumerate(found) if r.kind in ("single", "all") and not r.fixes]
    if after is None or not need:
        return found
    # each comparison is pure-Python work on its own pair of normalized images: one per core
    left = dict(zip(need, in_parallel([partial(after, found[i].name) for i in need]),
                    strict=True))
    return tuple(replace(r, remaining=left[i]) if i in left else r for i, r in enumerate(found))


def _find_remedies(a: LoadedImage, b: LoadedImage,
                   divergences: Sequence[Divergence]) -> tuple[Remedy, ...]:
    names = applicable(divergences)
    if not names:
        pa, pb = a.image.pcrs, b.image.pcrs
        keys = [k for k in ("PCR0", "PCR1", "PCR2", "PCR8") if k in pa or k in pb]
        equal: dict[str, bool] = {k: pa.get(k) == pb.get(k) for k in keys}
        remaining = remaining_rows(divergences)
        if all(equal.values()) or not remaining:
            return ()
        return (Remedy("", "none", {"a": pa, "b": pb}, equal, False, False, remaining,
                       "no normalization applies to these differences"),)
    a.image, b.image  # noqa: B018 (measured before any worker forks)
    evaluate = _Evaluator(a, b)
    evaluate.batch([*([n] for n in names), names])
    out = [_remedy([n], "single", evaluate([n])) for n in names]
    if any(r.fixes for r in out):
        return tuple(out)
    everything = _remedy(names, "all", evaluate(names))
    # Each normalization sets what it covers to one canonical value on both sides, so all of
    # them together equalize whatever a part of them does: when all together do not fix the
    # pair, no combination does, and the search is skipped.
    if everything.fixes:
        for size in range(2, min(len(names), MAX_COMBINATION) + 1):
            for combo in itertools.combinations(names, size):
                r = _remedy(combo, "smallest", evaluate(combo))
                if r.fixes:
                    note = ("re-archiving in another order renumbers inodes, so order alone is "
                            "not enough" if {"order", "inode"} <= set(combo) else "")
                    return (*out, replace(r, note=note))
        return (*out, everything)  # more than MAX_COMBINATION are needed
    remaining = remaining_rows(divergences, untouched=True)
    if not remaining:
        remaining = (Remaining("unexplained", 0, "", "", "normalizing everything still leaves "
                               "the PCRs different; compare the normalized images with "
                               "`eifdiff normalize`"),)
    return (*out, replace(everything, remaining=remaining))


def smallest_fix(remedies: Sequence[Remedy]) -> Remedy | None:
    fixing = [r for r in remedies if r.fixes]
    return min(fixing, key=lambda r: len(r.name.split(","))) if fixing else None
