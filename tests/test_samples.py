"""The committed sample pairs: reproducible from scripts/make_samples.py, PCR patterns as
documented, small, and with the sha256 values that samples/README.md states."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from eifdiff.image import open_image

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SCRIPT = ROOT / "scripts" / "make_samples.py"

# Which PCRs are equal between a.eif and b.eif (PCR8 only where both are signed), as
# scripts/make_samples.py wrote it beside the samples.
EXPECTED = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
PATTERNS = {pair: e["pcr_equal"] for pair, e in EXPECTED.items()}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_script() -> ModuleType:
    name = "_eifdiff_make_samples"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    script = _load_script()
    if shutil.which("gcc") is None:
        pytest.fail("gcc is not installed (make test installs it)")
    version = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True)
    if version.stdout.splitlines()[0] != script.GCC_VERSION:
        pytest.fail(f"samples were compiled by {script.GCC_VERSION}; run make samples")
    out = tmp_path_factory.mktemp("samples")
    script.make_samples(out)
    return out


def test_pairs_are_the_documented_ones() -> None:
    pairs = [p.name for p in SAMPLES.iterdir() if p.is_dir()]
    assert sorted(pairs) == sorted(PATTERNS)


def _same_python() -> bool:
    """Whether this interpreter writes the samples' `.pyc` bytes (the samples were made with
    CPython 3.11; another version compiles other bytecode, so only the stories can match)."""
    return sys.implementation.cache_tag == _load_script().PYTHON_CACHE_TAG


@pytest.mark.parametrize("pair", sorted(PATTERNS))
def test_regeneration_is_byte_identical(regenerated: Path, pair: str) -> None:
    for name in ("a.eif", "b.eif"):
        new, old = regenerated / pair / name, SAMPLES / pair / name
        if _same_python():
            assert new.read_bytes() == old.read_bytes(), \
                f"{pair}/{name} differs from a fresh regeneration"
        else:  # the same story: the same sections and PCR pattern
            assert [s.type for s in open_image(new).layout.sections] == \
                [s.type for s in open_image(old).layout.sections], f"{pair}/{name}"
    a, b = open_image(regenerated / pair / "a.eif"), open_image(regenerated / pair / "b.eif")
    assert {k: a.pcrs[k] == b.pcrs[k] for k in a.pcrs} == PATTERNS[pair]


@pytest.mark.parametrize("pair", sorted(PATTERNS))
def test_pcr_pattern(pair: str) -> None:
    a, b = open_image(SAMPLES / pair / "a.eif"), open_image(SAMPLES / pair / "b.eif")
    assert a.crc_ok and b.crc_ok
    assert a.pcrs.keys() == b.pcrs.keys()
    assert {k: a.pcrs[k] == b.pcrs[k] for k in a.pcrs} == PATTERNS[pair]
    if a.signature is not None and b.signature is not None:
        assert a.signature.check and b.signature.check


def test_total_size_under_5_mb() -> None:
    total = sum(f.stat().st_size for f in SAMPLES.rglob("*") if f.is_file())
    assert total < 5_000_000


def test_readme_sha256_values_match() -> None:
    text = (SAMPLES / "README.md").read_text()
    sections = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    stated: dict[tuple[str, str], str] = {}
    for section in sections:
        pair = section.split(None, 1)[0].strip("`")
        for name, digest in re.findall(r"`([ab]\.eif)` sha256 `([0-9a-f]{64})`", section):
            stated[(pair, name)] = digest
    expected = {(p, n) for p in PATTERNS for n in ("a.eif", "b.eif")}
    assert set(stated) == expected
    for (pair, name), digest in sorted(stated.items()):
        assert _sha256(SAMPLES / pair / name) == digest, f"README sha256 of {pair}/{name}"


def test_expectations_are_what_the_script_writes(regenerated: Path) -> None:
    fresh = json.loads((regenerated / "expected.json").read_text())
    if _same_python():
        assert fresh == EXPECTED
    assert {p: (e["pcr_equal"], e["causes"]) for p, e in fresh.items()} == {
        p: (e["pcr_equal"], e["causes"]) for p, e in EXPECTED.items()}
    for pair, e in EXPECTED.items():
        for side in ("a", "b"):
            assert _sha256(SAMPLES / pair / f"{side}.eif") == e["sha256"][side], (pair, side)
