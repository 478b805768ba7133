"""The PCR figure: one column per PCR, one row per side, coloured by state."""

from __future__ import annotations

from pathlib import Path

from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from eifdiff.attest import attest, load_root
from eifdiff.attest.plots import COLOURS, plot_pcrs
from tests.attest.chain import DEBUG, SAMPLES, sample_document, shared, write_root


def test_plot(tmp_path: Path) -> None:
    doc = tmp_path / "doc.cbor"
    doc.write_bytes(sample_document("cpio-mtime", "a"))
    o = attest(doc, SAMPLES / "cpio-mtime" / "b.eif", load_root(write_root(tmp_path)))
    fig = plot_pcrs(o)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["PCR0", "PCR1", "PCR2", "PCR8",
                                                            "PCR3", "PCR4"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["document", "image"]
    hexes = [to_hex(p.get_facecolor()) for p in ax.patches]
    c = COLOURS
    assert hexes == [c["differs"], c["equal"], c["differs"], c["zero"], c["zero"], c["value"],
                     c["differs"], c["equal"], c["differs"], c["zero"], c["not compared"],
                     c["not compared"]]
    assert ax.get_title() == "PCRs: mismatch"
    assert len(plot_pcrs(attest(shared(DEBUG))).axes[0].patches) == 6
