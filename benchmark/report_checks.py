"""The report's significance table, per-image difference plot and integrity warnings.

Both are built from the rows the report selected (newest run per variant, default protocol):
the comparison is :func:`benchmark.comparison.compare_rows` against bicubic, the warnings
:func:`benchmark.alarms.run_warnings`, so the report says what ``compare`` and ``run`` say.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benchmark import PROTOCOL, alarms, comparison
from benchmark import figures as figs

BASELINE = "bicubic"


def _labelled(selected: pd.DataFrame, label_of: Callable[[tuple], str]) -> pd.DataFrame:
    rows = selected[(selected["protocol"] == PROTOCOL) & (selected["status"] == "ok")].copy()
    rows["label"] = [label_of(k) for k in
                     rows[["method", "config", "weights", "recipe"]].itertuples(index=False)]
    rows["seed"] = pd.to_numeric(rows.get("seed"), errors="coerce")
    ensemble = rows["ensemble"] if "ensemble" in rows else pd.Series("", index=rows.index)
    rows["ensemble"] = ensemble.fillna("").astype(str).replace("-", "")
    return rows


def significance(selected: pd.DataFrame, label_of: Callable[[tuple], str],
                 out: Path) -> dict[str, Any]:
    """Rows of the significance table and the difference plot (``figures/significance.*``).

    Returns ``{"rows": [...], "figure": {...} or None, "note": str}``.
    """
    rows = _labelled(selected, label_of)
    bases = sorted({l for l, m in zip(rows["label"], rows["method"]) if m == BASELINE})
    if rows.empty or not bases:
        return {"rows": [], "figure": None,
                "note": "No bicubic rows under the default protocol to compare against."}
    try:
        table = comparison.compare_rows(rows, bases[0])
    except comparison.CompareError as exc:
        return {"rows": [], "figure": None, "note": str(exc)}
    cells = [{**r, "ci": f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
              if math.isfinite(r["ci_low"]) else "n/a"} for r in table.to_dict("records")]
    note = (f"Paired per-image differences (method - {bases[0]}) with a bootstrap 95% CI, "
            "Wilcoxon signed-rank and paired t p-values, as `python -m benchmark compare` "
            "computes them; distinguishable only when the CI excludes 0 and p_t < 0.05.")
    return {"rows": cells, "figure": _difference_plot(rows, bases[0], out), "note": note}


def _difference_plot(rows: pd.DataFrame, base: str, out: Path) -> dict[str, Any] | None:
    """Per-image PSNR difference (method - baseline) for every method and dataset x scale
    (a seeded method: its mean over seeds per image)."""
    keys = ["dataset", "scale", "image"]

    def per_image(label: str) -> pd.Series:  # seeded variants: the mean over seeds per image
        return rows[rows["label"] == label].groupby(keys)["psnr"].mean()

    base_rows = per_image(base)
    points = []
    for label in (l for l in dict.fromkeys(rows["label"]) if l != base):
        mine = per_image(label)
        both = pd.concat({"m": mine, "b": base_rows}, axis=1, join="inner").dropna()
        for (dataset, scale, _), r in both.iterrows():
            points.append((label, f"{dataset} x{scale}", r["m"] - r["b"]))
    if not points:
        return None
    frame = pd.DataFrame(points, columns=["method", "cell", "delta"])
    cells = list(dict.fromkeys(frame["cell"]))
    methods = list(dict.fromkeys(frame["method"]))
    fig = Figure(figsize=(7.5, 0.5 + 0.45 * len(cells) * len(methods) + 1))
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    for i, (cell, method) in enumerate((c, m) for c in cells for m in methods):
        d = frame[(frame["cell"] == cell) & (frame["method"] == method)]["delta"].to_numpy()
        ax.scatter(d, i + rng.uniform(-0.15, 0.15, len(d)), s=10, alpha=0.6)
        if len(d):
            ax.plot([d.mean()] * 2, [i - 0.3, i + 0.3], "k-")
    ax.set_yticks(range(len(cells) * len(methods)),
                  [f"{m}, {c}" for c in cells for m in methods])
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel(f"PSNR difference per image vs {base} (dB); bar = mean")
    fig.tight_layout()
    figs._save(fig, out, "significance")
    return {"png": "figures/significance.png", "svg": "figures/significance.svg"}


def warnings_for(summary: pd.DataFrame, label_of: Callable[[tuple], str],
                 paper_of: Callable[[tuple, str, int], float]) -> list[str]:
    """:func:`benchmark.alarms.run_warnings` on the report's summary (default protocol)."""
    part = summary[summary["protocol"] == PROTOCOL]
    if part.empty:
        return []
    keys = list(part[["method", "config", "weights", "recipe"]].itertuples(index=False))
    frame = part.assign(
        paper_psnr=[paper_of(tuple(k), d, int(s)) for k, d, s in
                    zip(keys, part["dataset"], part["scale"])])
    return alarms.run_warnings(frame)
