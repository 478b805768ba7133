"""The attest package keeps the flow one way, ships its root, and documents its JSON."""

from __future__ import annotations

import re
import tomllib

from eifdiff.attest.render import outcome_json
from tests.attest.chain import REAL, shared
from tests.helpers import REPO_ROOT
from tests.test_layering import imports

PACKAGE = REPO_ROOT / "eifdiff" / "attest"


def _own(name: str) -> set[str]:
    return {m for m in imports(PACKAGE / name) if m.startswith("eifdiff")}


def test_document_reader_is_a_format_reader() -> None:
    assert _own("document.py") <= {"eifdiff.errors", "eifdiff.errors.FormatError"}


def test_only_the_notebook_views_import_pandas_or_matplotlib() -> None:
    for path in PACKAGE.glob("*.py"):
        heavy = {m for m in imports(path) if m.split(".")[0] in ("pandas", "matplotlib")}
        if path.name in ("frames.py", "plots.py"):
            continue
        assert not heavy, path.name
        assert not {m for m in _own(path.name) if m.startswith(("eifdiff.attest.frames",
                                                                 "eifdiff.attest.plots",
                                                                 "eifdiff.cli"))}, path.name


def test_root_is_package_data() -> None:
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    files = data["tool"]["setuptools"]["package-data"]["eifdiff.attest"]
    assert files == ["aws-nitro-enclaves-root-g1.pem"]
    assert (PACKAGE / files[0]).read_bytes() == shared(files[0]).read_bytes()


def test_readme_documents_every_json_key() -> None:
    from eifdiff.attest import attest

    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("### The JSON output, schema `eifdiff-attest/1`"):]
    block = section[section.index("```"):section.index("```", section.index("```") + 3)]
    documented = set(re.findall(r"^(\w+)\s", block[3:], re.MULTILINE))
    j = outcome_json(attest(shared(REAL[0])))
    assert documented == set(j)
    for key in ("document", "verification"):
        for sub in j[key]:
            assert re.search(rf"\b{sub}\b", block), f"{key}.{sub} not in the README"
