#!/usr/bin/env python3
"""Time `eifdiff A B --json` against `sha384sum A B` on generated pairs, and measure peak memory.

`sha384sum A B` is the floor: the report gives every PCR of both files, so every measured byte of
both must be hashed at least once. Pairs come from `bench/make_eif.py` (variant a and b: a tenth
of the mtimes, one file's content and part of the order changed, one file added), cached under
bench/out/. Each command runs once as a warm-up, then `--runs` times, taking turns; the table
gives median wall time, the ratio to sha384sum, and the child's peak RSS. `--scale` runs the
200 MiB / 20k-file and 1 GiB / 100k-file pairs and reports how the cost grows.

    .venv/bin/python bench/diff_bench.py                    # 200 MiB pair, 5 runs
    .venv/bin/python bench/diff_bench.py --scale --runs 3   # 200 MiB and 1 GiB pairs
    .venv/bin/python bench/diff_bench.py --diffoscope       # also diffoscope, once, if installed
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from describe_bench import (  # a sibling script, not a package
    MIB,
    OUT,
    Command,
    Sample,
    _cpu_model,
    find_eifdiff,
)

BENCH = Path(__file__).resolve().parent
TARGET_RATIO = 1.5
TARGET_RSS_MIB = 256
SCALES = ((200, 20_000), (1024, 100_000))


def run(argv: list[str], ok: tuple[int, ...] = (0, 1), timeout: float | None = None) -> Sample:
    """Run `argv` (stdout discarded); wall time and the child's own rusage."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err)
        deadline = None if timeout is None else start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                return Sample(float("inf"), usage.ru_maxrss, usage.ru_utime, usage.ru_stime)
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)}: exit {code}: {err.read().decode()[-400:]}")
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


def measure_pair(a: Path, b: Path, runs: int, diffoscope: bool,
                 remedies: bool = True) -> list[Command]:
    tool = find_eifdiff()
    commands = [
        Command("eifdiff A B --json", [tool, str(a), str(b), "--json"]),
        Command("eifdiff A B --json --remedies", [tool, str(a), str(b), "--json", "--remedies"]),
        Command("eifdiff describe A", [tool, "describe", str(a)]),
        Command("sha384sum A B", ["sha384sum", str(a), str(b)]),
    ]
    if not remedies:
        del commands[1]
    for c in commands:
        run(c.argv)  # warm-up
    for r in range(runs):
        for i in range(len(commands)):
            c = commands[(r + i) % len(commands)]
            c.samples.append(run(c.argv))
    if diffoscope:
        found = shutil.which("diffoscope") or str(Path(sys.executable).parent / "diffoscope")
        if Path(found).exists():
            c = Command("diffoscope A B (once, 600 s cap)", [found, "--text", "/dev/null",
                                                              str(a), str(b)])
            c.samples.append(run(c.argv, timeout=600))
            commands.insert(-1, c)
    return commands


def table(label: str, a: Path, b: Path, commands: list[Command], runs: int) -> str:
    floor = next(c for c in commands if c.label.startswith("sha384sum"))
    size = a.stat().st_size + b.stat().st_size
    lines = [f"**{label}**: `{a.name}` + `{b.name}` ({size / MIB:,.0f} MiB together); median of "
             f"{runs} runs after a warm-up; {os.cpu_count()} CPUs ({_cpu_model()}).", "",
             "| command | median s | ratio vs sha384sum A B | peak RSS MiB | MiB/s |",
             "|---|---:|---:|---:|---:|"]
    for c in commands:
        t = c.median
        lines.append(f"| `{c.label}` | {t:.2f} | {t / floor.median:.2f}x | "
                     f"{c.peak_rss_mib:.0f} | {size / MIB / t:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--scale", action="store_true", help="200 MiB/20k and 1 GiB/100k pairs")
    p.add_argument("--diffoscope", action="store_true", help="also time diffoscope once")
    p.add_argument("--md", type=Path, default=OUT / "diff.md")
    args = p.parse_args(argv)
    scales = SCALES if args.scale else SCALES[:1]
    out = []
    per_mib = []
    for size_mb, files in scales:
        a, b = ensure_pair(size_mb, files)
        commands = measure_pair(a, b, args.runs, args.diffoscope, remedies=size_mb <= 256)
        out.append(table(f"{size_mb} MiB, {files:,} files", a, b, commands, args.runs))
        main_cmd, floor = commands[0], next(c for c in commands if c.label.startswith("sha"))
        ratio = main_cmd.median / floor.median
        per_mib.append((size_mb, main_cmd.median / size_mb, main_cmd.peak_rss_mib))
        out.append(f"- `eifdiff A B --json`: {ratio:.2f}x sha384sum "
                   f"({'meets' if ratio <= TARGET_RATIO else 'MISSES'} <= {TARGET_RATIO}x), "
                   f"peak RSS {main_cmd.peak_rss_mib:.0f} MiB "
                   f"({'meets' if main_cmd.peak_rss_mib < TARGET_RSS_MIB else 'MISSES'} "
                   f"< {TARGET_RSS_MIB} MiB)\n")
    if len(per_mib) > 1:
        (s0, t0, m0), (s1, t1, m1) = per_mib[0], per_mib[-1]
        out.append(f"- scaling {s0} -> {s1} MiB: {t0 * 1000:.2f} -> {t1 * 1000:.2f} ms per MiB "
                   f"({t1 / t0:.2f}x per byte; 1.00x is linear), peak RSS {m0:.0f} -> "
                   f"{m1:.0f} MiB\n")
    text = "\n".join(out)
    print(text)
    args.md.parent.mkdir(parents=True, exist_ok=True)
    args.md.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
