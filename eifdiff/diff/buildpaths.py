"""Build-path pairs that explain why two byte strings differ.

Two builds of the same source in two directories differ wherever a path to the source was
recorded: DWARF line tables, Go's `.gopclntab`, Python code objects, panic messages. This module
walks both strings side by side; at each differing byte it takes the path-like token around it on
both sides, and when the tokens differ only in a leading directory (their tails, from a `/` on,
are equal) that directory pair becomes a substitution. The walk then checks that substituting
the pairs accounts for every differing byte: paths may shift everything after them (a longer
directory), and a NUL-padded field may absorb the length change. Known derived hashes (build
IDs) are given as extra pairs and counted apart.

Pure and bounded: at most `MAX_PAIRS` pairs, `MAX_SPANS` unexplained spans, `MAX_INPUT` bytes a
side; no empty needle is ever searched or substituted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_INPUT = 256 << 20  # larger inputs are not walked
MAX_PAIRS = 32  # path pairs discovered at most
MAX_SPANS = 64  # unexplained spans recorded at most (the rest is one final span)
MAX_TOKEN = 4096  # longest path token looked at around a differing byte
MIN_PREFIX = 2  # shortest directory a pair may name (e.g. `/a`)
MAX_OFFSET_SPAN = 4096  # longest span checked for moved offsets
RESYNC = 8  # equal bytes (at the same shift) that end an unexplained span
ALIGN = 32  # the widest table alignment a moved length or pointer is allowed to round up to
MAX_MULTIPLE = 1 << 16  # an offset may move by up to this many times a pair's length change
RESYNC_WINDOW = 1 << 20  # how far an unexplained span is followed before giving up
_PATH_BYTES = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-+@~%,:=")


@dataclass(frozen=True, slots=True)
class PathPair:
    """A directory recorded as `a` in one build and as `b` in the other; `count` is how many
    times the walk substituted it."""

    a: str
    b: str
    count: int = 0


@dataclass(frozen=True, slots=True)
class Span:
    """A differing run of bytes no pair explains: [start_a, end_a) in a, [start_b, end_b) in b."""

    start_a: int
    end_a: int
    start_b: int
    end_b: int

    @property
    def length(self) -> int:
        return max(self.end_a - self.start_a, self.end_b - self.start_b)


@dataclass(frozen=True, slots=True)
class BuildPaths:
    """What the walk found. `explained` is True when the pairs (and the given derived hashes)
    account for every differing byte; `unexplained` lists the spans they do not (complete up to
    MAX_SPANS: a last span then runs to the end); `offsets` are short spans holding integers
    that moved by the paths' length change (offsets and sizes, derived; the first MAX_SPANS).
    `derived` counts substitutions of the given hashes; `padding` counts NUL-padded fields
    that absorbed a length change; `note` says why a walk was not attempted; `shifts` are the
    offset changes the walk went through (pass them on to sibling sections as `moves`)."""

    pairs: tuple[PathPair, ...]
    explained: bool
    unexplained: tuple[Span, ...] = ()
    offsets: tuple[Span, ...] = ()
    derived: int = 0
    padding: int = 0
    shifts: tuple[int, ...] = ()
    note: str = ""

    @property
    def directories(self) -> tuple[tuple[str, str], ...]:
        """The (a, b) directory pairs, most substituted first."""
        ordered = sorted(self.pairs, key=lambda p: (-p.count, p.a, p.b))
        return tuple((p.a, p.b) for p in ordered)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _token(data: bytes, start: int, at: int) -> bytes:
    """The path-like run of bytes from `start` on, through `at` at least."""
    end = at
    stop = min(len(data), start + MAX_TOKEN)
    while end < stop and data[end] in _PATH_BYTES:
        end += 1
    return data[start:end]


def pair_from_tokens(x: bytes, y: bytes) -> tuple[bytes, bytes] | None:
    """The leading directories of two path tokens whose tails (from a `/` on) are equal, e.g.
    `/src/a/main.go`, `/build/b/main.go` -> (`/src/a`, `/build/b`). None when no such tail is
    shared (`/bin/other` vs `/bin/OTHER` are two paths, not one moved directory), when either
    side is not an absolute path, or when the tokens are equal."""
    if x == y or x.count(b"/") < 2 or y.count(b"/") < 2:
        return None  # a path names a directory and something in it (binary data has `/`s)
    i = 0  # the length of the common tail
    n = min(len(x), len(y))
    while i < n and x[len(x) - 1 - i] == y[len(y) - 1 - i]:
        i += 1
    tail = x[len(x) - i :]
    cut = tail.find(b"/")
    if cut < 0:
        return None  # no file in common: two different paths, not one moved directory
    keep = i - cut  # the shared tail starting at a `/`
    ha, hb = x[: len(x) - keep], y[: len(y) - keep]
    # start both at their first `/` when they share what comes before it (`-I/src`, `=/src`)
    sa, sb = ha.find(b"/"), hb.find(b"/")
    if sa < 0 or sa != sb or ha[:sa] != hb[:sb]:
        return None  # only absolute directories: not hashes such as Go build IDs
    ha, hb = ha[sa:], hb[sb:]
    if len(ha) < MIN_PREFIX or len(hb) < MIN_PREFIX or ha == hb:
        return None
    return ha, hb


class _Walk:
    """The side-by-side walk; `run()` returns a BuildPaths."""

    def __init__(self, a: bytes, b: bytes, pairs: list[tuple[bytes, bytes]],
                 hashes: list[tuple[bytes, bytes]], discover: bool,
                 moves: tuple[int, ...] = (), strict: bool = False) -> None:
        self.a, self.b, self.strict = a, b, strict
        self.subs: dict[bytes, bytes] = {}
        self.kind: dict[bytes, str] = {}
        self.counts: dict[bytes, int] = {}
        for old, new in hashes:
            if old and new and old != new:
                self.subs[old], self.kind[old] = new, "hash"
        for old, new in pairs:
            if old and new and old != new and old not in self.subs:
                self.subs[old], self.kind[old] = new, "path"
        self.discover = discover
        self.spans: list[Span] = []
        self.offset_spans: list[Span] = []
        self.moves = set(moves)
        self.padding = 0
        self.pending = False  # a substitution changed the shift
        self.shifts: set[int] = set()  # every shift (j - i) the walk went through
        self._compile()

    def _compile(self) -> None:
        needles = sorted(self.subs, key=len, reverse=True)
        self.pattern = re.compile(b"|".join(re.escape(n) for n in needles)) if needles else None
        self._found: tuple[int, re.Match[bytes] | None] | None = None  # (searched from, match)

    def _search(self, i: int) -> re.Match[bytes] | None:
        """The next needle at or after `i`; a search is reused while it still answers (a
        needle absent from the rest of `a` is never looked for again)."""
        if self.pattern is None:
            return None
        if self._found is not None:
            start, m = self._found
            if start <= i and (m is None or m.start() >= i):
                return m
        m = self.pattern.search(self.a, i)
        self._found = (i, m)
        return m

    def _first_difference(self, i: int, j: int, n: int) -> int:
        """The smallest k < n with a[i+k] != b[j+k] (n when none)."""
        a, b = self.a, self.b
        lo, hi = 0, n
        if b.startswith(a[i : i + n], j) and j + n <= len(b):
            return n
        while hi - lo > 64:
            mid = (lo + hi) // 2
            if b.startswith(a[i + lo : i + mid], j + lo):
                lo = mid
            else:
                hi = mid
        k = lo
        while k < hi and j + k < len(b) and a[i + k] == b[j + k]:
            k += 1
        return k

    def _absorb(self, p: int, q: int) -> tuple[int, int] | None:
        """At a difference inside NUL padding, after a length-changing substitution or before a
        path, skip both NUL runs when the bytes after them agree (a fixed-size field or an
        alignment gap took the length change)."""
        a, b = self.a, self.b
        k = 0
        while p - k > 0 and q - k > 0 and a[p - k - 1] == 0 and b[q - k - 1] == 0 and k < 4096:
            k += 1
        pa, pb = p - k, q - k
        ea, eb = pa, pb
        while ea < len(a) and a[ea] == 0 and ea - pa < RESYNC_WINDOW:
            ea += 1
        while eb < len(b) and b[eb] == 0 and eb - pb < RESYNC_WINDOW:
            eb += 1
        if ea - pa == eb - pb or (ea == pa and eb == pb):
            return None
        if ea < len(a) and a[ea] == 0x2F and b[eb : eb + 1] == b"/":
            return ea, eb  # a path follows: the walk goes on from its start on both sides
        if not self.pending:
            return None  # nothing moved yet
        n = min(RESYNC, len(a) - ea, len(b) - eb)
        if a[ea : ea + n] != b[eb : eb + n] or (n < RESYNC and (len(a) - ea != len(b) - eb)):
            return None
        return ea, eb

    def _resync(self, p: int, q: int) -> tuple[int, int]:
        """The end of an unexplained run starting at (p, q), at the same shift."""
        a, b = self.a, self.b
        shift = q - p
        t = p
        limit = min(len(a), len(b) - shift, p + RESYNC_WINDOW)
        while t < limit:
            if t + RESYNC <= limit and b.startswith(a[t : t + RESYNC], t + shift):
                while t > p and a[t - 1] == b[t - 1 + shift]:
                    t -= 1
                return t, t + shift
            t += 1 if t + RESYNC > limit else RESYNC // 2
        return len(a), len(b)

    def _tighten(self, p: int, q: int) -> Span:
        """A last span from (p, q) to the ends, less the common suffix."""
        a, b = self.a, self.b
        n = min(len(a) - p, len(b) - q)
        lo, hi = 0, n  # the common suffix length lies in [lo, hi]
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if a.endswith(b[len(b) - mid :]):
                lo = mid
            else:
                hi = mid - 1
        return Span(p, len(a) - lo, q, len(b) - lo)

    def _learn(self, p: int, q: int) -> tuple[int, int] | None:
        """Discover a pair from the tokens around the difference at (p, q); where to resume."""
        if not self.discover or sum(k == "path" for k in self.kind.values()) >= MAX_PAIRS:
            return None
        a, b = self.a, self.b
        k = 0
        while k < min(p, q, MAX_TOKEN) and a[p - k - 1] in _PATH_BYTES and a[p - k - 1] == \
                b[q - k - 1]:
            k += 1
        x, y = _token(a, p - k, p), _token(b, q - k, q)
        found = pair_from_tokens(x, y)
        if found is None or found[0] in self.subs:
            return None
        old, new = found
        lead = x.find(old)
        if lead < 0 or not y.startswith(new, lead):
            return None
        self.subs[old], self.kind[old] = new, "path"
        self._compile()
        return p - k + lead, q - k + lead

    def run(self) -> tuple[int, int]:
        a, b = self.a, self.b
        i = j = 0
        while True:
            m = self._search(i)
            stop = m.start() if m is not None else len(a)
            k = self._first_difference(i, j, stop - i)
            if k < stop - i or (m is None and j + k != len(b)):
                p, q = i + k, j + k
                if m is None and p == len(a) and q < len(b):
                    self.spans.append(Span(p, p, q, len(b)))
                    break
                got = self._absorb(p, q)
                if got is not None:
                    i, j = got
                    self.shifts.add(j - i)
                    self.padding += 1
                    continue
                got = self._learn(p, q)
                if got is not None:
                    i, j = got
                    continue
                if len(self.spans) >= MAX_SPANS - 1:
                    self.spans.append(self._tighten(p, q))
                    break
                ea, eb = self._resync(p, q)
                if ea >= len(a) or eb >= len(b):
                    self.spans.append(self._tighten(p, q))
                    break
                self._record(Span(p, ea, q, eb))
                i, j = ea, eb
                continue
            if m is None:
                break
            i, j = stop, j + k
            old = m.group()
            new = self.subs[old]
            if b.startswith(new, j):
                if len(new) != len(old):
                    self.pending = True  # a NUL-padded field may take the change back
                    self.shifts.add(j + len(new) - i - len(old))
                self.counts[old] = self.counts.get(old, 0) + 1
                i, j = i + len(old), j + len(new)
            elif b.startswith(old, j):
                i, j = i + len(old), j + len(old)
            else:
                # neither: a difference inside the needle; compare from here on
                k = self._first_difference(i, j, len(old))
                p, q = i + k, j + k
                got = self._learn(p, q)
                if got is not None:
                    i, j = got
                    continue
                ea, eb = self._resync(p, q)
                if len(self.spans) >= MAX_SPANS - 1 or ea >= len(a) or eb >= len(b):
                    self.spans.append(self._tighten(p, q))
                    break
                self._record(Span(p, ea, q, eb))
                i, j = ea, eb
        return i, j

    def _record(self, span: Span) -> None:
        """Keep an unexplained span, or count it at once as a moved offset (so that a section
        holding thousands of them, such as `.debug_info`, is followed to its end)."""
        if self.subs:
            deltas = {len(n) - len(o) for o, n in self.subs.items()
                      if self.kind[o] == "path" and len(n) != len(o)}
            if self._offset(span, self.shifts | self.moves, deltas):
                if len(self.offset_spans) < MAX_SPANS:
                    self.offset_spans.append(span)
                return
        self.spans.append(span)

    def _offset(self, span: Span, moves: set[int], deltas: set[int]) -> bool:
        """Whether every differing byte of a short span lies in an integer (little-endian, 1 to
        8 bytes, or ULEB128) that moved by a known shift or by a multiple of a pair's length
        change: offsets and lengths following from the paths."""
        a, b = self.a, self.b
        n = span.end_a - span.start_a
        if n != span.end_b - span.start_b or not 0 < n <= MAX_OFFSET_SPAN:
            return False
        d = span.start_b - span.start_a

        # a length or pointer that includes alignment padding moves by up to the shift rounded
        # up to the alignment (Go aligns its pclntab tables; 32 covers its and ELF's)
        reach = max((abs(m) for m in (*moves, *deltas)), default=0)
        reach = (reach + ALIGN - 1) // ALIGN * ALIGN

        def moved(diff: int, wide: bool = False) -> bool:
            """A move by a known shift, a multiple of a length change, or (for 4- and 8-byte
            words: sizes and pointers) by a multiple of 4 no larger than the largest shift
            rounded up to ALIGN."""
            if diff == 0:
                return False
            if diff in moves:
                return True
            if self.strict:
                return False  # code: an immediate off by a little is a change, not a move
            if wide and -reach <= diff <= reach and diff % 4 == 0:
                return True  # a padded length or an aligned pointer moves by whole words
            return any(diff % x == 0 and abs(diff // x) <= MAX_MULTIPLE for x in deltas)

        def covered(at: int) -> int:
            """The end of a moved integer holding byte `at` (0 when none)."""
            for width in (4, 8, 2, 1):  # 32-bit offsets (DWARF, ELF32) are the most common
                top = 1 << (8 * width - 1)
                wide = width >= 4
                for st in range(at - width + 1, at + 1):
                    if st < 0 or st + width > len(a) or st + d + width > len(b) or st + d < 0:
                        continue
                    x = int.from_bytes(a[st : st + width], "little")
                    y = int.from_bytes(b[st + d : st + d + width], "little")
                    if moved(y - x, wide) or ((x ^ y) & top and moved(
                            ((y ^ top) - top) - ((x ^ top) - top), wide)):
                        return st + width
            for st in range(max(at - 9, 0), at + 1):
                ua, ub = _uleb(a, st), _uleb(b, st + d)
                if ua is not None and ub is not None and ua[1] > at and ub[1] - d == ua[1] \
                        and moved(ub[0] - ua[0]):
                    return ua[1]
            return 0

        at = span.start_a
        while at < span.end_a:
            if a[at] == b[at + d]:
                at += 1
                continue
            end = covered(at)
            if not end:
                return False
            at = max(end, at + 1)
        return True

    def result(self, known: tuple[tuple[bytes, bytes], ...], moves: tuple[int, ...]
               ) -> BuildPaths:
        paths = [(o, n) for o, n in self.subs.items() if self.kind[o] == "path"]
        pairs = tuple(PathPair(_text(o), _text(n), self.counts.get(o, 0))
                      for o, n in paths if self.counts.get(o, 0) or (o, n) in known)
        derived = sum(c for o, c in self.counts.items() if self.kind[o] == "hash")
        deltas = {len(n) - len(o) for o, n in paths if len(n) != len(o)}
        offsets, spans = list(self.offset_spans), []
        for span in self.spans:
            if (pairs or derived) and self._offset(span, self.shifts | set(moves), deltas):
                offsets.append(span)
            else:
                spans.append(span)
        return BuildPaths(pairs, not spans and bool(pairs or derived), tuple(spans),
                          tuple(offsets[:MAX_SPANS]), derived, self.padding,
                          tuple(sorted(self.shifts - {0})))


def _uleb(data: bytes, at: int) -> tuple[int, int] | None:
    """A ULEB128 at `at`: (value, end), or None past 9 bytes or the end."""
    value = shift = 0
    for k in range(at, min(at + 9, len(data))):
        value |= (data[k] & 0x7F) << shift
        shift += 7
        if data[k] < 0x80:
            return value, k + 1
    return None


def find_build_paths(
    a: bytes | bytearray | memoryview, b: bytes | bytearray | memoryview, *,
    pairs: tuple[tuple[str, str], ...] = (), hashes: tuple[tuple[bytes, bytes], ...] = (),
    moves: tuple[int, ...] = (), discover: bool = True, strict: bool = False,
) -> BuildPaths:
    """The directory pairs explaining how `a` became `b`.

    `pairs` are directory pairs already known (e.g. DWARF `DW_AT_comp_dir` of both sides),
    `hashes` byte strings known to differ as a consequence (build IDs), `moves` offset changes
    known from elsewhere (section address changes, sibling sections' `shifts`); with
    `discover` the walk also learns pairs from the path tokens around each difference.
    `explained` is True only when a path pair is known (or a given hash was substituted) and
    nothing else differs. `strict` (for machine code) counts an integer as moved only by one
    of the shifts, never by an amount merely near them."""
    if len(a) > MAX_INPUT or len(b) > MAX_INPUT:
        return BuildPaths((), False, note=f"larger than {MAX_INPUT >> 20} MiB: not walked")
    x, y = bytes(a), bytes(b)
    if x == y:
        return BuildPaths((), False, note="equal")
    known = tuple((p.encode(), q.encode()) for p, q in pairs)
    walk = _Walk(x, y, list(known), list(hashes), discover, moves, strict)
    walk.run()
    return walk.result(known, moves)


def common_directory(x: str, y: str) -> tuple[str, str, str]:
    """Split two paths into their differing leading directories and shared tail, at a `/`:
    (`/tmp/pip-target-1/lib/python`, `/tmp/pip-target-2/lib/python`, `pkg/mod.py`) for two
    file names under different roots. The tail is '' when no component is shared."""
    xa, ya = x.split("/"), y.split("/")
    n = 0
    while n < min(len(xa), len(ya)) - 1 and xa[len(xa) - 1 - n] == ya[len(ya) - 1 - n]:
        n += 1
    if n == 0:
        return x, y, ""
    return "/".join(xa[: len(xa) - n]), "/".join(ya[: len(ya) - n]), "/".join(xa[len(xa) - n :])


MAX_STRINGS = 1 << 20  # strings compared as a table at most
MAX_MOVES = 4096  # distinct offset changes a string table reports at most


def _strings(data: bytes) -> list[tuple[int, bytes]] | None:
    """(offset, string) of each NUL-terminated string; None past MAX_STRINGS."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\0", pos)
        if end < 0:
            end = len(data)
        if end > pos:
            out.append((pos, data[pos:end]))
            if len(out) > MAX_STRINGS:
                return None
        pos = end + 1
    return out


def _learn_from_strings(only_a: list[bytes], only_b: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Directory pairs from strings found on one side only that share a tail from a `/` on
    (the same file name under two directories), most frequent first."""
    by_base: dict[bytes, list[bytes]] = {}
    for y in only_b:
        if y.startswith(b"/") and b"/" in y[1:]:
            by_base.setdefault(y.rsplit(b"/", 1)[1], []).append(y)
    seen: dict[tuple[bytes, bytes], int] = {}
    for x in only_a:
        if not x.startswith(b"/"):
            continue
        for y in by_base.get(x.rsplit(b"/", 1)[1], [])[:8]:
            found = pair_from_tokens(x, y)
            if found is not None and len(found[0]) < len(x):  # a tail is shared
                seen[found] = seen.get(found, 0) + 1
        if len(seen) > MAX_PAIRS:
            break
    return sorted(seen, key=lambda k: -seen[k])[:MAX_PAIRS]


def find_build_paths_in_strings(
    a: bytes | bytearray | memoryview, b: bytes | bytearray | memoryview, *,
    pairs: tuple[tuple[str, str], ...] = (),
) -> BuildPaths:
    """The same question for string tables (`.debug_str`, `.debug_line_str`, `.strtab`),
    whose strings a linker may merge and reorder: the tables are compared as multisets of
    NUL-terminated strings once the pairs are substituted. Explained when both multisets are
    then equal; `shifts` are the offsets by which strings moved (pass them to the sections
    that point into the table as `moves`)."""
    if len(a) > MAX_INPUT or len(b) > MAX_INPUT:
        return BuildPaths((), False, note=f"larger than {MAX_INPUT >> 20} MiB: not compared")
    x, y = bytes(a), bytes(b)
    sa, sb = _strings(x), _strings(y)
    if sa is None or sb is None:
        return BuildPaths((), False, note=f"more than {MAX_STRINGS} strings: not compared")
    set_b = {s for _, s in sb}
    set_a = {s for _, s in sa}
    known = [(p.encode(), q.encode()) for p, q in pairs if p and q and p != q]
    known += [k for k in _learn_from_strings([s for s in set_a if s not in set_b],
                                             [s for s in set_b if s not in set_a])
              if k not in known]
    if not known:
        return BuildPaths((), False, note="no directory pair")
    subs = dict(known)
    pattern = re.compile(b"|".join(re.escape(k) for k in sorted(subs, key=len, reverse=True)))
    counts: dict[bytes, int] = {}

    where_b: dict[bytes, list[int]] = {}
    for off, s in sb:
        where_b.setdefault(s, []).append(off)
    moves: set[int] = set()
    for off, s in sa:
        t = pattern.sub(lambda m: subs[m.group()], s)
        offs = where_b.get(t)
        grown = [0]  # how far a pointer into the string's tail moves, after each substitution
        if offs:
            for m in pattern.finditer(s):
                counts[m.group()] = counts.get(m.group(), 0) + 1
                grown.append(grown[-1] + len(subs[m.group()]) - len(m.group()))
        else:
            offs = where_b.get(s)  # the old directory kept on both sides
        if not offs:
            return BuildPaths((), False, note="strings differ beyond the pairs")
        moved = offs.pop(0)
        if len(moves) < MAX_MOVES:
            moves.update(moved - off + g for g in grown)
    if any(where_b.values()):
        return BuildPaths((), False, note="strings differ beyond the pairs")
    found = tuple(PathPair(_text(o), _text(n), counts.get(o, 0)) for o, n in known
                  if counts.get(o, 0) or (_text(o), _text(n)) in pairs)
    return BuildPaths(found, bool(found), shifts=tuple(sorted(moves - {0})),
                      note="strings compared as a table")
