"""The report's figures: Figures 1, 6, 8 and 9 of the paper, and the training curves.

The plotting itself is :mod:`benchmark.figures`; this module picks the points.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from benchmark import figures as figs
from benchmark.figures import OURS, OURS_NC, PAPER, PAPER_UNSURE, Point
from benchmark.report.load import find_training_logs
from benchmark.report.text import _ds, fmt, slug
from benchmark.report.variants import Variant, _compared, _params
from methods import drrn_paper

MAX_TRAINING_LOGS = 12


def _ours_source(v: Variant) -> str:
    return OURS if v.comparable else OURS_NC


def _paper_set_rows(summary: pd.DataFrame, variants: dict) -> list[tuple[Variant, Any]]:
    """(variant, summary row) of every finite result on the paper's figure set (Set5 x3)."""
    dataset, scale = drrn_paper.PAPER_SET
    rows = summary[(summary["dataset"] == dataset) & (summary["scale"] == scale)]
    return [(variants[(r.method, r.config, r.weights, r.recipe)], r)
            for r in rows.itertuples(index=False) if math.isfinite(r.psnr)]


def _std(r: Any) -> float | None:
    return float(r.psnr_std) if math.isfinite(r.psnr_std) else None


def make_figures(summary: pd.DataFrame, variants: dict, out: Path) -> list[dict[str, Any]]:
    """Figures 1, 6, 8 and 9 (PNG + SVG) from the default protocol's summary."""
    out.mkdir(parents=True, exist_ok=True)
    on_set = _paper_set_rows(summary, variants)
    made = [_figure1(on_set, out), _figure6(on_set, out), _figure8(on_set, out),
            _figure9(summary, variants, out)]
    for fig in made:
        fig["png"] = f"figures/{fig['stem']}.png"
        fig["svg"] = f"figures/{fig['stem']}.svg"
    return made


def _figure1(on_set: list[tuple[Variant, Any]], out: Path) -> dict[str, Any]:
    """Figure 1: PSNR vs parameters."""
    points = [Point(label, n, psnr, PAPER, "paper") for label, n, psnr in drrn_paper.FIGURE1]
    skipped = []
    for v, r in on_set:
        if not _compared(v) or v.ensemble:
            continue  # the paper's points are plain models: a self-ensemble is not one of them
        params = _params(v.method, v.config)
        if not math.isfinite(params) or params <= 0:
            skipped.append(v.label + (" (no parameters)" if params == 0 else ""))
            continue
        points.append(Point(v.label, params, float(r.psnr), _ours_source(v), "ours", _std(r)))
    figs.scatter_figure(points, out, "figure1", title="Figure 1: Set5 x3 PSNR vs parameters",
                        xlabel="parameters (log scale)", ylabel="PSNR (dB), Set5 x3", logx=True)
    caption = ("Paper points as listed in docs/methods.md (hollow); ours filled, parameters "
               "counted with benchmark.modelinfo.model_stats from each row's config. RED30 "
               "(4,131K parameters): PSNR not known, not drawn. Self-ensembles (+) are not "
               "drawn.")
    if skipped:
        caption += " Not drawn (no or unknown parameter count): " + ", ".join(skipped) + "."
    return {"stem": "figure1", "title": "Figure 1: PSNR vs number of parameters",
            "caption": caption}


def _figure6(on_set: list[tuple[Variant, Any]], out: Path) -> dict[str, Any]:
    """Figure 6: the B/U grid of the main DRRN vs depth."""
    points = [Point(lbl + ("" if sure else "?"), d, psnr, PAPER if sure else PAPER_UNSURE,
                    "paper") for lbl, d, psnr, sure in drrn_paper.FIGURE6]
    for v, r in on_set:
        if v.ablation == drrn_paper.MAIN_CLASS and v.depth:
            points.append(Point(f"B{v.blocks}U{v.units}" + ("" if v.comparable else "*"),
                                v.depth, float(r.psnr), _ours_source(v), "ours", _std(r)))
    figs.scatter_figure(points, out, "figure6", title="Figure 6: DRRN B/U grid, Set5 x3",
                        xlabel="depth d = (1 + 2U) B + 1", ylabel="PSNR (dB), Set5 x3")
    sure = ", ".join(f"{lbl} {psnr:.2f}" for lbl, _, psnr, ok in drrn_paper.FIGURE6 if ok)
    unsure = " and ".join(f"{lbl} {psnr:.2f}" for lbl, _, psnr, ok in drrn_paper.FIGURE6
                          if not ok)
    return {"stem": "figure6", "title": "Figure 6: recursive blocks B and residual units U",
            "caption": f"Paper points: {sure}; {unsure} from a weaker source (diamonds). Other "
                       "grid points of the paper: n/a. Ours: every plain DRRN (shared weights, "
                       "multi-path) with a Set5 x3 result."}


def _figure8(on_set: list[tuple[Variant, Any]], out: Path) -> dict[str, Any]:
    """Figure 8: PSNR vs depth, one series per ablation class."""
    series = drrn_paper.FIGURE8_SERIES
    points = [Point(name, drrn_paper.TABLE4_DEPTH, psnr, PAPER, name)
              for name, psnr in drrn_paper.TABLE4.items()
              if name in drrn_paper.FIGURE8_PAPER_SERIES]
    for v, r in on_set:
        if v.ablation in series and v.depth and v.blocks in (None, drrn_paper.FIGURE8_BLOCKS):
            points.append(Point("", v.depth, float(r.psnr), _ours_source(v), v.ablation, _std(r)))
    points.sort(key=lambda p: series.index(p.series) if p.series in series else len(series))
    figs.scatter_figure(points, out, "figure8", title="Figure 8: PSNR vs depth, Set5 x3",
                        xlabel="depth d", ylabel="PSNR (dB), Set5 x3", connect=True)
    return {"stem": "figure8", "title": "Figure 8: VDSR, DRRN_NS, DRRN_C and DRRN vs depth",
            "caption": "Paper points: the Table 4 values at d = 28 only (VDSR at d = 28 and "
                       "every d = 16, 22 value: n/a). Ours: B = 3 DRRN variants (B3U2 d=16, "
                       "B3U3 d=22, B3U4 d=28) and the plain pre-activation stack (vdsr_bn), "
                       "one line per variant and recipe."}


def _figure9(summary: pd.DataFrame, variants: dict, out: Path) -> dict[str, Any]:
    """Figure 9: shallow to very deep models on the paper's two panels (Set5, Set14 x3)."""
    panels = []
    for i, (dataset, scale) in enumerate(drrn_paper.FIGURE9_SETS):
        pts = [Point(cat, 0, vals[i], PAPER) for cat, vals in drrn_paper.FIGURE9.items()]
        rows = summary[(summary["dataset"] == dataset) & (summary["scale"] == scale)]
        for r in rows.itertuples(index=False):
            v = variants[(r.method, r.config, r.weights, r.recipe)]
            cat = v.roles.figure9
            if cat and v.default_config and math.isfinite(r.psnr):
                pts.append(Point(cat, 0, float(r.psnr), _ours_source(v)))
        panels.append((f"{_ds(dataset)} x{scale}", pts))
    figs.dot_panels(panels, list(drrn_paper.FIGURE9), out, "figure9",
                    title="Figure 9: PSNR of shallow, deep and very deep models",
                    xlabel="PSNR (dB)")
    return {"stem": "figure9", "title": "Figure 9: Set5 x3 and Set14 x3",
            "caption": "Paper values as listed in docs/methods.md (DRRN_B1U9 on Set14: "
                       "n/a). Ours: our SRCNN, VDSR, DRCN and DRRN results with the "
                       "registered config; A+, SelfEx and CSCN are not part of the "
                       "suite."}


def training_section(weights_dirs: Iterable[Path], out: Path) -> tuple[list[dict], list[str]]:
    """Training curves (PNG) and a line of facts per log, at most :data:`MAX_TRAINING_LOGS`."""
    logs = find_training_logs(weights_dirs)
    notes = []
    if len(logs) > MAX_TRAINING_LOGS:
        notes.append(f"training curves: the {MAX_TRAINING_LOGS} newest of {len(logs)} logs")
    entries = []
    for path in logs[:MAX_TRAINING_LOGS]:
        try:
            log = pd.read_csv(path, on_bad_lines="skip")
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            notes.append(f"{path.name}: unreadable ({exc})")
            continue
        for column in log.columns:
            log[column] = pd.to_numeric(log[column], errors="coerce")
        log = log[log["iteration"].notna()]
        if log.empty:
            continue
        stem = path.stem
        parts = stem.split("-")
        name = f"training/{slug(stem, 80)}.png"
        figs.training_curves(log, out / "training", slug(stem, 80), title=stem)
        val = log["val_psnr"].dropna() if "val_psnr" in log else pd.Series(dtype=float)
        finished = path.with_suffix(".safetensors").is_file()
        entries.append({
            "stem": stem, "png": name, "method": parts[0] if len(parts) >= 3 else "",
            "recipe": parts[1] if len(parts) >= 3 else "",
            "iterations": int(log["iteration"].max()),
            "loss": fmt(log["loss"].dropna().iloc[-1] if log["loss"].notna().any() else math.nan,
                        5),
            "val_psnr": fmt(val.iloc[-1] if len(val) else math.nan, 2),
            "state": "finished" if finished else "unfinished / in progress",
            "modified": datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime(
                "%Y-%m-%d %H:%M UTC"),
            "folder": str(path.parent),
        })
    return entries, notes

