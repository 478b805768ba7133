"""Fixtures for the package-reader tests."""

from __future__ import annotations

import shutil

import pytest

from tests.packages.helpers import build_go_binaries


@pytest.fixture(scope="session")
def go_binaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Real Go binaries built once per session (`make test` installs the go command)."""
    if shutil.which("go") is None:
        pytest.fail("the go command is not installed (apt-get install golang-go)")
    return build_go_binaries(tmp_path_factory.mktemp("go"))
