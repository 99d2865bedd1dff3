"""The HTML report: the paper's tables and figures rebuilt from every result table present.

``build_report(results_dir, out_dir)`` reads every run folder's ``per_image.csv`` (and
``run.json``) under ``results_dir`` and writes a self-contained folder (works from
``file://``, no network, relative links only):

``index.html``        overview, Tables 2-4, all results (with any sewar metrics, labelled),
                      compute accounting, Figures 1/6/8/9, image browser, training curves,
                      run metadata
``tables/``           every table as CSV (missing values written ``n/a``) and LaTeX (booktabs)
``figures/``          Figures 1, 6, 8, 9 as PNG and SVG
``browser/``          GT / bicubic / method crops (PNG) and GT thumbnails
``training/``         training curves (PNG) of the trainer's logs ``<weights>/<stem>.csv``

Selection rules (also stated in the report):

- rows of different protocols are never mixed: every table is built per protocol, the
  default protocol (``drrn-matlab-v1``) first; figures and the image browser use it only;
- when several runs hold rows of the same (protocol, method, config, weights, recipe, seed,
  dataset, scale), only the newest run's rows are used (newest = latest ``timestamp``, then
  run folder name);
- dataset figures are means of per-image values over rows with status ``ok``; with a
  ``seed`` column the mean is taken per seed, then averaged over seeds (std shown);
- paper values come from the method registry (``MethodSpec.published``) when the row's
  model config is the registered one (the width cap of a reduced recipe aside), and from
  the paper's figure values listed in ``docs/methods.md`` (the ``*_PAPER`` constants below)
  in the figures; a missing value is ``n/a``, never invented;
- a recipe other than the paper's (``quick``, ``fast``, ...) is marked "not comparable".

``refresh_report(results_dir)`` is the never-raising variant meant for the end of ``run``:
it builds into :func:`default_out_dir` (``<results_dir>/../reports``) and returns the path of
``index.html``, or ``None`` when there is nothing to report or the build failed.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import math
import os
import re
import secrets
import shlex
import shutil
import sys
import tempfile
import time
import webbrowser
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from benchmark import PROTOCOL, __version__, data, imaging, report_checks
from benchmark import figures as figs
from benchmark.figures import OURS, OURS_NC, PAPER, PAPER_UNSURE, Point
from benchmark.registry import Ablation, MethodSpec, PaperRoles, list_methods
from benchmark.results import EXTENDED, canonical_config, parse_config
from methods import drrn_paper

__all__ = [
    "ReportError",
    "build_report",
    "default_out_dir",
    "load_results",
    "refresh_report",
    "select_newest",
    "serve",
    "slug",
    "summarize_variants",
]

#: A method variant: one column of Table 2.
VARIANT = ["method", "config", "weights", "recipe"]
#: Rows sharing these values are the same result; the newest run's rows are used.
SELECT_KEY = ["protocol", *VARIANT, "seed", "dataset", "scale"]
_TEXT_COLUMNS = ["run_id", "timestamp", *VARIANT, "dataset", "image", "status", "device",
                 "dtype", "protocol", "version", "seed"]
_NUMBER_COLUMNS = ["psnr", "ssim", "ifc", "seconds"]
#: Appended by :func:`load_results` to a self-ensemble row's method (``vdsr+``), which makes it
#: a variant of its own; ``x8`` is the only ensemble (``benchmark.ensemble.ENSEMBLES``).
ENSEMBLE_SUFFIX = "+"

#: Recipes that reproduce (or are) the published training: comparable to the paper.
COMPARABLE_RECIPES = frozenset({"-", "", "paper", "released", "official", "published",
                                "pretrained"})
STANDARD_SETS = data.STANDARD_SETS
TABLE2_ROWS = [(d, s) for d in STANDARD_SETS for s in (2, 3, 4)]
TABLE3_ROWS = [(d, s) for d in ("set5", "set14", "urban100") for s in (2, 3, 4)]
DATASET_DISPLAY = {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100",
                   "urban100": "Urban100", "sample": "sample"}

#: Image browser: datasets shown by default, at x3 (else the smallest scale present).
BROWSE_DATASETS = ("set5", "set14", "sample")
BROWSE_SCALE = 3
CROP = 80          # side of the zoomed crop, HR pixels
THUMB_WIDTH = 220  # GT thumbnail width, pixels
MAX_TRAINING_LOGS = 12
MARKER = ".srbench-report"
#: Files a report folder may hold before its first build, kept across rebuilds.
KEPT_FILES = frozenset({"README.md"})


class ReportError(RuntimeError):
    """The report cannot be written (e.g. the output folder holds files that are not a report)."""


# ------------------------------------------------------------------------------- helpers
def slug(text: str, max_len: int = 48) -> str:
    """A file-name-safe form of ``text``: ``[A-Za-z0-9._-]`` only, never empty or hidden.

    Names that had to change get a short hash of the original appended, so that two names
    that differ only in unsafe characters do not collide.
    """
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._") or "x"
    clean = clean[:max_len]
    if clean != text:
        clean = f"{clean}-{hashlib.sha1(str(text).encode()).hexdigest()[:8]}"
    return clean


def fmt(value: Any, digits: int, signed: bool = False) -> str:
    """``value`` with ``digits`` decimals, or ``n/a`` when missing or not finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    if not math.isfinite(number):
        return "n/a"
    return f"{number:+.{digits}f}" if signed else f"{number:.{digits}f}"


def fmt_count(value: Any) -> str:
    """A count with thousands separators (``664,704``), or ``n/a`` when missing."""
    return "n/a" if fmt(value, 0) == "n/a" else f"{int(float(value)):,}"


def exact(value: Any) -> str:
    """Full-precision text of a number (as in the CSV files), empty when missing."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return f"{number:.10g}" if math.isfinite(number) else ""


def is_comparable(recipe: str) -> bool:
    """True for a recipe that is (or reproduces) the paper's training, or none (fixed method)."""
    return str(recipe).strip().lower() in COMPARABLE_RECIPES


def _config_of(text: str) -> dict[str, Any]:
    """:func:`benchmark.results.parse_config`, or ``{}`` for a cell in neither of its forms."""
    try:
        return parse_config(text)
    except ValueError:
        return {}


@lru_cache(maxsize=None)
def _spec(method: str) -> MethodSpec | None:
    from benchmark.registry import get_method

    try:
        return get_method(method)
    except KeyError:
        return None


@lru_cache(maxsize=None)
def _cost(method: str, config: str, ensemble: str = "") -> dict[str, Any] | None:
    """:func:`benchmark.modelinfo.cost_table` of ``method`` built with ``config`` (``ensemble``
    ``"x8"``: 8 passes), or None when it cannot be built. Callers must not modify it."""
    from benchmark.modelinfo import cost_table

    spec = _spec(method)
    if spec is None:
        return None
    cfg = {k: v for k, v in _config_of(config).items() if k in spec.config}
    try:
        return cost_table(method, ensemble, **cfg)
    except Exception:  # a plugin that cannot be built on the meta device, a bad config
        return None


def _params(method: str, config: str) -> float:
    """Parameter count of ``method`` built with ``config`` (NaN when it cannot be built)."""
    cost = _cost(method, config)
    return math.nan if cost is None else float(cost["params"])


@dataclass(frozen=True)
class Variant:
    """What the report knows about one (method, config, weights, recipe)."""

    method: str
    config: str
    weights: str
    recipe: str
    label: str
    comparable: bool
    default_config: bool       # the registered config (width cap of a reduced recipe aside)
    config_diff: str           # "B=3,U=4" where it differs from the registered config
    ablation: str | None       # the method's PaperRoles.ablation class: "DRRN_NS", ... or None
    blocks: int | None
    units: int | None
    depth: int | None
    ensemble: str = ""         # "x8" for a self-ensemble (method "vdsr+"), "" for a plain model

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.method, self.config, self.weights, self.recipe)

    @property
    def roles(self) -> PaperRoles:
        """The registered method's roles in the paper's tables; a plugin's defaults else."""
        spec = _spec(self.method)
        return spec.roles if spec is not None else PaperRoles()

    @property
    def model(self) -> str:
        """The registered method that makes the outputs: ``vdsr`` for ``vdsr+``."""
        return _split_ensemble(self.method)[0]

    @property
    def uid(self) -> str:
        return hashlib.sha1("\x1f".join(self.key).encode()).hexdigest()[:10]


def _split_ensemble(method: str) -> tuple[str, str]:
    """``("vdsr", "x8")`` for the self-ensemble ``vdsr+`` (:data:`ENSEMBLE_SUFFIX`), else
    ``(method, "")``."""
    if method.endswith(ENSEMBLE_SUFFIX) and _spec(method) is None:
        return method[:-len(ENSEMBLE_SUFFIX)], "x8"
    return method, ""


def describe_variant(method: str, config: str, weights: str, recipe: str) -> Variant:
    """Label, comparability and ablation class of a variant (see :class:`Variant`)."""
    spec = _spec(method)
    comparable = is_comparable(recipe)
    cfg = _config_of(config)
    diff = ""
    default = spec is not None
    found: Ablation | None = None
    if spec is not None:
        changed = {k: v for k, v in cfg.items() if k not in spec.config or spec.config[k] != v}
        diff = ",".join(f"{k}={v}" for k, v in sorted(changed.items()))
        ignore = set() if comparable else {"channels"}  # quick caps the width
        default = not (set(changed) - ignore) and set(cfg) >= set(spec.config)
        if spec.roles.ablation is not None:
            found = spec.roles.ablation({**spec.config, **cfg})
    # A self-ensemble has no spec of its own: no paper cell, no ablation class; its model's
    # label with a suffix.
    model, ensemble = _split_ensemble(method)
    name = _label(model) + (ENSEMBLE_SUFFIX if ensemble else "")
    label = f"{name} [{diff}]" if diff else name
    if not comparable:
        label += f" ({recipe})"
    blocks, units, depth = (found.blocks, found.units, found.depth) if found else (None,) * 3
    return Variant(method, config, weights, recipe, label, comparable, default, diff,
                   found.name if found else None, blocks, units, depth, ensemble)


def _label(method: str) -> str:
    """The registered display label of ``method``; an unregistered name as it is."""
    spec = _spec(method)
    return spec.label if spec is not None else method


def paper_cell(variant: Variant, dataset: str, scale: int) -> tuple[float, float]:
    """The registry's published (PSNR, SSIM) for a variant with the registered config, else NaN."""
    spec = _spec(variant.method)
    if spec is None or not variant.default_config:
        return (math.nan, math.nan)
    return spec.published.get((dataset, int(scale)), (math.nan, math.nan))


# ------------------------------------------------------------------------------- loading
@dataclass
class RunInfo:
    """One run folder: its metadata and row counts."""

    name: str
    path: Path
    meta: dict[str, Any]
    n_rows: int = 0
    n_failed: int = 0
    n_used: int = 0
    started: str = ""
    rank: int = 0
    problem: str = ""


@dataclass
class Results:
    """Every row of every run under a results folder, with the runs' metadata."""

    rows: pd.DataFrame
    runs: list[RunInfo]
    problems: list[str] = field(default_factory=list)


def _seed_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _run_time(rows: pd.DataFrame, name: str) -> pd.Timestamp:
    stamps = pd.to_datetime(rows["timestamp"], utc=True, errors="coerce", format="mixed")
    if stamps.notna().any():
        return stamps.max()
    try:  # the folder name starts with the UTC time: 20261126T134422Z-run-...
        return pd.Timestamp(datetime.strptime(name[:16], "%Y%m%dT%H%M%SZ"), tz="UTC")
    except ValueError:
        return pd.Timestamp(0, tz="UTC")


def load_results(results_dir: str | os.PathLike[str]) -> Results:
    """Read every ``<run>/per_image.csv`` (and ``run.json``) under ``results_dir``.

    Unreadable tables are skipped and listed in ``problems``. Missing text columns are
    filled with ``"-"``; ``config`` cells are made canonical
    (:func:`benchmark.results.canonical_config`); the frame gains ``_run`` (folder name) and ``_rank`` (run order,
    newest highest).
    """
    root = Path(results_dir)
    frames: list[pd.DataFrame] = []
    runs: list[RunInfo] = []
    problems: list[str] = []
    times: dict[str, pd.Timestamp] = {}
    folders = sorted(p.parent for p in root.glob("*/per_image.csv")) if root.is_dir() else []
    for folder in folders:
        meta: dict[str, Any] = {}
        info = RunInfo(folder.name, folder, meta)
        if (folder / "run.json").is_file():
            try:
                meta.update(json.loads((folder / "run.json").read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                info.problem = f"run.json unreadable: {exc}"
        try:
            frame = pd.read_csv(folder / "per_image.csv", low_memory=False)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            problems.append(f"{folder.name}/per_image.csv skipped: {exc}")
            continue
        if frame.empty or not {"method", "dataset", "scale"} <= set(frame.columns):
            problems.append(f"{folder.name}/per_image.csv skipped: no result rows")
            continue
        for column in _TEXT_COLUMNS:
            if column not in frame:
                frame[column] = "-"
            if column == "seed":
                frame[column] = [_seed_text(v) for v in frame[column]]
            else:
                frame[column] = frame[column].fillna("-").astype(str)
        frame["config"] = [canonical_config(text) for text in frame["config"]]
        for column in [*_NUMBER_COLUMNS, *(c for c in EXTENDED if c in frame)]:
            frame[column] = pd.to_numeric(frame.get(column), errors="coerce")
        frame["scale"] = pd.to_numeric(frame["scale"], errors="coerce")
        frame = frame[frame["scale"].notna()].copy()
        frame["scale"] = frame["scale"].astype(int)
        if "ensemble" in frame:  # self-ensemble rows are their own variant: "vdsr+"
            ensemble = frame["ensemble"].astype(object)
            frame["ensemble"] = ensemble.where(ensemble.notna(), "").astype(str)
            plus = frame["ensemble"] != ""
            frame.loc[plus, "method"] = frame.loc[plus, "method"] + ENSEMBLE_SUFFIX
        frame["_run"] = folder.name
        times[folder.name] = _run_time(frame, folder.name)
        info.n_rows = len(frame)
        info.n_failed = int((frame["status"] != "ok").sum())
        info.started = str(meta.get("timestamp") or frame["timestamp"].iloc[0])
        frames.append(frame)
        runs.append(info)
    order = sorted(times, key=lambda name: (times[name], name))
    rank = {name: i for i, name in enumerate(order)}
    for info in runs:
        info.rank = rank.get(info.name, -1)
    if frames:
        rows = pd.concat(frames, ignore_index=True)
        rows["_rank"] = rows["_run"].map(rank)
    else:
        rows = pd.DataFrame(columns=[*_TEXT_COLUMNS, *_NUMBER_COLUMNS, "scale", "_run", "_rank"])
    return Results(rows, runs, problems)


def select_newest(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``rows`` into the newest run's rows per :data:`SELECT_KEY` and the superseded rest."""
    if rows.empty:
        return rows, rows
    newest = rows.groupby(SELECT_KEY, sort=False)["_rank"].transform("max")
    keep = rows["_rank"] == newest
    return rows[keep].copy(), rows[~keep].copy()


def summarize_variants(selected: pd.DataFrame) -> pd.DataFrame:
    """Means per protocol x variant x dataset x scale (per seed first, then over seeds).

    Columns: the keys, ``n_images`` (ok rows per seed), ``n_failed``, ``n_seeds``, ``seeds``,
    ``psnr``, ``psnr_std``, ``ssim``, ``ssim_std``, ``ifc``, ``ifc_missing``, ``seconds``,
    ``runs``, then the sewar metrics (:data:`EXTENDED`) that ``selected`` has. Means cover rows
    with status ``ok`` only.
    """
    keys = ["protocol", *VARIANT, "dataset", "scale"]
    extended = [c for c in EXTENDED if c in selected]
    columns = [*keys, "n_images", "n_failed", "n_seeds", "seeds", "psnr", "psnr_std", "ssim",
               "ssim_std", "ifc", "ifc_missing", "seconds", "runs", *extended]
    if selected.empty:
        return pd.DataFrame(columns=columns)
    frame = selected.copy()
    ok = frame["status"] == "ok"
    for column in [*_NUMBER_COLUMNS, *extended]:
        frame.loc[~ok, column] = np.nan
    frame["_ok"] = ok.astype(int)
    frame["_failed"] = (~ok).astype(int)
    frame["_ifc_missing"] = (ok & frame["ifc"].isna()).astype(int)
    per_seed = frame.groupby([*keys, "seed"], sort=False).agg(
        n_images=("_ok", "sum"), n_failed=("_failed", "sum"), psnr=("psnr", "mean"),
        ssim=("ssim", "mean"), ifc=("ifc", "mean"), ifc_missing=("_ifc_missing", "sum"),
        seconds=("seconds", "mean"), runs=("_run", lambda s: " ".join(sorted(set(s)))),
        **{c: (c, "mean") for c in extended},
    ).reset_index()

    def std(values: pd.Series) -> float:
        return float(values.std(ddof=1)) if values.notna().sum() > 1 else math.nan

    out = per_seed.groupby(keys, sort=False).agg(
        n_images=("n_images", "max"), n_failed=("n_failed", "sum"), n_seeds=("seed", "size"),
        seeds=("seed", lambda s: ",".join(v for v in s if v != "-") or "-"),
        psnr=("psnr", "mean"), psnr_std=("psnr", std), ssim=("ssim", "mean"),
        ssim_std=("ssim", std), ifc=("ifc", "mean"), ifc_missing=("ifc_missing", "sum"),
        seconds=("seconds", "mean"),
        runs=("runs", lambda s: " ".join(sorted(set(" ".join(s).split())))),
        **{c: (c, "mean") for c in extended},
    ).reset_index()
    return out[columns]


# ------------------------------------------------------------------------------- tables
@dataclass
class Table:
    """A table as the report writes it: a tidy frame (CSV) and LaTeX/HTML renderings."""

    name: str            # file stem, e.g. "table2"
    title: str
    caption: str
    frame: pd.DataFrame  # tidy, written as CSV
    latex_columns: list[tuple[str, str]]  # (header, alignment)
    latex_rows: list[list[str]]
    latex_breaks: list[int] = field(default_factory=list)  # \midrule before these rows
    note: str = ""       # a footnote under the table (HTML and LaTeX)
    csv: str = ""
    tex: str = ""


def _latex_escape(text: str) -> str:
    table = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
             "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
             "\\": r"\textbackslash{}", "<": r"\textless{}", ">": r"\textgreater{}"}
    return "".join(table.get(ch, ch) for ch in str(text))


def to_latex(table: Table) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    align = "".join(a for _, a in table.latex_columns)
    lines = [
        r"\begin{table}[t]", r"\centering", r"\small",
        rf"\caption{{{_latex_escape(table.title)}}}", rf"\label{{tab:{table.name}}}",
        rf"\begin{{tabular}}{{{align}}}", r"\toprule",
        " & ".join(_latex_escape(h) for h, _ in table.latex_columns) + r" \\", r"\midrule",
    ]
    if not table.latex_rows:
        lines.append(rf"\multicolumn{{{len(table.latex_columns)}}}{{c}}{{no results}} \\")
    for i, row in enumerate(table.latex_rows):
        if i in table.latex_breaks and i:
            lines.append(r"\midrule")
        lines.append(" & ".join(_latex_escape(c) for c in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.note:
        lines.append(rf"\par\smallskip{{\footnotesize {_latex_escape(table.note)}}}")
    lines += [r"\end{table}", ""]
    return "\n".join(lines)


def _write_table(table: Table, folder: Path, suffix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = table.name + suffix
    table.frame.to_csv(folder / f"{stem}.csv", index=False, float_format="%.10g", na_rep="n/a")
    (folder / f"{stem}.tex").write_text(to_latex(table), encoding="utf-8")
    table.csv = f"tables/{stem}.csv"
    table.tex = f"tables/{stem}.tex"


def _ds(name: str) -> str:
    return DATASET_DISPLAY.get(name, name)


def _cell(row: pd.Series | None, paper: tuple[float, float]) -> dict[str, Any]:
    psnr = float(row["psnr"]) if row is not None else math.nan
    ssim = float(row["ssim"]) if row is not None else math.nan
    return {
        "psnr": fmt(psnr, 2), "ssim": fmt(ssim, 4), "psnr_exact": exact(psnr),
        "ssim_exact": exact(ssim), "paper_psnr": fmt(paper[0], 2), "paper_ssim": fmt(paper[1], 4),
        "diff_psnr": fmt(psnr - paper[0], 2, True), "diff_ssim": fmt(ssim - paper[1], 4, True),
        "psnr_std": fmt(row["psnr_std"], 2) if row is not None else "n/a",
        "n_seeds": int(row["n_seeds"]) if row is not None else 0,
        "n_failed": int(row["n_failed"]) if row is not None else 0,
        "ifc": fmt(row["ifc"], 3) if row is not None else "n/a",
        "ifc_exact": exact(row["ifc"]) if row is not None else "",
        "has_ours": row is not None and math.isfinite(psnr),
        "has_paper": math.isfinite(paper[0]),
    }


def _column(variant: Variant | None, method: str, runs: str = "") -> dict[str, Any]:
    if variant is None:
        return {"label": _label(method), "paper_only": True, "comparable": True,
                "title": "paper values only: no result of ours", "uid": f"paper-{method}"}
    title = (f"method={variant.method}; config={variant.config}; weights={variant.weights}; "
             f"recipe={variant.recipe}; runs={runs}")
    return {"label": variant.label, "paper_only": False, "comparable": variant.comparable,
            "title": title, "uid": variant.uid, "recipe": variant.recipe}


def _rank(method: str) -> float:
    """Position of ``method``'s column in the paper's Table 2; other methods come after."""
    spec = _spec(method)
    return math.inf if spec is None or spec.roles.table2 is None else spec.roles.table2


def _table2_methods() -> list[str]:
    """The registered methods that are columns of the paper's Table 2, in its order."""
    return sorted((s.name for s in list_methods() if s.roles.table2 is not None), key=_rank)


def _compared(v: Variant) -> bool:
    """A model of the paper's comparisons (Tables 2 and 3, Figure 1): not an ablation-only
    method, and of an ablation class only the main DRRN's."""
    return not v.roles.ablation_only and v.ablation in (None, drrn_paper.MAIN_CLASS)


def _order(variant: Variant) -> tuple:
    return (_rank(variant.method), variant.method, not variant.default_config, not variant.comparable,
            variant.config, variant.recipe, variant.weights)


def _variants(summary: pd.DataFrame) -> dict[tuple[str, str, str, str], Variant]:
    found: dict[tuple[str, str, str, str], Variant] = {}
    for key in summary[VARIANT].drop_duplicates().itertuples(index=False):
        found[tuple(key)] = describe_variant(*key)
    # Labels must tell columns apart: add the weights, else a counter, on a clash.
    by_label: dict[str, list[Variant]] = {}
    for v in found.values():
        by_label.setdefault(v.label, []).append(v)
    for label, group in by_label.items():
        if len(group) < 2:
            continue
        names = [Path(v.weights).name or v.weights for v in group]
        for i, v in enumerate(sorted(group, key=_order), 1):
            extra = Path(v.weights).name or v.weights
            if names.count(extra) > 1:
                extra += f" #{i}"
            found[v.key] = Variant(**{**v.__dict__, "label": f"{label} · weights {extra}"})
    return found


def table2(summary: pd.DataFrame, variants: dict) -> tuple[Table, dict[str, Any]]:
    """Table 2: PSNR/SSIM per method x dataset x scale; ours, the paper's and the difference."""
    chosen = sorted((v for v in variants.values() if _compared(v) and v.blocks in (None, 1)),
                    key=_order)
    methods_with_default = {v.method for v in chosen if v.default_config}
    placeholders = [m for m in _table2_methods() if m not in methods_with_default]
    columns: list[tuple[Variant | None, str]] = [(v, v.method) for v in chosen]
    columns += [(None, m) for m in placeholders]
    columns.sort(key=lambda c: _order(c[0]) if c[0] else (_rank(c[1]), c[1]))
    index = {(r.method, r.config, r.weights, r.recipe, r.dataset, int(r.scale)): r
             for r in summary.itertuples(index=False)}
    rows_present = {(d, int(s)) for v in chosen for (m, c, w, rc, d, s) in index
                    if (m, c, w, rc) == v.key}
    extra = sorted(rows_present - set(TABLE2_ROWS))
    html_rows, records, latex_rows, breaks = [], [], [], []
    for dataset, scale in TABLE2_ROWS + extra:
        cells = []
        breaks.append(len(latex_rows))
        for variant, method in columns:
            if variant is None:
                spec = _spec(method)
                paper = spec.published.get((dataset, scale), (math.nan, math.nan)) if spec else (
                    math.nan, math.nan)
                cells.append(_cell(None, paper))
                row = None
            else:
                hit = index.get((*variant.key, dataset, scale))
                row = pd.Series(hit._asdict()) if hit is not None else None
                paper = paper_cell(variant, dataset, scale)
                cells.append(_cell(row, paper))
            cell = cells[-1]
            if not (cell["has_ours"] or cell["has_paper"]):
                continue
            label = variant.label if variant else _label(method)
            records.append({
                "dataset": dataset, "scale": scale, "method": method, "label": label,
                "config": variant.config if variant else "-",
                "weights": variant.weights if variant else "-",
                "recipe": variant.recipe if variant else "-",
                "comparable": variant.comparable if variant else True,
                "n_images": row["n_images"] if row is not None else math.nan,
                "n_failed": row["n_failed"] if row is not None else math.nan,
                "n_seeds": row["n_seeds"] if row is not None else math.nan,
                "psnr": row["psnr"] if row is not None else math.nan,
                "psnr_std": row["psnr_std"] if row is not None else math.nan,
                "paper_psnr": paper[0],
                "diff_psnr": (row["psnr"] - paper[0]) if row is not None else math.nan,
                "ssim": row["ssim"] if row is not None else math.nan,
                "ssim_std": row["ssim_std"] if row is not None else math.nan,
                "paper_ssim": paper[1],
                "diff_ssim": (row["ssim"] - paper[1]) if row is not None else math.nan,
                "runs": row["runs"] if row is not None else "",
            })
            latex_rows.append([
                _ds(dataset), f"x{scale}", label + ("*" if variant and not variant.comparable
                                                    else ""),
                cell["psnr"], cell["paper_psnr"], cell["diff_psnr"], cell["ssim"],
                cell["paper_ssim"], cell["diff_ssim"],
            ])
        html_rows.append({"dataset": _ds(dataset), "scale": scale, "cells": cells,
                          "standard": (dataset, scale) in TABLE2_ROWS})
    _rowspans(html_rows)
    frame = pd.DataFrame(records, columns=[
        "dataset", "scale", "method", "label", "config", "weights", "recipe", "comparable",
        "n_images", "n_failed", "n_seeds", "psnr", "psnr_std", "paper_psnr", "diff_psnr", "ssim",
        "ssim_std", "paper_ssim", "diff_ssim", "runs"])
    table = Table(
        "table2", "Table 2: mean PSNR (dB) / SSIM, ours vs the paper",
        "Each cell: ours (top), the paper's value (middle), ours minus the paper's (bottom).",
        frame,
        [("Dataset", "l"), ("Scale", "c"), ("Method", "l"), ("PSNR", "r"), ("paper", "r"),
         ("diff", "r"), ("SSIM", "r"), ("paper", "r"), ("diff", "r")],
        latex_rows, breaks)
    html = {"columns": [_column(v, m, _runs_of(summary, v)) for v, m in columns],
            "rows": html_rows}
    return table, html


def _rowspans(rows: list[dict[str, Any]]) -> None:
    """Mark the first row of each run of equal ``dataset`` with the run's length (rowspan)."""
    i = 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j]["dataset"] == rows[i]["dataset"]:
            rows[j]["span"] = 0
            j += 1
        rows[i]["span"] = j - i
        i = j


def _runs_of(summary: pd.DataFrame, variant: Variant | None) -> str:
    if variant is None or summary.empty:
        return ""
    mask = np.ones(len(summary), dtype=bool)
    for column, value in zip(VARIANT, variant.key):
        mask &= (summary[column] == value).to_numpy()
    return " ".join(sorted(set(" ".join(summary.loc[mask, "runs"]).split())))


def table3(summary: pd.DataFrame, variants: dict) -> tuple[Table, dict[str, Any]]:
    """Table 3: mean IFC (ours; the paper's values could not be read: n/a)."""
    chosen = sorted((v for v in variants.values()
                     if (_compared(v) and v.blocks in (None, 1))
                     or (v.ablation, v.depth) == drrn_paper.TABLE3_PLAIN_STACK),
                    key=_order)
    index = {(r.method, r.config, r.weights, r.recipe, r.dataset, int(r.scale)): r
             for r in summary.itertuples(index=False)}
    present = {(d, int(s)) for (m, c, w, rc, d, s), r in index.items()
               if (m, c, w, rc) in {v.key for v in chosen} and math.isfinite(r.ifc)}
    extra = sorted(present - set(TABLE3_ROWS))
    html_rows, records, latex_rows, breaks = [], [], [], []
    for dataset, scale in TABLE3_ROWS + extra:
        cells = []
        breaks.append(len(latex_rows))
        for variant in chosen:
            hit = index.get((*variant.key, dataset, scale))
            ifc = float(hit.ifc) if hit is not None else math.nan
            missing = int(hit.ifc_missing) if hit is not None else 0
            cells.append({"ifc": fmt(ifc, 3), "ifc_exact": exact(ifc), "missing": missing,
                          "has_ours": math.isfinite(ifc)})
            if hit is None:
                continue
            records.append({"dataset": dataset, "scale": scale, "method": variant.method,
                            "label": variant.label, "config": variant.config,
                            "weights": variant.weights, "recipe": variant.recipe,
                            "comparable": variant.comparable, "n_images": hit.n_images,
                            "ifc_missing": missing, "ifc": ifc, "paper_ifc": math.nan,
                            "runs": hit.runs})
            latex_rows.append([_ds(dataset), f"x{scale}",
                               variant.label + ("" if variant.comparable else "*"),
                               fmt(ifc, 3), "n/a"])
        html_rows.append({"dataset": _ds(dataset), "scale": scale, "cells": cells})
    _rowspans(html_rows)
    frame = pd.DataFrame(records, columns=[
        "dataset", "scale", "method", "label", "config", "weights", "recipe", "comparable",
        "n_images", "ifc_missing", "ifc", "paper_ifc", "runs"])
    table = Table(
        "table3", "Table 3: mean IFC (ours; paper n/a)",
        "The paper's IFC values could not be read (docs/methods.md, Known discrepancies): its "
        "column is n/a throughout.",
        frame, [("Dataset", "l"), ("Scale", "c"), ("Method", "l"), ("IFC", "r"), ("paper", "r")],
        latex_rows, breaks)
    html = {"columns": [_column(v, v.method, _runs_of(summary, v)) for v in chosen],
            "rows": html_rows}
    return table, html


def table4(summary: pd.DataFrame, variants: dict) -> tuple[Table, list[dict[str, Any]]]:
    """Table 4: DRRN_NS_C / DRRN_NS / DRRN_C / DRRN at B3U4 (d = 28), Set5 x3 PSNR."""
    index = {(r.method, r.config, r.weights, r.recipe, r.dataset, int(r.scale)): r
             for r in summary.itertuples(index=False)}
    records, html_rows, latex_rows = [], [], []
    paper_set = drrn_paper.PAPER_SET
    for name, paper in drrn_paper.TABLE4.items():
        ours = sorted((v for v in variants.values() if v.ablation == name
                       and (v.blocks, v.units) == drrn_paper.TABLE4_SHAPE
                       and (*v.key, *paper_set) in index), key=_order)
        for v in ours or [None]:
            hit = index.get((*v.key, *paper_set)) if v else None
            psnr = float(hit.psnr) if hit is not None else math.nan
            row = {
                "model": name, "label": v.label if v else "", "method": v.method if v else "",
                "config": v.config if v else "", "weights": v.weights if v else "",
                "recipe": v.recipe if v else "", "comparable": v.comparable if v else True,
                "n_seeds": hit.n_seeds if hit is not None else math.nan,
                "seeds": hit.seeds if hit is not None else "",
                "psnr": psnr, "psnr_std": hit.psnr_std if hit is not None else math.nan,
                "paper_psnr": paper, "diff_psnr": psnr - paper,
                "ssim": hit.ssim if hit is not None else math.nan,
                "runs": hit.runs if hit is not None else "",
            }
            records.append(row)
            html_rows.append({**row, "psnr_text": fmt(psnr, 2), "psnr_exact": exact(psnr),
                              "std_text": fmt(row["psnr_std"], 2),
                              "paper_text": fmt(paper, 2), "diff_text": fmt(psnr - paper, 2, True),
                              "ssim_text": fmt(row["ssim"], 4),
                              "n_seeds": int(hit.n_seeds) if hit is not None else 0})
            latex_rows.append([name + ("" if row["comparable"] else "*"), fmt(paper, 2),
                               fmt(psnr, 2), fmt(row["psnr_std"], 2), fmt(psnr - paper, 2, True)])
    frame = pd.DataFrame(records)
    table = Table(
        "table4", "Table 4: DRRN variants, B3U4 (d = 28), Set5 x3 PSNR (dB)",
        "NS: no weight sharing; C: chained residual units instead of multi-path.",
        frame, [("Model", "l"), ("paper", "r"), ("ours", "r"), ("std", "r"), ("diff", "r")],
        latex_rows)
    return table, html_rows


def extended_in(summary: pd.DataFrame) -> list[str]:
    """The sewar metrics (:data:`EXTENDED`) with at least one value in ``summary``."""
    return [c for c in EXTENDED if c in summary and summary[c].notna().any()]


def extended_note(names: Sequence[str]) -> str:
    """The footnote that labels sewar metrics, from :func:`benchmark.extmetrics.label`."""
    if not names:
        return ""
    from benchmark.extmetrics import label  # imports sewar: only when a metric is shown

    return "; ".join(label(name) for name in names) + "."


def all_results(summary: pd.DataFrame, variants: dict) -> tuple[Table, list[dict[str, Any]]]:
    """Every summarised group of one protocol (long form), with paper values where known, and a
    column per sewar metric present, labelled in the table's note."""
    extended = extended_in(summary)
    records, html_rows, latex_rows = [], [], []
    for r in summary.itertuples(index=False):
        v = variants[(r.method, r.config, r.weights, r.recipe)]
        paper = paper_cell(v, r.dataset, r.scale)
        rec = {"method": r.method, "label": v.label, "config": r.config, "weights": r.weights,
               "recipe": r.recipe, "comparable": v.comparable, "dataset": r.dataset,
               "scale": int(r.scale), "n_images": r.n_images, "n_failed": r.n_failed,
               "n_seeds": r.n_seeds, "seeds": r.seeds, "psnr": r.psnr, "psnr_std": r.psnr_std,
               "ssim": r.ssim, "ssim_std": r.ssim_std, "ifc": r.ifc, "ifc_missing": r.ifc_missing,
               "seconds": r.seconds, "paper_psnr": paper[0], "paper_ssim": paper[1],
               "diff_psnr": r.psnr - paper[0], "diff_ssim": r.ssim - paper[1], "runs": r.runs,
               **{name: getattr(r, name) for name in extended}}
        records.append(rec)
        html_rows.append({**rec, "dataset_text": _ds(r.dataset), "psnr_text": fmt(r.psnr, 2),
                          "psnr_exact": exact(r.psnr), "ssim_text": fmt(r.ssim, 4),
                          "ssim_exact": exact(r.ssim), "ifc_text": fmt(r.ifc, 3),
                          "paper_text": f"{fmt(paper[0], 2)} / {fmt(paper[1], 4)}",
                          "diff_text": f"{fmt(rec['diff_psnr'], 2, True)} / "
                                       f"{fmt(rec['diff_ssim'], 4, True)}",
                          "seconds_text": fmt(r.seconds, 4),
                          "extended": [fmt(rec[name], 4) for name in extended]})
        latex_rows.append([v.label + ("" if v.comparable else "*"), _ds(r.dataset),
                           f"x{int(r.scale)}", str(int(r.n_images)), fmt(r.psnr, 2),
                           fmt(r.ssim, 4), fmt(r.ifc, 3), fmt(paper[0], 2), fmt(paper[1], 4),
                           *(fmt(rec[name], 4) for name in extended)])
    columns = ["method", "label", "config", "weights", "recipe", "comparable", "dataset", "scale",
               "n_images", "n_failed", "n_seeds", "seeds", "psnr", "psnr_std", "ssim", "ssim_std",
               "ifc", "ifc_missing", "seconds", "paper_psnr", "paper_ssim", "diff_psnr",
               "diff_ssim", "runs", *extended]
    table = Table(
        "results", "All results: means per method x dataset x scale",
        "Means of per-image values over rows with status ok; seconds = forward pass per image.",
        pd.DataFrame(records, columns=columns),
        [("Method", "l"), ("Dataset", "l"), ("Scale", "c"), ("n", "r"), ("PSNR", "r"),
         ("SSIM", "r"), ("IFC", "r"), ("paper PSNR", "r"), ("paper SSIM", "r"),
         *((name, "r") for name in extended)], latex_rows, note=extended_note(extended))
    return table, html_rows


#: cost_table keys of the compute table, in its column order.
COST_COLUMNS = ["depth", "params", "conv_weights", "macs_per_pixel", "flops_per_pixel",
                "gmacs_288x288", "gflops_288x288", "gmacs_1280x720", "gflops_1280x720"]


def _macs_text(macs: float, plain: float, ensemble: str, passes: int) -> str:
    """``"664,704"``; for a self-ensemble ``"5,317,632 = 8 x 664,704 (x8 self-ensemble)"``."""
    if not ensemble or fmt(macs, 0) == "n/a":
        return fmt_count(macs)
    return f"{fmt_count(macs)} = {passes} x {fmt_count(plain)} ({ensemble} self-ensemble)"


def compute_table(variants: dict) -> tuple[Table, list[dict[str, Any]]]:
    """Multiply-adds, FLOPs and parameters of every variant
    (:func:`benchmark.modelinfo.cost_table`, from each variant's config); a self-ensemble's
    multiply-adds are its plain model's times its passes (8), and its row says so."""
    from benchmark.ensemble import ENSEMBLES
    from benchmark.modelinfo import CONVENTION

    records, html_rows, latex_rows = [], [], []
    for v in sorted(variants.values(), key=_order):
        cost = _cost(v.model, v.config, v.ensemble) or {}
        plain = _cost(v.model, v.config) or {}
        passes = ENSEMBLES.get(v.ensemble, 1)
        rec = {"label": v.label, "method": v.method, "model": v.model, "config": v.config,
               "weights": v.weights, "recipe": v.recipe, "ensemble": v.ensemble, "passes": passes,
               **{k: cost.get(k, math.nan) for k in COST_COLUMNS},
               "plain_macs_per_pixel": plain.get("macs_per_pixel", math.nan),
               "note": f"{v.ensemble} self-ensemble" if v.ensemble else ""}
        records.append(rec)
        macs = _macs_text(rec["macs_per_pixel"], rec["plain_macs_per_pixel"], v.ensemble, passes)
        texts = {"depth_text": fmt_count(rec["depth"]), "params_text": fmt_count(rec["params"]),
                 "conv_text": fmt_count(rec["conv_weights"]), "macs_text": macs,
                 "gmacs_text": fmt(rec["gmacs_288x288"], 2),
                 "gflops_text": fmt(rec["gflops_1280x720"], 1),
                 "macs_exact": exact(rec["macs_per_pixel"])}
        html_rows.append({**rec, **texts, "comparable": v.comparable})
        latex_rows.append([v.label, texts["params_text"], macs, texts["gmacs_text"],
                           texts["gflops_text"]])
    columns = ["label", "method", "model", "config", "weights", "recipe", "ensemble", "passes",
               *COST_COLUMNS, "plain_macs_per_pixel", "note"]
    table = Table(
        "compute", "Compute: multiply-adds and parameters per method variant",
        f"{CONVENTION}. A self-ensemble (+, x8) runs 8 forward passes: 8 x its plain model's "
        "multiply-adds, the same parameters. n/a: not a registered model.",
        pd.DataFrame(records, columns=columns),
        [("Method", "l"), ("params", "r"), ("MACs / pixel", "r"), ("GMACs 288x288", "r"),
         ("GFLOPs 1280x720", "r")], latex_rows)
    return table, html_rows


# ------------------------------------------------------------------------------- figures
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


# --------------------------------------------------------------------------- image browser
def _detail_window(gray: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` square with the most gradient energy."""
    h, w = gray.shape
    if h <= size or w <= size:
        return 0, 0
    g = np.zeros_like(gray, dtype=np.float64)
    g[:, 1:] += np.abs(np.diff(gray, axis=1))
    g[1:, :] += np.abs(np.diff(gray, axis=0))
    integral = np.pad(g.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(size // 8, 1)
    ys = np.arange(0, h - size + 1, step)
    xs = np.arange(0, w - size + 1, step)
    top, left = ys[:, None], xs[None, :]
    sums = (integral[top + size, left + size] - integral[top, left + size]
            - integral[top + size, left] + integral[top, left])
    i, j = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(ys[i]), int(xs[j])


def _bicubic_crop(gt: np.ndarray, scale: int, top: int, left: int, size: int) -> np.ndarray:
    """The ``size`` square at (top, left) of the colour bicubic ILR of ``gt``.

    Resizes a window around the crop that starts on the LR grid and reaches 8 LR pixels
    beyond it (where the image allows): MATLAB's bicubic taps reach 2 LR pixels, so the crop
    equals the same crop of the whole image's ILR.
    """
    margin = 8 * scale
    y0, x0 = max(0, (top - margin) // scale * scale), max(0, (left - margin) // scale * scale)
    y1 = min(gt.shape[0], -(-(top + size + margin) // scale) * scale)
    x1 = min(gt.shape[1], -(-(left + size + margin) // scale) * scale)
    window = _bicubic_colour(gt[y0:y1, x0:x1], scale)
    return window[top - y0:top - y0 + size, left - x0:left - x0 + size]


def _bicubic_colour(gt: np.ndarray, scale: int) -> np.ndarray:
    """Colour bicubic ILR: YCbCr planes down and up by MATLAB imresize (Y = the protocol's ILR)."""
    if gt.ndim == 2:
        unit = gt.astype(np.float64) / 255.0
        return imaging.quantize_unit(imaging.imresize(imaging.imresize(unit, 1.0 / scale),
                                                      output_shape=gt.shape))
    ycc = imaging.rgb2ycbcr(gt).astype(np.float64) / 255.0
    up = imaging.imresize(imaging.imresize(ycc, 1.0 / scale), output_shape=gt.shape[:2])
    return imaging.quantize_unit(imaging.ycbcr2rgb(up))


def _thumbnail(image: np.ndarray, box: tuple[int, int, int], path: Path) -> None:
    from PIL import Image, ImageDraw

    pil = Image.fromarray(image).convert("RGB")
    ratio = THUMB_WIDTH / pil.width
    thumb = pil.resize((THUMB_WIDTH, max(1, round(pil.height * ratio))), Image.LANCZOS)
    top, left, size = box
    draw = ImageDraw.Draw(thumb)
    draw.rectangle([left * ratio, top * ratio, (left + size) * ratio - 1,
                    (top + size) * ratio - 1], outline=(255, 40, 40), width=2)
    thumb.save(path, format="PNG")


def _saved_image(run_dir: Path, method: str, dataset: str, scale: int, image: str) -> Path | None:
    """``<run>/images/<method>/<dataset>/x<scale>/<image>.png`` if present and inside the run."""
    base = (run_dir / "images").resolve()
    path = (run_dir / "images" / method / dataset / f"x{scale}" / f"{image}.png")
    try:
        resolved = path.resolve()
        resolved.relative_to(base)
    except (OSError, ValueError):
        return None
    return resolved if resolved.is_file() else None


def _gt_refs(dataset: str, roots: list[Path]) -> tuple[dict[str, data.ImageRef], str]:
    problem = ""
    for root in roots:
        try:
            refs = data.list_images(dataset, root, offline=True, verify=False, progress=False)
            return {ref.name: ref for ref in refs}, ""
        except (data.DatasetError, KeyError, OSError, ValueError) as exc:
            problem = str(exc)
    return {}, problem


def image_browser(
    selected: pd.DataFrame,
    variants: dict,
    runs: dict[str, RunInfo],
    out: Path,
    *,
    data_root: Path | None,
    limit: int = 40,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Crops of GT, bicubic and every method with a saved SR image, per browsed image.

    Browsed: :data:`BROWSE_DATASETS` at x3 (else the smallest scale present) and every
    (dataset, scale, image) for which a run saved SR images, at most ``limit`` images.
    """
    notes: list[str] = []
    if selected.empty:
        return [], notes
    rows = selected[selected["status"] == "ok"]
    wanted: dict[tuple[str, int], set[str]] = {}
    for dataset in BROWSE_DATASETS:
        scales = sorted(set(rows.loc[rows["dataset"] == dataset, "scale"]))
        if scales:
            scale = BROWSE_SCALE if BROWSE_SCALE in scales else scales[0]
            names = rows.loc[(rows["dataset"] == dataset) & (rows["scale"] == scale), "image"]
            wanted[(dataset, scale)] = set(names)
    saved: dict[tuple[str, str, str, str, str, int, str], Path] = {}
    for run_name in rows["_run"].unique():
        run = runs[run_name]
        if not (run.path / "images").is_dir():
            continue
        part = rows[rows["_run"] == run_name]
        for r in part[[*VARIANT, "dataset", "scale", "image"]].drop_duplicates().itertuples(
                index=False):
            path = _saved_image(run.path, r.method, r.dataset, int(r.scale), r.image)
            if path is not None:
                saved[(r.method, r.config, r.weights, r.recipe, r.dataset, int(r.scale),
                       r.image)] = path
                wanted.setdefault((r.dataset, int(r.scale)), set()).add(r.image)
    def rank(key: tuple[str, int]) -> tuple:
        dataset, scale = key
        known = BROWSE_DATASETS.index(dataset) if dataset in BROWSE_DATASETS else len(
            BROWSE_DATASETS)
        return (known, dataset, scale)

    items = [(d, s, i) for (d, s) in sorted(wanted, key=rank) for i in sorted(wanted[(d, s)])]
    if len(items) > limit:
        notes.append(f"Showing the first {limit} of the {len(items)} images with saved SR "
                     "images (Set5 and Set14 first); `report --browse-limit N` shows more.")
        items = items[:limit]
    metrics = rows.groupby([*VARIANT, "dataset", "scale", "image"], sort=False)[
        ["psnr", "ssim"]].mean()
    refs_cache: dict[str, dict[str, data.ImageRef]] = {}
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    for dataset, scale, image in items:
        if dataset not in refs_cache:
            roots = [data_root] if data_root is not None else []
            roots += [Path(r.meta["data_root"]) for r in runs.values()
                      if r.meta.get("data_root") and dataset in r.meta.get("datasets", [dataset])]
            roots.append(data.resolve_data_root(None))
            refs_cache[dataset], problem = _gt_refs(dataset, list(dict.fromkeys(roots)))
            if problem:
                notes.append(f"{dataset}: ground truth not available ({problem}); GT and "
                             "bicubic crops left out")
        group = groups.setdefault((dataset, scale), {
            "title": f"{_ds(dataset)} x{scale}", "anchor": slug(f"browse-{dataset}-x{scale}"),
            "images": []})
        entry = _browse_one(dataset, scale, image, refs_cache[dataset].get(image), variants,
                            saved, metrics, out)
        if entry is not None:
            group["images"].append(entry)
    return [g for g in groups.values() if g["images"]], notes


def _browse_one(dataset: str, scale: int, image: str, ref: data.ImageRef | None,
                variants: dict, saved: dict, metrics: pd.DataFrame, out: Path) -> dict | None:
    folder_rel = f"browser/{slug(dataset)}-x{scale}/{slug(image)}"
    folder = out / folder_rel
    mine = {k: p for k, p in saved.items() if k[4:] == (dataset, scale, image)}
    gt = None
    if ref is not None:
        try:
            gt = imaging.modcrop(ref.load(), scale)
        except Exception:
            gt = None
    base = gt if gt is not None else (imaging.read_image(next(iter(mine.values())))
                                      if mine else None)
    if base is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    gray = imaging.rgb2y(base) if base.ndim == 3 else base
    size = min(CROP, *gray.shape)
    top, left = _detail_window(gray.astype(np.float64), size)

    def crop(arr: np.ndarray, name: str) -> str:
        imaging.write_image(folder / f"{name}.png",
                            np.ascontiguousarray(arr[top:top + size, left:left + size]))
        return f"{folder_rel}/{name}.png"

    def scores(key: tuple) -> tuple[str, str]:
        try:
            psnr, ssim = metrics.loc[(*key, dataset, scale, image)]
        except KeyError:
            return "n/a", "n/a"
        return fmt(psnr, 2), fmt(ssim, 4)

    panels: list[dict[str, Any]] = []
    _thumbnail(base, (top, left, size), folder / "thumb.png")
    if gt is not None:
        panels.append({"title": "GT", "src": crop(gt, "gt"), "psnr": "", "ssim": "",
                       "comparable": True, "kind": "ref", "note": ""})
    bicubic_keys = [k for k in variants if k[0] == "bicubic"]
    bic_saved = [k for k in bicubic_keys if (*k, dataset, scale, image) in mine]
    if gt is not None and not bic_saved:
        psnr, ssim = scores(bicubic_keys[0]) if bicubic_keys else ("n/a", "n/a")
        bicubic = np.zeros_like(gt)
        bicubic[top:top + size, left:left + size] = _bicubic_crop(gt, scale, top, left, size)
        panels.append({"title": "Bicubic", "src": crop(bicubic, "bicubic"),
                       "psnr": psnr, "ssim": ssim, "comparable": True, "kind": "ref",
                       "note": ""})
    listed: list[dict[str, Any]] = []
    for key, variant in sorted(variants.items(), key=lambda kv: _order(kv[1])):
        psnr, ssim = scores(key)
        if psnr == "n/a" and ssim == "n/a" and (*key, dataset, scale, image) not in mine:
            continue
        path = mine.get((*key, dataset, scale, image))
        entry = {"title": variant.label, "psnr": psnr, "ssim": ssim,
                 "comparable": variant.comparable, "kind": "method", "note": ""}
        if path is not None:
            arr = imaging.read_image(path)
            if arr.shape[:2] != base.shape[:2]:
                entry["note"] = f"saved image is {arr.shape[1]}x{arr.shape[0]}, GT is " \
                                f"{base.shape[1]}x{base.shape[0]}"
                listed.append(entry)
                continue
            entry["src"] = crop(arr, f"m-{slug(variant.method, 24)}-{variant.uid}")
            panels.append(entry)
        elif variant.method != "bicubic" or bic_saved:
            listed.append(entry)
    return {"name": image, "anchor": slug(f"img-{dataset}-x{scale}-{image}"),
            "thumb": f"{folder_rel}/thumb.png", "panels": panels, "listed": listed,
            "crop": f"{size}x{size} px at ({left}, {top})",
            "size": f"{base.shape[1]}x{base.shape[0]}", "has_gt": gt is not None}


# ------------------------------------------------------------------------ training curves
def find_training_logs(weights_dirs: Iterable[Path]) -> list[Path]:
    """Trainer logs (``<stem>.csv`` with ``iteration`` and ``loss`` columns), newest first."""
    found: dict[Path, float] = {}
    for folder in weights_dirs:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in folder.glob("*.csv"):
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    header = handle.readline().strip().split(",")
                if {"iteration", "loss"} <= set(header):
                    found[path.resolve()] = path.stat().st_mtime
            except OSError:
                continue
    return sorted(found, key=lambda p: (-found[p], p.name))


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


# ------------------------------------------------------------------------- run metadata
def _run_entries(results: Results, selected: pd.DataFrame) -> list[dict[str, Any]]:
    used = selected["_run"].value_counts().to_dict() if not selected.empty else {}
    rows = results.rows
    entries = []
    for run in sorted(results.runs, key=lambda r: -r.rank):
        part = rows[rows["_run"] == run.name]
        meta = run.meta
        command = meta.get("command")
        if isinstance(command, list):
            argv = [str(c) for c in command]
            if argv and Path(argv[0]).name == "__main__.py" and Path(argv[0]).parent.name == \
                    "benchmark":
                argv = ["python", "-m", "benchmark", *argv[1:]]
            command = shlex.join(argv)
        n_used = int(used.get(run.name, 0))
        seeds = sorted({s for s in part["seed"] if s != "-"}) if "seed" in part else []
        if meta.get("seed") is not None:
            seeds = sorted(set(seeds) | {str(meta["seed"])})
        entries.append({
            "name": run.name, "started": run.started,
            "protocol": ", ".join(sorted(set(part["protocol"]))) or meta.get("protocol", "-"),
            "version": ", ".join(sorted(set(part["version"]))) or str(meta.get("version", "-")),
            "device": ", ".join(sorted(set(part["device"]))) or str(meta.get("device", "-")),
            "dtype": ", ".join(sorted(set(part["dtype"]))),
            "threads": ", ".join(sorted({str(t) for t in part.get("threads", pd.Series())
                                         .dropna()})),
            "methods": ", ".join(sorted(set(part["method"]))),
            "datasets": ", ".join(sorted(set(part["dataset"]))),
            "scales": ", ".join(str(s) for s in sorted(set(part["scale"]))),
            "recipes": ", ".join(sorted(set(part["recipe"]))),
            "weights": ", ".join(sorted(set(part["weights"]))),
            "seeds": ", ".join(seeds) or "-",
            "rows": run.n_rows, "failed": run.n_failed, "used": n_used,
            "state": "current" if n_used == run.n_rows else (
                "superseded" if n_used == 0 else "partly superseded"),
            "wall": fmt(meta.get("wall_seconds"), 1),
            "command": command or "-",
            "problem": run.problem,
        })
    return entries


# ------------------------------------------------------------------------------- build
def default_out_dir(results_dir: str | os.PathLike[str]) -> Path:
    """``reports/`` next to the results folder: ``Path(results_dir).resolve().parent/"reports"``."""
    return Path(results_dir).resolve().parent / "reports"


def default_weights_dirs(results_dir: str | os.PathLike[str]) -> list[Path]:
    """Where training logs are looked for: the default checkpoint folder
    (:func:`benchmark.locations.default_weights_dir`) and ``<results_dir>/../weights``."""
    from benchmark.locations import default_weights_dir

    dirs = [default_weights_dir(), Path(results_dir).resolve().parent / "weights"]
    return list(dict.fromkeys(p.resolve() for p in dirs))


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def _protocol_sections(summary: pd.DataFrame, variants: dict, tables_dir: Path,
                       protocols: list[str]) -> list[dict[str, Any]]:
    sections = []
    for protocol in protocols:
        part = summary[summary["protocol"] == protocol]
        present = {tuple(k) for k in part[VARIANT].itertuples(index=False)}
        mine = {k: v for k, v in variants.items() if k in present}
        suffix = "" if protocol == PROTOCOL else f"-{slug(protocol)}"
        t2, t2_html = table2(part, mine)
        t3, t3_html = table3(part, mine)
        t4, t4_html = table4(part, mine)
        ta, ta_html = all_results(part, mine)
        for table in (t2, t3, t4, ta):
            _write_table(table, tables_dir, suffix)
        extended = extended_in(part)
        sections.append({
            "protocol": protocol, "default": protocol == PROTOCOL,
            "anchor": slug(f"protocol-{protocol}"), "suffix": suffix,
            "table2": t2, "table2_html": t2_html, "table3": t3, "table3_html": t3_html,
            "table4": t4, "table4_html": t4_html, "all": ta, "all_html": ta_html,
            "extended": [{"name": n, "title": extended_note([n])} for n in extended],
        })
    return sections


def _overview(summary: pd.DataFrame, variants: dict) -> list[dict[str, Any]]:
    """Per variant of the default protocol: cells with a paper value and the largest gaps."""
    out = []
    part = summary[summary["protocol"] == PROTOCOL]
    for key, group in part.groupby(VARIANT, sort=False):
        v = variants[tuple(key)]
        diffs_p, diffs_s = [], []
        for r in group.itertuples(index=False):
            paper = paper_cell(v, r.dataset, r.scale)
            if math.isfinite(paper[0]) and math.isfinite(r.psnr):
                diffs_p.append(r.psnr - paper[0])
            if math.isfinite(paper[1]) and math.isfinite(r.ssim):
                diffs_s.append(r.ssim - paper[1])
        out.append({
            "label": v.label, "comparable": v.comparable, "recipe": v.recipe,
            "cells": len(group), "with_paper": len(diffs_p),
            "max_psnr": fmt(max(diffs_p, key=abs) if diffs_p else math.nan, 2, True),
            "max_ssim": fmt(max(diffs_s, key=abs) if diffs_s else math.nan, 4, True),
            "datasets": ", ".join(f"{_ds(d)} x{s}" for d, s in
                                  group[["dataset", "scale"]].itertuples(index=False)),
        })
    out.sort(key=lambda e: e["label"])
    return out


def _build_into(folder: Path, results_dir: Path, *, data_root: Path | None,
                weights_dirs: list[Path], browse_limit: int) -> None:
    started = time.perf_counter()
    results = load_results(results_dir)
    selected, superseded = select_newest(results.rows)
    summary = summarize_variants(selected)
    variants = _variants(summary)
    protocols = sorted(set(summary["protocol"]), key=lambda p: (p != PROTOCOL, p)) or [PROTOCOL]
    if PROTOCOL not in protocols:
        protocols.insert(0, PROTOCOL)
    notes = list(results.problems)
    sections = _protocol_sections(summary, variants, folder / "tables", protocols)
    compute, compute_html = compute_table(variants)
    _write_table(compute, folder / "tables", "")
    default = summary[summary["protocol"] == PROTOCOL]
    figures = make_figures(default, variants, folder / "figures")
    runs = {r.name: r for r in results.runs}
    browse, browse_notes = image_browser(
        selected[selected["protocol"] == PROTOCOL], variants, runs, folder,
        data_root=data_root, limit=browse_limit)
    training, training_notes = training_section(weights_dirs, folder)
    other = [p for p in protocols if p != PROTOCOL]
    label_of = lambda key: variants[tuple(key)].label  # noqa: E731
    signif = report_checks.significance(selected, label_of, folder / "figures")
    alarms = report_checks.warnings_for(
        summary, label_of, lambda key, d, s: paper_cell(variants[key], d, s)[0])
    context = {
        "title": "srbench report",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "version": __version__, "protocol": PROTOCOL, "other_protocols": other,
        "results_dir": str(Path(results_dir).resolve()),
        "n_runs": len(results.runs), "n_rows": len(results.rows), "n_used": len(selected),
        "n_superseded": len(superseded),
        "superseded_runs": sorted(set(superseded["_run"])) if not superseded.empty else [],
        "n_failed": int((selected["status"] != "ok").sum()) if not selected.empty else 0,
        "any_nc": any(not v.comparable for v in variants.values()),
        "overview": _overview(summary, variants), "sections": sections, "figures": figures,
        "browse": browse, "browse_notes": browse_notes, "training": training,
        "training_notes": training_notes,
        "weights_dirs": [str(p) for p in weights_dirs], "runs": _run_entries(results, selected),
        "notes": notes, "empty": results.rows.empty,
        "significance": signif, "alarms": alarms,
        "compute": compute, "compute_html": compute_html,
    }
    html = _environment().get_template("report.html.j2").render(**context)
    (folder / "index.html").write_text(html, encoding="utf-8")
    (folder / MARKER).write_text(
        f"srbench report of {Path(results_dir).resolve()} built in "
        f"{time.perf_counter() - started:.1f} s\n", encoding="utf-8")


def build_report(
    results_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    data_root: str | os.PathLike[str] | None = None,
    weights_dirs: Sequence[str | os.PathLike[str]] | None = None,
    browse_limit: int = 40,
) -> Path:
    """Build the report of every run under ``results_dir`` into ``out_dir``.

    The folder is built next to ``out_dir`` and then swapped in, so a reader never sees a
    half-written report; an existing ``out_dir`` is replaced only if it is an earlier report
    (it holds the ``.srbench-report`` marker) or empty.

    Parameters
    ----------
    results_dir : path
        Folder of run folders (``<run>/per_image.csv``, ``run.json``, ``images/``).
    out_dir : path
        Report folder (``index.html``, ``tables/``, ``figures/``, ``browser/``, ``training/``).
    data_root : path, optional
        Datasets folder for the image browser's GT; default: each run's ``data_root`` from
        ``run.json``, then ``$SRBENCH_DATA`` / ``./datasets``. Never downloads.
    weights_dirs : paths, optional
        Folders searched for training logs; default :func:`default_weights_dirs`.
    browse_limit : int
        Most images in the image browser.

    Returns
    -------
    Path
        ``out_dir / "index.html"``.

    Raises
    ------
    ReportError
        ``out_dir`` exists, holds more than a ``README.md`` and is not a report.
    """
    out = Path(out_dir).resolve()
    kept = [p for p in out.iterdir() if p.name in KEPT_FILES] if out.is_dir() else []
    if out.exists() and (not out.is_dir() or (
            any(p.name not in KEPT_FILES for p in out.iterdir()) and not (out / MARKER).exists())):
        raise ReportError(f"{out} exists and is not an srbench report folder; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    dirs = ([Path(p) for p in weights_dirs] if weights_dirs is not None
            else default_weights_dirs(results_dir))
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
    try:
        os.chmod(tmp, 0o755)
        _build_into(tmp, Path(results_dir), data_root=Path(data_root) if data_root else None,
                    weights_dirs=dirs, browse_limit=browse_limit)
        for path in kept:  # the repository's reports/README.md stays
            shutil.copy2(path, tmp / path.name)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{secrets.token_hex(4)}")
            os.rename(out, old)
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "index.html"


def refresh_report(
    results_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None
) -> Path | None:
    """Rebuild the report after a run; never raises.

    Builds into ``out_dir`` (default :func:`default_out_dir`: ``<results_dir>/../reports``).
    Returns the path of ``index.html``, or ``None`` when ``results_dir`` holds no
    ``per_image.csv`` or the build failed (the reason is printed to stderr).
    """
    try:
        root = Path(results_dir)
        if not root.is_dir() or not any(root.glob("*/per_image.csv")):
            return None
        return build_report(root, out_dir if out_dir is not None else default_out_dir(root))
    except Exception as exc:  # a report must never fail the run that produced the results
        print(f"warning: report not refreshed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def serve(folder: str | os.PathLike[str], port: int = 8000) -> None:
    """Serve ``folder`` on ``http://127.0.0.1:<port>/`` until Ctrl-C."""
    directory = str(Path(folder).resolve())

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=directory, **kwargs)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler) as server:
        print(f"serving {directory} at http://127.0.0.1:{server.server_address[1]}/ "
              "(Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)


def open_in_browser(index: Path) -> bool:
    """Open ``index`` (a file) in the default web browser; False when none is available."""
    return webbrowser.open(Path(index).resolve().as_uri())
