"""One benchmark entry point: ``python -m benchmark bench {eval,peer,inference,train}``.

Every mode measures what it compares in one process, side by side (interleaved rounds,
median), prints ratios with the load average, and writes one JSON (``--out``, default
``bench-MODE.json``) with the figures, the load average and the machine:

* ``eval``: wall time and per-stage split of the bicubic Table 2 + IFC run (Set5, Set14,
  B100, Urban100 x2/x3/x4: 657 evaluations) with an empty GT/LR cache, then with the cache
  it filled, and with PSNR + SSIM only from an empty cache (three ``python -m benchmark run``
  processes); and
  the metric cost of each additional method in a run of bicubic plus two published models
  (SRCNN 9-1-5, VDSR on Set5 and Set14) as a fraction of the first method's, which pays
  the reference side of every image;
* ``peer``: the same bicubic Table 2 with PSNR + SSIM through the harness, against the loop a
  Python user writes with scikit-image on the same shaved uint8 Y pairs: the ratio of the
  metric stages alone, and how far skimage's SSIM is from the protocol's;
* ``inference``: per registered method the forward time of a 288 x 288 and a 512 x 512 ILR on
  this CPU, eager against the one inference path (:func:`benchmark.inference_model`), the
  GFLOP/s achieved (2 x multiply-adds / time) and its fraction of the fp32 peak that a
  2048^3 float32 matmul reaches in the same rounds on the same thread count; and the peak
  memory of one forward at the largest Urban100 x2 ILR;
* ``train``: CPU training patches/s of the quick drrn_b1u9 and srcnn_915 recipes under thread
  counts, channels_last, torch.compile and batch size, as ratios to the plain eager loop.

``--quick`` runs each mode on a small subset (Set5, two methods, tiny sizes) in seconds; its
figures say nothing about speed. Nothing heavy is imported before a mode runs (``--help``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

MODES = ("eval", "peer", "inference", "train")
#: Table 2 of the DRRN paper: the sets and scales of the ``eval`` and ``peer`` modes.
TABLE2_SETS, TABLE2_SCALES = ("set5", "set14", "bsd100", "urban100"), (2, 3, 4)
INFERENCE_SIZES = (288, 512)  # DRRN's timing example, and a larger ILR
PEAK_SIDE = 2048  # the matmul whose rate is the fp32 peak: 2 x 2048^3 FLOPs
QUICK_METHODS = ("srcnn_915", "vdsr")
#: The run whose per-method metric cost the ``eval`` mode reports: bicubic first.
SHARED_METHODS, SHARED_SETS = ("bicubic", "srcnn_915", "vdsr"), ("set5", "set14")
QUICK_SIZE, QUICK_PEAK_SIDE = 48, 256


def add_parser(sub: Any) -> None:
    """Register the ``bench`` command on the CLI's subparsers."""
    be = sub.add_parser(
        "bench", help="benchmarks: eval, peer (vs scikit-image), inference, train",
        description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    be.add_argument("mode", choices=MODES)
    be.add_argument("--quick", action="store_true",
                    help="a small subset (Set5, two methods, tiny sizes): checks the mode runs")
    be.add_argument("--out", metavar="FILE", help="JSON file (default bench-MODE.json)")
    be.add_argument("--data-root", help="dataset folder (default $SRBENCH_DATA, else ./datasets)")
    be.add_argument("--methods", help="inference: comma-separated (default: every registered)")
    be.add_argument("--sizes", help="inference: ILR sides (default 288,512)")
    be.add_argument("--threads", help="inference: torch thread counts, e.g. 1,2 (default: "
                    "torch's current count)")
    be.add_argument("--rounds", type=int, help="timed interleaved rounds (default 3; train 5)")
    be.add_argument("--compile", action="store_true",
                    help="inference: also time torch.compile of the chosen path (minutes)")
    be.add_argument("--no-memory", action="store_true", help="inference: skip peak memory")
    be.add_argument("--jobs", type=int, default=2, help="eval, peer: --jobs of the runs")
    be.add_argument("--steps", type=int, default=4, help="train: timed steps per round")
    be.add_argument("--quiet", action="store_true", help="no progress lines")
    be.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    """Run one mode, print its table, write its JSON."""
    runners: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
        "eval": run_eval, "peer": run_peer, "inference": run_inference, "train": run_train}
    start = environment()
    result = runners[args.mode](args)
    payload = {"mode": args.mode, "quick": args.quick, **start, **result,
               "load_average_end": load_average()}
    out = Path(args.out or f"bench-{args.mode}.json")
    out.write_text(json.dumps(payload, indent=1, default=float) + "\n")
    print(f"\n{args.mode}: {out}")
    return 0


# ----------------------------------------------------------------------------- shared
def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages, rounded."""
    return [round(v, 2) for v in os.getloadavg()]


def load_text(values: list[float] | None = None) -> str:
    one, five, fifteen = values or load_average()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def environment() -> dict[str, Any]:
    """Date, machine and software, and the load average at the start."""
    import torch

    return {"date": datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "load_average_start": load_average()}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def interleave(cases: dict[Any, Callable[[], float]], rounds: int,
               progress: bool = False) -> tuple[dict[Any, list[float]], list[list[float]]]:
    """Each case's seconds over ``rounds`` rounds of A B C ... A B C ..., so that the load
    of a shared machine falls on every case alike; and the load average after each round."""
    times: dict[Any, list[float]] = {key: [] for key in cases}
    loads = []
    for r in range(rounds):
        for key, case in cases.items():
            times[key].append(case())
        loads.append(load_average())
        if progress:
            print(f"  round {r + 1}/{rounds} done, {load_text()}", file=sys.stderr, flush=True)
    return times, loads


def _csv_ints(text: str | None, default: tuple[int, ...]) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()] if text else list(default)


def _data_root(args: argparse.Namespace) -> Path:
    from benchmark import data

    return data.resolve_data_root(args.data_root)


# ------------------------------------------------------------------------------- eval
def run_eval(args: argparse.Namespace) -> dict[str, Any]:
    """Bicubic Table 2 + IFC cold then warm, PSNR + SSIM cold, and the shared-reference run."""
    sets, scales = (("set5",), (2,)) if args.quick else (TABLE2_SETS, TABLE2_SCALES)
    root = _data_root(args)
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, metrics, cache in (("cold", "psnr,ssim,ifc", "a"),
                                      ("warm", "psnr,ssim,ifc", "a"),
                                      ("psnr_ssim", "psnr,ssim", "b")):
            runs[label] = _run_table(root, ("bicubic",), sets, scales, metrics, args.jobs,
                                     Path(tmp), "--cache-dir", str(Path(tmp) / cache))
            _print_run(label, runs[label])
        shared = _shared_reference(root, args, Path(tmp))
    ratio = runs["cold"]["process_wall_s"] / runs["warm"]["process_wall_s"]
    print(f"cold / warm process wall: {ratio:.2f}")
    return {"datasets": list(sets), "scales": list(scales), "metrics": "psnr,ssim,ifc",
            "jobs": args.jobs, **runs, "cold_over_warm": ratio, "shared_reference": shared}


def _print_run(label: str, meta: dict[str, Any]) -> None:
    split = ", ".join(f"{k} {v:.1f} s" for k, v in meta["stage_seconds"].items())
    print(f"{label}: {meta['evaluations']} evaluations ({meta['metrics']}), process wall "
          f"{meta['process_wall_s']:.1f} s (harness {meta['harness_wall_s']:.1f} s, "
          f"jobs={meta['jobs']}); stage CPU-seconds: {split}; "
          f"{load_text(meta['load_average'])}")


def _shared_reference(root: Path, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Metric CPU-seconds per method of one run of bicubic and two published models: each
    additional method's cost over the first's (the first pays every reference side)."""
    methods = SHARED_METHODS[:2] if args.quick else SHARED_METHODS
    sets, scales = (("set5",), (2,)) if args.quick else (SHARED_SETS, TABLE2_SCALES)
    meta = _run_table(root, methods, sets, scales, "psnr,ssim,ifc", args.jobs, tmp,
                      "--weights", "published", "--cache-dir", str(tmp / "a"))
    cost = meta["metric_seconds_by_method"]
    if not cost:  # a checkout from before the per-method split
        return {"methods": list(methods), "process_wall_s": meta["process_wall_s"]}
    first = cost[methods[0]]
    ratios = {m: cost[m] / first for m in methods[1:]}
    print(f"shared reference ({', '.join(methods)} on {', '.join(sets)}): metric CPU-seconds "
          + ", ".join(f"{m} {cost[m]:.2f}" for m in methods) + "; additional / first: "
          + ", ".join(f"{m} {r:.2f}" for m, r in ratios.items()) + f"; {load_text()}")
    return {"methods": list(methods), "datasets": list(sets), "scales": list(scales),
            "metric_seconds": cost, "additional_over_first": ratios,
            "process_wall_s": meta["process_wall_s"], "load_average": meta["load_average"]}


def _run_table(root: Path, methods: tuple[str, ...], sets: tuple[str, ...],
               scales: tuple[int, ...], metrics: str, jobs: int, tmp: Path,
               *extra: str) -> dict[str, Any]:
    """One ``python -m benchmark run``; its run.json figures and process wall."""
    results = tmp / "results"
    command = [sys.executable, "-m", "benchmark", "run", "--methods", ",".join(methods),
               "--scales", ",".join(map(str, scales)), "--datasets", ",".join(sets),
               "--metrics", metrics, "--data-root", str(root), "--results-dir", str(results),
               "--jobs", str(jobs), "--offline", "--no-report", "--quiet", *extra]
    checkout = str(Path(__file__).resolve().parents[1])  # this benchmark, not another one
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (checkout, os.environ.get("PYTHONPATH", "")) if p)}
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    newest = max(results.glob("*/run.json"), key=lambda p: p.stat().st_mtime)
    meta = json.loads(newest.read_text())
    return {"process_wall_s": wall, "harness_wall_s": meta["wall_seconds"],
            "evaluations": meta["evaluations"], "stage_seconds": meta["stage_seconds"],
            "metric_seconds_by_method": meta.get("metric_seconds_by_method", {}),
            "metrics": metrics,
            "jobs": meta["jobs"], "load_average": load_average()}


# ------------------------------------------------------------------------------- peer
def run_peer(args: argparse.Namespace) -> dict[str, Any]:
    """srbench's bicubic PSNR + SSIM against a scikit-image loop, group by group."""
    from benchmark import data, harness, registry

    sets, scales = (("set5",), TABLE2_SCALES) if args.quick else (TABLE2_SETS, TABLE2_SCALES)
    root = _data_root(args)
    images = {name: data.list_images(name, root, offline=True, progress=False) for name in sets}
    pairs = [p for p in harness.prepare_pairs(
        images, list(scales), cache_dir=data.cache_dir(), jobs=args.jobs,
        times=harness.StageTimes(), progress=not args.quiet) if p.error is None]
    run = harness.MethodRun(registry.get_method("bicubic"), {}, registry.create_model("bicubic"))
    groups: dict[tuple[str, int], list[Any]] = {}
    for pair in pairs:
        groups.setdefault((pair.ref.dataset, pair.scale), []).append(pair)
    ours, theirs = harness.StageTimes(), harness.StageTimes()
    rows, peer = [], []
    for group in groups.values():  # alternate the two, so that both see the same load
        rows += _srbench_group(run, group, ours)
        peer += _skimage_group(group, theirs)
    return _peer_summary(rows, peer, ours, theirs)


def _srbench_group(run: Any, group: list[Any], times: Any) -> list[dict[str, Any]]:
    import torch

    from benchmark import harness

    start = time.perf_counter()
    rows = harness.evaluate([run], group, metric_names=("psnr", "ssim"),
                            device=torch.device("cpu"), jobs=1, times=times, progress=False)
    times.add("wall", time.perf_counter() - start)
    return rows


def _skimage_group(group: list[Any], times: Any) -> list[dict[str, float]]:
    """The loop a Python user writes: load, quantise the ILR (bicubic's output), shave, and
    scikit-image's PSNR and SSIM with the Wang et al. settings."""
    import numpy as np
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from benchmark import imaging

    start = time.perf_counter()
    out = []
    for pair in group:
        gt, ilr = pair.load()
        ref = imaging.shave(gt, pair.scale)
        sr = imaging.shave(imaging.quantize_unit(ilr), pair.scale)
        t0 = time.perf_counter()
        psnr = peak_signal_noise_ratio(ref, sr, data_range=255)
        t1 = time.perf_counter()
        ssim = structural_similarity(ref, sr, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=255)
        t2 = time.perf_counter()
        times.add("psnr", t1 - t0)
        times.add("ssim", t2 - t1)
        out.append({"psnr": float(psnr), "ssim": float(np.float64(ssim))})
    times.add("wall", time.perf_counter() - start)
    return out


def _peer_summary(rows: list[dict[str, Any]], peer: list[dict[str, float]], ours: Any,
                  theirs: Any) -> dict[str, Any]:
    import numpy as np

    ssim_diff = np.abs(np.array([p["ssim"] for p in peer]) - np.array([r["ssim"] for r in rows]))
    psnr_diff = np.abs(np.array([p["psnr"] for p in peer]) - np.array([r["psnr"] for r in rows]))
    metric = {name: sum(t.seconds[m] for m in ("psnr", "ssim")) for name, t in
              (("srbench", ours), ("skimage", theirs))}
    result = {
        "evaluations": len(rows),
        "srbench_seconds": {k: ours.seconds[k] for k in ("psnr", "ssim", "wall")},
        "skimage_seconds": {k: theirs.seconds[k] for k in ("psnr", "ssim", "wall")},
        "metric_seconds": metric,
        "metric_ratio_skimage_over_srbench": metric["skimage"] / metric["srbench"],
        "ssim_mean_abs_difference": float(ssim_diff.mean()),
        "ssim_max_abs_difference": float(ssim_diff.max()),
        "psnr_max_abs_difference": float(psnr_diff.max()),
    }
    print(f"{len(rows)} evaluations, PSNR + SSIM, one process, {load_text()}")
    for name, t in (("srbench", ours), ("skimage", theirs)):
        print(f"  {name:8} metric stages {metric[name]:7.2f} s (PSNR {t.seconds['psnr']:.2f}, "
              f"SSIM {t.seconds['ssim']:.2f}); wall {t.seconds['wall']:.2f} s")
    print(f"  skimage / srbench metric time: {result['metric_ratio_skimage_over_srbench']:.2f}; "
          f"skimage SSIM - ours: mean |d| {result['ssim_mean_abs_difference']:.2e}, max "
          f"{result['ssim_max_abs_difference']:.2e}; PSNR max |d| "
          f"{result['psnr_max_abs_difference']:.2e} dB")
    return result


# ------------------------------------------------------------------------- inference
def run_inference(args: argparse.Namespace) -> dict[str, Any]:
    """Forward times, GFLOP/s and fraction of the matmul peak, eager vs the chosen path."""
    import torch

    from benchmark import bench_inference as bi
    from benchmark import registry

    if args.methods:
        names = [n.strip() for n in args.methods.split(",") if n.strip()]
    else:
        names = list(QUICK_METHODS) if args.quick else [s.name for s in registry.list_methods()]
    sizes = [QUICK_SIZE] if args.quick else _csv_ints(args.sizes, INFERENCE_SIZES)
    threads = _csv_ints(args.threads, (torch.get_num_threads(),))
    rounds = args.rounds or (1 if args.quick else 3)
    models = bi.distinct_models(names)
    previous = torch.get_num_threads()
    blocks = []
    try:
        for count in threads:
            torch.set_num_threads(count)
            block = bi.time_models(models, sizes, rounds, peak_side=QUICK_PEAK_SIDE
                                   if args.quick else PEAK_SIDE, compile=args.compile,
                                   progress=not args.quiet)
            bi.print_block(block)
            blocks.append(block)
        memory = None if args.no_memory else bi.memory_table(
            models, None if args.quick else _data_root(args), progress=not args.quiet)
    finally:
        torch.set_num_threads(previous)
    if memory is not None:
        bi.print_memory(memory)
    return {"sizes": sizes, "rounds": rounds, "threads": blocks, "memory": memory,
            "convention": bi.CONVENTION}


# ------------------------------------------------------------------------------ train
def run_train(args: argparse.Namespace) -> dict[str, Any]:
    """Training patches/s of two quick recipes under execution variants."""
    import torch

    from benchmark import bench_train

    rounds = args.rounds or (1 if args.quick else 5)
    steps = 1 if args.quick else args.steps
    previous = torch.get_num_threads()
    try:
        methods = {m: bench_train.measure(m, rounds, steps, quick=args.quick)
                   for m in bench_train.RECIPES}
    finally:
        torch.set_num_threads(previous)
    return {"rounds": rounds, "steps": steps, "methods": methods}
