"""Fixtures: the conformance vectors in ../shared/vectors (missing ones fail, never skip)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import eifdiff.blobs
from eifdiff.blobs import Catalog
from tests.boot_blobs import BootBlobs, catalog_with
from tests.boot_blobs import build as build_boot_blobs
from tests.helpers import CliBatch, Vector, require_vectors, vector_index, vector_names


def _unsigned_names() -> list[str]:
    names = vector_names()
    if names == ["<vectors missing>"]:
        return names
    return [n for n in names if "--signing-certificate" not in vector_index()[n]["options"]]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "vector_name" in metafunc.fixturenames:
        metafunc.parametrize("vector_name", vector_names())
    if "unsigned_name" in metafunc.fixturenames:
        metafunc.parametrize("unsigned_name", _unsigned_names())


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    return require_vectors()


@pytest.fixture
def vec(vector_name: str, vectors_dir: Path) -> Vector:
    """Each conformance vector in turn."""
    return Vector.load(vector_name)


@pytest.fixture
def unsigned_vec(unsigned_name: str, vectors_dir: Path) -> Vector:
    """Each unsigned conformance vector in turn (those a writer must reproduce byte for byte)."""
    v = Vector.load(unsigned_name)
    assert not v.signed
    return v


@pytest.fixture
def signed_vec(vectors_dir: Path) -> Vector:
    v = Vector.load("04-signed")
    assert v.signed
    return v


@pytest.fixture
def inputs_dir(vectors_dir: Path) -> Path:
    return vectors_dir / "inputs"



@pytest.fixture(scope="session")
def vector_cli(vectors_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliBatch]:
    """Every vector's `describe --json` and rebuilds (`build-NAME`, `build-file-NAME`, outputs
    in `batch.out_dir`), started together in the background on first use."""
    batch = CliBatch(out_dir=tmp_path_factory.mktemp("rebuilt"))
    assert batch.out_dir is not None
    for name in vector_names():
        v = Vector.load(name)
        batch.submit(f"describe-{name}", "describe", "--json", v.eif)
        batch.submit(f"build-{name}", *v.build_args(batch.out_dir / f"{name}.eif"), cwd=v.root)
        if not v.signed:
            batch.submit(f"build-file-{name}",
                         *v.build_args(batch.out_dir / f"{name}.file.eif", cmdline_file=True),
                         cwd=v.root)
    yield batch
    batch.close()


@pytest.fixture(scope="session")
def boot_blobs(tmp_path_factory: pytest.TempPathFactory) -> BootBlobs:
    """nitro-cli `init` and `nsm.ko` stand-ins, compiled once per session."""
    return build_boot_blobs(tmp_path_factory.mktemp("boot-blobs"))


@pytest.fixture
def blob_catalog(boot_blobs: BootBlobs, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """The blob catalog with the stand-ins in place of the published files they imitate."""
    cat = catalog_with(boot_blobs)
    monkeypatch.setattr(eifdiff.blobs, "catalog", lambda: cat)
    return cat
