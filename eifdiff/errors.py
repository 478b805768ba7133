"""One root exception for everything eifdiff refuses, and the record of what it could not parse."""

from __future__ import annotations

from dataclasses import dataclass


class EifdiffError(Exception):
    """Root of every error eifdiff raises on purpose; the CLI prints it as one line, exit 2."""


class FormatError(EifdiffError):
    """Bytes that do not follow their format: says which file, which structure, which offset."""

    def __init__(self, message: str, *, source: str = "", offset: int | None = None) -> None:
        self.source = source
        self.offset = offset
        self.detail = message
        super().__init__(f"{source}: {message}" if source else message)


def display_path(section: str, entry: str | None = None, occurrence: int = 0,
                 part: str | None = None) -> str:
    """`section:entry:part` for people to read; the second entry of a name reads `name (2nd)`.
    Display only: records keep the structured fields."""
    out = section
    if entry is not None:
        out += f":{entry}"
        if occurrence:
            out += f" ({_ordinal(occurrence + 1)})"
    if part is not None:
        out += f":{part}"
    return out


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something inside a valid container that could not be parsed or looks wrong.

    Located like a `Divergence`: `section`, and when known the `entry` (and `occurrence`),
    `part`, and `offset` in the coordinate space `stream` (None: a file offset; else the
    decompressed stream, such as `gzip`). `side` is `a` or `b` once a comparison owns it.
    """

    section: str
    message: str
    offset: int | None = None
    stream: str | None = None
    entry: str | None = None
    occurrence: int = 0
    part: str | None = None
    side: str | None = None

    @property
    def path(self) -> str:
        where = display_path(self.section, self.entry, self.occurrence, self.part)
        return f"{self.side}:{where}" if self.side else where

    def __str__(self) -> str:
        space = f" of the {self.stream} stream" if self.stream else ""
        where = f" at offset {self.offset}{space}" if self.offset is not None else ""
        return f"{self.path}{where}: {self.message}"
