"""CPU inference time per image for every registered method (or a chosen few).

For each method and image size: build the model with its paper config (random He init: weights
do not change the arithmetic), run ``warmup`` untimed forwards, then ``runs`` timed forwards of
one ``(1, 1, S, S)`` ILR under ``torch.inference_mode`` and report the median seconds, with the
conv multiply-adds per pixel, the torch thread count and the dtype. Only the forward pass is
timed (docs/protocol.md, Timing). Other processes on the machine inflate the figures.

Usage::

    python scripts/bench_inference.py [--methods vdsr,drrn] [--sizes 256,512] [--runs 3]
        [--warmup 1] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from benchmark.modelinfo import model_stats
from benchmark.registry import create_model, get_method, list_methods

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def time_forward(model: torch.nn.Module, x: torch.Tensor, warmup: int, runs: int) -> list[float]:
    """Seconds of each of ``runs`` forward passes after ``warmup`` untimed ones."""
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="", help="comma-separated names (default: all)")
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.methods.split(",") if n.strip()] or [s.name for s in list_methods()]
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
        f"warm-up {args.warmup}, median of {args.runs}, load average {os.getloadavg()[0]:.1f}"
    )
    header = f"{'method':<12} {'dtype':<8} {'params':>10} {'MAC/px':>11}" + "".join(
        f" {f'{s}x{s} s':>11}" for s in sizes
    )
    print(header)
    print("-" * len(header))
    for name in names:
        spec = get_method(name)
        dtype = DTYPES[spec.dtype]
        model = create_model(name).to(dtype).eval()
        stats = model_stats(name)
        cells = []
        for size in sizes:
            torch.manual_seed(0)
            x = torch.rand(1, 1, size, size, dtype=dtype)
            cells.append(statistics.median(time_forward(model, x, args.warmup, args.runs)))
        print(
            f"{name:<12} {spec.dtype:<8} {stats['params']:>10,} {stats['macs_per_pixel']:>11,}"
            + "".join(f" {t:>11.3f}" for t in cells),
            flush=True,
        )


if __name__ == "__main__":
    main()
