"""The tests mirror the package: `tests/x/test_y.py` tests `eifdiff/x/y.py`. A module tested
elsewhere says where, here, with the reason."""

from __future__ import annotations

from tests.helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "eifdiff"
TESTS = REPO_ROOT / "tests"

ELSEWHERE = {
    "__main__.py": "test_cli.py (python -m eifdiff is cli.main)",
    "diff/container.py": "diff/test_categories.py (header and section rows, one cause per pair)",
    "diff/content.py": "diff/test_categories.py and diff/test_rules.py (one rule per pair)",
    "diff/ramdisk.py": "diff/test_ordering.py and diff/test_categories.py",
    "diff/rows.py": "diff/test_locations.py (where rows point, in which offset space)",
    "diff/sections.py": "diff/test_categories.py (metadata, signature, kernel, cmdline pairs)",
    "diff/spans.py": "test_hostile.py and diff/test_categories.py (large and odd payloads)",
    "formats/compression.py": "diff/test_categories.py (every format) and test_hostile.py",
    "formats/elf.py": "diff/test_categories.py (gcc-built pairs) and test_fuzz.py",
    "frames.py": "report/test_model.py and test_notebooks.py (every view, live and reloaded)",
    "plots.py": "report/test_model.py and test_notebooks.py (every figure)",
    "notebook.py": "report/test_model.py and test_notebooks.py",
    "load.py": "test_image.py, test_compare.py and test_hostile.py",
    "packages/model.py": "packages/test_inventory.py",
    "records.py": "test_rules.py (a row the table does not declare cannot be made)",
    "report/text.py": "test_compare_cli.py and test_golden.py (the text report)",
}


def test_every_module_has_its_test_module() -> None:
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.name == "__init__.py" or rel.as_posix() in ELSEWHERE:
            continue
        if not (TESTS / rel.parent / f"test_{rel.name}").is_file():
            missing.append(rel.as_posix())
    assert not missing, f"no tests/.../test_<module>.py (or reason in ELSEWHERE): {missing}"


def test_reasons_name_existing_test_modules() -> None:
    for module, reason in ELSEWHERE.items():
        assert (PACKAGE / module).is_file(), module
        named = [w for w in reason.replace(",", " ").split() if w.endswith(".py")]
        assert named and all((TESTS / n).is_file() for n in named), (module, reason)
