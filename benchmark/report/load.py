"""Reading run folders into the report's frames.

:func:`load_results` reads every ``<run>/per_image.csv`` and ``run.json``;
:func:`select_newest` keeps the newest run's rows per result; :func:`summarize_variants`
averages them per variant x dataset x scale; :func:`find_training_logs` finds the trainer's
logs.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from benchmark.results import EXTENDED, canonical_config
from benchmark.report.variants import ENSEMBLE_SUFFIX, VARIANT

#: Rows sharing these values are the same result; the newest run's rows are used.
SELECT_KEY = ["protocol", *VARIANT, "seed", "dataset", "scale"]
_TEXT_COLUMNS = ["run_id", "timestamp", *VARIANT, "dataset", "image", "status", "device",
                 "dtype", "protocol", "version", "seed"]
_NUMBER_COLUMNS = ["psnr", "ssim", "ifc", "seconds"]


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

