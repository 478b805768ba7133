"""One figure for notebooks: the PCRs of the document (or expectation) beside the image's."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from eifdiff.attest import frames
from eifdiff.attest.outcome import Outcome

COLOURS = {"equal": "#3d9970", "differs": "#d9534f", "zero": "#f0ad4e", "value": "#5b8fd6",
           "not compared": "#c8ced6"}


def _state(value: object, equal: object) -> str:
    if not isinstance(value, str):  # None, or NaN in a DataFrame
        return "not compared"
    if set(value) == {"0"}:
        return "zero"
    if not isinstance(equal, bool):
        return "value"
    return "equal" if equal else "differs"


def plot_pcrs(o: Outcome) -> Figure:
    """A grid: one column per PCR, one row per side (document or expected, then the image),
    each cell coloured equal, differs, zero (debug mode, unsigned, unset) or not compared."""
    df = frames.pcrs(o)
    sides = [("expected", "document" if o.document is not None else "expected")]
    if o.image is not None:
        sides.append(("image", "image"))
    fig = Figure(figsize=(max(4.0, 1.1 * len(df) + 1.5), 0.9 * len(sides) + 1.4),
                 layout="constrained")
    ax = fig.subplots()
    for y, (column, _) in enumerate(sides):
        for x, row in enumerate(df.itertuples()):
            value = getattr(row, column)
            state = _state(value, row.equal)
            ax.add_patch(_cell(x, y, COLOURS[state]))
            label = value[:8] if isinstance(value, str) else "-"
            dark = state in ("equal", "differs", "value")
            ax.text(x + 0.5, y + 0.5, label, ha="center", va="center", fontsize=8,
                    color="white" if dark else "#333")
    ax.set_xlim(0, len(df))
    ax.set_ylim(len(sides), 0)
    ax.set_xticks([x + 0.5 for x in range(len(df))], list(df["pcr"]))
    ax.set_yticks([y + 0.5 for y in range(len(sides))], [label for _, label in sides])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(f"PCRs: {o.verdict}")
    used = {_state(getattr(r, c), r.equal) for r in df.itertuples() for c, _ in sides}
    fig.legend(handles=[Patch(color=COLOURS[s], label=s) for s in COLOURS if s in used],
               loc="outside lower center", ncols=len(used), frameon=False)
    return fig


def _cell(x: int, y: int, colour: str) -> Rectangle:
    return Rectangle((x + 0.04, y + 0.06), 0.92, 0.88, color=colour)
