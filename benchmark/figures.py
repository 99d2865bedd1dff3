"""Figures of the report: the paper's plots redrawn with our results beside the paper's points.

Every function takes plain, already selected data (:class:`Point` lists, a training-log frame)
and writes a PNG and, for the paper figures, an SVG. Nothing here reads result tables: the
selection of rows (protocol, newest run, seeds) is :mod:`benchmark.report`'s job.

Marker code, the same in every figure:

- paper value: hollow circle; a value read from a single or weaker source: hollow diamond;
- ours (paper / released recipe, or a fixed method): filled circle;
- ours with a reduced recipe (``quick``, ``fast``; not comparable to the paper): filled ``X``.

Figures are built on :class:`matplotlib.figure.Figure` (no pyplot state, no GUI backend).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

#: Sources a point can come from, with their marker style.
PAPER, PAPER_UNSURE, OURS, OURS_NC = "paper", "paper?", "ours", "ours-nc"
_LEGEND = {
    PAPER: "paper (hollow)",
    PAPER_UNSURE: "paper, uncertain value (?)",
    OURS: "ours",
    OURS_NC: "ours, reduced recipe (not comparable)",
}
_RC = {"svg.hashsalt": "srbench", "svg.fonttype": "path", "font.size": 9}


@dataclass(frozen=True)
class Point:
    """One point of a figure.

    Attributes
    ----------
    label : str
        Text written next to the point (and the category of a dot plot).
    x, y : float
        Position; ``y`` NaN means unknown (drawn as "n/a" where the figure has room).
    source : str
        ``"paper"``, ``"paper?"``, ``"ours"`` or ``"ours-nc"``.
    series : str
        Colour group (a method family or ablation variant).
    yerr : float, optional
        Standard deviation over seeds, drawn as an error bar.
    """

    label: str
    x: float
    y: float
    source: str
    series: str = ""
    yerr: float | None = None


def _palette(series: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    names = list(dict.fromkeys(series))
    colours = sns.color_palette("colorblind", max(len(names), 1))
    return {name: colours[i % len(colours)] for i, name in enumerate(names)}


def _draw_point(ax, p: Point, colour) -> None:
    if not math.isfinite(p.y):
        return
    if p.source in (PAPER, PAPER_UNSURE):
        ax.scatter([p.x], [p.y], s=70, marker="o" if p.source == PAPER else "D",
                   facecolors="none", edgecolors=[colour], linewidths=1.6, zorder=3)
    else:
        ax.scatter([p.x], [p.y], s=60 if p.source == OURS else 70,
                   marker="o" if p.source == OURS else "X", color=[colour], edgecolors="black",
                   linewidths=0.5, zorder=4)
    if p.yerr is not None and math.isfinite(p.yerr):
        ax.errorbar([p.x], [p.y], yerr=[p.yerr], color=colour, capsize=3, lw=1, zorder=2)


def _legend(ax, sources: set[str], colours: dict[str, tuple], *, loc: str = "best") -> None:
    handles = _legend_handles(sources, colours)
    if handles:
        ax.legend(handles=handles, loc=loc, fontsize=7.5, framealpha=0.9)


def _legend_handles(sources: set[str], colours: dict[str, tuple]) -> list[Line2D]:
    handles = []
    for source in (PAPER, PAPER_UNSURE, OURS, OURS_NC):
        if source not in sources:
            continue
        marker = {PAPER: "o", PAPER_UNSURE: "D", OURS: "o", OURS_NC: "X"}[source]
        hollow = source in (PAPER, PAPER_UNSURE)
        handles.append(Line2D([], [], ls="none", marker=marker, ms=8, color="0.3",
                              markerfacecolor="none" if hollow else "0.5",
                              markeredgewidth=1.5 if hollow else 0.5, label=_LEGEND[source]))
    for name, colour in colours.items():
        if name:
            handles.append(Line2D([], [], ls="-", lw=4, color=colour, label=name))
    return handles


def _save(fig: Figure, out: Path, stem: str, *, svg: bool = True) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png"]
    with matplotlib.rc_context(_RC):
        fig.savefig(paths[0], dpi=110, metadata={"Software": None})
        if svg:
            paths.append(out / f"{stem}.svg")
            fig.savefig(paths[1], metadata={"Date": None, "Creator": None})
    return paths


def _annotate(ax, points: Sequence[Point], *, logx: bool = False) -> None:
    """Label points; points that nearly coincide share one label, listed top to bottom."""
    shown = [p for p in points if math.isfinite(p.y) and p.label]
    if not shown:
        return
    xs = [math.log10(p.x) if logx and p.x > 0 else p.x for p in shown]
    ys = [p.y for p in shown]
    xtol = max((max(xs) - min(xs)) * 0.04, 1e-9)
    ytol = max((max(ys) - min(ys)) * 0.05, 0.01)
    clusters: list[list[int]] = []
    for i in sorted(range(len(shown)), key=lambda k: -ys[k]):
        for cluster in clusters:
            j = cluster[0]
            if abs(xs[i] - xs[j]) <= xtol and abs(ys[i] - ys[j]) <= ytol * len(cluster):
                cluster.append(i)
                break
        else:
            clusters.append([i])
    for cluster in clusters:
        top = shown[cluster[0]]
        labels = list(dict.fromkeys(shown[i].label for i in cluster))
        ax.annotate("\n".join(labels), (top.x, top.y), xytext=(7, 3), textcoords="offset points",
                    fontsize=7.5, color="0.15", va="top" if len(labels) > 1 else "bottom")


def scatter_figure(
    points: Sequence[Point],
    out: Path,
    stem: str,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    connect: bool = False,
) -> list[Path]:
    """A scatter of paper and our points (Figures 1, 6 and 8); returns the PNG and SVG paths.

    Parameters
    ----------
    points : sequence of Point
    out : Path
        Folder for ``<stem>.png`` and ``<stem>.svg``.
    title, xlabel, ylabel : str
    logx : bool
        Logarithmic x axis, with ``K``/``M`` tick labels (parameter counts).
    connect : bool
        Join our points of one series and source by a line in x order (Figure 8).
    """
    with sns.axes_style("whitegrid"), matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.0, 4.6))
        ax = fig.add_subplot()
        colours = _palette([p.series for p in points])
        if connect:
            groups: dict[tuple[str, str], list[Point]] = {}
            for p in points:
                if p.source in (OURS, OURS_NC) and math.isfinite(p.y):
                    groups.setdefault((p.series, p.source), []).append(p)
            for (series, source), members in groups.items():
                members = sorted(members, key=lambda q: q.x)
                ax.plot([q.x for q in members], [q.y for q in members], color=colours[series],
                        lw=1.2, ls="-" if source == OURS else ":", zorder=1)
        for p in points:
            _draw_point(ax, p, colours[p.series])
        _annotate(ax, points, logx=logx)
        if logx:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(_count_label))
            ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        finite = [p for p in points if math.isfinite(p.y)]
        if finite:
            xs = [p.x for p in finite]
            lo, hi = min(xs), max(xs)
            if logx:
                ax.set_xlim(lo / 1.8, hi * 2.5)
            else:
                pad = max((hi - lo) * 0.12, 2.0)
                ax.set_xlim(lo - pad, hi + pad * 1.6)
            ys = [p.y for p in finite]
            ypad = max((max(ys) - min(ys)) * 0.12, 0.05)
            ax.set_ylim(min(ys) - ypad, max(ys) + ypad)
        else:
            ax.text(0.5, 0.5, "no data (n/a)", transform=ax.transAxes, ha="center", color="0.4")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        _legend(ax, {p.source for p in points}, colours if len(colours) > 1 else {},
                loc="lower right")
        fig.tight_layout()
        return _save(fig, out, stem)


def _count_label(value: float, _pos: object = None) -> str:
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e3:
        return f"{value / 1e3:g}K"
    return f"{value:g}"


def dot_panels(
    panels: Sequence[tuple[str, Sequence[Point]]],
    categories: Sequence[str],
    out: Path,
    stem: str,
    *,
    title: str,
    xlabel: str,
) -> list[Path]:
    """Side-by-side dot plots, one row per category (Figure 9).

    Each point's ``label`` is its category. Paper points sit on the category line, our
    points just below it. A category without a paper value gets "paper n/a" and one without
    ours "ours n/a", written at the left of the panel.
    """
    with sns.axes_style("whitegrid"), matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.0, 0.34 * max(len(categories), 4) + 1.5))
        axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        colours = _palette(["paper", "ours"])
        index = {c: i for i, c in enumerate(categories)}
        sources: set[str] = set()
        for ax, (panel_title, points) in zip(axes, panels):
            ys = [p.y for p in points if math.isfinite(p.y)]
            lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
            pad = max((hi - lo) * 0.25, 0.2)
            ax.set_xlim(lo - pad * 1.8, hi + pad)
            for cat in categories:
                row = index[cat]
                mine = [p for p in points if p.label == cat]
                paper = [p for p in mine if p.source in (PAPER, PAPER_UNSURE)]
                ours = [p for p in mine if p.source in (OURS, OURS_NC)]
                notes = []
                if not any(math.isfinite(p.y) for p in paper):
                    notes.append("paper n/a")
                if not any(math.isfinite(p.y) for p in ours):
                    notes.append("ours n/a")
                for p in paper:
                    _draw_point(ax, Point(p.label, p.y, row, p.source), colours["paper"])
                    if math.isfinite(p.y):
                        ax.annotate(f"{p.y:.2f}", (p.y, row), xytext=(7, 2),
                                    textcoords="offset points", fontsize=7, color="0.3")
                    sources.add(p.source)
                for k, p in enumerate(ours):
                    y = row + 0.22 + 0.12 * k
                    _draw_point(ax, Point(p.label, p.y, y, p.source, yerr=None), colours["ours"])
                    if math.isfinite(p.y):
                        ax.annotate(f"{p.y:.2f}", (p.y, y), xytext=(7, -3),
                                    textcoords="offset points", fontsize=7, color="0.3")
                    sources.add(p.source)
                if notes:
                    ax.text(0.01, row, ", ".join(notes), transform=ax.get_yaxis_transform(),
                            fontsize=7, color="0.45", va="center")
            ax.set_title(panel_title, fontsize=9)
            ax.set_xlabel(xlabel)
        axes[0].set_yticks(range(len(categories)), list(categories))
        axes[0].set_ylim(len(categories) - 0.4, -0.6)
        fig.suptitle(title, fontsize=10)
        handles = _legend_handles(sources, {})
        if handles:
            fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7.5,
                       frameon=False)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        return _save(fig, out, stem)


def training_curves(log: pd.DataFrame, out: Path, stem: str, *, title: str) -> list[Path]:
    """Loss, learning rate and validation PSNR (or throughput) against iteration, as a PNG.

    Parameters
    ----------
    log : DataFrame
        A trainer log (``iteration, loss, lr, grad_norm, val_psnr, patches_per_s, ...``);
        missing columns and empty cells are skipped.
    """
    panels = [("loss", "loss", True), ("lr", "learning rate", True)]
    if "val_psnr" in log and log["val_psnr"].notna().any():
        panels.append(("val_psnr", "validation PSNR (dB)", False))
    elif "patches_per_s" in log and log["patches_per_s"].notna().any():
        panels.append(("patches_per_s", "patches / s", False))
    with sns.axes_style("whitegrid"), matplotlib.rc_context(_RC):
        fig = Figure(figsize=(9.0, 2.6))
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (column, label, logy) in zip(axes, panels):
            if column in log:
                frame = log[["iteration", column]].dropna()
                ax.plot(frame["iteration"], frame[column], marker="." if len(frame) < 30 else "",
                        lw=1.2)
                values = frame[column].to_numpy(dtype=float)
                if logy and len(values) and np.all(values > 0):
                    ax.set_yscale("log")
            ax.set_xlabel("iteration")
            ax.set_ylabel(label)
        fig.suptitle(title, fontsize=9)
        fig.tight_layout()
        return _save(fig, out, stem, svg=False)
