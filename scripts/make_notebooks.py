#!/usr/bin/env python3
"""Write the JupyterLab notebooks in `notebooks/` from the cell texts below.

The notebooks are generated so that they stay consistent with each other: each opens with one
Markdown cell saying which question it answers, then an imports cell, then a cell tagged
`parameters` (papermill) defining `eif_a` and `eif_b`, relative to the notebooks folder, then the
answer (`c.answer()`: verdict and root causes). Their code cells call only the public notebook
API (`eifdiff.compare_eifs` and the `Comparison` it returns); every display helper lives in the
package. They are written without outputs, as deterministic JSON
(fixed cell ids, sorted keys), so `tests/test_notebooks.py` can check that the committed files
are exactly what this script writes.

    .venv/bin/python scripts/make_notebooks.py           # (re)write notebooks/*.ipynb
    .venv/bin/python scripts/make_notebooks.py --check   # exit 1 if a notebook is out of date
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "notebooks"
DEFAULT_PAIR = "elf-build-path"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "file_extension": ".py", "mimetype": "text/x-python"}



def imports(*extra: str) -> str:
    lines = [
        "%matplotlib inline",
        "from IPython.display import display",
        *extra,
        "",
        "import eifdiff",
    ]
    return "\n".join(lines)


def parameters(*extra: str, pair: str = DEFAULT_PAIR) -> str:
    lines = [
        "# Parameters (papermill): the two EIF files, relative to this folder or absolute.",
        f'eif_a = "../samples/{pair}/a.eif"',
        f'eif_b = "../samples/{pair}/b.eif"',
        *extra,
    ]
    return "\n".join(lines)


OPEN = """\
c = eifdiff.compare_eifs(eif_a, eif_b)
c.answer()"""

CLOSE = "c.close()  # release both files"


class Md(str):
    """The text of a Markdown cell (every other cell text is code)."""


def md(text: str) -> Md:
    return Md(textwrap.dedent(text).strip("\n"))


def code(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


# --- 01-overview ---------------------------------------------------------------------------
OVERVIEW = [
    md("""
        # Why do these two builds differ?

        The verdict, the PCRs that moved, and the root causes behind every differing byte, each
        with its evidence and its fix; then the evidence as figures and the rows under each root
        cause. Set `eif_a` and `eif_b` below (or pass them with papermill or
        `eifdiff notebook A B`).
    """),
    imports(),
    parameters(),
    OPEN,
    md("""
        ## The build clock

        Per entry, b's mtime minus a's, and both builds' windows in UTC: a constant offset means
        the builds ran that far apart and nothing clamps mtimes.
    """),
    code("display(c.plot_clock())"),
    md("""
        ## Where in the file

        Each row at its offset in file a, one colour per category; rare categories are drawn
        on top, as diamonds.
    """),
    code("display(c.plot_map())"),
    md("## The rows, under their root cause (the first 5 of each; the rest one call away)"),
    code("c.grouped(rows=5)"),
    md("## How many rows of each kind"),
    code("display(c.plot_categories())"),
    md("""
        ## What would fix it

        Each normalization (or the smallest combination) applied to both images in memory, the
        PCRs recomputed; `fixes` is yes when every PCR would then be equal. On large images the
        remedies are only computed on request (`eifdiff.compare_eifs(a, b, remedies=True)`).
    """),
    code("""
        remedies = c.remedies()
        shown = remedies[[col for col in remedies.columns if not col.endswith((" a", " b"))]]
        c.table(shown, shade="fixes", when=True, colour="#e3f4e1",
                caption=c.remedies_note() or f"{len(shown)} normalizations tried")
    """),
    md("## The PCRs and the sections each measures"),
    code('c.table(c.pcrs(), shade="equal", caption="shaded: the PCR differs")'),
    CLOSE,
]

# --- 02-ramdisk-entries ---------------------------------------------------------------------
ENTRIES = [
    md("""
        # Which ramdisk entries differ, and how?

        Per ramdisk, how many entries changed (a header field or the content), moved, were
        added or removed, with one definition of *moved* throughout: the fewest entries whose
        removal leaves both archives in the same order. Then the entries themselves, content
        changes beside header fields, and the mtimes and sizes.
    """),
    imports(),
    parameters(pair="cpio-order"),
    OPEN,
    md("## Entries by status"),
    code('c.table(c.entry_counts(), index=True, caption="entries per ramdisk and status")'),
    md("""
        ## The entry rows, under their root cause

        The first 5 rows of each root cause; `c.divergences(root_cause="rc1")` gives them all.
    """),
    code("""
        rows = c.divergences()
        c.grouped(rows[rows["layer"] == "cpio-entry"], rows=5)
    """),
    md("""
        ## Changed entries

        `differs` names every field that differs, `content` when the bytes do (those come
        first); the `_a`/`_b` pairs are shaded where they differ.
    """),
    code("""
        changed = c.entries("changed")  # content changes first, then in archive order
        changed = changed.sort_values("differs", key=lambda d: ~d.str.contains("content"),
                                      kind="stable")
        fields = ["content", "filesize", "mode", "uid", "gid", "mtime", "nlink", "ino"]
        columns = ["ramdisk", "name", "differs", "moved"] + [
            f"{f}_{side}" for f in fields for side in "ab"
            if changed["differs"].str.contains(f).any()]
        c.table(changed[columns], limit=25, caption=f"{len(changed):,} changed entries")
    """),
    md("## Moved, added and removed entries"),
    code("""
        for status in ("moved", "added", "removed"):
            df = c.entries(status)
            side = "b" if status == "added" else "a"
            columns = ["ramdisk", "name", "index_a", "index_b"] if status == "moved" else [
                "ramdisk", "name", f"kind_{side}", f"filesize_{side}", f"mode_{side}"]
            display(c.table(df[columns], limit=15, caption=f"{status}: {len(df):,} entries"))
    """),
    md("""
        ## Entry mtimes

        Both sides on one UTC axis that ignores outliers (an entry at mtime 0 would stretch it
        to 1970); the offset between them is the build clock of `01-overview`.
    """),
    code("display(c.plot_mtimes())"),
    md("## Entry size changes"),
    code("display(c.plot_size_deltas())"),
    CLOSE,
]

# --- 03-binaries ----------------------------------------------------------------------------
BINARIES = [
    md("""
        # What differs inside one file?

        The entries whose content differs, then one of them opened: header fields side by side,
        and by kind the ELF section table, a text diff, or the differing byte ranges as a
        side-by-side hexdump; diffoscope's view on request. Set `entry` (a name such as
        `rootfs/bin/app`; `None` picks the first changed file) and `deep` below.
    """),
    imports(),
    parameters("entry = None  # an entry name such as 'rootfs/bin/app', or None for the first\n"
               "deep = False  # True: add diffoscope's view of the entry (slower)"),
    OPEN,
    md("## Files whose content differs"),
    code("""
        files = c.changed_files()
        c.table(files, limit=30, caption=f"{len(files):,} entries whose content differs")
    """),
    md("## One file, opened"),
    code("""
        chosen = entry if entry is not None else (files["entry"].iloc[0] if len(files) else None)
        if chosen is None:
            print("No entry's content differs: nothing to open.")
        else:
            display(c.file(chosen, deep=deep))
    """),
    md("## Build IDs and build directories of the differing ELF files"),
    code("""
        binaries = c.binaries()
        c.table(binaries, caption=f"{len(binaries):,} differing ELF files")
    """),
    CLOSE,
]

# --- 04-remedies ----------------------------------------------------------------------------
REMEDIES = [
    md("""
        # What would fix it?

        For each normalization of the build that touches a difference found (clamping mtimes,
        sorting the archive, renumbering inodes, fixing owners or modes, a fixed gzip header or
        build time), both images are rewritten in memory and their PCRs recomputed; then the
        smallest combination that makes every PCR equal, and what no normalization removes.
    """),
    imports(),
    parameters("remedies = None  # None: only for images under 64 MiB of ramdisk; True: always",
               pair="cpio-order"),
    """\
c = eifdiff.compare_eifs(eif_a, eif_b, remedies=remedies)
c.answer()""",
    md("## The remedies"),
    code("""
        table = c.remedies()
        shown = table[[col for col in table.columns if not col.endswith((" a", " b"))]]
        c.table(shown, shade="fixes", when=True, colour="#e3f4e1",
                caption=c.remedies_note() or f"{len(shown)} normalizations tried; "
                "shaded: makes every PCR equal")
    """),
    md("## PCR equality after each normalization (green: equal; the first row as built)"),
    code("display(c.plot_remedies())"),
    md("""
        ## What remains, and the hints

        The causes no normalization removes, with an example and how to fix each at the source.
    """),
    code("""
        left = c.remaining()
        c.table(left, caption="nothing measured remains" if left.empty else
                "no normalization removes these")
    """),
    CLOSE,
]


# --- 05-packages ---------------------------------------------------------------------------
PACKAGES = [
    md("""
        # Which packages changed, and which package owns each divergent file?

        The packages both images record (dpkg, apk, rpm, Python distributions, Go modules) side
        by side, the changed ones first, warnings for versions that must never ship (such as xz
        5.6.0 and 5.6.1), and the divergent files grouped by the package that owns them.
    """),
    imports(),
    parameters(pair="packages"),
    OPEN,
    md("## Known-bad versions"),
    code("""
        warnings = c.warnings()
        c.table(warnings, caption="no known-bad package version in either image"
                if warnings.empty else f"{len(warnings)} known-bad versions")
    """),
    md("## Package changes"),
    code("""
        packages = c.packages()
        changed = packages[packages["status"] != "same"]
        display(c.plot_packages())
        c.table(changed, limit=50, caption=f"{len(packages):,} packages; {len(changed):,} changed, "
                "added or removed")
    """),
    md("## Divergent files by owning package"),
    code("c.table(c.divergences_by_package(), limit=50)"),
    CLOSE,
]


# --- 06-attestation ---------------------------------------------------------------------------
ATTESTATION = [
    md("""
        # Does this attestation document match this image?

        A running enclave proves what it runs with an attestation document: PCRs signed by the
        Nitro hardware, chained to AWS's root. This notebook verifies the document (signature,
        chain and validity at the document's own time), shows its claims, and, given an EIF,
        puts the document's PCRs beside the image's and says what each differing PCR means:
        PCR1 is the kernel, cmdline and bootstrap ramdisk, PCR2 the application ramdisk, PCR8
        the signing certificate. All-zero PCR0-2 mean the enclave ran in debug mode.
    """),
    "\n".join([
        "%matplotlib inline",
        "import pandas as pd",
        "from IPython.display import Markdown, display",
        "",
        "import eifdiff.attest",
        "from eifdiff.attest import frames, plots",
        "",
        'pd.set_option("display.max_colwidth", 100)',
    ]),
    "\n".join([
        "# Parameters (papermill): the document (raw CBOR, base64 or hex), the EIF to compare it",
        "# with (or None), and a root certificate to trust instead of AWS's (or None).",
        'document = "../../shared/attestation/doc-2025-05-19.b64"',
        "eif = None",
        "root = None",
    ]),
    code("""
        o = eifdiff.attest.attest(document, eif,
                                  root=eifdiff.attest.load_root(root) if root else None)
        display(Markdown(f"**Verdict: {o.verdict}** (exit code {o.exit_code} for "
                         "`eifdiff attest`)"))
        frames.fields(o)
    """),
    md("""
        ## The certificate chain, checked at the document's time

        Leaf certificates live about three hours: each certificate must be valid when the
        document was made, not now.
    """),
    code("""
        frames.chain(o)
    """),
    md("## The PCRs, beside the image's"),
    code("""
        table = frames.pcrs(o)

        def shade(row):
            colour = {True: "#e3f4e1", False: "#fde2e1"}.get(row["equal"], "")
            return [f"background-color: {colour}" if colour else ""] * len(row)

        display(plots.plot_pcrs(o))
        table.style.apply(shade, axis=1)
    """),
    code("""
        if o.debug_mode:
            display(Markdown("**Debug mode**: PCR0, PCR1 and PCR2 are zero; the enclave's "
                             "console was readable and the document attests nothing about "
                             "the image."))
        elif o.explanation is not None:
            display(Markdown("\\n".join(f"- **{r.pcr}** {'equal' if r.equal else 'differs'}: "
                                         f"{r.meaning}" for r in o.explanation.compared)))
        else:
            display(Markdown("No image given: set `eif` to compare the PCRs with one."))
    """),
]


NOTEBOOKS: dict[str, list[str]] = {
    "01-overview.ipynb": OVERVIEW,
    "02-ramdisk-entries.ipynb": ENTRIES,
    "03-binaries.ipynb": BINARIES,
    "04-remedies.ipynb": REMEDIES,
    "05-packages.ipynb": PACKAGES,
    "06-attestation.ipynb": ATTESTATION,
}


def build(name: str, cells: list[str]) -> nbformat.NotebookNode:
    """One notebook from its cell texts (`Md` texts are Markdown, the rest code); the third
    cell, the first code cell after the imports, is tagged `parameters`."""
    nb = new_notebook()
    stem = name.removesuffix(".ipynb")
    for i, text in enumerate(cells):
        cell = new_markdown_cell(text) if isinstance(text, Md) else new_code_cell(text)
        cell["id"] = f"{stem}-{i:02d}"
        if i == 2:
            cell["metadata"]["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO})
    nbformat.validate(nb)
    return nb


def render() -> dict[str, str]:
    """File name -> the exact JSON text of each notebook."""
    return {name: nbformat.writes(build(name, cells)) + "\n" for name, cells in NOTEBOOKS.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only check the files are up to date")
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default notebooks/)")
    args = ap.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("out of date (run scripts/make_notebooks.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
