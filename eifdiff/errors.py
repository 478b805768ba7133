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


@dataclass(frozen=True)
class Anomaly:
    """Something inside a valid container that could not be parsed or looks wrong.

    `path` names the structure (`ramdisk[1]:rootfs/bin/app`), `offset` is the absolute file offset
    where the problem starts, when known.
    """

    path: str
    message: str
    offset: int | None = None

    def __str__(self) -> str:
        where = f" at offset {self.offset}" if self.offset is not None else ""
        return f"{self.path}{where}: {self.message}"
