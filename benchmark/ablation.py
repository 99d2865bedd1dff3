"""Ablation studies of DRRN (Table 4, Figures 6 and 8) as data, run as a set of unique jobs.

A *study* names the methods it compares and the B/U shapes it compares them at (``STUDIES``).
Expanding studies gives unique (method, config, seed) *jobs*: a variant shared by two
studies (``drrn`` at B3U4 is in ``recursion``, ``multipath`` and ``table4``) is trained and
evaluated once. Every job trains through :func:`benchmark.trainer.find_or_train` (a finished
checkpoint is reused, an interrupted one resumes) and evaluates through the harness; its
rows are cached as a small CSV under ``<results_dir>/.ablate-cache``, so a rerun only does
what is missing. Jobs run in-process (``jobs=1``), on local processes (joblib, ``jobs>1``) or
on a Dask cluster (``cluster="tcp://host:8786"``).

The summary (``ablation.csv`` in the run folder) gives, per A/B study, dataset, scale and
depth, the effect dPSNR = PSNR(B) - PSNR(A): the mean over seeds of the per-seed dataset
means, a 95% t-interval over seeds (n/a with one seed), and a paired t-test over
seeds x images of the per-image PSNR differences; next to the paper's gap where known.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats

from benchmark import (PROTOCOL, comparison, data, harness, interrupts, registry, results,
                       trainer, weights)
from methods import drrn_paper

# ----------------------------------------------------------------------------- the studies
_FIG8_SHAPES = ["B3U2", "B3U3", "B3U4"]  # d = 16, 22, 28

#: Each study: ``compare`` = (A, B), the effect is B - A; or ``methods`` = levels only.
STUDIES: dict[str, dict[str, Any]] = {
    "lrl": {
        "compare": ["vdsr_bn", "drrn_ns"], "shapes": _FIG8_SHAPES,
        "what": "local residual learning: plain pre-activation stack -> DRRN_NS (Fig. 8)",
    },
    "recursion": {
        "compare": ["drrn_ns", "drrn"], "shapes": _FIG8_SHAPES,
        "what": "recursive learning (weight sharing): DRRN_NS -> DRRN (Table 4, Fig. 8)",
    },
    "multipath": {
        "compare": ["drrn_c", "drrn"], "shapes": _FIG8_SHAPES,
        "what": "multi-path structure: DRRN_C -> DRRN (Table 4, Fig. 8)",
    },
    "table4": {
        "methods": ["vdsr_bn", "drrn_ns_c", "drrn_ns", "drrn_c", "drrn"], "shapes": ["B3U4"],
        "what": "Table 4: the five variants at B3U4 (d = 28)",
    },
    "grid": {
        "methods": ["drrn"],
        "shapes": ["B3U1", "B3U2", "B3U3", "B3U4", "B1U3", "B2U3", "B4U3",
                   "B1U25", "B17U1", "B3U8"],
        "what": "Figure 6: PSNR over the B/U grid, plus three d = 52 models",
    },
}


def paper_effect(compare: Sequence[str], shape: str) -> float:
    """The paper's Set5 x3 gap PSNR(B) - PSNR(A) of an A/B study at ``shape`` (NaN: unknown),
    from the levels of :data:`methods.drrn_paper.LEVELS`."""
    a, b = (drrn_paper.LEVELS.get((method, shape), math.nan) for method in compare)
    return round(b - a, 2)


#: Per-recipe training overrides of ablation jobs (a user's ``overrides`` win). A study
#: trains many models: ``lrl,recursion,multipath --seeds 2`` is 24 jobs, which at the
#: ``quick`` recipe's 3,000 iterations take about 1.5 h on a 2-core CPU. Half of that keeps
#: the command within 45 minutes there; every checkpoint and row records the iterations.
ABLATION_BUDGET: dict[str, dict[str, Any]] = {"quick": {"iterations": 1500}}


def job_overrides(recipe: str, scales: Sequence[int],
                  overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Training overrides of every job: the ablation budget, then training on the evaluation
    scales when the recipe's own scales miss one (``quick`` trains x2 only, the ablations
    evaluate x3), then the user's ``overrides``."""
    params = trainer.recipe_params(recipe)
    out = dict(ABLATION_BUDGET.get(recipe, {}))
    if not set(scales) <= set(params["scales"]):
        out["scales"] = sorted({int(s) for s in scales})
    return {**out, **(overrides or {})}


def default_jobs(device: str) -> int:
    """Local worker processes: one per core on a CPU (each on one thread), one on a GPU."""
    return 1 if harness.resolve_device(device).type == "cuda" else max(1, os.cpu_count() or 1)


def parse_shape(text: str) -> tuple[int, int]:
    """``"B3U4"`` -> ``(3, 4)``."""
    t = text.strip().upper()
    if not t.startswith("B") or "U" not in t:
        raise ValueError(f"shape {text!r} is not of the form B<n>U<n>, e.g. B3U4")
    b, u = t[1:].split("U", 1)
    return int(b), int(u)


def depth_of(shape: str) -> int:
    """Conv layers on the input-output path of a B/U DRRN: (1 + 2U) B + 1."""
    b, u = parse_shape(shape)
    return (1 + 2 * u) * b + 1


@dataclass(frozen=True)
class Variant:
    """One model of a study: a registered method at a B/U shape (and width)."""

    method: str
    shape: str
    width: int | None = None

    @property
    def depth(self) -> int:
        return depth_of(self.shape)

    @property
    def config(self) -> dict[str, Any]:
        """Model config overrides; the plain stack ``vdsr_bn`` gets the same depth."""
        b, u = parse_shape(self.shape)
        config: dict[str, Any] = (
            {"depth": self.depth} if "depth" in registry.get_method(self.method).config
            else {"B": b, "U": u}
        )
        if self.width is not None:
            config["channels"] = int(self.width)
        return config

    @property
    def label(self) -> str:
        return f"{self.method}@{self.shape}"


@dataclass(frozen=True)
class Job:
    """A unit of work: one variant trained with one seed, then evaluated."""

    variant: Variant
    seed: int

    @property
    def label(self) -> str:
        return f"{self.variant.label}/seed{self.seed}"


def study_variants(name: str, study: Mapping[str, Any], width: int | None = None,
                   shapes: Sequence[str] | None = None) -> list[Variant]:
    methods = study.get("compare") or study["methods"]
    return [Variant(m, s.upper(), width) for s in (shapes or study["shapes"]) for m in methods]


def select_studies(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The studies named (``all`` = every study); unknown names raise ``ValueError``."""
    wanted = list(STUDIES) if list(names) == ["all"] else [n.strip().lower() for n in names]
    unknown = [n for n in wanted if n not in STUDIES]
    if unknown:
        raise ValueError(f"unknown studies {unknown}; known: {', '.join(STUDIES)}")
    return {n: STUDIES[n] for n in wanted}


def expand(studies: Mapping[str, Mapping[str, Any]], seeds: Sequence[int],
           width: int | None = None, shapes: Sequence[str] | None = None) -> list[Job]:
    """Unique jobs of ``studies`` x ``seeds``, in first-seen order (variants shared once)."""
    jobs: dict[Job, None] = {}
    for name, study in studies.items():
        for variant in study_variants(name, study, width, shapes):
            for seed in seeds:
                jobs[Job(variant, int(seed))] = None
    return list(jobs)


# ------------------------------------------------------------------------------- execution
@dataclass
class Settings:
    """Everything a job needs besides itself (picklable, shipped to workers)."""

    recipe: str
    overrides: dict[str, Any]
    datasets: list[str]
    scales: list[int]
    metrics: tuple[str, ...]
    data_root: str
    weights_dir: str | None
    cache_dir: str
    device: str = "cpu"
    offline: bool = False
    threads: int | None = None
    progress: bool = False
    pairs: list[Any] = field(default_factory=list)

    def eval_key(self) -> str:
        payload = {"datasets": self.datasets, "scales": self.scales,
                   "metrics": list(self.metrics), "protocol": PROTOCOL}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:8]


def cache_path(job: Job, s: Settings) -> Path:
    """The per-job result CSV: the checkpoint stem (recipe, overrides, seed) + evaluation key."""
    plan = trainer.plan_training(job.variant.method, s.recipe, s.overrides,
                               config=job.variant.config, seed=job.seed)
    return Path(s.cache_dir) / f"{plan.stem}-{s.eval_key()}.csv"


def run_job(job: Job, s: Settings) -> list[dict[str, Any]]:
    """Train (or find) and evaluate one job; writes and returns its rows (with ``seed``)."""
    previous_threads = torch.get_num_threads()
    if s.threads:
        torch.set_num_threads(int(s.threads))
    try:
        return _train_and_evaluate(job, s)
    finally:
        torch.set_num_threads(previous_threads)


def _train_and_evaluate(job: Job, s: Settings) -> list[dict[str, Any]]:
    """Train (or reuse) the job's model and evaluate it; a method with one model per scale
    (``per_scale_models``) gets one training per evaluated scale, each evaluated only there."""
    method = job.variant.method
    spec = registry.get_method(method)
    scales = sorted({p.scale for p in s.pairs})
    groups = [[x] for x in scales] if spec.recipe.get("per_scale_models") else [None]
    rows: list[dict[str, Any]] = []
    for group in groups:
        overrides = {**s.overrides, **({"scales": group} if group else {})}
        path = trainer.find_or_train(method, s.recipe, overrides, config=job.variant.config,
                                     seed=job.seed, data_root=s.data_root, offline=s.offline,
                                     weights_dir=s.weights_dir, device=s.device,
                                     progress=s.progress)
        model, config, meta = weights.build_model(method, path)
        run = harness.MethodRun(spec, config, model, weights=str(path),
                                recipe=trainer.recipe_label(meta, default=s.recipe),
                                scales=tuple(group) if group else None)
        rows += harness.evaluate([run], s.pairs, metric_names=s.metrics,
                                 device=harness.resolve_device(s.device), jobs=1,
                                 progress=s.progress)
    for row in rows:
        row["seed"] = job.seed
    out = cache_path(job, s)
    out.parent.mkdir(parents=True, exist_ok=True)
    results.atomic_write_csv(out, pd.DataFrame(rows))
    return rows


def _execute(todo: list[Job], s: Settings, jobs: int, cluster: str | None,
             log: Callable[[str], None]) -> list[list[dict[str, Any]]]:
    if not todo:
        return []
    if cluster:
        try:
            from distributed import Client
        except ImportError:
            raise RuntimeError("--cluster needs Dask: pip install 'dask[distributed]'") from None
        with Client(cluster) as client:
            workers = max(1, len(client.scheduler_info().get("workers", {})))
            log(f"dask: {len(todo)} jobs on {workers} workers at {cluster}")
            futures = client.map(run_job, todo, s=s, pure=False)
            return client.gather(futures)
    if jobs > 1:
        from joblib import Parallel, delayed

        log(f"joblib: {len(todo)} jobs on {jobs} processes x {s.threads} threads")
        return Parallel(n_jobs=jobs, backend="loky")(delayed(run_job)(j, s) for j in todo)
    out = []
    for i, job in enumerate(todo, 1):
        log(f"[{i}/{len(todo)}] {job.label}")
        out.append(run_job(job, s))
    return out


def run_jobs(all_jobs: list[Job], s: Settings, *, jobs: int = 1, cluster: str | None = None,
             log: Callable[[str], None] = print) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows of every job: cached ones read back, the missing ones trained and evaluated."""
    frames: list[pd.DataFrame] = []
    todo: list[Job] = []
    for job in all_jobs:
        path = cache_path(job, s)
        if path.is_file():
            frames.append(pd.read_csv(path))
        else:
            todo.append(job)
    counts = {"cached": len(all_jobs) - len(todo), "run": len(todo)}
    log(f"{len(all_jobs)} jobs: {counts['cached']} cached, {counts['run']} to run")
    if todo and not s.pairs:
        root = Path(s.data_root)
        images = {n: data.list_images(n, root, offline=s.offline, progress=s.progress)
                  for n in s.datasets}
        s.pairs = harness.prepare_pairs(images, s.scales, cache_dir=data.cache_dir(), jobs=1,
                                        times=harness.StageTimes(), progress=s.progress)
    for rows in _execute(todo, s, jobs, cluster, log):
        frames.append(pd.DataFrame(rows))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return table, counts


# ----------------------------------------------------------------------------- statistics
def _ci(values: np.ndarray) -> tuple[float, float]:
    if len(values) < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def _variant_rows(table: pd.DataFrame, v: Variant, seeds: Sequence[int],
                  dataset: str, scale: int) -> pd.DataFrame:
    ok = table[(table["method"] == v.method) & (table["dataset"] == dataset)
               & (table["scale"] == scale) & (table["status"] == "ok")
               & table["seed"].isin(list(seeds))]
    configs = [results.parse_config(c) for c in ok["config"]]
    keep = [all(config.get(k) == val for k, val in v.config.items()) for config in configs]
    return ok[keep]


def _verdict(lo: float, hi: float, p: float, d: float) -> str:
    """The decision of ``benchmark.comparison`` (CI excludes zero and p < 0.05), in A/B words.

    With one seed there is no CI over seeds: the paired test over images decides alone.
    """
    if math.isnan(lo):
        lo = hi = d
    if not comparison.distinguishable(lo, hi, p):
        return comparison.NOISE
    return "B better" if d > 0 else "A better"


def summarize_effects(table: pd.DataFrame, studies: Mapping[str, Mapping[str, Any]],
                      seeds: Sequence[int], width: int | None = None,
                      shapes: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per study x dataset x scale x shape: effects (A/B studies) or levels."""
    out: list[dict[str, Any]] = []
    pairs = table[["dataset", "scale"]].drop_duplicates().itertuples(index=False)
    for dataset, scale in list(pairs):
        scale = int(scale)
        for name, study in studies.items():
            for shape in shapes or study["shapes"]:
                shape = shape.upper()
                base = {"study": name, "dataset": dataset, "scale": scale, "shape": shape,
                        "d": depth_of(shape)}
                on_paper_set = (dataset, scale) == drrn_paper.PAPER_SET
                if "compare" in study:
                    a, b = (Variant(m, shape, width) for m in study["compare"])
                    out.append({**base, **_effect(table, a, b, seeds, dataset, scale),
                                "paper_dpsnr": paper_effect(study["compare"], shape)
                                if on_paper_set else math.nan})
                else:
                    for m in study["methods"]:
                        v = Variant(m, shape, width)
                        rows = _variant_rows(table, v, seeds, dataset, scale)
                        per_seed = rows.groupby("seed")["psnr"].mean().to_numpy()
                        lo, hi = _ci(per_seed)
                        out.append({**base, "kind": "level", "a": "", "b": v.label,
                                    "n_seeds": len(per_seed), "n_images": len(rows),
                                    "psnr_b": per_seed.mean() if len(per_seed) else math.nan,
                                    "ci_low": lo, "ci_high": hi,
                                    "paper_psnr": drrn_paper.LEVELS.get((m, shape), math.nan)
                                    if on_paper_set else math.nan})
    return pd.DataFrame(out)


def _effect(table: pd.DataFrame, a: Variant, b: Variant, seeds: Sequence[int],
            dataset: str, scale: int) -> dict[str, Any]:
    ra = _variant_rows(table, a, seeds, dataset, scale).set_index(["seed", "image"])["psnr"]
    rb = _variant_rows(table, b, seeds, dataset, scale).set_index(["seed", "image"])["psnr"]
    both = pd.concat({"a": ra, "b": rb}, axis=1).dropna()
    per_seed = both.groupby(level="seed").mean()
    diffs = (per_seed["b"] - per_seed["a"]).to_numpy()
    lo, hi = _ci(diffs)
    p = math.nan
    if len(both) >= 2 and not np.allclose(both["b"], both["a"]):
        p = comparison.paired_tests((both["b"] - both["a"]).to_numpy())[1]
    d = float(diffs.mean()) if len(diffs) else math.nan
    return {"kind": "effect", "a": a.label, "b": b.label, "n_seeds": len(diffs),
            "n_images": len(both), "psnr_a": float(per_seed["a"].mean()) if len(diffs) else math.nan,
            "psnr_b": float(per_seed["b"].mean()) if len(diffs) else math.nan,
            "dpsnr": d, "ci_low": lo, "ci_high": hi, "p_value": p, "test": "ttest_rel",
            "verdict": _verdict(lo, hi, p, d)}


COLUMNS = ["study", "kind", "dataset", "scale", "shape", "d", "a", "b", "n_seeds", "n_images",
           "psnr_a", "psnr_b", "dpsnr", "ci_low", "ci_high", "p_value", "test", "paper_dpsnr",
           "paper_psnr", "verdict"]


def _f(x: Any, digits: int = 3, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def format_effects(summary: pd.DataFrame) -> str:
    """Plain-text summary: one line per effect or level."""
    lines = []
    for _, r in summary.iterrows():
        where = f"{r['study']:<10} {r['dataset']} x{r['scale']} {r['shape']:<6} d={r['d']:<3}"
        ci = ("n/a (1 seed)" if r["n_seeds"] < 2
              else f"[{_f(r['ci_low'], signed=True)}, {_f(r['ci_high'], signed=True)}]")
        if r["kind"] == "effect":
            lines.append(
                f"{where} {r['b']} - {r['a']}: dPSNR {_f(r['dpsnr'], signed=True)} dB, "
                f"95% CI {ci}, paired t-test p={_f(r['p_value'], 3)} "
                f"(seeds={r['n_seeds']}, pairs={r['n_images']}); "
                f"paper {_f(r['paper_dpsnr'], 2, signed=True)}; {r['verdict']}")
        else:
            lines.append(f"{where} {r['b']}: PSNR {_f(r['psnr_b'])} dB, 95% CI {ci}, "
                         f"paper {_f(r['paper_psnr'], 2)} (seeds={r['n_seeds']})")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- top level
def run_ablation(
    study_names: Sequence[str],
    *,
    recipe: str = "quick",
    seeds: int = 1,
    width: int | None = None,
    shapes: Sequence[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    datasets: Sequence[str] = ("set5",),
    scales: Sequence[int] = (3,),
    metrics: Sequence[str] = ("psnr", "ssim"),
    data_root: str | Path | None = None,
    results_dir: str | Path = "results",
    weights_dir: str | Path | None = None,
    device: str = "cpu",
    jobs: int | None = 1,
    cluster: str | None = None,
    threads: int | None = None,
    offline: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[Path, pd.DataFrame, dict[str, int]]:
    """Expand, run (what is missing), write a run folder with ``ablation.csv``.

    ``width`` None keeps the recipe's width (128, capped by the recipe's ``max_width``, e.g.
    32 for ``quick``); ``shapes`` replaces every study's shapes (tiny runs); ``overrides``
    go on top of :func:`job_overrides`; ``jobs`` None is :func:`default_jobs`.
    Returns the run folder, the summary and ``{"cached": n, "run": n}``.
    """
    wall = time.perf_counter()
    studies = select_studies(study_names)
    seed_list = list(range(int(seeds)))
    all_jobs = expand(studies, seed_list, width, shapes)
    results_dir = Path(results_dir)
    root = data.resolve_data_root(data_root)
    jobs = default_jobs(device) if jobs is None else int(jobs)
    if threads is None:
        if jobs > 1:  # the cores shared among the worker processes
            threads = max(1, (os.cpu_count() or 1) // jobs)
        elif harness.resolve_device(device).type == "cpu":
            threads = 1  # small CPU trainings: see the --train-threads note of `run`
    overrides = job_overrides(recipe, [int(x) for x in scales], overrides)
    s = Settings(recipe=recipe, overrides=overrides, datasets=list(datasets),
                 scales=[int(x) for x in scales], metrics=tuple(metrics), data_root=str(root),
                 weights_dir=None if weights_dir is None else str(weights_dir),
                 cache_dir=str(results_dir / ".ablate-cache"), device=device, offline=offline,
                 threads=threads, progress=progress)
    table, counts = run_jobs(all_jobs, s, jobs=jobs, cluster=cluster, log=log)
    run_id, run_dir = results.new_run_dir(results_dir, "ablate")
    stamp = results.RunStamp(run_id)
    version = stamp.version
    table = table.assign(**stamp.fields())
    summary = summarize_effects(table, studies, seed_list, width, shapes)
    summary = summary.reindex(columns=COLUMNS)
    meta = {
        "run_id": run_id, "command": sys.argv, "protocol": PROTOCOL, "version": version,
        "kind": "ablation", "recipe": recipe, "overrides": s.overrides, "seeds": seed_list,
        "width": width, "data_root": str(root), "datasets": s.datasets, "scales": s.scales,
        "methods": sorted({j.variant.method for j in all_jobs}),
        "studies": {n: {"what": st.get("what", ""),
                        "variants": [v.label for v in study_variants(n, st, width, shapes)]}
                    for n, st in studies.items()},
        "jobs": [j.label for j in all_jobs], "jobs_cached": counts["cached"],
        "jobs_run": counts["run"], "execution": cluster or ("joblib" if jobs > 1 else "inline"),
        "device": device, "wall_seconds": time.perf_counter() - wall,
        "evaluations": len(table),
    }
    with interrupts.held():  # ablation.csv marks a finished study: never without its rows
        results.write_run(run_dir, table.to_dict("records"), meta)
        results.atomic_write_csv(run_dir / "ablation.csv", summary)
    return run_dir, summary, counts
