"""Wall time of the command line: start-up (``--help``) and a small ``sample`` bicubic run.

Each command runs ``--runs`` times in a fresh interpreter and the median is printed, with the
load average (other processes on the machine inflate the figures). The ``run`` timings use a
fresh GT/LR cache and results folder each time, so every run pays the same work; they compare
the default ``--jobs`` (all cores) with ``--jobs 1``.

Usage::

    python scripts/bench_startup.py [--runs 5] [--help-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = ["run", "--methods", "bicubic", "--datasets", "sample", "--scales", "2", "--offline",
       "--quiet", "--no-report"]


def wall_seconds(args: list[str], env: dict[str, str]) -> float:
    """Seconds for one ``python -m benchmark ARGS`` (output discarded; a failure raises)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "benchmark", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_run(extra: list[str], runs: int) -> float:
    """Median seconds of the ``sample`` bicubic run, each in its own cache and results folder."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "SRBENCH_CACHE": str(Path(tmp, "cache"))}
            times.append(wall_seconds([*RUN, "--results-dir", str(Path(tmp, "results")),
                                       *extra], env))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command (default 5)")
    parser.add_argument("--help-only", action="store_true", help="time `--help` only")
    args = parser.parse_args()

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# {os.cpu_count()} CPUs, load average {load}, median of {args.runs}")
    help_s = statistics.median(wall_seconds(["--help"], dict(os.environ))
                               for _ in range(args.runs))
    print(f"{'--help':<40} {help_s:6.2f} s")
    if args.help_only:
        return
    for label, extra in (("default", []), ("1", ["--jobs", "1"])):
        print(f"{f'run sample bicubic x2, --jobs {label}':<40} "
              f"{median_run(extra, args.runs):6.2f} s")


if __name__ == "__main__":
    main()
