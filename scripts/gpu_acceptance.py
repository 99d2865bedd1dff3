"""GPU acceptance: the optimised paths against eager fp32, a `fast` training, and the zoo's
published models on the GPU against the CPU, written to one JSON file.

Usage::

    python scripts/gpu_acceptance.py [--device cuda] [--minutes 4] [--out gpu_acceptance.json]
    python scripts/gpu_acceptance.py --device cpu --tiny     # the same code on tiny sizes

Sections (top-level keys of the JSON):

``device``         the device, torch version, CPU threads, the options the `fast` recipe resolves
``train``          training patches/s of vdsr, drcn, drrn_b1u9, drrn_b1u25 with the `fast` recipe's
                   batch and patch: eager fp32 vs the optimised path (bf16 autocast,
                   channels_last, torch.compile where they resolve on)
``inference``      ms per 288x288 image of every registered method, eager vs optimised, the
                   device synchronised around each timed call, median of several
``fast_training``  drrn_b1u9 trained with the `fast` recipe for about ``--minutes`` (iterations =
                   minutes x the optimised patches/s measured in ``train`` / batch), then its
                   mean PSNR on Set5 at x2/x3/x4
``published``      each published weight file of ``benchmark/weights_manifest.json`` found
                   locally (``weights.reference_weights``) evaluated on Set5 on the device and on
                   the CPU in this run (the CPU values are computed here, not read from a table);
                   ``ok`` when every scale agrees within 0.005 dB. Missing files are recorded as
                   skipped with the reason; nothing is downloaded

With ``--tiny`` the models are narrow and shallow, batches and images small, the training 20
iterations on the embedded ``sample_train`` set, and the published comparison a 48x48 centre
crop of the first Set5 image at each file's first scale: a smoke run of every code path (on a
CPU the `fast` options resolve to channels_last only; torch.compile on the CPU is covered by
``tests/test_execution.py``).
Without Set5 the embedded ``sample`` set is evaluated instead (recorded as ``dataset``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's benchmark

from benchmark import data, harness, imaging, registry, sources, speed, trainer, weights# noqa: E402

TRAIN_METHODS = ("vdsr", "drcn", "drrn_b1u9", "drrn_b1u25")
SCALES = (2, 3, 4)
#: Largest allowed |PSNR(device) - PSNR(CPU)| of a published model, dB.
PUBLISHED_TOLERANCE_DB = 0.005
#: Model config keys shrunk by --tiny (only those a method has are applied).
TINY_CONFIG = {"channels": 8, "depth": 3, "recursions": 2, "U": 2, "n1": 8, "n2": 4}
#: Recipe keys shrunk by --tiny.
TINY_RECIPE = {"batch_size": 4, "patch_size": 15, "stride": 15, "warmup_iters": 2,
               "log_every": 5, "ckpt_every": 1000, "val_every": 0, "max_patches": 256,
               "train_set": "sample_train", "val_set": "sample"}


class Sizes:
    """The sizes of a run: full (a GPU) or tiny (the CPU smoke run)."""

    def __init__(self, tiny: bool) -> None:
        self.tiny = tiny
        self.image_size = 32 if tiny else 288
        self.steps, self.warmup, self.reps = (2, 1, 3) if tiny else (20, 5, 10)
        self.recipe = dict(TINY_RECIPE) if tiny else {}
        self.published_images = 1 if tiny else None  # None: all of Set5
        self.published_scales = 1 if tiny else None  # None: every scale of a weight file
        self.published_crop = 48 if tiny else None  # None: whole images
        self.fast_iterations = 20 if tiny else None  # None: from --minutes

    def config(self, method: str) -> dict[str, Any]:
        defaults = registry.resolve_config(method)
        if not self.tiny:
            return defaults
        return {**defaults, **{k: v for k, v in TINY_CONFIG.items() if k in defaults}}


def fast_options(device: torch.device) -> dict[str, bool]:
    """bf16 / channels_last / compile as the `fast` recipe resolves them on ``device``."""
    execution = {k: v for k, v in trainer.recipe_params("fast").items()
                 if k in trainer.EXECUTION_KEYS}
    resolved = trainer.resolve_execution(execution, device)
    return {k: resolved[k] for k in ("bf16", "channels_last", "compile")}


PLAIN = {"bf16": False, "channels_last": False, "compile": False}


def device_section(device: torch.device) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {"device": str(device), "name": name or "cpu", "torch": torch.__version__,
            "cuda": torch.version.cuda, "cpu_threads": torch.get_num_threads(),
            "fast_options": fast_options(device), "host": platform.node()}


def train_section(device: torch.device, sizes: Sizes) -> dict[str, Any]:
    """Training patches/s per method, eager fp32 vs the `fast` recipe's options."""
    rows: dict[str, Any] = {}
    for method in TRAIN_METHODS:
        plan = trainer.plan_training(method, "fast", sizes.recipe, config=sizes.config(method))
        row: dict[str, Any] = {"batch": plan.params["batch_size"],
                               "patch": plan.params["patch_size"], "config": plan.config}
        for label, options in (("eager", PLAIN), ("optimised", fast_options(device))):
            pps, compiled = speed.train_throughput(
                method, plan.config, plan.params, device, steps=sizes.steps,
                warmup=sizes.warmup, **options)
            row[f"{label}_patches_per_s"] = pps
            row[f"{label}_options"] = {**options, "compile": compiled}
        row["speedup"] = row["optimised_patches_per_s"] / row["eager_patches_per_s"]
        rows[method] = row
    return rows


def inference_section(device: torch.device, sizes: Sizes) -> dict[str, Any]:
    """Milliseconds per image per method, eager vs optimised (median of ``sizes.reps``)."""
    rows: dict[str, Any] = {"image_size": sizes.image_size, "reps": sizes.reps}
    for spec in registry.list_methods():
        config = sizes.config(spec.name)
        row: dict[str, Any] = {}
        for label, options in (("eager", PLAIN), ("optimised", fast_options(device))):
            ms, compiled = speed.inference_ms(
                spec.name, config, device, image_size=sizes.image_size, reps=sizes.reps,
                warmup=sizes.warmup, **options)
            row[f"{label}_ms"] = ms
            row[f"{label}_options"] = {**options, "compile": compiled}
        row["speedup"] = row["eager_ms"] / row["optimised_ms"]
        rows[spec.name] = row
    return rows


def test_images(root: Path, limit: int | None) -> tuple[str, list[data.ImageRef]]:
    """Set5 (its first ``limit`` images), or the embedded ``sample`` set without it."""
    try:
        name, refs = "set5", data.list_images("set5", root, offline=True, progress=False)
    except data.DatasetError:
        name, refs = "sample", data.list_images("sample", root, offline=True, progress=False)
    return name, refs[:limit] if limit else refs


def centre_crops(refs: list[data.ImageRef], size: int, folder: Path) -> list[data.ImageRef]:
    """A ``size`` square centre crop of each image, written to ``folder`` as PNG and listed as
    the ad-hoc set ``dir:<folder>`` (so the tiny run's full-size published models cost little)."""
    folder.mkdir(parents=True, exist_ok=True)
    for ref in refs:
        image = ref.load()
        top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        imaging.write_image(folder / f"{ref.name}.png", image[top:top + size, left:left + size])
    return data.list_images(f"dir:{folder}", offline=True, progress=False)


def mean_psnr(run: harness.MethodRun, refs: list[data.ImageRef], scales: list[int],
              device: torch.device) -> dict[str, float]:
    """Mean PSNR per scale (``"x2"``: value) of ``run`` on ``refs`` under the protocol."""
    pairs = harness.prepare_pairs({refs[0].dataset: refs}, scales, cache_dir=data.cache_dir(),
                                  jobs=1, times=harness.StageTimes(), progress=False)
    rows = harness.evaluate([run], pairs, metric_names=("psnr",), device=device,
                            progress=False)
    return {f"x{s}": float(np.mean([r["psnr"] for r in rows if r["scale"] == s]))
            for s in scales}


def fast_training_section(device: torch.device, sizes: Sizes, minutes: float,
                          optimised_pps: float, root: Path, out_dir: Path) -> dict[str, Any]:
    """drrn_b1u9 with the `fast` recipe for about ``minutes``, then Set5 x2/x3/x4."""
    method = "drrn_b1u9"
    batch = trainer.plan_training(method, "fast", sizes.recipe).params["batch_size"]
    iterations = sizes.fast_iterations or max(10, round(minutes * 60 * optimised_pps / batch))
    overrides = {**sources.training_data_fallback("fast", root, offline=True), **sizes.recipe,
                 "iterations": iterations}
    start = time.perf_counter()
    path = trainer.train(method, recipe="fast", overrides=overrides,
                       config=sizes.config(method), device=device, data_root=root,
                       offline=True, out_dir=out_dir, resume=False, progress=not sizes.tiny)
    seconds = time.perf_counter() - start
    model, meta = weights.load_model(path)
    run = harness.MethodRun(registry.get_method(method), meta["config"], model)
    dataset, refs = test_images(root, None)
    return {"method": method, "iterations": iterations, "batch": batch,
            "train_seconds": seconds, "train_set": meta["train_set"],
            "execution": meta["execution"], "checkpoint": str(path), "dataset": dataset,
            "psnr": mean_psnr(run, refs, list(SCALES), device)}


def published_one(name: str, entry: dict[str, Any], device: torch.device, sizes: Sizes,
                  root: Path, crops: Path) -> dict[str, Any]:
    """One manifest entry on the device and on the CPU, or why it was skipped."""
    from benchmark import zoo

    path = zoo.locate(next(e for e in zoo.entries() if e.name == name), data_root=root)
    if path is None:  # packaged entries are always found; the others under ../reference
        return {"status": "skipped", "reason": f"{entry.get('reference_path')} not found under "
                f"{root.parent / 'reference'} (this script never downloads)"}
    method = entry["method"]
    state, overrides, _ = weights.import_weights(method, path)
    config = registry.resolve_config(method, **overrides)
    dataset, refs = test_images(root, sizes.published_images)
    if sizes.published_crop:
        refs = centre_crops(refs, sizes.published_crop, crops / name)
        dataset = f"{dataset} ({sizes.published_crop}x{sizes.published_crop} centre crops)"
    scales = [int(s) for s in entry["scales"]][:sizes.published_scales]
    values = {}
    for label, where in (("device", device), ("cpu", torch.device("cpu"))):
        model = weights.load_state(registry.create_model(method, **config), state,
                                   source=str(path))
        run = harness.MethodRun(registry.get_method(method), config, model)
        values[label] = mean_psnr(run, refs, scales, where)
    diff = {k: values["device"][k] - values["cpu"][k] for k in values["cpu"]}
    ok = all(abs(d) < PUBLISHED_TOLERANCE_DB for d in diff.values())
    return {"status": "ok" if ok else "mismatch", "method": method, "file": str(path),
            "dataset": dataset, "images": len(refs), "psnr_device": values["device"],
            "psnr_cpu": values["cpu"], "difference_db": diff,
            "tolerance_db": PUBLISHED_TOLERANCE_DB}


def published_section(device: torch.device, sizes: Sizes, root: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as crops:
        return {name: published_one(name, entry, device, sizes, root, Path(crops))
                for name, entry in weights.load_weights_manifest().items()}


def run(device: torch.device, sizes: Sizes, minutes: float, root: Path,
        weights_dir: Path) -> dict[str, Any]:
    """Every section in order, each with its wall seconds under ``seconds``."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    report: dict[str, Any] = {"device": device_section(device), "seconds": {}}
    steps = (
        ("train", lambda: train_section(device, sizes)),
        ("inference", lambda: inference_section(device, sizes)),
        ("fast_training", lambda: fast_training_section(
            device, sizes, minutes, report["train"]["drrn_b1u9"]["optimised_patches_per_s"],
            root, weights_dir)),
        ("published", lambda: published_section(device, sizes, root)),
    )
    for key, section in steps:
        start = time.perf_counter()
        report[key] = section()
        report["seconds"][key] = time.perf_counter() - start
        print(f"{key}: {report['seconds'][key]:.1f} s", file=sys.stderr, flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--minutes", type=float, default=4.0,
                        help="length of the fast training (default 4)")
    parser.add_argument("--out", default="gpu_acceptance.json")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--data-root", help="datasets folder (default $SRBENCH_DATA)")
    parser.add_argument("--weights-dir", default="weights/acceptance",
                        help="where the fast training's checkpoint goes")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default: 1 with --tiny, where tiny ops on a "
                        "busy CPU run fastest on one; else torch's default)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads or args.tiny:
        torch.set_num_threads(args.threads or 1)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here (use --device cpu --tiny)")
    start = time.perf_counter()
    report = run(device, Sizes(args.tiny), args.minutes, data.resolve_data_root(args.data_root),
                 Path(args.weights_dir))
    report["seconds"]["total"] = time.perf_counter() - start
    out = Path(args.out)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {out} ({report['seconds']['total']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
