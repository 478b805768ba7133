"""eifdiff: find out why two builds of the same AWS Nitro Enclave image (EIF) differ.

In a notebook: `c = eifdiff.compare_eifs("a.eif", "b.eif")`, then `c.pcrs()`, `c.divergences()`,
`c.entries()`, `c.binaries()`, `c.remedies()`, `c.plot_map()` (see `eifdiff.notebook`); a report
saved by `eifdiff a.eif b.eif --json > r.json` opens with `eifdiff.open_report("r.json")`.
In a script: `eifdiff.compare_files(a, b)` returns the `Report` every output is made from, and
`eifdiff.load_report(path)` reads a saved one back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eifdiff.errors import Anomaly, EifdiffError, FormatError

__version__ = "0.2.0"

if TYPE_CHECKING:
    from eifdiff.notebook import Comparison
    from eifdiff.records import Divergence
    from eifdiff.report.model import Report

_LAZY = {
    "Comparison": "eifdiff.notebook", "compare_eifs": "eifdiff.notebook",
    "open_report": "eifdiff.notebook", "compare_files": "eifdiff.compare",
    "load_report": "eifdiff.report.model", "Report": "eifdiff.report.model",
    "Divergence": "eifdiff.records",
}


def __getattr__(name: str) -> Any:
    """The public names load their modules on first use (pandas only for the notebook API)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eifdiff' has no attribute {name!r}")


__all__ = ["Anomaly", "Comparison", "Divergence", "EifdiffError", "FormatError", "Report",
           "compare_eifs", "compare_files", "load_report", "open_report"]
