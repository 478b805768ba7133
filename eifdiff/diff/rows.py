"""Making `Divergence` rows: value rendering, PCR impact per section, hints."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from eifdiff.hints import hint_for
from eifdiff.records import Divergence, Value


def value(v: object) -> Value:
    """A JSON-friendly rendering of a compared value."""
    if v is None or (isinstance(v, (str, int)) and not isinstance(v, bool)):
        return v  # type: ignore[return-value]
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return str(v)


def epoch(t: int) -> str:
    """An mtime as `1704067200 (2024-01-01T00:00:00Z)`."""
    try:
        return f"{t} ({datetime.fromtimestamp(t, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')})"
    except (OverflowError, OSError, ValueError):
        return str(t)


def row(
    path: str, layer: str, field: str, a: object, b: object, category: str,
    pcrs: tuple[str, ...] = (), *, offset_a: int | None = None, offset_b: int | None = None,
    length: int | None = None,
) -> Divergence:
    return Divergence(
        path=path, layer=layer, field=field, a=value(a), b=value(b), offset_a=offset_a,
        offset_b=offset_b, length=length, category=category, pcrs=pcrs,
        hint=hint_for(category, field),
    )


def pcr_map(*feeds: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Section name -> the PCRs its data feeds, merged over both sides' layouts."""
    out: dict[str, set[str]] = {}
    for feed in feeds:
        for pcr, names in feed.items():
            for n in names:
                out.setdefault(n, set()).add(pcr)
    return {k: tuple(sorted(v)) for k, v in out.items()}
