"""The Python API: what ``python -m benchmark run`` does, as one call a notebook can make.

>>> import benchmark
>>> result = benchmark.run(["bicubic"], datasets=["set5"], scales=[2, 3, 4], results_dir=None)
>>> result.summary[["method", "dataset", "scale", "psnr", "paper_psnr"]]  # doctest: +SKIP

The CLI's ``run`` is argument parsing, this call, and printing: one request validation, one
run stamper and one row schema (``benchmark.results``) serve both.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from benchmark import PROTOCOL, data, registry

if TYPE_CHECKING:
    import pandas as pd

    from benchmark import harness

DEFAULT_METRICS = ("psnr", "ssim", "ifc")


class RequestError(ValueError):
    """A request that cannot start: an unknown method, a bad scale, a foreign resume folder."""


@dataclass
class Run:
    """The outcome of :func:`run`.

    Attributes
    ----------
    per_image : pandas.DataFrame
        One row per method x dataset x scale x image (typed as :func:`load_results` reads it).
    summary : pandas.DataFrame
        Means per method x config x protocol x dataset x scale, the published value beside.
    dir : Path or None
        The run folder (``per_image.csv``, ``summary.csv``, ``run.json``); None in memory only.
    models : list of str
        Where each evaluated model came from (zoo entry, file, training), one line each.
    warnings : list of str
        The integrity alarms of the summary (``benchmark.alarms``).
    meta : dict
        What ``run.json`` holds.
    """

    per_image: pd.DataFrame
    summary: pd.DataFrame
    dir: Path | None
    models: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> pd.DataFrame:
        """Rows whose status is not ``ok`` (an unreadable image, an unfit size...)."""
        return self.per_image[self.per_image["status"] != "ok"]


# -------------------------------------------------------------------- request validation
def method_specs(methods: Sequence[str | registry.MethodSpec]) -> list[registry.MethodSpec]:
    """Registered specs of ``methods`` (names or specs); unknown names and repeats refused."""
    specs = [m if isinstance(m, registry.MethodSpec) else _get_method(str(m)) for m in methods]
    if not specs:
        raise RequestError("no method given")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise RequestError(f"a method is listed twice in {names}")
    return specs


def _get_method(name: str) -> registry.MethodSpec:
    try:
        return registry.get_method(name.strip())
    except registry.UnknownMethodError as exc:
        raise RequestError(str(exc)) from None


def check_scales(scales: Sequence[int | str]) -> list[int]:
    """Integer scales in 2..8, no repeats."""
    out: list[int] = []
    for item in scales:
        try:
            scale = int(item)
        except (TypeError, ValueError):
            raise RequestError(f"{item!r} is not an integer (use e.g. 2,3,4)") from None
        if scale < 2 or scale > 8:
            raise RequestError(f"{scale} is outside the supported range 2..8")
        if scale in out:
            raise RequestError(f"{scale} is listed twice")
        out.append(scale)
    if not out:
        raise RequestError("no scale given")
    return out


def check_datasets(names: Sequence[str]) -> list[str]:
    """Canonical dataset names (aliases resolved, ``dir:`` folders kept), no repeats."""
    out: list[str] = []
    for item in names:
        try:
            name = data.get_dataset(item).name
        except data.UnknownDatasetError as exc:
            raise RequestError(str(exc)) from None
        if name in out:
            raise RequestError(f"{name!r} is listed twice")
        out.append(name)
    if not out:
        raise RequestError("no dataset given")
    return out


def check_metrics(names: Sequence[str]) -> tuple[str, ...]:
    """The protocol's metrics (psnr, ssim, ifc) and sewar's extended ones (``extmetrics``)."""
    from benchmark import extmetrics

    known = [*DEFAULT_METRICS, *extmetrics.EXTENDED]
    for name in names:
        if name in extmetrics.NOT_OFFERED:
            raise RequestError(f"{extmetrics.NOT_OFFERED[name]}; not offered")
        if name not in known:
            raise RequestError(f"unknown metric {name!r}{registry.suggest(name, known)}; "
                               f"known: {', '.join(known)}")
    return tuple(names)


# ------------------------------------------------------------------------------ images
def load_images(names: Sequence[str] | None, root: Path, *, offline: bool, progress: bool,
                announce: Callable[[str], None]) -> dict[str, list[data.ImageRef]]:
    """Verified image lists per dataset (downloading what is missing unless ``offline``).

    ``names=None`` is the default job: the paper's four test sets, or the embedded ``sample``
    set when they are absent and cannot be downloaded (an offline machine).
    """
    if names is not None:
        return {name: data.list_images(name, root, offline=offline, progress=progress)
                for name in names}
    try:
        return {name: data.list_images(name, root, offline=offline, progress=progress)
                for name in data.STANDARD_SETS}
    except data.DatasetError as exc:
        announce(f"note: the standard test sets are not available ({exc}); "
                 "evaluating the embedded 'sample' set instead")
        return {"sample": data.list_images("sample", root, offline=True, progress=progress)}


def open_resume(resume: str | Path | None,
                request: dict[str, Any]) -> tuple[str, Path | None, list[dict[str, Any]]]:
    """A ``resume`` folder, its run id and the rows it holds; ``("", None, [])`` without one.

    A folder that does not exist yet (or holds no run) starts a run there, so one call both
    starts and continues a long run. A run folder of another request is refused.
    """
    from benchmark import results

    if resume is None:
        return "", None, []
    run_dir = Path(resume)
    meta_path = run_dir / "run.json"
    if not meta_path.is_file():
        if run_dir.exists() and any(run_dir.iterdir()):
            raise RequestError(f"{run_dir} holds files but no run.json; not a run folder")
        return run_dir.name, run_dir, []
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    before = meta.get("request")
    if isinstance(before, dict):  # runs made before self-ensembles existed were plain
        before = {"self_ensemble": "", **before}
    if before != request:
        raise RequestError(f"{run_dir} is a run of {before}, not of {request}; give the same "
                           "methods, datasets, scales and metrics")
    frame = results.load_results(run_dir)
    kept = frame[frame["run_id"].notna()].to_dict("records") if len(frame) else []
    return str(meta.get("run_id", run_dir.name)), run_dir, kept


def estimate_lines(runs: list[harness.MethodRun], pairs: list[harness.Pair], device: Any,
                   done: set[Any]) -> list[str]:
    """Each method's estimated forward time, when the total is above a minute; else ``[]``."""
    from benchmark import harness, sources
    from benchmark.modelinfo import model_stats

    estimates = []
    for r in runs:
        todo = [p for p in pairs if (r.spec.name, p.ref.dataset, p.scale, p.ref.name) not in done]
        macs = model_stats(r.spec.name, **r.config)["macs_per_pixel"] or 0
        estimates.append((r, harness.estimate_seconds(r, todo, device, int(macs))))
    total = sum(sec for _, sec in estimates)
    if total <= 60:
        return []
    return [f"estimate: about {duration(total)} of forward passes on {device}:"] + [
        f"  {sources.describe(r)}: ~{duration(sec)}" for r, sec in estimates if sec > 0]


def duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"2.5 h"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


# --------------------------------------------------------------------------------- run
def run(
    methods: Sequence[str | registry.MethodSpec],
    datasets: Sequence[str] | None = None,
    scales: Sequence[int] = (2, 3, 4),
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    weights: str | Mapping[str, str] | None = None,
    recipe: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    data_root: str | Path | None = None,
    results_dir: str | Path | None = "results",
    resume: str | Path | None = None,
    device: str | None = None,
    jobs: int | None = None,
    offline: bool = False,
    self_ensemble: bool = False,
    weights_dir: str | Path | None = None,
    weights_search: Sequence[str | Path] = (),
    train_threads: int | None = None,
    tile: int | None = None,
    save_images: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    announce: Callable[[str], None] | None = None,
    command: Sequence[str] | None = None,
) -> Run:
    """Evaluate ``methods`` on ``datasets`` x ``scales`` under the protocol; everything the
    CLI's ``run`` does (``python -m benchmark run --help`` explains each option).

    Parameters
    ----------
    methods : sequence of str or MethodSpec
        Registered names (``"bicubic"``, ``"drrn_b1u25"``...) or specs.
    datasets : sequence of str, optional
        Test sets (``"set5"``, ``"dir:/path"``...); None: the paper's four (or the embedded
        ``sample`` set when they are absent and offline).
    scales : sequence of int
        Upscaling factors, each in 2..8.
    metrics : sequence of str
        ``psnr``, ``ssim``, ``ifc`` (the protocol) and sewar's ``msssim``, ``vifp``, ``scc``.
    weights : str or mapping, optional
        ``"published"`` (the zoo), a checkpoint path (one method), or ``{method: FILE or
        "published"}``. None: a method the zoo has gets its published model, any other
        learned method is trained (or a finished training of the same plan is reused).
    recipe : str, optional
        ``"auto"``, ``"quick"``, ``"fast"`` or ``"paper"``: train the learned methods with it
        (an explicit recipe means "train"). None: the zoo first, then ``auto``.
    overrides : mapping, optional
        Training recipe keys, e.g. ``{"iterations": 6000}``.
    results_dir : path or None
        Where the run folder is made; None keeps the results in memory only.
    resume : path, optional
        A run folder to continue: only its missing rows are evaluated (overrides
        ``results_dir``).
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``; None: CUDA when present.
    jobs : int, optional
        Scoring processes (default: the CPU count).
    announce : callable, optional
        Receives the progress lines (models used, estimates, notes); default: stderr when
        ``progress``, else nothing.
    command : sequence of str, optional
        Recorded in ``run.json`` (the CLI passes ``sys.argv``).

    Returns
    -------
    Run
        ``.per_image``, ``.summary``, ``.dir``, ``.models``, ``.warnings``.
    """
    from benchmark import alarms, harness, results, sources

    say = announce or (_stderr if progress else (lambda line: None))
    specs = method_specs(methods)
    scales = check_scales(scales)
    metric_names = check_metrics(metrics)
    dataset_names = check_datasets(datasets) if datasets is not None else None
    device_name = device or "auto"
    jobs = jobs or (os.cpu_count() or 1)
    dev = harness.resolve_device(device_name)
    root = data.resolve_data_root(data_root)
    plan = sources.SourcePlan(
        scales=scales, weights=_weights_map(weights, specs),
        recipe=sources.resolve_recipe(recipe, device_name) if recipe else None,
        overrides=dict(overrides or {}), offline=offline, data_root=root,
        weights_dir=None if weights_dir is None else str(weights_dir),
        weights_search=[str(p) for p in weights_search], device=device_name,
        train_threads=train_threads, tile=tile, progress=progress,
    )
    times = harness.StageTimes()
    wall_start = time.perf_counter()

    images = load_images(dataset_names, root, offline=offline, progress=progress, announce=say)
    request = {"methods": [s.name for s in specs], "datasets": list(images), "scales": scales,
               "metrics": list(metric_names), "self_ensemble": "x8" if self_ensemble else ""}
    run_id, run_dir, done_rows = open_resume(resume, request)  # refused before any training
    runs = sources.build_runs(specs, plan)
    for r in runs if self_ensemble else []:
        r.ensemble = "x8" if r.spec.trainable else ""  # bicubic's ensemble is bicubic
    if run_dir is None and results_dir is not None:
        run_id, run_dir = results.new_run_dir(Path(results_dir))
    models = [sources.describe(r) for r in runs]
    say("models:\n" + "\n".join(f"  {line}" for line in models))
    pairs = harness.prepare_pairs(
        images, scales, cache_dir=Path(cache_dir) if cache_dir else data.cache_dir(),
        jobs=jobs, times=times, progress=progress,
    )
    done = {harness.row_key(r) for r in done_rows}
    for line in estimate_lines(runs, pairs, dev, done):
        say(line)
    meta = _run_meta(run_id or "memory", command, root, request, models, dev, jobs)
    rows = _evaluate(runs, pairs, run_dir, meta, done_rows, metric_names=metric_names,
                     device=dev, jobs=jobs, times=times, progress=progress,
                     save_images=save_images)
    meta.update(state="complete", wall_seconds=time.perf_counter() - wall_start,
                stage_seconds=dict(times.seconds),
                metric_seconds_by_method=dict(times.metric_seconds),
                evaluations=len(rows) - len(done_rows), resumed_rows=len(done_rows))
    if run_dir is not None:
        summary = results.write_run(run_dir, rows, meta)
    else:
        summary = results.summarize(results.per_image_frame(rows))
    return Run(per_image=results.typed(results.per_image_frame(rows)), summary=summary,
               dir=run_dir, models=models, warnings=alarms.run_warnings(summary), meta=meta)


def _run_meta(run_id: str, command: Sequence[str] | None, root: Path, request: dict[str, Any],
              models: list[str], device: Any, jobs: int) -> dict[str, Any]:
    """What ``run.json`` holds while the run is running."""
    from benchmark import results

    return {
        "run_id": run_id, "command": list(command or ["benchmark.run"]),
        "protocol": PROTOCOL, "version": results.code_version(), "data_root": str(root),
        "request": request, "datasets": request["datasets"], "scales": request["scales"],
        "methods": request["methods"], "models": models, "device": str(device), "jobs": jobs,
        "self_ensemble": request["self_ensemble"], "state": "running",
        "environment": results.environment(),
    }


#: After a chunk, a run rewrites its folder only if at least this many times the last
#: rewrite's duration has passed since it ended. Each rewrite writes the whole table, so
#: rewriting after every chunk grows with the square of the run (38 rewrites were 3.1 s of
#: the 17 s bicubic Table 2 run); this keeps rewrites near 1/20 of the wall on any machine,
#: and a kill loses at most what the last 20 rewrite-times and two chunks evaluated.
REWRITE_SPACING = 20


class _Spaced:
    """Calls ``action`` only when ``spacing`` times its last call's duration has passed
    since that call ended (the first call always runs)."""

    def __init__(self, action: Callable[[], Any], spacing: float = REWRITE_SPACING,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.action, self.spacing, self.clock = action, spacing, clock
        self.end, self.cost = -float("inf"), 0.0

    def __call__(self) -> bool:
        """Run the action if it is due; whether it ran."""
        if self.clock() - self.end < self.spacing * self.cost:
            return False
        start = self.clock()
        self.action()
        self.end = self.clock()
        self.cost = self.end - start
        return True


def _evaluate(runs: list[harness.MethodRun], pairs: list[harness.Pair], run_dir: Path | None,
              meta: dict[str, Any], done_rows: list[dict[str, Any]], *,
              metric_names: Sequence[str], device: Any, jobs: int, times: harness.StageTimes,
              progress: bool, save_images: bool) -> list[dict[str, Any]]:
    """Evaluate the rows that ``done_rows`` lacks; returns all rows. The run folder (when
    there is one) is rewritten as rows come in (``REWRITE_SPACING``), so that an
    interrupted run can resume."""
    from benchmark import harness, results

    stamp = results.RunStamp(meta["run_id"], meta["version"])
    rows = list(done_rows)
    rewrite: Callable[[], Any] = (lambda: False) if run_dir is None else \
        _Spaced(lambda: results.write_run(run_dir, rows, meta))

    def checkpoint(new: list[dict[str, Any]]) -> None:
        rows.extend(stamp.apply(new))
        rewrite()

    rewrite()
    harness.evaluate(
        runs, pairs, metric_names=metric_names, device=device, jobs=jobs, times=times,
        progress=progress, on_rows=checkpoint, done={harness.row_key(r) for r in done_rows},
        on_output=harness.image_saver(run_dir) if save_images and run_dir else None,
    )
    return rows


def _weights_map(weights: str | Mapping[str, str] | None,
                 specs: Sequence[registry.MethodSpec]) -> dict[str, str]:
    """``run``'s ``weights`` argument as ``{method: FILE or "published"}``."""
    from benchmark import sources

    if weights is None or isinstance(weights, str):
        try:
            return sources.parse_weights(weights, specs)
        except ValueError as exc:
            raise RequestError(str(exc)) from None
    known = {s.name for s in specs}
    for name in weights:
        if name not in known:
            raise RequestError(f"weights for {name!r}, which is not among the methods "
                               f"({', '.join(sorted(known))})")
    return {name: str(value) for name, value in weights.items()}


def load_results(path: str | Path) -> pd.DataFrame:
    """The rows of a run folder or a ``per_image.csv``, typed (image names stay strings,
    missing values are NaN); see :func:`benchmark.results.load_results`."""
    from benchmark import results

    return results.load_results(path)


# ------------------------------------------------------------------------------- train
def train(
    method: str | registry.MethodSpec,
    recipe: str = "auto",
    scales: Sequence[int] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    iterations: int | None = None,
    seed: int = 0,
    device: str | None = None,
    data_root: str | Path | None = None,
    offline: bool = False,
    weights_dir: str | Path | None = None,
    threads: int | None = None,
    resume: bool = True,
    progress: bool = True,
    **execution: Any,
) -> list[Path]:
    """Train ``method`` with a named recipe; the finished checkpoint(s).

    A method whose recipe trains one model per scale (SRCNN) gives one checkpoint per scale
    in ``scales``; any other method one model on ``scales`` (default: the recipe's). Offline
    without the recipe's training set, the embedded ``sample_train`` set is used (said on
    stderr and recorded in the checkpoint). ``execution`` passes ``bf16``, ``channels_last``,
    ``compile``, ``batch_size``, ``lr``, ``log_every``, ``val_every``, ``stop_after`` to
    :func:`benchmark.trainer.train`; ``threads``: CPU threads (default: the idle cores).
    """
    from benchmark import sources, trainer

    spec = method if isinstance(method, registry.MethodSpec) else _get_method(str(method))
    if not spec.trainable:
        raise RequestError(f"{spec.name} has nothing to train")
    device_name = device or "auto"
    name = sources.resolve_recipe(recipe, device_name)
    root = data.resolve_data_root(data_root)
    base = {**sources.training_data_fallback(name, root, offline, spec.name),
            **dict(overrides or {})}
    checked = check_scales(scales) if scales is not None else None
    groups: list[list[int] | None] = [checked]
    if checked and spec.recipe.get("per_scale_models"):
        groups = [[s] for s in checked]
    paths = []
    with trainer.cpu_threads(threads, device_name):
        for group in groups:
            paths.append(trainer.train(
                spec.name, recipe=name, overrides={**base, **({"scales": group} if group else {})},
                config=config, iterations=iterations, seed=seed, device=device_name,
                data_root=root, offline=offline, out_dir=weights_dir, resume=resume,
                progress=progress, **execution))
    return paths


# ------------------------------------------------------------------------------ ablate
def ablate(studies: Sequence[str], *, recipe: str = "auto", device: str | None = None,
           data_root: str | Path | None = None, offline: bool = False,
           overrides: Mapping[str, Any] | None = None, **options: Any
           ) -> tuple[Path, pd.DataFrame, dict[str, int]]:
    """Run the named ablation studies (``lrl``, ``recursion``, ``multipath``...): paired,
    seeded trainings evaluated per image; see :func:`benchmark.ablation.run_ablation` for
    ``options`` (seeds, width, shapes, datasets, scales, metrics, results_dir, jobs...).

    ``recipe="auto"`` is ``fast`` on CUDA and ``quick`` on a CPU, and an offline machine
    without the recipe's training set trains on the embedded ``sample_train`` set, as
    :func:`run` does. Returns the run folder, the effects table and ``{"run", "cached"}``.
    """
    from benchmark import ablation, sources

    device_name = device or "cpu"
    name = sources.resolve_recipe(recipe, device_name)
    root = data.resolve_data_root(data_root)
    merged = {**sources.training_data_fallback(name, root, offline), **dict(overrides or {})}
    return ablation.run_ablation(list(studies), recipe=name, device=device_name,
                                 data_root=root, offline=offline, overrides=merged, **options)


# ------------------------------------------------------------------------------- score
def score(sr_dir: str | Path, dataset: str, scale: int, *, name: str,
          protocol: str = PROTOCOL, metrics: Sequence[str] = DEFAULT_METRICS,
          data_root: str | Path | None = None, results_dir: str | Path | None = "results",
          offline: bool = False, jobs: int | None = None,
          command: Sequence[str] | None = None) -> Run:
    """Score a folder of SR images (any method's outputs) against ``dataset`` at ``scale``.

    Files are matched to the ground truth by name (``baby_x2_SR.png``, ``img_001.png``...);
    ``name`` is the method name the rows record. Returns a :class:`Run` (``models`` lists the
    folder, ``meta["unmatched"]`` the files that fit no image).
    """
    from benchmark import alarms, results, scoring
    from benchmark import protocol as protocols

    proto = protocols.get_protocol(protocol)
    scale = check_scales([scale])[0]
    dataset = check_datasets([dataset])[0]
    metric_names = check_metrics(metrics)
    jobs = jobs or (os.cpu_count() or 1)
    root = data.resolve_data_root(data_root)
    folder = Path(sr_dir).expanduser().resolve()
    wall_start = time.perf_counter()
    refs = data.list_images(dataset, root, offline=offline, progress=False)
    matches, unmatched = scoring.match_files(refs, scoring.list_sr_files(folder), scale, name)
    scoring.check_sizes(matches, scale)
    rows = scoring.score_folder(matches, scale, method=name, weights=str(folder),
                                protocol=proto, names=metric_names, jobs=jobs)
    run_id, run_dir = (results.new_run_dir(Path(results_dir), label="score")
                       if results_dir is not None else ("memory", None))
    stamp = results.RunStamp(run_id)
    stamp.apply(rows)
    meta: dict[str, Any] = {
        "run_id": run_id, "command": list(command or ["benchmark.score"]), "protocol": proto.name,
        "version": stamp.version, "data_root": str(root), "datasets": [dataset],
        "scales": [scale], "methods": [name], "sr_dir": str(folder),
        "pairs": {m.gt.name: m.sr.name for m in matches},
        "unmatched": [p.name for p in unmatched], "jobs": jobs,
        "wall_seconds": time.perf_counter() - wall_start, "evaluations": len(rows),
    }
    frame = results.per_image_frame(rows)
    summary = (results.write_run(run_dir, rows, meta) if run_dir is not None
               else results.summarize(frame))
    return Run(per_image=results.typed(frame), summary=summary, dir=run_dir,
               models=[f"{name}: SR images from {folder}"],
               warnings=alarms.run_warnings(summary), meta=meta)
