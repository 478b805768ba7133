"""eifdiff: find out why two builds of the same AWS Nitro Enclave image (EIF) differ.

In a notebook: `c = eifdiff.compare_eifs("a.eif", "b.eif")`, then `c.pcrs()`, `c.divergences()`,
`c.entries()`, `c.binaries()`, `c.remedies()`, `c.plot_map()` (see `eifdiff.notebook`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from eifdiff.notebook import Comparison


def compare_eifs(path_a: Any, path_b: Any, *, deep: bool = False,
                 remedies: bool = True) -> Comparison:
    """Open both EIFs, compare them, and return a `Comparison` with tables and figures."""
    from eifdiff.notebook import compare_eifs as _compare

    return _compare(path_a, path_b, deep=deep, remedies=remedies)


__all__ = ["Comparison", "compare_eifs"]
