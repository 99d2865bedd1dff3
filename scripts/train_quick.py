"""Measure the quick recipe end to end: patch bank + training + Set5 x2 under the protocol.

For each method: train with ``benchmark.trainer.find_or_train`` (an empty cache with
``--fresh-cache``, so the patch bank build is timed too), then evaluate Set5 x2 exactly as
the protocol says, independently of the trainer's own validation: ``imaging.prepare_pair`` ->
model (float32) -> ``imaging.quantize_unit`` -> ``imaging.shave(2)`` -> ``metrics.psnr`` on
uint8, mean over the 5 images. Prints one line per method and the bicubic baseline.

Usage::

    python scripts/train_quick.py --data-root ../shared/datasets --fresh-cache \\
        --methods drrn_b1u9,vdsr,srcnn,drcn [--weights-dir /tmp/w] [--set lr=1e-3 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def set5_x2_psnr(model: torch.nn.Module | None, data_root: str) -> float:
    """Mean Set5 x2 PSNR of ``model`` (None: bicubic) under docs/protocol.md steps 1-7."""
    from benchmark import data, imaging, metrics

    scores = []
    for ref in data.list_images("set5", data_root, offline=True, progress=False):
        gt, ilr = imaging.prepare_pair(ref.load(), 2)
        if model is None:
            sr = ilr
        else:
            with torch.no_grad():
                x = torch.from_numpy(ilr).float()[None, None]
                sr = model(x)[0, 0].double().numpy()
        ref_u8 = imaging.shave(imaging.quantize_unit(gt), 2)
        out_u8 = imaging.shave(imaging.quantize_unit(sr), 2)
        scores.append(metrics.psnr(ref_u8, out_u8))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="drrn_b1u9,vdsr,srcnn,drcn")
    parser.add_argument("--recipe", default="quick")
    parser.add_argument("--data-root", default=os.environ.get("SRBENCH_DATA"))
    parser.add_argument("--weights-dir", help="default: a new temporary folder")
    parser.add_argument("--fresh-cache", action="store_true",
                        help="use an empty $SRBENCH_CACHE so that the patch bank build is timed")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="recipe override, e.g. --set lr=1e-3 --set max_width=64")
    parser.add_argument("--width", type=int, help="model channels (config override)")
    args = parser.parse_args()
    if args.fresh_cache:
        os.environ["SRBENCH_CACHE"] = tempfile.mkdtemp(prefix="srbench-cache-")
    if args.threads:
        torch.set_num_threads(args.threads)
    # Imported after $SRBENCH_CACHE is settled.
    from benchmark.trainer import find_or_train
    from benchmark.weights import load_model

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    config = {"channels": args.width} if args.width else None
    weights_dir = Path(args.weights_dir or tempfile.mkdtemp(prefix="srbench-weights-"))
    print(f"threads={torch.get_num_threads()} cache={os.environ.get('SRBENCH_CACHE', '~/.cache')}"
          f" weights={weights_dir} overrides={overrides} config={config}", flush=True)
    print(f"bicubic set5 x2 psnr={set5_x2_psnr(None, args.data_root):.4f}", flush=True)
    for method in args.methods.split(","):
        start = time.perf_counter()
        path = find_or_train(method, args.recipe, overrides, config=config,
                             data_root=args.data_root, weights_dir=weights_dir,
                             device=args.device, progress=False)
        trained = time.perf_counter() - start
        model, meta = load_model(path)
        psnr = set5_x2_psnr(model, args.data_root)
        total = time.perf_counter() - start
        print(f"{method} recipe={meta['recipe']} config={meta['config']} "
              f"iterations={meta['iteration']} batch={meta['params']['batch_size']} "
              f"train_s={trained:.0f} total_s={total:.0f} set5_x2_psnr={psnr:.4f} "
              f"(trainer val {meta['val_psnr']:.4f}) weights={path.name}", flush=True)


if __name__ == "__main__":
    main()
