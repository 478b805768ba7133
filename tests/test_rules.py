"""The rule table (eifdiff/rules.py): every kind of row is declared once and means one thing.

A `Divergence` whose (layer, field) the table does not declare, or whose category differs from
the table's, cannot be made (its constructor raises), so every row of every test fixture is
checked as it is made; the samples are checked here row by row as well."""

from __future__ import annotations

from pathlib import Path

import pytest

from eifdiff import rules
from eifdiff.compare import compare_files
from eifdiff.normalize import NAMES
from eifdiff.records import Divergence
from eifdiff.rules import CATEGORIES, LAYERS, RULES, rule

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PAIRS = sorted(p.name for p in SAMPLES.iterdir() if (p / "a.eif").is_file())


def test_every_rule_is_well_formed() -> None:
    for (layer, field), r in RULES.items():
        assert (r.layer, r.field) == (layer, field)
        assert r.layer in LAYERS and r.category in CATEGORIES
        assert r.normalization is None or r.normalization in NAMES, r
        assert r.hint.strip().endswith((".", ")")), r
        if r.category == "derived":
            assert r.normalization is None and not r.deep, r


def test_every_normalization_removes_some_kind_of_row() -> None:
    assert set(NAMES) == {r.normalization for r in RULES.values()} - {None}


def test_field_names_are_module_constants() -> None:
    constants = {v for k, v in vars(rules).items() if k.isupper() and isinstance(v, str)}
    assert {field for _, field in RULES} <= constants


def test_an_undeclared_row_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="no rule"):
        Divergence("kernel", "kernel", "no such field", 1, 2, "content")
    with pytest.raises(ValueError, match="is 'timestamp'"):
        Divergence("ramdisk[1]", "cpio-entry", "mtime", 1, 2, "content")
    with pytest.raises(ValueError, match="no rule"):
        rule("cpio-entry", "DW_AT_comp_dir")


@pytest.mark.parametrize("pair", PAIRS)
def test_every_sample_row_has_its_rule(pair: str) -> None:
    report = compare_files(SAMPLES / pair / "a.eif", SAMPLES / pair / "b.eif")
    for d in report.divergences:
        r = rule(d.layer, d.field)
        assert d.category == r.category or (d.category == "derived" and d.because), d
        assert d.hint == r.hint or d.package is not None, d
