"""Stand-ins for nitro-cli's `init` and `nsm.ko` (compiled by scripts/make_boot_blobs.py at test
time) and a blob catalog in which they take the place of the published files they imitate."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

import pytest

from eifdiff.blobs import Catalog, catalog

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_boot_blobs.py"

# The published files each stand-in imitates: catalog path, commit that added it, SHA-256.
PUBLISHED = {
    "init-2021-12": ("blobs/x86_64/init", "a216fb649d3938c0601bf5142190567f3eeb3a6a",
                     "cd15e482bc3e9aa864483ab2fb7625be75eb312a247a298f8dd4eb3a0847a1c1"),
    "init-2022-02": ("blobs/x86_64/init", "147f2cb8327a937043b322fc7a52404caf08e8f1",
                     "d78fcd2aa55da96b49f15ab4c66c7591efc75678fa7dfb9775bd27d92042a5fd"),
    "nsm-2021-10.ko": ("blobs/x86_64/nsm.ko", "708f99682b004e9fc8cfe3795acad6dc6261d170",
                       "a905d57113137df2ec4b13acefe6119640cbb9909edbad57e15248df713847fc"),
    "nsm-2022-02.ko": ("blobs/x86_64/nsm.ko", "147f2cb8327a937043b322fc7a52404caf08e8f1",
                       "48904e520db2541ca4378da29d85791749408febc81987ade56cc5c556bd90df"),
}


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_eifdiff_make_boot_blobs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while defining
        spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class BootBlobs:
    """The four compiled stand-ins, by their sample name (`init-2022-02`, `nsm-2021-10.ko`...)."""

    files: dict[str, bytes]

    def __getitem__(self, name: str) -> bytes:
        return self.files[name]

    def sha256(self, name: str) -> str:
        return hashlib.sha256(self.files[name]).hexdigest()


def build(out: Path) -> BootBlobs:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is not installed (make test installs it)")
    paths = script().make_boot_blobs(out)
    return BootBlobs({name: path.read_bytes() for name, path in paths.items()})


def catalog_with(blobs: BootBlobs) -> Catalog:
    """The packaged catalog, each imitated entry matched by its stand-in's SHA-256 instead."""
    swap = {digest: blobs.sha256(name) for name, (_, _, digest) in PUBLISHED.items()}
    cat = catalog()
    missing = set(swap) - {b.sha256 for b in cat.blobs}
    assert not missing, f"published blobs missing from the catalog: {sorted(missing)}"
    return replace(cat, blobs=tuple(
        replace(b, sha256=swap[b.sha256]) if b.sha256 in swap else b for b in cat.blobs))
