"""Paired significance of the difference between methods, image by image.

``python -m benchmark compare RUN_DIR... --baseline METHOD`` (and :func:`compare`) pairs every
other method's per-image rows with the baseline's rows of the same dataset, scale, image
(and seed, where both sides carry one) and states, per metric, the mean paired difference
(method - baseline), a bootstrap 95% confidence interval of that mean, the two-sided p-values
of the Wilcoxon signed-rank test and of the paired t-test, and the number of pairs.

A difference is called distinguishable from noise only when the bootstrap CI excludes zero
and the paired t-test gives p < 0.05 (:func:`distinguishable`; ``ablate`` decides with the
same function). With five images (Set5) the exact Wilcoxon test cannot go below p = 0.0625,
so it is reported but does not decide.

Rows are paired only within one protocol and one ``ensemble`` value, so ensemble rows and
plain rows, or rows of different protocols, are never compared as if they were alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "COLUMNS",
    "CompareError",
    "compare",
    "compare_rows",
    "distinguishable",
    "format_comparison",
    "label_methods",
    "paired_stats",
    "paired_tests",
    "read_runs",
    "verdict",
]

#: Columns of ``comparison.csv`` in order.
COLUMNS = ["method", "baseline", "dataset", "scale", "metric", "delta", "ci_low", "ci_high",
           "p_wilcoxon", "p_t", "n", "n_seeds", "protocol", "verdict"]
NOISE = "not distinguishable from noise"
_KEYS = ["protocol", "ensemble", "dataset", "scale"]


class CompareError(ValueError):
    """Run folders or a baseline that cannot be compared; one line."""


def read_runs(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """The ``ok`` per-image rows of the given run folders, with a ``label`` per method.

    Raises
    ------
    CompareError
        A folder without ``per_image.csv``.
    """
    frames = []
    for order, folder in enumerate(run_dirs):
        path = Path(folder) / "per_image.csv"
        if not path.is_file():
            raise CompareError(f"{folder} is not a run folder (no per_image.csv)")
        frame = pd.read_csv(path)
        frame["run_order"] = order
        frame["run_dir"] = str(folder)
        frames.append(frame)
    if not frames:
        raise CompareError("no run folder given")
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["status"] == "ok"].copy()
    for column, default in (("ensemble", ""), ("seed", np.nan)):
        if column not in rows.columns:
            rows[column] = default
    rows["ensemble"] = rows["ensemble"].fillna("").astype(str)
    rows["label"] = label_methods(rows)
    return rows


def label_methods(rows: pd.DataFrame) -> pd.Series:
    """``method`` (``+`` appended for ensemble rows), then ``@<run_id>`` for every run after the
    first that holds the same method, so two runs of one method stay apart."""
    base = rows["method"].astype(str) + np.where(rows["ensemble"] != "", "+", "")
    first = rows.groupby(base)["run_order"].transform("min")
    later = rows["run_order"] != first
    return base.where(~later, base + "@" + rows["run_id"].astype(str))


def paired_tests(diffs: np.ndarray) -> tuple[float, float]:
    """Two-sided p-values (Wilcoxon signed-rank, paired t) of paired differences.

    Both are 1.0 when every difference is zero (nothing to distinguish) and NaN with fewer
    than two pairs.
    """
    diffs = np.asarray(diffs, dtype=np.float64)
    if len(diffs) < 2:
        return math.nan, math.nan
    if np.all(diffs == 0):
        return 1.0, 1.0
    p_w = float(stats.wilcoxon(diffs).pvalue)
    p_t = float(stats.ttest_1samp(diffs, 0.0).pvalue) if np.ptp(diffs) > 0 else 0.0
    return p_w, p_t


def _bootstrap_ci(diffs: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """Percentile 95% CI of the mean difference over ``resamples`` resamplings of the pairs."""
    if len(diffs) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
    means = diffs[index].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def paired_stats(diffs: np.ndarray, resamples: int = 10000, seed: int = 0) -> dict[str, float]:
    """``delta, ci_low, ci_high, p_wilcoxon, p_t, n`` of paired differences (method - baseline)."""
    diffs = np.asarray(diffs, dtype=np.float64)
    low, high = _bootstrap_ci(diffs, resamples, seed)
    p_w, p_t = paired_tests(diffs)
    return {"delta": float(diffs.mean()) if len(diffs) else math.nan, "ci_low": low,
            "ci_high": high, "p_wilcoxon": p_w, "p_t": p_t, "n": int(len(diffs))}


def distinguishable(ci_low: float, ci_high: float, p: float) -> bool:
    """True when the 95% CI excludes zero and the paired test gives ``p < 0.05``."""
    if any(math.isnan(x) for x in (ci_low, ci_high, p)):
        return False
    return p < 0.05 and not ci_low <= 0 <= ci_high


def verdict(ci_low: float, ci_high: float, p_t: float, delta: float) -> str:
    """Words for one comparison row: better, worse, or not distinguishable from noise."""
    if not distinguishable(ci_low, ci_high, p_t):
        return NOISE
    return "better than the baseline" if delta > 0 else "worse than the baseline"


def _baseline_label(rows: pd.DataFrame, baseline: str) -> str:
    labels = list(dict.fromkeys(rows["label"]))
    if baseline in labels:
        return baseline
    lowered = {label.lower(): label for label in labels}
    if baseline.lower() in lowered:
        return lowered[baseline.lower()]
    raise CompareError(f"--baseline: {baseline!r} is not in these runs; "
                       f"methods: {', '.join(labels)}")


def _pair(base: pd.DataFrame, other: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, list[str]]:
    seeded = base["seed"].notna().any() and other["seed"].notna().any()
    keys = ["image", "seed"] if seeded else ["image"]
    merged = other[keys + [metric]].merge(base[keys + [metric]], on=keys,
                                          suffixes=("", "_base"))
    return merged.dropna(subset=[metric, f"{metric}_base"]), keys


def compare(run_dirs: Sequence[str | Path], baseline: str,
            metrics: Sequence[str] = ("psnr", "ssim"), *, resamples: int = 10000,
            seed: int = 0) -> pd.DataFrame:
    """Paired comparison of every method in ``run_dirs`` with ``baseline``.

    Parameters
    ----------
    run_dirs : sequence of path
        Run folders (``per_image.csv``); a method present in several is labelled
        ``method@<run_id>`` after its first occurrence.
    baseline : str
        A method label (``bicubic``, ``vdsr+``, ``bicubic@<run_id>``).
    metrics : sequence of str
        Columns of ``per_image.csv`` to compare.
    resamples, seed : int
        Bootstrap resamplings and the seed of their generator (results are reproducible).

    Returns
    -------
    DataFrame
        :data:`COLUMNS`, one row per method x dataset x scale x metric (and protocol) where the
        baseline has rows; ``n_seeds`` is the number of distinct seeds paired (0: no seeds).
    """
    return compare_rows(read_runs(run_dirs), baseline, metrics, resamples=resamples, seed=seed)


def compare_rows(rows: pd.DataFrame, baseline: str, metrics: Sequence[str] = ("psnr", "ssim"),
                 *, resamples: int = 10000, seed: int = 0) -> pd.DataFrame:
    """:func:`compare` on ``ok`` per-image rows that carry ``label``, ``ensemble`` and ``seed``
    (NaN where unseeded) columns: the report's entry point."""
    base_label = _baseline_label(rows, baseline)
    out = []
    for key, group in rows.groupby(_KEYS, sort=True, dropna=False):
        base = group[group["label"] == base_label]
        if base.empty:
            continue
        for label in dict.fromkeys(group["label"]):
            if label == base_label:
                continue
            other = group[group["label"] == label]
            for metric in metrics:
                merged, keys = _pair(base, other, metric)
                diffs = (merged[metric] - merged[f"{metric}_base"]).to_numpy()
                s = paired_stats(diffs, resamples, seed)
                out.append({"method": label, "baseline": base_label, "dataset": key[2],
                            "scale": int(key[3]), "metric": metric, **s,
                            "n_seeds": int(merged["seed"].nunique()) if "seed" in keys else 0,
                            "protocol": key[0],
                            "verdict": verdict(s["ci_low"], s["ci_high"], s["p_t"], s["delta"])})
    if not out:
        raise CompareError(f"no other method shares a dataset and scale with {base_label}")
    return pd.DataFrame(out, columns=COLUMNS)


def _num(value: float, digits: int, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _p(value: float) -> str:
    return f"{value:.3g}" if np.isfinite(value) else "n/a"


def format_comparison(table: pd.DataFrame) -> str:
    """A text table, one line per comparison, the verdict in words at the end."""
    mw = max(10, *(len(str(m)) for m in table["method"]))
    dw = max(8, *(len(str(d)) for d in table["dataset"]))
    header = (f"{'method':<{mw}} {'- baseline':<12} {'dataset':<{dw}} {'x':>2} {'metric':<6} "
              f"{'delta':>9} {'95% CI':>21} {'p_wilc':>7} {'p_t':>8} {'n':>4}  verdict")
    lines = [header, "-" * len(header)]
    for _, r in table.iterrows():
        digits = 3 if r["metric"] == "psnr" else 5
        ci = f"[{_num(r['ci_low'], digits, True)}, {_num(r['ci_high'], digits, True)}]"
        lines.append(
            f"{r['method']:<{mw}} {str(r['baseline']):<12} {r['dataset']:<{dw}} "
            f"{int(r['scale']):>2} {r['metric']:<6} {_num(r['delta'], digits, True):>9} "
            f"{ci:>21} {_p(r['p_wilcoxon']):>7} {_p(r['p_t']):>8} "
            f"{int(r['n']):>4}  {r['verdict']}")
    return "\n".join(lines)
