"""The evaluation harness: docs/protocol.md steps 1-7 for any registered method.

Stages, each timed for the benchmark:
1. prepare: read each image, compute GT (uint8 Y, modcropped) and LR (float64) per scale,
   in parallel, cached on disk so that a second run does not recompute them; the ILR is
   upscaled from the LR once per image for all methods;
2. forward: each method's forward pass per image, timed alone (warm-up first, CUDA
   synchronisation on a GPU), output clipped and quantised to uint8; with
   ``MethodRun.ensemble == "x8"`` the whole 8-pass self-ensemble is timed and averaged;
3. score: shave, then PSNR / SSIM / IFC per image, in parallel over CPU cores; every
   method's output of an image is scored in one task, so the reference-side work of the
   metrics is done once per (dataset, scale, image).

The harness knows nothing about particular methods: it sees a :class:`MethodRun` (a spec,
its resolved config, a built model and a label for its weights).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import torch
import torch.nn as nn

from benchmark import PROTOCOL, ensemble, imaging
from benchmark.data import ImageRef
from benchmark.memory import freed_memory_kept
from benchmark.work import (METRICS, _pair_paths, _path_component, extended_names,
                            ilr_from_lr, pool_jobs, prepare_one, score, score_outputs)
from benchmark.progress import progress_bar
from benchmark.registry import MethodSpec
from benchmark.results import config_text

__all__ = ["MethodRun", "Pair", "StageTimes", "evaluate", "forward", "prepare_pairs",
           "resolve_device", "score", "timed"]  # score: re-exported from benchmark.work

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
T = TypeVar("T")


@dataclass
class MethodRun:
    """A method ready to evaluate: its spec, resolved config and built model."""

    spec: MethodSpec
    config: dict[str, Any]
    model: nn.Module
    weights: str = "-"
    recipe: str = "-"
    tile: int | None = None
    ensemble: str = ""  # "x8": the geometric self-ensemble (benchmark.ensemble)
    #: The scales this model serves (a per-scale model, e.g. SRCNN); None: every scale.
    scales: tuple[int, ...] | None = None
    #: (dataset, scale) groups whose warm-up forward pass has run.
    warmed: set[tuple[str, int]] = field(default_factory=set, repr=False)

    def serves(self, scale: int) -> bool:
        return self.scales is None or scale in self.scales


@dataclass
class Pair:
    """One (dataset, scale, image) evaluation unit with its cached GT/LR files."""

    ref: ImageRef
    scale: int
    gt_path: Path
    lr_path: Path
    error: str | None = None

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """GT as uint8 (H, W) and ILR as float64 (H, W) in [0, 1]."""
        gt = np.load(self.gt_path)
        return gt, ilr_from_lr(np.load(self.lr_path), gt.shape)

    def shape(self) -> tuple[int, int]:
        """(H, W) of the GT and of the ILR, read from the cached file's header."""
        return np.load(self.gt_path, mmap_mode="r").shape  # type: ignore[return-value]

    def load_ilr(self) -> np.ndarray:
        """The ILR, float64 (H, W), upscaled from the cached LR."""
        return ilr_from_lr(np.load(self.lr_path), self.shape())


@dataclass
class StageTimes:
    """Seconds spent per stage, summed over images (CPU-seconds for parallel stages)."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    #: Metric CPU-seconds per method: the first method of an image pays its reference side.
    metric_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, stage: str, value: float) -> None:
        self.seconds[stage] += value

    def add_method(self, method: str, values: dict[str, float]) -> None:
        """Add one output's ``<metric>_seconds`` to ``method``'s metric cost."""
        self.metric_seconds[method] += sum(values.get(f"{m}_seconds", 0.0) for m in METRICS)


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def prepare_pairs(
    images: dict[str, list[ImageRef]],
    scales: list[int],
    *,
    cache_dir: Path,
    jobs: int,
    times: StageTimes,
    progress: bool = True,
) -> list[Pair]:
    """GT/LR for every dataset image and scale (docs/protocol.md steps 1-3), cached on disk."""
    refs = [ref for refs in images.values() for ref in refs]
    results = _in_order(prepare_one, [(ref, scales, cache_dir) for ref in refs],
                        pool_jobs(jobs, len(refs)))
    pairs: list[Pair] = []
    for ref, (errors, seconds) in progress_bar(
        zip(refs, results), total=len(refs), desc="prepare", show=progress, leave=False
    ):
        times.add("prepare", seconds)
        for scale in scales:
            gt_path, lr_path = _pair_paths(ref, scale, cache_dir)
            pairs.append(Pair(ref, scale, gt_path, lr_path, errors.get(scale)))
    return pairs


def _in_order(fn: Callable[..., T], args: list[tuple[Any, ...]], workers: int) -> Iterator[T]:
    """``fn(*a)`` for each ``a`` in ``args``, in order: on the scoring executor's ``workers``
    processes (:func:`_executor`), or in this process for 1. The same executor as scoring,
    so that its workers, started and warm, go on to score (a joblib ``Parallel`` pool has
    other settings, and the executor restarts its workers when the settings change)."""
    if workers <= 1:
        yield from (fn(*a) for a in args)
        return
    executor = _executor(workers)
    futures = [executor.submit(fn, *a) for a in args]
    try:
        for future in futures:
            yield future.result()
    finally:  # an error or Ctrl-C: what has not started is not started
        for future in futures:
            future.cancel()


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU, which runs synchronously."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], T], device: torch.device) -> tuple[T, float]:
    """``fn()`` and its wall seconds, the device synchronised before and after: the one timed
    region of the harness and of :mod:`benchmark.speed`, so a CPU run covers the GPU's path."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return result, time.perf_counter() - start


def forward(
    run: MethodRun, ilr: np.ndarray, device: torch.device
) -> tuple[np.ndarray, float]:
    """The method's output for one ILR (float64 (H, W)) and the seconds of its forward pass."""
    dtype = _DTYPES[run.spec.dtype]
    x = torch.from_numpy(ilr).to(device=device, dtype=dtype)[None, None]
    call = _model_call(run, device)
    with torch.inference_mode():
        y, seconds = timed(lambda: ensemble.apply(run.ensemble, call, x), device)
    return y[0, 0].to(device="cpu", dtype=torch.float64).numpy(), seconds


def _model_call(run: MethodRun, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model's inference module (:func:`benchmark.inference.inference_model`), or its
    memory-bounded tiled call with ``run.tile``."""
    from benchmark.inference import inference_model

    module = inference_model(run.model, device)
    if not run.tile:
        return module
    from benchmark.tiling import forward_tiled, receptive_radius

    # The prepared module keeps no receptive_radius attribute: the model says it.
    overlap = receptive_radius(run.model)
    return lambda x: forward_tiled(module, x, run.tile, overlap)


def _forward_one(run: MethodRun, pair: Pair, ilr: np.ndarray, device: torch.device,
                 times: StageTimes) -> tuple[Pair, np.ndarray | None, float, str]:
    """Forward one pair: (pair, uint8 SR or None, seconds, status)."""
    group = (pair.ref.dataset, pair.scale)
    if group not in run.warmed:
        forward(run, ilr, device)  # warm-up: allocator, kernels, threads
        run.warmed.add(group)
    sr, seconds = forward(run, ilr, device)
    times.add("forward", seconds)
    if not np.all(np.isfinite(sr)):
        return pair, None, seconds, "nonfinite output"
    return pair, imaging.quantize_unit(sr), seconds, "ok"


RowKey = tuple[str, str, int, str]


def row_key(row: dict[str, Any]) -> RowKey:
    """What one row evaluates: (method, dataset, scale, image); a resumed run skips these."""
    return (str(row["method"]), str(row["dataset"]), int(row["scale"]), str(row["image"]))


def _groups(pairs: list[Pair]) -> dict[tuple[str, int], list[Pair]]:
    groups: dict[tuple[str, int], list[Pair]] = {}
    for pair in pairs:
        groups.setdefault((pair.ref.dataset, pair.scale), []).append(pair)
    return groups


def evaluate(
    runs: list[MethodRun],
    pairs: list[Pair],
    *,
    metric_names: tuple[str, ...] = METRICS,
    device: torch.device,
    jobs: int = 1,
    times: StageTimes | None = None,
    progress: bool = True,
    on_output: Callable[[MethodRun, Pair, np.ndarray], None] | None = None,
    on_rows: Callable[[list[dict[str, Any]]], None] | None = None,
    done: set[RowKey] | frozenset[RowKey] = frozenset(),
    chunk: int = 20,
) -> list[dict[str, Any]]:
    """Evaluate each method on each pair; one tidy row per method x dataset x scale x image.

    Work goes dataset by dataset and scale by scale, ``chunk`` images at a time, every method
    within each chunk, so that the small sets finish first and an image's ILR and the
    reference side of its metrics are computed once for all methods; ``on_rows`` receives
    the rows of each method on each finished chunk (a chunk is scored while the next is
    forwarded, so rows arrive at most two chunks behind the forward passes), and pairs whose
    ``row_key`` is in ``done`` (a resumed run) are not evaluated again. A run only sees the
    scales it ``serves``.
    """
    times = times or StageTimes()
    rows: list[dict[str, Any]] = []
    for run in runs:
        run.model.to(device).eval()
    # One pool size for the whole run: once started its warm workers serve every chunk, so
    # whether a pool pays is decided by all the images to score, not by one small set.
    workers = pool_jobs(jobs, sum(1 for p in pairs if not p.error))
    scorer = _Scorer(metric_names, workers)
    pending: _Chunk | None = None
    for (_, scale), group in _groups(pairs).items():
        serving = [run for run in runs if run.serves(scale)]
        for start in range(0, len(group), chunk):
            with freed_memory_kept():  # the chunk's ILRs reuse their pages
                forwarded = _forward_chunk(serving, group[start:start + chunk], done, device,
                                           times, progress)
            scorer.submit(forwarded)
            # The previous chunk was scored while this one was forwarded: finish it now.
            if pending is not None:
                rows.extend(_finish(pending, metric_names, device, times, progress,
                                    on_output, on_rows))
            pending = forwarded
    if pending is not None:
        rows.extend(_finish(pending, metric_names, device, times, progress, on_output, on_rows))
    return rows


@dataclass
class _Chunk:
    """One chunk's outputs of each method (``outputs[i]`` of ``runs[i]``) and the scoring
    tasks of its images: one per image, with every method's output of it."""

    runs: list[MethodRun]
    outputs: list[list[tuple[Pair, np.ndarray | None, float, str]]]
    tasks: list[tuple[Pair, list[tuple[int, np.ndarray]]]]
    scores: list[Any] = field(default_factory=list)  # per task: its result, or its future


def _forward_chunk(runs: list[MethodRun], pairs: list[Pair],
                   done: set[RowKey] | frozenset[RowKey], device: torch.device,
                   times: StageTimes, progress: bool) -> _Chunk:
    """Forward each method on the pairs of one chunk whose row (:func:`row_key`) is not in
    ``done``.

    Image by image, every method on an image before the next: the image's ILR is made once
    for all methods and freed before the next one is made, so that within the chunk's
    :func:`freed_memory_kept` block each ILR lands on the pages of the last; with a
    chunk's ILRs all alive at once each needed fresh pages (upscaling a 1024 x 768 ILR onto
    reused pages took 2.4 ms, onto fresh ones 7.6 ms).
    """
    outputs: list[list[tuple[Pair, np.ndarray | None, float, str]]] = [[] for _ in runs]
    label = ",".join(run.spec.name for run in runs)
    for pair in progress_bar(pairs, desc=label, show=progress, leave=False):
        mine = [i for i, run in enumerate(runs)
                if (run.spec.name, pair.ref.dataset, pair.scale, pair.ref.name) not in done]
        if not mine:
            continue
        if pair.error:
            for i in mine:
                outputs[i].append((pair, None, np.nan, f"skipped: {pair.error}"))
            continue
        ilr = pair.load_ilr()
        for i in mine:
            outputs[i].append(_forward_one(runs[i], pair, ilr, device, times))
        del ilr
    by_pair: dict[int, tuple[Pair, list[tuple[int, np.ndarray]]]] = {}
    for index, results in enumerate(outputs):
        for pair, sr, _, status in results:
            if status == "ok":
                by_pair.setdefault(id(pair), (pair, []))[1].append((index, sr))
    return _Chunk(runs, outputs, list(by_pair.values()))


class _Scorer:
    """Scores chunks on ``workers`` processes (in this one for 1) without waiting for them,
    so that the next chunk is forwarded while its workers score this one."""

    def __init__(self, metric_names: tuple[str, ...], workers: int) -> None:
        self.metric_names = metric_names
        self.executor = _executor(workers) if workers > 1 else None

    def submit(self, chunk: _Chunk) -> None:
        for pair, srs in chunk.tasks:
            args = (np.load(pair.gt_path), [sr for _, sr in srs], pair.scale, self.metric_names)
            chunk.scores.append(score_outputs(*args) if self.executor is None
                                else self.executor.submit(score_outputs, *args))


def _executor(workers: int) -> Any:
    """joblib's process executor with ``workers`` processes, each limited to ``cores /
    workers`` BLAS/OpenMP threads as ``Parallel`` limits its own (a ``Parallel`` call after
    it, e.g. the next run's preparation, may restart the workers with its own settings)."""
    from joblib import cpu_count
    from joblib._parallel_backends import LokyBackend
    from joblib.executor import get_memmapping_executor

    threads = str(max(cpu_count() // workers, 1))
    env = {var: os.environ.get(var, threads) for var in LokyBackend.MAX_NUM_THREADS_VARS}
    # No memmapping (max_nbytes=None): an image's uint8 arrays are small to pickle, and
    # memmapped task arguments outside a Parallel call are never cleaned up.
    return get_memmapping_executor(workers, timeout=300, env=env, max_nbytes=None)


def _finish(chunk: _Chunk, metric_names: tuple[str, ...], device: torch.device,
            times: StageTimes, progress: bool,
            on_output: Callable[[MethodRun, Pair, np.ndarray], None] | None,
            on_rows: Callable[[list[dict[str, Any]]], None] | None) -> list[dict[str, Any]]:
    """Wait for a chunk's scores; hand each method's rows to ``on_rows``. Returns the rows."""
    scores: dict[tuple[int, int], dict[str, float]] = {}
    for (pair, srs), result in progress_bar(zip(chunk.tasks, chunk.scores),
                                            total=len(chunk.tasks), desc="score",
                                            show=progress, leave=False):
        values = result if isinstance(result, list) else result.result()
        for (index, sr), v in zip(srs, values):
            scores[index, id(pair)] = v
            times.add_method(chunk.runs[index].spec.name, v)
            if on_output is not None:
                on_output(chunk.runs[index], pair, sr)
    rows: list[dict[str, Any]] = []
    for index, (run, results) in enumerate(zip(chunk.runs, chunk.outputs)):
        new = _rows(run, results, {k[1]: v for k, v in scores.items() if k[0] == index},
                    metric_names, device, times)
        rows.extend(new)
        if on_rows is not None and new:
            on_rows(new)
    return rows


def _rows(run: MethodRun, outputs: list[tuple[Pair, np.ndarray | None, float, str]],
          scores: dict[int, dict[str, float]], metric_names: tuple[str, ...],
          device: torch.device, times: StageTimes) -> list[dict[str, Any]]:
    """One tidy row per forwarded pair of ``run``."""
    threads = torch.get_num_threads()
    rows = []
    for pair, _, seconds, status in outputs:
        values = scores.get(id(pair), {})
        for name in METRICS:
            times.add(name, values.get(f"{name}_seconds", 0.0))
        rows.append({
            "method": run.spec.name, "config": config_text(run.config),
            "weights": run.weights, "recipe": run.recipe, "dataset": pair.ref.dataset,
            "scale": pair.scale, "image": pair.ref.name,
            **{name: values.get(name, np.nan) for name in METRICS},
            **{name: values.get(name, np.nan) for name in extended_names(metric_names)},
            "seconds": seconds, "status": status, "device": _device_label(device),
            "dtype": run.spec.dtype, "threads": threads, "protocol": PROTOCOL,
            "ensemble": run.ensemble,
        })
    return rows


def estimate_seconds(run: MethodRun, pairs: list[Pair], device: torch.device,
                     macs_per_pixel: int) -> float:
    """Forward seconds ``run`` will need for ``pairs``: its multiply-adds times the pixels to
    process, at the multiply-add rate measured on one image (a central crop of at most
    128 x 128 of the first pair's ILR, after a warm-up) on ``device``."""
    todo = [p for p in pairs if run.serves(p.scale) and not p.error]
    if not todo or macs_per_pixel == 0:
        return 0.0
    ilr = todo[0].load_ilr()
    h, w = ilr.shape
    crop = ilr[max(0, h // 2 - 64):h // 2 + 64, max(0, w // 2 - 64):w // 2 + 64]
    run.model.to(device).eval()
    forward(run, crop, device)
    _, seconds = forward(run, crop, device)
    rate = macs_per_pixel * crop.size / max(seconds, 1e-9)
    pixels = sum(int(np.prod(p.shape())) for p in todo)
    return macs_per_pixel * pixels / rate


def colour_output(image: np.ndarray, sr_y: np.ndarray, scale: int) -> np.ndarray:
    """docs/protocol.md step 8: SR Y with the bicubic Cb/Cr, back to RGB (for looking only).

    Parameters
    ----------
    image : ndarray of uint8, (H, W, 3) RGB or (H, W) gray
        The dataset image as read.
    sr_y : ndarray of uint8, (h, w)
        The method's quantised Y output at the modcropped size.
    scale : int

    Returns
    -------
    ndarray of uint8, (h, w, 3) or (h, w)
    """
    if image.ndim == 2:
        return sr_y
    ycbcr = imaging.rgb2ycbcr(imaging.modcrop(image, scale).astype(np.float64) / 255.0)
    chroma = imaging.imresize(imaging.imresize(ycbcr[..., 1:], 1 / scale),
                              output_shape=ycbcr.shape[:2])
    merged = np.concatenate([sr_y[..., None] / 255.0, chroma], axis=-1)
    return imaging.quantize_unit(imaging.ycbcr2rgb(merged))


def image_saver(run_dir: Path) -> Callable[[MethodRun, Pair, np.ndarray], None]:
    """``on_output`` callback writing ``<run_dir>/images/<method>/<dataset>/x<s>/<image>.png``."""

    def save(run: MethodRun, pair: Pair, sr: np.ndarray) -> None:
        folder = (run_dir / "images" / run.spec.name / _path_component(pair.ref.dataset)
                  / f"x{pair.scale}")
        folder.mkdir(parents=True, exist_ok=True)
        colour = colour_output(pair.ref.load(), sr, pair.scale)
        imaging.write_image(folder / f"{pair.ref.name}.png", colour)

    return save


def _device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return "cpu"
