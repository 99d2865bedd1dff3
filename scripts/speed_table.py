"""Print ``benchmark.speed.speed`` rows: optimised vs eager fp32 training and inference speed.

Usage::

    python scripts/speed_table.py --methods drrn_b1u9,vdsr,srcnn,drcn --recipe quick \\
        [--device auto] [--threads 1] [--steps 20] [--image-size 288]
"""

from __future__ import annotations

import argparse

import torch

from benchmark.speed import speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="drrn_b1u9,vdsr,srcnn,drcn")
    parser.add_argument("--recipe", default="fast")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=288)
    parser.add_argument("--batch-size", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {"batch_size": args.batch_size} if args.batch_size else None
    rows = speed(args.methods.split(","), args.device, recipe=args.recipe, overrides=overrides,
                 image_size=args.image_size, steps=args.steps, reps=args.reps)
    print(f"device={rows[0]['device']} threads={rows[0]['threads']} recipe={args.recipe}")
    print(f"{'method':10} {'width':>5} {'batch':>5} {'train p/s opt':>13} {'eager':>8} {'x':>5} "
          f"{'infer ms opt':>12} {'eager':>8} {'x':>5}  options")
    for r in rows:
        width = r["config"].get("channels", "-")
        opts = ",".join(k for k in ("bf16", "channels_last", "compile") if r[k]) or "none"
        print(f"{r['method']:10} {width:>5} {r['batch']:>5} {r['train_pps_optimised']:13.1f} "
              f"{r['train_pps_eager']:8.1f} {r['train_speedup']:5.2f} "
              f"{r['infer_ms_optimised']:12.1f} {r['infer_ms_eager']:8.1f} "
              f"{r['infer_speedup']:5.2f}  {opts}")


if __name__ == "__main__":
    main()
