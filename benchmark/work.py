"""The per-image work of the harness that runs in worker processes: GT/ILR preparation and
scoring (docs/protocol.md steps 1-3 and 6-7).

Kept apart from :mod:`benchmark.harness` so that a scoring worker imports numpy, OpenCV and
the metrics only, never torch: a worker process starts in a fraction of the time.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import warnings
from pathlib import Path

import numpy as np

from benchmark import PROTOCOL, extmetrics, imaging, metrics
from benchmark.data import ImageRef

METRICS = ("psnr", "ssim", "ifc")
#: A process pool pays for its start-up only with at least this many tasks per worker.
MIN_TASKS_PER_WORKER = 8


def pool_jobs(jobs: int, tasks: int) -> int:
    """Worker processes for ``tasks`` independent tasks: at most ``jobs``, and 1 (no pool)
    when there are too few tasks for a second worker to pay for its start-up."""
    return max(1, min(jobs, tasks // MIN_TASKS_PER_WORKER))


def _pair_paths(ref: ImageRef, scale: int, cache_dir: Path) -> tuple[Path, Path]:
    # The key names the image content, not its path, so moved or renamed data reuses the cache.
    key = ref.sha256 or hashlib.sha256(str(ref.path).encode()).hexdigest()
    folder = cache_dir / "pairs" / PROTOCOL / _path_component(ref.dataset) / f"x{scale}"
    stem = f"{ref.name}-{key[:16]}"
    return folder / f"{stem}-gt.npy", folder / f"{stem}-ilr.npy"


def _path_component(name: str) -> str:
    """``name`` as one safe folder name (``dir:PATH`` sets hold slashes and may hold ``..``)."""
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", name).lstrip(".")
    return safe if safe == name else f"{safe[:60]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _atomic_save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.save(handle, array)
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C or a full disk: leave no stray temporary file behind
        tmp.unlink(missing_ok=True)
        raise


def prepare_one(ref: ImageRef, scales: list[int], cache_dir: Path) -> tuple[dict[int, str | None], float]:
    """Worker: compute and cache GT/ILR of one image at every scale. Returns errors and seconds."""
    start = time.perf_counter()
    errors: dict[int, str | None] = {}
    todo = [s for s in scales if not all(p.exists() for p in _pair_paths(ref, s, cache_dir))]
    if todo:
        try:
            image = ref.load()
        except (ValueError, OSError) as exc:
            return {s: f"unreadable: {exc}" for s in scales}, time.perf_counter() - start
        for scale in todo:
            try:
                gt, ilr = imaging.prepare_pair(image, scale)
            except ValueError as exc:
                errors[scale] = str(exc)
                continue
            gt_path, ilr_path = _pair_paths(ref, scale, cache_dir)
            _atomic_save(ilr_path, ilr)
            _atomic_save(gt_path, imaging.quantize_unit(gt))
    return errors, time.perf_counter() - start


def score(gt: np.ndarray, sr: np.ndarray, scale: int, names: tuple[str, ...]) -> dict[str, float]:
    """docs/protocol.md steps 6-7 on uint8 images: shave ``scale`` pixels, then each metric.

    Returns the metric values and ``<metric>_seconds`` for the stage split.
    """
    ref, out = imaging.shave(gt, scale), imaging.shave(sr, scale)
    values: dict[str, float] = {}
    for name in METRICS:
        if name not in names:
            values[name] = np.nan
            continue
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the harness reports missing IFC itself
            values[name] = float(getattr(metrics, name)(ref, out))
        values[f"{name}_seconds"] = time.perf_counter() - start
    for name in extended_names(names):
        values[name] = extmetrics.compute(name, ref, out)
    return values


def extended_names(names: tuple[str, ...]) -> list[str]:
    """The sewar metrics among ``names`` (:mod:`benchmark.extmetrics`), in order."""
    return [name for name in names if name in extmetrics.EXTENDED]
