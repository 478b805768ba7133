"""scripts/make_boot_blobs.py: the stand-ins are deterministic, and the test catalog names them
where the packaged one names the published files (tests/boot_blobs.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from eifdiff.blobs import Catalog, catalog
from tests.boot_blobs import PUBLISHED, BootBlobs, build, script


def test_every_build_writes_the_same_bytes(tmp_path: Path, boot_blobs: BootBlobs) -> None:
    again = build(tmp_path / "again")
    assert again.files == boot_blobs.files
    assert sorted(again.files) == sorted(PUBLISHED)
    assert len({hashlib.sha256(d).digest() for d in again.files.values()}) == 4


def test_script_prints_each_digest(tmp_path: Path, boot_blobs: BootBlobs,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert script().main([str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{boot_blobs.sha256(n)}  {n}" for n in script().NAMES]


def test_test_catalog_swaps_only_the_imitated_entries(boot_blobs: BootBlobs,
                                                      blob_catalog: Catalog) -> None:
    real = catalog()  # imported before the fixture replaced eifdiff.blobs.catalog
    assert len(blob_catalog.blobs) == len(real.blobs)
    changed = [(x, y) for x, y in zip(real.blobs, blob_catalog.blobs, strict=True) if x != y]
    assert len(changed) == 4
    for name, (path, commit, digest) in PUBLISHED.items():
        known = blob_catalog.by_sha256(boot_blobs.sha256(name))
        assert known is not None and (known.path, known.commit) == (path, commit)
        assert blob_catalog.by_sha256(digest) is None
