"""The metadata section (type 5): compact JSON in the reference builder's exact byte layout.

Top-level and `BuildMetadata` keys keep the builder's fixed order; objects inside `DockerInfo` and
`CustomMetadata` are written with keys sorted by code point, as the reference serializer's default
map does. Numbers are written as that serializer writes them: an integer in [-2^63, 2^64) as it
is, any other number as a 64-bit float in the shortest form that reads back to it (the Ryu
algorithm's layout: `100.0`, `0.00001`, `1e16`, `1.5e-7`, never `1e+16` or `1e-05`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eifdiff.errors import FormatError

BUILD_KEYS = ("BuildTime", "BuildTool", "BuildToolVersion", "OperatingSystem", "KernelVersion")
TOP_KEYS = ("ImageName", "ImageVersion", "BuildMetadata", "DockerInfo", "CustomMetadata")
CUSTOM_METADATA_MAX = 4096  # the reference builder's limit on a --metadata file


@dataclass(frozen=True)
class Metadata:
    """The decoded metadata section; `extra` keeps unknown top-level keys."""

    image_name: str
    image_version: str
    build_time: str
    build_tool: str
    build_tool_version: str
    operating_system: str
    kernel_version: str
    docker_info: Any = None
    custom_metadata: Any = None
    extra: Mapping[str, Any] | None = None

    def build_metadata(self) -> dict[str, str]:
        return {
            "BuildTime": self.build_time, "BuildTool": self.build_tool,
            "BuildToolVersion": self.build_tool_version,
            "OperatingSystem": self.operating_system, "KernelVersion": self.kernel_version,
        }


INT_MIN, INT_MAX = -(1 << 63), (1 << 64) - 1  # the reference parser's integers; beyond: f64


def shortest_float(x: float) -> str:
    """`x` as the reference serializer writes a finite f64: the shortest digits that read back
    to `x` (Python's `repr` finds the same digits), laid out as `12340000000.0`, `12.34`,
    `0.001234` (down to 10^-5), else `1e30` or `1.234e33` (no `+`, no leading zero)."""
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    k = int(exp or 0) - len(frac)  # the value is int(digits) * 10**k
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits, n = stripped, len(stripped)
    kk = n + k  # 10**(kk-1) <= |x| < 10**kk
    if k >= 0 and kk <= 16:
        body = digits + "0" * k + ".0"
    elif 0 < kk <= 16:
        body = f"{digits[:kk]}.{digits[kk:]}"
    elif -5 < kk <= 0:
        body = "0." + "0" * -kk + digits
    elif n == 1:
        body = f"{digits}e{kk - 1}"
    else:
        body = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return ("-" if x < 0 else "") + body


def _scalar(value: Any) -> str:
    if value is None or isinstance(value, bool | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        if INT_MIN <= value <= INT_MAX:
            return str(value)
        try:
            value = float(value)
        except OverflowError:
            raise FormatError(f"the number {str(value)[:40]}... is out of the 64-bit float "
                              "range the reference builder reads") from None
    if isinstance(value, float) and math.isfinite(value):
        return shortest_float(value)
    raise FormatError(f"metadata cannot hold {value!r}")


class _Token(str):
    """Literal JSON text queued between values."""


def _compact(value: Any, *, sort: bool) -> str:
    """Compact JSON (objects' keys sorted when `sort`), written without recursion, so any
    depth the reader accepted can be written back."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Token):
            out.append(item)
        elif isinstance(item, dict):
            queued: list[Any] = [_Token("{")]
            for i, key in enumerate(sorted(item) if sort else item):
                queued += [_Token(("," if i else "") + json.dumps(key, ensure_ascii=False)
                                  + ":"), item[key]]
            stack.extend(reversed([*queued, _Token("}")]))
        elif isinstance(item, list):
            queued = [_Token("[")]
            for i, element in enumerate(item):
                queued += [_Token(","), element] if i else [element]
            stack.extend(reversed([*queued, _Token("]")]))
        else:
            out.append(_scalar(item))
    return "".join(out)


def encode_metadata(md: Metadata) -> bytes:
    """The section bytes the reference builder writes for this metadata."""
    build = ",".join(f"{_compact(k, sort=False)}:{_compact(v, sort=False)}"
                     for k, v in md.build_metadata().items())
    text = (
        f'{{"ImageName":{_compact(md.image_name, sort=False)},'
        f'"ImageVersion":{_compact(md.image_version, sort=False)},'
        f'"BuildMetadata":{{{build}}},'
        f'"DockerInfo":{_compact(md.docker_info, sort=True)},'
        f'"CustomMetadata":{_compact(md.custom_metadata, sort=True)}}}'
    )
    return text.encode("utf-8")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not standard JSON")


_POW10 = tuple(float(f"1e{i}") for i in range(309))
_I32_MAX = (1 << 31) - 1


def _out_of_range(text: str) -> ValueError:
    return ValueError(f"the number {text[:40]} is out of the 64-bit float range")


def reference_float(text: str) -> float:
    """A JSON number literal as the reference reader (serde_json without its float_roundtrip
    feature) reads it into an f64: digits gathered into a u64 (those past its range dropped,
    integer ones counted in the exponent), then one multiplication or division by a power of
    ten; not always the correctly rounded value Python's `float` gives. ValueError past the
    f64 range."""
    negative = text.startswith("-")
    mantissa, _, exp_text = text.lstrip("-").replace("E", "e").partition("e")
    whole, _, frac = mantissa.partition(".")
    significand, exponent, full = 0, 0, False
    for ch in whole:
        if full or significand * 10 + (ord(ch) - 48) > INT_MAX:
            full = True
            exponent += 1
        else:
            significand = significand * 10 + (ord(ch) - 48)
    for ch in frac:
        if full or significand * 10 + (ord(ch) - 48) > INT_MAX:
            full = True
        else:
            significand = significand * 10 + (ord(ch) - 48)
            exponent -= 1
    if exp_text:
        positive_exp = not exp_text.startswith("-")
        digits = exp_text.lstrip("+-")
        value = 0
        for ch in digits:
            if value * 10 + (ord(ch) - 48) > _I32_MAX:
                if significand and positive_exp:
                    raise _out_of_range(text)
                return -0.0 if negative else 0.0
            value = value * 10 + (ord(ch) - 48)
        exponent = max(-(1 << 31), min(_I32_MAX, exponent + (value if positive_exp
                                                              else -value)))
    f = float(significand)
    while True:
        if abs(exponent) <= 308:
            if exponent >= 0:
                f *= _POW10[exponent]
                if math.isinf(f):
                    raise _out_of_range(text)
            else:
                f /= _POW10[-exponent]
            break
        if f == 0.0:
            break
        if exponent >= 0:
            raise _out_of_range(text)
        f /= 1e308
        exponent += 308
    return -f if negative else f


def _integer(text: str) -> int | float:
    """An integer literal as the reference reader reads it: a u64 or an i64 when it fits
    (`-0` is the float -0.0 there), else an f64 (`reference_float`)."""
    value = int(text)
    if not text.startswith("-"):
        return value if value <= INT_MAX else reference_float(text)
    if INT_MIN <= value < 0:
        return value
    if -value <= INT_MAX:  # -0, or past i64 within u64: the negated u64 as a float
        return -float(-value)
    return reference_float(text)


MAX_NESTING = 127  # the reference reader's recursion limit (128, counted down to 0)


def _too_deep(doc: Any) -> bool:
    """Whether arrays and objects nest deeper than the reference reader accepts."""
    stack = [(doc, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_NESTING:
                return True
            values = item.values() if isinstance(item, dict) else item
            stack += [(v, depth + 1) for v in values if isinstance(v, dict | list)]
    return False


def _lone_surrogate(doc: Any) -> str | None:
    """The first string (key or value) in `doc` holding a lone surrogate (a `\\udXXX` escape
    with no partner), or None; such a string is not Unicode text and cannot be written as
    UTF-8."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += item.keys()
            stack += item.values()
        elif isinstance(item, list):
            stack += item
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"\\u{ord(item[exc.start]):04x}"
    return None


def decode_metadata(raw: bytes | memoryview, *, source: str = "", offset: int = 0) -> Metadata:
    """Parse the section; raise `FormatError` (with the section's offset) when it is not valid:
    not UTF-8, not standard JSON (`NaN` and `Infinity` are refused, as the reference reader
    refuses them, and so is a number past the 64-bit float range or nesting past its limit),
    or a string with a lone surrogate."""
    try:
        doc = json.loads(bytes(raw).decode("utf-8"), parse_constant=_no_constant,
                         parse_float=reference_float, parse_int=_integer)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"metadata section at offset {offset} is not UTF-8 JSON: {exc}",
                          source=source, offset=offset) from None
    if _too_deep(doc):
        raise FormatError(f"metadata section at offset {offset} nests arrays and objects "
                          f"deeper than {MAX_NESTING} levels (the reference reader's limit)",
                          source=source, offset=offset)
    surrogate = _lone_surrogate(doc)
    if surrogate is not None:
        raise FormatError(f"metadata section at offset {offset} has a string with a lone "
                          f"surrogate {surrogate} (not Unicode text)", source=source,
                          offset=offset)
    if not isinstance(doc, dict):
        raise FormatError(f"metadata section at offset {offset} is not a JSON object",
                          source=source, offset=offset)
    missing = [k for k in TOP_KEYS if k not in doc]
    build = doc.get("BuildMetadata")
    if not isinstance(build, dict):
        missing.append("BuildMetadata")
        build = {}
    missing += [f"BuildMetadata.{k}" for k in BUILD_KEYS if not isinstance(build.get(k), str)]
    if missing:
        raise FormatError(
            f"metadata section at offset {offset} lacks {', '.join(dict.fromkeys(missing))}",
            source=source, offset=offset,
        )
    return Metadata(
        image_name=str(doc["ImageName"]), image_version=str(doc["ImageVersion"]),
        build_time=build["BuildTime"], build_tool=build["BuildTool"],
        build_tool_version=build["BuildToolVersion"],
        operating_system=build["OperatingSystem"], kernel_version=build["KernelVersion"],
        docker_info=doc["DockerInfo"], custom_metadata=doc["CustomMetadata"],
        extra={k: v for k, v in doc.items() if k not in TOP_KEYS} or None,
    )
