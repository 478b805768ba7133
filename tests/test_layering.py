"""The flow runs one way: byte formats import nothing above them, measuring stays light."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "eifdiff"


def imports(path: Path, root: Path = REPO_ROOT) -> set[str]:
    """Every module an `import` or `from ... import` names, lazy imports included, with
    relative imports resolved against the file's package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names if mod.startswith("eifdiff")}
    return out


def _top(name: str) -> str:
    return name.split(".")[0]


def format_modules() -> list[Path]:
    found = sorted((PACKAGE / "formats").glob("*.py"))
    assert len(found) >= 5
    return found


def test_formats_import_only_errors_views_and_formats() -> None:
    """Byte formats read views (`eifdiff.mapped` counts what they read) and nothing above."""
    bad = {}
    for path in format_modules():
        own = {m for m in imports(path) if _top(m) == "eifdiff"}
        wrong = {m for m in own if not (
            m in ("eifdiff.errors", "eifdiff.formats", "eifdiff.mapped", "eifdiff.escape")
            or m.startswith(("eifdiff.errors.", "eifdiff.formats.", "eifdiff.mapped.",
                             "eifdiff.escape."))
        )}
        if wrong:
            bad[path.name] = sorted(wrong)
    assert not bad, bad


def test_formats_do_not_import_heavy_or_upper_layers() -> None:
    for path in format_modules():
        mods = imports(path)
        assert not {m for m in mods if _top(m) in ("pandas", "matplotlib")}, path.name
        assert not {m for m in mods if m == "eifdiff.cli" or m.startswith("eifdiff.cli.")}, \
            path.name


def test_measure_and_mapped_stay_light() -> None:
    for name in ("measure.py", "mapped.py"):
        mods = imports(PACKAGE / name)
        assert not {m for m in mods if _top(m) in ("pandas", "matplotlib")}, name


def test_import_parser_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    src = "import os\nfrom . import eif\nfrom ..cli import main\ndef f():\n    import pandas\n"
    fake = tmp_path / "eifdiff" / "formats" / "x.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(src)
    assert imports(fake, tmp_path) == {
        "os", "eifdiff.formats", "eifdiff.formats.eif", "eifdiff.cli", "eifdiff.cli.main",
        "pandas"}


# Every module of the package, by stage of the flow (README "Architecture"): a module imports
# only from its own stage or those to its left. A new module must be placed here.
STAGES: tuple[tuple[str, ...], ...] = (
    ("eifdiff.errors", "eifdiff.escape", "eifdiff.rules", "eifdiff.progress"),
    ("eifdiff.mapped",),
    ("eifdiff.formats",),
    ("eifdiff.image", "eifdiff.measure", "eifdiff.load", "eifdiff.build", "eifdiff.records",
     "eifdiff.blobs", "eifdiff.consistency"),
    ("eifdiff.packages", "eifdiff.enclave"),
    ("eifdiff.diff", "eifdiff.normalize", "eifdiff.unpack"),
    ("eifdiff.report.model",),
    ("eifdiff.causes", "eifdiff.remedies", "eifdiff.deep"),
    ("eifdiff.compare", "eifdiff.attest"),
    ("eifdiff.report", "eifdiff.frames", "eifdiff.plots", "eifdiff.notebook",
     "eifdiff.describe", "eifdiff.display", "eifdiff.drill", "eifdiff.notebooks"),
    ("eifdiff.cli", "eifdiff.__main__", "eifdiff"),
)
HEAVY_ALLOWED = {"eifdiff.frames", "eifdiff.plots", "eifdiff.notebook", "eifdiff.attest.frames",
                 "eifdiff.attest.plots", "eifdiff.display", "eifdiff.drill"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> int | None:
    """The stage of the longest prefix of `module` that STAGES names."""
    best: tuple[int, int] | None = None
    for i, names in enumerate(STAGES):
        for n in names:
            named = module == n or module.startswith(n + ".")
            if named and (best is None or len(n) > best[1]):
                best = (i, len(n))
    return None if best is None else best[0]


def test_every_module_has_a_stage_and_imports_only_leftwards() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 40
    unplaced = [module_name(p) for p in modules if stage_of(module_name(p)) is None]
    assert not unplaced, f"place these modules in tests/test_layering.py STAGES: {unplaced}"
    wrong = []
    for path in modules:
        me = module_name(path)
        mine = stage_of(me)
        assert mine is not None
        for m in imports(path):
            if _top(m) in ("pandas", "matplotlib") and me not in HEAVY_ALLOWED:
                wrong.append(f"{me} imports {m}")
            if _top(m) != "eifdiff" or m == "eifdiff":
                continue
            theirs = stage_of(m)
            if theirs is not None and theirs > mine:
                wrong.append(f"{me} (stage {mine}) imports {m} (stage {theirs})")
    assert not wrong, "\n".join(wrong)
