"""notebooks/06-attestation.ipynb: generated, without outputs, built on the public attest API, and
run headless (papermill) on a real document alone and on a test-chain document against the
other side of a sample pair."""

from __future__ import annotations

import ast
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import papermill
import pytest

from tests.attest.chain import SAMPLES, sample_document, shared, write_root
from tests.test_notebooks import FORBIDDEN, NB_DIR, _code

NAME = "06-attestation"
ALLOWED_IMPORTS = {"eifdiff.attest", "pandas", "IPython.display"}
ATTEST_API = {"attest", "load_root"}
FRAME_API = {"fields", "chain", "pcrs"}


def _read() -> nbformat.NotebookNode:
    return nbformat.read(NB_DIR / f"{NAME}.ipynb", as_version=4)


def test_layout_and_parameters() -> None:
    nb = _read()
    nbformat.validate(nb)
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# Does this "
                                                                           "attestation")
    assert "import eifdiff.attest" in cells[1].source
    assert "parameters" in cells[2].metadata.get("tags", [])
    values = {t.id: ast.literal_eval(node.value) for node in ast.parse(cells[2].source).body
              if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
    assert values["eif"] is None and values["root"] is None
    assert (NB_DIR / values["document"]).resolve() == shared("doc-2025-05-19.b64").resolve()
    for cell in cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_uses_only_the_public_api() -> None:
    for cell in _read().cells:
        if cell.cell_type != "code":
            continue
        source = _code(cell)
        assert FORBIDDEN.search(source) is None, source
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                assert {a.name for a in node.names} <= ALLOWED_IMPORTS, ast.unparse(node)
            elif isinstance(node, ast.ImportFrom):
                assert node.module in ALLOWED_IMPORTS, ast.unparse(node)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                    and ast.unparse(node.value) == "eifdiff.attest":
                assert node.attr in ATTEST_API, ast.unparse(node)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "frames":
                assert node.attr in FRAME_API, ast.unparse(node)


def _execute(out: Path, parameters: dict[str, object]) -> tuple[Path, str | None]:
    try:
        papermill.execute_notebook(
            str(NB_DIR / f"{NAME}.ipynb"), str(out), parameters=parameters,
            kernel_name="python3", cwd=str(NB_DIR), progress_bar=False, log_output=False,
            execution_timeout=120)
    except Exception as exc:  # the output notebook still holds the failing cell
        return out, f"{type(exc).__name__}: {exc}"
    return out, None


def _outputs(path: Path) -> tuple[list[str], list[str], bool, list[str]]:
    nb = nbformat.read(path, as_version=4)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    text = [o.data["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    png = any("image/png" in o.get("data", {}) for o in outputs)
    return errors, html, png, text


@pytest.mark.slow
def test_runs_headless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "doc.cbor"
    doc.write_bytes(sample_document("cpio-mtime", "a"))
    runs = {
        "real": {},  # the defaults: a real AWS document, no image
        "mismatch": {"document": str(doc), "eif": str(SAMPLES / "cpio-mtime" / "b.eif"),
                     "root": str(write_root(tmp_path))},
    }
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(NB_DIR)  # papermill's cwd is a process-wide chdir; keep it stable
    workers = min(len(runs), max(1, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        futures = {k: pool.submit(_execute, tmp_path / f"{k}.ipynb", p) for k, p in runs.items()}
        results = {k: f.result() for k, f in futures.items()}
    for key, (path, failure) in results.items():
        errors, html, png, text = _outputs(path)
        assert not errors and failure is None, (key, errors or failure)
        assert any("<table" in h for h in html) and png, key
    _, html, _, text = _outputs(results["real"][0])
    assert any("**Verdict: verified**" in t for t in text)
    assert any("i-0e714770daf181058-enc0196e9dd26f02345" in h for h in html)
    _, html, _, text = _outputs(results["mismatch"][0])
    assert any("**Verdict: mismatch**" in t for t in text)
    assert any("**PCR2** differs: the application ramdisk differs (ramdisk[1])" in t
               for t in text)
    assert any("same kernel, cmdline and bootstrap ramdisk" in h for h in html)
