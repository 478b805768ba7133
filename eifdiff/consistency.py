"""Consistency warnings for the enclave's own layer (PCR1): parts that cannot work together.

A pure function over what was read: the EIF header's architecture, the kernel's architecture and
release, and each `init` and kernel module (architecture, the release its `vermagic` names).
A module built for another kernel release can never load; a part built for another
architecture cannot run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ARCH_NAMES = {"x86_64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64", "x86": "x86"}
# `x86` is a bzImage whose 64-bit flag was not read: it conflicts only with aarch64
_FAMILY = {"x86_64": "x86", "x86": "x86", "i386": "x86"}


@dataclass(frozen=True, slots=True)
class Part:
    """One PCR1 part: `role` is `kernel`, `init` or `module`; `release` is the kernel's release
    or the release a module's vermagic names."""

    path: str
    role: str
    arch: str | None
    release: str | None = None
    vermagic: str | None = None


@dataclass(frozen=True, slots=True)
class ConsistencyWarning:
    """`kind` is `module-release` or `architecture`; `found` is what the part has, `expected`
    what the kernel (or the EIF header) has."""

    kind: str
    path: str
    found: str
    expected: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _arch(name: str | None) -> str | None:
    return ARCH_NAMES.get(name, name) if name else None


def _differ(x: str, y: str) -> bool:
    if x == y:
        return False
    if "x86" in (x, y):
        return _FAMILY.get(x, x) != _FAMILY.get(y, y)
    return True


def check(eif_arch: str, parts: Iterable[Part]) -> tuple[ConsistencyWarning, ...]:
    """Every disagreement between the parts, the kernel and the EIF header, in part order."""
    parts = tuple(parts)
    header = _arch(eif_arch)
    kernel = next((p for p in parts if p.role == "kernel"), None)
    out: list[ConsistencyWarning] = []
    kernel_arch = _arch(kernel.arch) if kernel else None
    if kernel is not None and kernel_arch and header and _differ(kernel_arch, header):
        out.append(ConsistencyWarning(
            "architecture", kernel.path, kernel_arch, header,
            f"{kernel_arch} kernel in an {header} image (EIF header flags say {header})"))
    for p in parts:
        if p.role == "kernel":
            continue
        arch = _arch(p.arch)
        if arch and header and _differ(arch, header):
            out.append(ConsistencyWarning(
                "architecture", p.path, arch, header,
                f"{p.role} built for {arch} in an {header} image"))
        elif arch and kernel_arch and _differ(arch, kernel_arch):
            out.append(ConsistencyWarning(
                "architecture", p.path, arch, kernel_arch,
                f"{p.role} built for {arch} but the kernel is {kernel_arch}"))
        if p.role == "module" and p.release and kernel is not None and kernel.release \
                and p.release != kernel.release:
            out.append(ConsistencyWarning(
                "module-release", p.path, p.release, kernel.release,
                f"module built for kernel {p.release} (vermagic {p.vermagic!r}) but the "
                f"kernel is {kernel.release}: it cannot load"))
    return tuple(out)
