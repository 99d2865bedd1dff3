"""Alternate ``bench eval``'s three bicubic Table 2 runs between an earlier checkout and this one.

Usage (from the repository root, with SRBENCH_DATA pointing at the datasets)::

    git worktree add --detach ../before <commit>
    cp benchmark/bench.py ../before/benchmark/bench.py   # the same timing code in both
    python scripts/eval_before_after.py ../before --rounds 2 --out FILE.json

Each round runs, in each checkout (the order alternates between rounds), the empty-cache
PSNR + SSIM + IFC run, the same run again on its warm cache and the empty-cache PSNR + SSIM
run, through ``bench._run_table`` of that checkout (``--jobs 2``), printing the process wall,
the stage CPU-seconds and the load average of each.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

SETS, SCALES = ("set5", "set14", "bsd100", "urban100"), (2, 3, 4)
RUNS = (("cold", "psnr,ssim,ifc", "a"), ("warm", "psnr,ssim,ifc", "a"),
        ("psnr_ssim", "psnr,ssim", "b"))


def _bench_of(tree: Path) -> ModuleType:
    path = tree / "benchmark" / "bench.py"
    spec = importlib.util.spec_from_file_location(f"bench_{tree.name}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _commit(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _round(bench: ModuleType, root: Path) -> dict[str, Any]:
    row = {}
    with tempfile.TemporaryDirectory() as tmp:
        # ``python -m`` puts the working directory first on sys.path: run where no
        # checkout is, so that each run imports the checkout its bench.py names.
        os.chdir(tmp)
        for label, metrics, cache in RUNS:
            row[label] = bench._run_table(root, ("bicubic",), SETS, SCALES, metrics, 2, Path(tmp),
                                          "--cache-dir", str(Path(tmp) / cache))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="the earlier checkout (a git worktree)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out = args.out.resolve()
    root = Path(os.environ.get("SRBENCH_DATA", "datasets")).resolve()
    here = Path(__file__).resolve().parents[1]
    trees = {"before": args.before.resolve(), "after": here}
    out: dict[str, Any] = {"commits": {k: _commit(v) for k, v in trees.items()}, "rounds": []}
    for r in range(args.rounds):
        order = list(trees.items()) if r % 2 == 0 else list(reversed(trees.items()))
        for label, tree in order:
            row = _round(_bench_of(tree), root)
            for run, m in row.items():
                stages = ", ".join(f"{k} {v:.1f}" for k, v in m["stage_seconds"].items())
                print(f"round {r} {label} {run}: wall {m['process_wall_s']:.1f} s; stage CPU-s "
                      f"{stages}; load {m['load_average']}", flush=True)
            out["rounds"].append({"round": r, "tree": label, **row})
            args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
