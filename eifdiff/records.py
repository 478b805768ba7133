"""The rows every report is made of: one `Divergence` per byte-level difference.

The JSON report, the DataFrame, the HTML table and the notebooks are all views of a list of these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

LAYERS = (
    "eif-header", "section", "cpio-entry", "elf", "metadata", "signature", "kernel", "cmdline",
    "compression",
)
CATEGORIES = (
    "timestamp", "ordering", "ownership", "permissions", "inode", "build-path", "build-id",
    "build-host", "content", "added", "removed", "metadata", "signature", "cmdline", "header",
    "compression", "derived",
)
Value = str | int | None


@dataclass(frozen=True, slots=True)
class Divergence:
    """One difference: where (`path`, `layer`, `field`, offsets), what (`a`, `b`), why
    (`category`, `hint`) and what it moves (`pcrs`).

    Offsets are absolute file offsets of the bytes on each side; inside a compressed ramdisk
    they are offsets in its decompressed stream (the `path` then names the compression).
    `length` is the number of bytes the difference spans on side a (None when not a byte span).
    """

    path: str
    layer: str
    field: str
    a: Value
    b: Value
    offset_a: int | None
    offset_b: int | None
    length: int | None
    category: str
    pcrs: tuple[str, ...]
    hint: str
    package: str | None = None

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"unknown layer {self.layer!r}")
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}")

    @property
    def is_cause(self) -> bool:
        """False for `derived` rows, which only follow from another difference."""
        return self.category != "derived"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pcrs"] = list(self.pcrs)
        return d
