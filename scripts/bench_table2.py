"""Benchmark: wall time of the full bicubic Table 2 + IFC run (657 image evaluations).

Runs ``python -m benchmark run --methods bicubic --scales 2,3,4 --datasets
set5,set14,bsd100,urban100`` twice, first with an empty GT/ILR cache (cold), then with the
cache it filled (warm), and prints the wall time and the per-stage split recorded in each
run's ``run.json`` (stage seconds are summed over images: CPU-seconds across workers).

Usage::

    python scripts/bench_table2.py --data-root ../shared/datasets [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(data_root: str, jobs: int, cache: Path, results: Path) -> dict:
    command = [
        sys.executable, "-m", "benchmark", "run", "--methods", "bicubic", "--scales", "2,3,4",
        "--datasets", "set5,set14,bsd100,urban100", "--data-root", data_root,
        "--results-dir", str(results), "--cache-dir", str(cache), "--jobs", str(jobs), "--quiet",
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    newest = max(results.glob("*/run.json"), key=lambda p: p.stat().st_mtime)
    meta = json.loads(newest.read_text())
    meta["process_wall_seconds"] = wall
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache, results = Path(tmp) / "cache", Path(tmp) / "results"
        for label in ("cold cache", "warm cache"):
            meta = run_once(args.data_root, args.jobs, cache, results)
            stages = meta["stage_seconds"]
            split = ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
            print(
                f"{label}: {meta['evaluations']} evaluations, process wall "
                f"{meta['process_wall_seconds']:.1f} s (harness wall {meta['wall_seconds']:.1f} s, "
                f"jobs={meta['jobs']}); stage CPU-seconds: {split}"
            )


if __name__ == "__main__":
    main()
