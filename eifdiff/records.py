"""The rows every report is made of: one `Divergence` per byte-level difference.

A row locates itself with flat fields: `section` (`kernel`, `ramdisk[1]`, `metadata`, ...),
`entry` (a CPIO name, verbatim: undecodable bytes are kept as surrogate escapes), `occurrence`
(0 for the first entry of that name, 1 for the second, ...), `part` (an ELF section, a metadata
key, a header table index, a DWARF attribute) and, per side, the coordinate space of its offsets
(`stream_a`/`stream_b`: None for file offsets, else the decompressed stream they index, such as
`gzip` or `gzip[2]`). `path` is derived from them for display only; nothing parses it.

What each kind of row means (its category, hint, normalization) is declared once, in
`eifdiff.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from eifdiff.errors import Anomaly, display_path
from eifdiff.rules import CATEGORIES, LAYERS, rule

Value = str | int | None

__all__ = ["CATEGORIES", "LAYERS", "Anomaly", "Divergence", "Value"]


@dataclass(frozen=True, slots=True)
class Divergence:
    """One difference: where (`section`, `entry`, `part`, offsets), what (`layer`, `field`,
    `a`, `b`), why (`category`, `hint`, from the rule table) and what it moves (`pcrs`).

    `length` is the number of bytes the difference spans on side a (None when not a span).
    """

    section: str
    layer: str
    field: str
    a: Value
    b: Value
    category: str
    pcrs: tuple[str, ...] = ()
    hint: str = ""
    entry: str | None = None
    occurrence: int = 0
    part: str | None = None
    stream_a: str | None = None
    stream_b: str | None = None
    offset_a: int | None = None
    offset_b: int | None = None
    length: int | None = None
    package: str | None = None
    root_cause: str | None = None  # the id of the root cause that explains this row
    because: str | None = None  # a derived row: the id of the root cause it follows from

    def __post_init__(self) -> None:
        r = rule(self.layer, self.field)  # raises for a kind of row the table does not declare
        # a row of any kind may be found to follow from another difference (then `derived`)
        if self.category != r.category and self.category != "derived":
            raise ValueError(f"{self.layer}/{self.field} is {r.category!r}, not {self.category!r}")

    @property
    def path(self) -> str:
        """Where, for display: `ramdisk[1]:rootfs/bin/app:.debug_str` (never parsed back)."""
        return display_path(self.section, self.entry, self.occurrence, self.part)

    @property
    def shown_a(self) -> str:
        return shown(self.layer, self.field, self.a)

    @property
    def shown_b(self) -> str:
        return shown(self.layer, self.field, self.b)

    @property
    def is_cause(self) -> bool:
        """False for `derived` rows, which only follow from another difference."""
        return self.category != "derived"


def shown(layer: str, field: str, v: Value) -> str:
    """A value for people to read: seconds since 1970 get their UTC date, None is `-`."""
    if v is None:
        return "-"
    if isinstance(v, int) and rule(layer, field).unit == "epoch":
        try:
            return f"{v} ({datetime.fromtimestamp(v, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')})"
        except (OverflowError, OSError, ValueError):
            return str(v)
    return str(v)
