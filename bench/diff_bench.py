#!/usr/bin/env python3
"""One table for the performance targets: describe, the diff, remedies and `compare_eifs`
against the hashing floor `sha384sum`, with peak memory.

The floor is `sha384sum` over the same files: every PCR needs every measured byte hashed, and
the files are almost all measured bytes. Pairs come from `bench/make_eif.py` (variant a and b:
a tenth of the mtimes, one file's content and part of the order changed, one file added),
cached under bench/out/. In each group every command runs once as a warm-up (page cache, .pyc
files), then `--runs` times taking turns, a different one first each round, so that a busy patch
of a shared machine does not land on one command only. The table gives the median wall time from
spawn to exit, its ratio to the group's floor, the median CPU time (user+sys, worker processes
included), the child's peak RSS (its own `ru_maxrss` from `os.wait4`, which covers the workers
it reaped) and the target it is held to.

    .venv/bin/python bench/diff_bench.py                # 200 MiB and 1 GiB pairs, 3 runs
    .venv/bin/python bench/diff_bench.py --small        # the 200 MiB pair only
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from describe_bench import (  # a sibling script, not a package
    OUT,
    Command,
    Sample,
    _cpu_model,
    find_eifdiff,
)

BENCH = Path(__file__).resolve().parent
SMALL, LARGE = (200, 20_000), (1024, 100_000)
# `compare_eifs` as a notebook calls it: the import (pandas, matplotlib) is done before the
# clock starts and another thread runs, as in a Jupyter kernel (so eifdiff hashes in threads,
# not forked workers); the child reports the call's own wall time.
PYTHON_CALL = (
    "import sys, threading, time\n"
    "from eifdiff.notebook import compare_eifs\n"
    "threading.Thread(target=threading.Event().wait, daemon=True).start()\n"
    "t = time.perf_counter()\n"
    "c = compare_eifs(sys.argv[1], sys.argv[2])\n"
    "print(time.perf_counter() - t)\n"
)


@dataclass
class Row:
    """A command in the table: what it is compared with and the target it is held to."""

    command: Command
    pair: str
    floor: Command | None  # None: this row is a floor
    target: float | None = None  # the largest ratio allowed
    versus: Command | None = None  # the target is a ratio to this command, not to the floor
    rss_target: float | None = None  # MiB
    timed_inside: bool = False  # the child prints its own time (imports excluded)


def run(argv: list[str], timed_inside: bool = False) -> Sample:
    """Run `argv`; wall time (or the time the child prints) and the child's own rusage."""
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)}: exit {code}: {err.read().decode()[-400:]}")
        if timed_inside:
            out.seek(0)
            elapsed = float(out.read().decode().split()[-1])
    return Sample(elapsed, usage.ru_maxrss, usage.ru_utime, usage.ru_stime)


def ensure_pair(size_mb: int, files: int, seed: int = 1) -> tuple[Path, Path]:
    paths = []
    for variant in ("a", "b"):
        path = OUT / f"pair-{size_mb}mb-{files}f-s{seed}-{variant}.eif"
        if not path.exists():
            print(f"generating {path} ...", file=sys.stderr)
            OUT.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, str(BENCH / "make_eif.py"), "--size-mb",
                            str(size_mb), "--files", str(files), "--seed", str(seed),
                            "--variant", variant, "--out", str(path)],
                           check=True, stdout=subprocess.DEVNULL)
        paths.append(path)
    return paths[0], paths[1]


def small_rows(a: Path, b: Path, tool: str) -> list[Row]:
    pair = f"{SMALL[0]} MiB, {SMALL[1] // 1000}k files"
    one = Command("sha384sum A", ["sha384sum", str(a)])
    two = Command("sha384sum A B", ["sha384sum", str(a), str(b)])
    plain = Command("eifdiff A B --json --no-remedies",
                    [tool, str(a), str(b), "--json", "--no-remedies"])
    fixes = Command("eifdiff A B --json --remedies (the default here)",
                    [tool, str(a), str(b), "--json", "--remedies"])
    python = Command("compare_eifs(A, B) in Python, beside a thread as in a kernel",
                     [sys.executable, "-c", PYTHON_CALL, str(a), str(b)])
    return [
        Row(one, pair, None),
        Row(Command("eifdiff describe A", [tool, "describe", str(a)]), pair, one, 1.10),
        Row(two, pair, None),
        Row(plain, pair, two, 1.25, rss_target=128),
        Row(fixes, pair, two, 3.0, versus=plain),
        Row(python, pair, two, 1.5, versus=fixes, timed_inside=True),
    ]


def large_rows(a: Path, b: Path, tool: str) -> list[Row]:
    pair = f"{LARGE[0] // 1024} GiB, {LARGE[1] // 1000}k files"
    two = Command("sha384sum A B", ["sha384sum", str(a), str(b)])
    return [
        Row(two, pair, None),
        Row(Command("eifdiff A B --json (remedies off: over 1 GiB)",
                    [tool, str(a), str(b), "--json"]), pair, two, 1.25, rss_target=160),
    ]


def measure(rows: list[Row], runs: int) -> None:
    for row in rows:  # warm-up; also checks that each command works
        run(row.command.argv, row.timed_inside)
    for r in range(runs):
        for i in range(len(rows)):
            row = rows[(r + i) % len(rows)]
            row.command.samples.append(run(row.command.argv, row.timed_inside))


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def table(rows: list[Row], runs: int, loads: tuple[str, str]) -> str:
    lines = [
        f"Median of {runs} runs after a warm-up, commands taking turns; {os.cpu_count()} CPUs "
        f"({_cpu_model()}), Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}; load average {loads[0]} before, {loads[1]} after.",
        "",
        "| pair | command | median s | ratio vs floor | CPU s | peak RSS MiB | target | |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    verdicts = []
    for row in rows:
        c = row.command
        ratio = "1.00x (floor)" if row.floor is None else f"{c.median / row.floor.median:.2f}x"
        target, ok = "", ""
        if row.target is not None:
            base = row.versus or row.floor
            assert base is not None
            got = c.median / base.median
            what = "floor" if row.versus is None else f"`{row.versus.label.split(' (')[0]}`"
            target = f"<= {row.target:g}x {what} ({got:.2f}x)"
            met = got <= row.target
            if row.rss_target is not None:
                target += f", <= {row.rss_target} MiB"
                met = met and c.peak_rss_mib <= row.rss_target
            ok = "met" if met else "MISSED"
            verdicts.append(f"- `{c.label}`: {target}: {ok}")
        lines.append(f"| {row.pair} | `{c.label}` | {c.median:.2f} | {ratio} | "
                     f"{c.median_cpu:.2f} | {c.peak_rss_mib:.0f} | {target} | {ok} |")
    return "\n".join(lines) + "\n\n" + "\n".join(verdicts) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--runs", type=int, default=3, help="timed runs per command (default 3)")
    p.add_argument("--small", action="store_true", help="only the 200 MiB / 20k-file pair")
    p.add_argument("--md", type=Path, default=OUT / "perf.md")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if shutil.which("sha384sum") is None:
        raise SystemExit("sha384sum (GNU coreutils) is not on PATH")
    tool = find_eifdiff()
    before = _load()
    rows = small_rows(*ensure_pair(*SMALL), tool)
    measure(rows, args.runs)
    if not args.small:
        large = large_rows(*ensure_pair(*LARGE), tool)
        measure(large, args.runs)
        rows += large
    text = table(rows, args.runs, (before, _load()))
    print(text)
    args.md.parent.mkdir(parents=True, exist_ok=True)
    args.md.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
