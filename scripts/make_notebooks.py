#!/usr/bin/env python3
"""Write the JupyterLab notebooks in `notebooks/` from the cell texts below.

The notebooks are generated so that they stay consistent with each other: each opens with one
Markdown cell saying which question it answers, then an imports cell, then a cell tagged
`parameters` (papermill) defining `eif_a` and `eif_b`, relative to the notebooks folder. Their
code cells call only the public notebook API (`eifdiff.compare_eifs` and the `Comparison` it
returns), pandas and matplotlib. They are written without outputs, as deterministic JSON
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
        "import matplotlib.pyplot as plt",
        "import pandas as pd",
        "from IPython.display import Markdown, display",
        *extra,
        "",
        "import eifdiff",
        "",
        'pd.set_option("display.max_rows", 500)',
        'pd.set_option("display.max_colwidth", 80)',
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


# Small display helpers shared by the notebooks: styling and empty-state figures only.
HELPERS = """\
def short(value, n=16):
    \"\"\"A long digest cut for display (the full values are in the DataFrame).\"\"\"
    return value[:n] + "…" if isinstance(value, str) and len(value) > n else value


def shade_rows(column, colour="#fde2e1", when=False):
    \"\"\"Styler function: shade every row whose `column` is `when` (default: False).\"\"\"
    def style(row):
        return [f"background-color: {colour}" if row[column] == when else ""] * len(row)
    return style


def note_figure(title, text):
    \"\"\"A small figure that says why there is nothing to draw.\"\"\"
    fig, ax = plt.subplots(figsize=(8, 1.6), layout="constrained")
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.45, text, ha="center", va="center", fontsize=11, color="#52606d",
            transform=ax.transAxes)
    plt.close(fig)  # shown once, by display(fig)
    return fig"""

OPEN = """\
c = eifdiff.compare_eifs(eif_a, eif_b)
c"""

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

        Two builds of the same Nitro Enclave image (EIF) should be byte-identical, and their
        measurements (PCR0, PCR1, PCR2, and PCR8 when signed) must be. This notebook answers
        *why they differ*: the verdict, which PCRs moved and which sections feed each, where in
        the file the differences are, the causes with a hint for each, and which normalization of
        the build would make the PCRs equal again. Set `eif_a` and `eif_b` in the `parameters`
        cell (or pass them with papermill, see `README.md`).
    """),
    imports(),
    parameters(),
    HELPERS,
    OPEN,
    md("## Both files and the verdict"),
    code("""
        causes = c.divergences(causes_only=True)
        display(Markdown(
            f"**Verdict: `{c.verdict}`** — {len(causes)} cause(s) in "
            f"{causes['category'].nunique()} categor(ies), "
            f"{len(c.divergences()) - len(causes)} derived difference(s)."
        ))
        c.summary().style.format({"sha256": short})
    """),
    md("""
        ## The PCRs and the sections that feed them

        Rows shaded red differ. `measures` lists the sections each PCR hashes; `causes` counts
        the differences that move it. The digests are shortened here; `c.pcrs()` has them in full.
    """),
    code("""
        (c.pcrs().style
         .apply(shade_rows("equal"), axis=1)
         .format({"a": short, "b": short}))
    """),
    md("## Section map of both files"),
    code("""
        sections = c.sections()
        same = (sections["offset_a"] == sections["offset_b"]) & (
            sections["size_a"] == sections["size_b"])
        sections.assign(same_place=same).style.apply(shade_rows("same_place", "#fff3cd"), axis=1)
    """),
    md("## What kind of differences, and in which layer"),
    code("""
        display(c.plot_categories())
        c.categories()
    """),
    md("""
        ## Where in the file

        Each difference at its offset in file a, on the lane of the section it falls in.
    """),
    code("display(c.plot_map())"),
    md("## The causes, with hints"),
    code("""
        top = (causes.groupby(["category", "hint"], observed=True)
               .agg(rows=("path", "size"), pcrs=("pcrs", "first"), example=("path", "first"),
                    field=("field", "first"))
               .sort_values("rows", ascending=False)
               .reset_index())
        if top.empty:
            display(Markdown("No causes: the two files are identical."))
        display(top.style.set_properties(subset=["hint"], **{"text-align": "left"}))
    """),
    md("""
        ## What would fix it

        Each normalization (or the smallest combination of them) applied to both images in
        memory, with the PCRs recomputed: `fixes` is True when every PCR would then be equal.
    """),
    code("""
        remedies = c.remedies()
        shown = remedies[[col for col in remedies.columns if not col.endswith((" a", " b"))]]
        if remedies.empty:
            display(Markdown("No normalization is needed or applies (see `04-remedies`)."))
            display(shown)
        else:
            display(shown.style.apply(shade_rows("fixes", "#e3f4e1", when=True), axis=1))
    """),
    CLOSE,
]

# --- 02-ramdisk-entries ---------------------------------------------------------------------
ENTRIES = [
    md("""
        # Which ramdisk entries differ, and how?

        Every CPIO entry of both images' ramdisks side by side: those that changed (with the
        header fields that differ), were added, removed or only moved, the divergences of one
        category, the archive order, the mtimes and the size changes. Set `eif_a`, `eif_b` and
        optionally `category` (e.g. `"timestamp"`, `"ordering"`, `"inode"`; `None` picks the
        most frequent cause) in the `parameters` cell.
    """),
    imports(),
    parameters("category = None  # a divergence category, or None for the most frequent cause",
               pair="cpio-order"),
    HELPERS,
    OPEN,
    md("## Entries by status"),
    code("""
        entries = c.entries()
        counts = entries["status"].value_counts().reindex(
            ["same", "changed", "moved", "added", "removed"], fill_value=0)
        counts.rename("entries").to_frame()
    """),
    code("""
        def changed_fields(df):
            \"\"\"The header fields that differ in any of these rows (`differs` lists them).\"\"\"
            names = sorted({f for row in df["differs"] for f in row.split(",") if f})
            return [col for f in names for col in (f"{f}_a", f"{f}_b")]


        def shade_differences(df):
            \"\"\"Styler function: shade each `_a`/`_b` cell pair that differs.\"\"\"
            out = pd.DataFrame("", index=df.index, columns=df.columns)
            for col in df.columns:
                if col.endswith("_a") and col[:-2] + "_b" in df.columns:
                    other = col[:-2] + "_b"
                    diff = df[col].astype(str) != df[other].astype(str)
                    out.loc[diff, [col, other]] = "background-color: #fde2e1"
            return out


        views = {
            "changed": lambda df: ["ramdisk", "name", "differs", *changed_fields(df)],
            "moved": lambda df: ["ramdisk", "name", "index_a", "index_b"],
            "added": lambda df: ["ramdisk", "name", "kind_b", "filesize_b", "mode_b", "mtime_b"],
            "removed": lambda df: ["ramdisk", "name", "kind_a", "filesize_a", "mode_a", "mtime_a"],
        }
        for status, columns in views.items():
            df = c.entries(status=status)
            display(Markdown(f"### {status}: {len(df)} entr{'y' if len(df) == 1 else 'ies'}"))
            if len(df):
                display(df[columns(df)].style.apply(shade_differences, axis=None))
    """),
    md("## The divergences of one category"),
    code("""
        categories = c.categories()
        display(categories)
        causes = c.divergences(causes_only=True)
        chosen = category
        if chosen is None and len(causes):
            chosen = causes["category"].value_counts().index[0]
        if chosen is None:
            display(Markdown("No divergences, so no category to show."))
            selected = c.divergences()
        else:
            display(Markdown(f"Category **`{chosen}`**:"))
            selected = c.divergences(category=chosen)
        selected[["path", "layer", "field", "a", "b", "offset_a", "offset_b", "pcrs", "hint"]]
    """),
    md("""
        ## Archive order

        Position of each common entry in both archives; off the diagonal means it moved.
    """),
    code("""
        ramdisks = list(dict.fromkeys(entries["ramdisk"]))
        orders = {r: c.order(r) for r in ramdisks}
        moved = pd.Series({r: int(o["moved"].sum()) for r, o in orders.items()}, dtype=int)
        display(moved.rename("entries at another position").to_frame())

        n = max(len(ramdisks), 1)
        fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4), layout="constrained", squeeze=False)
        for ax, (r, o) in zip(axes[0], orders.items()):
            ax.plot([0, max(len(o) - 1, 1)], [0, max(len(o) - 1, 1)], color="#c8ced6", lw=1)
            ax.scatter(o["index_a"], o["index_b"], s=18,
                       c=["#e45756" if m else "#4c78a8" for m in o["moved"]])
            ax.set_title(f"{r}: {int(o['moved'].sum())} of {len(o)} moved")
            ax.set_xlabel("position in a")
            ax.set_ylabel("position in b")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.yaxis.get_major_locator().set_params(integer=True)
        if not ramdisks:
            axes[0][0].text(0.5, 0.5, "no ramdisk entries", ha="center",
                            transform=axes[0][0].transAxes)
        plt.show()
    """),
    code("""
        # The ramdisk with the most moved entries (or, when none moved, the most entries).
        busiest = max(orders, key=lambda r: (moved[r], len(orders[r])), default=None)
        if busiest is not None:
            display(Markdown(f"Order of **{busiest}** (rows shaded: entries at another position)"))
            order = orders[busiest]
            display(order.style.apply(
                lambda row: ["background-color: #fde2e1" if row["moved"] else ""] * len(row),
                axis=1))
    """),
    md("## Entry mtimes"),
    code("display(c.plot_mtimes())"),
    md("## Entry size changes"),
    code("display(c.plot_size_deltas())"),
    CLOSE,
]

# --- 03-binaries ----------------------------------------------------------------------------
BINARIES = [
    md("""
        # Which binaries differ, and what inside them?

        The ELF files of the ramdisks that differ between the two builds: the ELF-level
        divergences with hints, their build IDs and embedded build paths (DWARF `comp_dir`,
        producer), the section-by-section comparison of one entry, and diffoscope's deep view of
        it. Set `eif_a`, `eif_b` and optionally `entry` (an entry name such as
        `rootfs/bin/app`, with `ramdisk`; `None` means the first divergent ELF entry) in the
        `parameters` cell.
    """),
    imports(),
    parameters("entry = None  # an entry name such as 'rootfs/bin/app', or None for the first\n"
               "ramdisk = 'ramdisk[1]'  # the ramdisk holding `entry`"),
    HELPERS,
    OPEN,
    md("## ELF-level divergences"),
    code("""
        elf = c.divergences()
        elf = elf[elf["layer"] == "elf"]
        elf_paths = c.elf_entries()
        if elf.empty:
            display(Markdown(
                f"**No ELF differences** between these builds (verdict `{c.verdict}`). "
                "The PCRs and the kinds of difference found elsewhere:"))
            display(c.pcrs().style.apply(shade_rows("equal"), axis=1)
                    .format({"a": short, "b": short}))
            display(c.plot_categories())
        else:
            display(Markdown(f"{len(elf)} ELF-level rows in {len(elf_paths)} entr(ies)."))
            display(elf[["path", "field", "a", "b", "category", "cause", "pcrs"]])
            hints = elf[["category", "hint"]].drop_duplicates().reset_index(drop=True)
            display(hints.style.set_properties(subset=["hint"], **{"text-align": "left"}))
    """),
    md("## Build IDs and embedded paths"),
    code("""
        binaries = c.binaries()
        if binaries.empty:
            display(Markdown("No divergent ELF entries, so no build IDs to compare."))
        else:
            display(binaries.style.format({"build_id_a": short, "build_id_b": short}))
    """),
    md("""
        ## Section by section

        The section tables of the chosen entry on both sides; shaded rows differ. The figure
        shows each section's size in a, coloured by whether its bytes are equal.
    """),
    code("""
        chosen = (ramdisk, entry, 0) if entry is not None else (elf_paths[0] if elf_paths else None)
        if chosen is None:
            display(Markdown("No ELF entry to open."))
            display(note_figure("sections of the chosen ELF entry", "no divergent ELF entries"))
        else:
            display(Markdown(f"Entry **`{chosen[1]}`** of {chosen[0]}"))
            secs = c.elf_sections(*chosen)
            display(secs.style.apply(shade_rows("equal"), axis=1)
                    .format({"sha256_a": short, "sha256_b": short}))
            named = secs[secs["section"] != ""]
            fig, ax = plt.subplots(figsize=(9, 0.8 + 0.22 * len(named)), layout="constrained")
            sizes = named["size_a"].fillna(named["size_b"])
            ax.barh(named["section"], sizes,
                    color=["#9aa5b1" if eq else "#d9822b" for eq in named["equal"]])
            ax.invert_yaxis()
            ax.set_xscale("symlog")
            ax.set_xlabel("size in a (bytes); orange: bytes differ")
            ax.set_title(f"sections of {chosen[1]}")
            plt.show()
    """),
    md("## diffoscope's deep view"),
    code("""
        if chosen is None:
            print("No ELF entry to compare with diffoscope.")
        else:
            print(c.deep(*chosen))
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
        smallest combination that makes every PCR equal. This notebook shows that table, a
        figure of which PCRs are equal after each one, and the hints for whatever no
        normalization removes.
    """),
    imports(),
    parameters(pair="cpio-order"),
    HELPERS,
    OPEN,
    md("## The remedies"),
    code("""
        remedies = c.remedies()
        display(Markdown(f"Verdict as built: **`{c.verdict}`**; {len(remedies)} remed(ies) tried."))
        if remedies.empty:
            display(Markdown("No normalization is needed or applies to these differences."))
        digests = [col for col in remedies.columns if col.endswith((" a", " b"))]
        display(remedies.style.apply(shade_rows("fixes", "#e3f4e1", when=True), axis=1)
                .format({col: short for col in digests}))
    """),
    md("""
        ## PCR equality after each normalization

        Green: equal, red: different. The first row is the files as built.
    """),
    code("""
        display(c.plot_remedies())
        c.remedy_grid()
    """),
    md("""
        ## What remains, and the hints

        The causes that no normalization removes, with an example and how to fix each at the
        source. Empty when a normalization makes every PCR equal (or nothing differs).
    """),
    code("""
        left = c.remaining()
        fixing = remedies[remedies["fixes"]]
        if len(fixing):
            names = ", ".join(f"`{n}`" for n in fixing["normalization"])
            display(Markdown(f"Every PCR becomes equal with {names}; nothing measured remains."))
        elif left.empty:
            display(Markdown("Nothing measured differs."))
        else:
            display(Markdown("No normalization makes every PCR equal. What remains:"))
        display(left.style.set_properties(subset=["hint"], **{"text-align": "left"}))
    """),
    CLOSE,
]


# --- 05-packages ---------------------------------------------------------------------------
PACKAGES = [
    md("""
        # Which packages changed, and which package owns each divergent file?

        Many mismatches are not timestamps at all: an unpinned base image or package index
        pulled another version of something. This notebook lists the packages both images
        record (dpkg, apk, rpm, Python distributions, Go modules), side by side with the
        changed ones highlighted, warns about versions that must never ship (such as xz 5.6.0
        and 5.6.1), and groups the divergent files by the package that owns them.
    """),
    imports(),
    parameters(pair="packages"),
    HELPERS,
    OPEN,
    md("## Known-bad versions"),
    code("""
        warnings = c.warnings()
        if warnings.empty:
            display(Markdown("No known-bad package version in either image."))
        else:
            display(Markdown(f"**{len(warnings)} warning(s)**: a version that must never ship."))
        warnings
    """),
    md("## Packages side by side (changed, added and removed highlighted)"),
    code("""
        packages = c.packages()
        colours = {"changed": "#fde2e1", "added": "#e3f4e1", "removed": "#fff3cd"}

        def by_status(row):
            return [f"background-color: {colours.get(row['status'], '')}"] * len(row)

        display(Markdown(f"{len(packages)} packages; "
                         f"{(packages['status'] != 'same').sum()} changed, added or removed."))
        display(c.plot_packages())
        packages.style.apply(by_status, axis=1)
    """),
    md("## Divergent files by owning package"),
    code("""
        c.divergences_by_package()
    """),
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
