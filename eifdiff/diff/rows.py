"""Making `Divergence` rows: where they are (`Where`), value rendering, PCR impact per section.

Category and hint come from the rule table (`eifdiff.rules`), never from the call site."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from eifdiff.records import Divergence, Value
from eifdiff.rules import rule


def value(v: object) -> Value:
    """A JSON-friendly rendering of a compared value."""
    if v is None or (isinstance(v, (str, int)) and not isinstance(v, bool)):
        return v
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return str(v)


@dataclass(frozen=True, slots=True)
class Where:
    """The location shared by a group of rows: a section (and the PCRs its bytes feed), an
    entry of a ramdisk, and the coordinate space of each side's offsets."""

    section: str
    pcrs: tuple[str, ...] = ()
    entry: str | None = None
    occurrence: int = 0
    stream_a: str | None = None
    stream_b: str | None = None

    def inside(self, entry: str, occurrence: int, stream_a: str | None,
               stream_b: str | None) -> Where:
        return replace(self, entry=entry, occurrence=occurrence, stream_a=stream_a,
                       stream_b=stream_b)

    def row(self, layer: str, field: str, a: object, b: object, *, part: str | None = None,
            offset_a: int | None = None, offset_b: int | None = None,
            length: int | None = None, pcrs: tuple[str, ...] | None = None) -> Divergence:
        r = rule(layer, field)
        return Divergence(
            section=self.section, layer=layer, field=field, a=value(a), b=value(b),
            category=r.category, pcrs=self.pcrs if pcrs is None else pcrs, hint=r.hint,
            entry=self.entry, occurrence=self.occurrence, part=part,
            stream_a=self.stream_a if offset_a is not None else None,
            stream_b=self.stream_b if offset_b is not None else None,
            offset_a=offset_a, offset_b=offset_b, length=length,
        )


def pcr_map(*feeds: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Section name -> the PCRs its data feeds, merged over both sides' layouts."""
    out: dict[str, set[str]] = {}
    for feed in feeds:
        for pcr, names in feed.items():
            for n in names:
                out.setdefault(n, set()).add(pcr)
    return {k: tuple(sorted(v)) for k, v in out.items()}
