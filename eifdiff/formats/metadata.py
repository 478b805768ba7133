"""The metadata section (type 5): compact JSON in the reference builder's exact byte layout.

Top-level and `BuildMetadata` keys keep the builder's fixed order; objects inside `DockerInfo` and
`CustomMetadata` are written with keys sorted by code point, as the reference serializer's default
map does. Floats inside those values are written the Python way; the reference's formatting of
floats is not reproduced (avoid floats, or keep the original bytes).
"""

from __future__ import annotations

import json
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


def _compact(value: Any, *, sort: bool) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort)


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
    refuses them), or a string with a lone surrogate."""
    try:
        doc = json.loads(bytes(raw).decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"metadata section at offset {offset} is not UTF-8 JSON: {exc}",
                          source=source, offset=offset) from None
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
