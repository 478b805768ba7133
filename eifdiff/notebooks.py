"""`eifdiff notebook A B [--out DIR]`: the notebooks run on one pair, ready to open.

Each notebook of the notebooks folder (`01-overview` ... `05-packages`) is executed with
papermill, `eif_a` and `eif_b` set to the two files, into `--out`; each output is then signed
(Jupyter's notary, the same as `jupyter trust`), so JupyterLab shows its tables and figures as
they are, with no other step; last, the `jupyter lab` line that opens them is printed.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from eifdiff.errors import EifdiffError

NOTEBOOKS = ("01-overview", "02-ramdisk-entries", "03-binaries", "04-remedies", "05-packages")


def default_folder() -> Path:
    """The notebooks folder beside the package (a source checkout or an editable install)."""
    return Path(__file__).resolve().parent.parent / "notebooks"


@dataclass(frozen=True, slots=True)
class Ran:
    """One executed notebook: where it was written, how long it took, its size in bytes."""

    path: Path
    seconds: float
    size: int


def trust(path: Path) -> None:
    """Sign an executed notebook in the user's notebook-signature database (as
    `jupyter trust` does), so JupyterLab renders its outputs unsanitized."""
    import nbformat
    from nbformat.sign import NotebookNotary

    nb = nbformat.read(path, as_version=4)
    NotebookNotary().sign(nb)


# The kernel's own log (a KeyboardInterrupt it reports while being shut down, say) is not the
# user's business: a failing cell or a dead kernel is reported by the run itself.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


def run_notebooks(eif_a: str, eif_b: str, out: str | os.PathLike[str], *,
                  folder: str | os.PathLike[str] | None = None,
                  names: tuple[str, ...] = NOTEBOOKS, timeout: float = 600.0) -> list[Ran]:
    """Execute `names` from `folder` on the pair into `out`, sign each; the list of outputs."""
    import papermill
    from jupyter_client.manager import AsyncKernelManager
    from papermill.exceptions import PapermillExecutionError

    class LocalKernelManager(AsyncKernelManager):
        """A kernel reached over Unix sockets in the runtime folder: no TCP port is opened."""

        transport = "ipc"

    for p in (eif_a, eif_b):
        if not os.path.isfile(p):
            raise EifdiffError(f"{p}: no such file")
    src = Path(folder) if folder is not None else default_folder()
    missing = [n for n in names if not (src / f"{n}.ipynb").is_file()]
    if missing:
        raise EifdiffError(f"{src}: notebook {missing[0]}.ipynb not found (give --notebooks DIR, "
                           "the notebooks/ folder of an eifdiff checkout)")
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    params = {"eif_a": os.path.abspath(eif_a), "eif_b": os.path.abspath(eif_b)}
    done = []
    for name in names:
        dest = target / f"{name}.ipynb"
        start = time.perf_counter()
        try:
            papermill.execute_notebook(str(src / f"{name}.ipynb"), str(dest), parameters=params,
                                       cwd=str(target), kernel_name="python3",
                                       progress_bar=False, execution_timeout=timeout,
                                       kernel_manager_class=LocalKernelManager,
                                       extra_arguments=KERNEL_ARGUMENTS)
        except PapermillExecutionError as exc:
            raise EifdiffError(f"{dest}: cell {exc.exec_count} failed: {exc.ename}: "
                               f"{exc.evalue}") from None
        trust(dest)
        done.append(Ran(dest, time.perf_counter() - start, dest.stat().st_size))
    return done


def lab_command(out: str | os.PathLike[str]) -> str:
    """The command that opens the executed notebooks in JupyterLab."""
    jupyter = Path(sys.executable).with_name("jupyter")
    exe = str(jupyter) if jupyter.exists() else "jupyter"
    return f"{exe} lab {os.fspath(out)}"
