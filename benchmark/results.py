"""Result tables: tidy per-image rows, summaries with published values, atomic writes.

A run folder holds ``per_image.csv`` (one row per method x dataset x scale x image),
``summary.csv`` (means per method x dataset x scale, published values beside ours) and
``run.json`` (metadata). Every file is written to a temporary name and renamed, so a
reader never sees a half-written table, and a run folder is never reused.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from benchmark import PROTOCOL, interrupts
from benchmark.registry import get_method

#: Columns of ``per_image.csv`` in order (extra columns may follow).
PER_IMAGE_COLUMNS = [
    "run_id", "timestamp", "method", "config", "weights", "recipe", "dataset", "scale", "image",
    "psnr", "ssim", "ifc", "seconds", "status", "device", "dtype", "threads", "protocol",
    "version",
]
#: sewar metrics (benchmark.extmetrics.EXTENDED): extra columns when requested.
EXTENDED = ("msssim", "vifp", "scc")
GROUP = ["method", "config", "weights", "recipe", "protocol", "dataset", "scale"]


def config_text(config: Mapping[str, Any]) -> str:
    """The ``config`` cell of a row: the method's full config as compact JSON with sorted
    keys, e.g. ``{"B":1,"U":25,"share":true}``; read back by :func:`parse_config`."""
    return json.dumps(dict(config), sort_keys=True, separators=(",", ":"), default=str)


def parse_config(text: str) -> dict[str, Any]:
    """A ``config`` cell as a dict: the JSON of :func:`config_text`, or the ``k=v,k=v`` text
    rows had before it (values read as Python literals, else kept as text; a comma inside a
    list value stays with the value), or ``-`` / empty for no config.

    Raises
    ------
    ValueError
        Text in neither form.
    """
    text = str(text).strip()
    if text in ("", "-"):
        return {}
    if text.startswith("{"):
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"config {text!r} is not valid JSON ({exc.msg})") from None
        if not isinstance(config, dict):
            raise ValueError(f"config {text!r} is not a JSON object")
        return config
    pairs: dict[str, str] = {}
    last = None
    for token in text.split(","):
        if "=" in token:
            key, value = token.split("=", 1)
            last = key.strip()
            pairs[last] = value.strip()
        elif last is not None:  # "scales=[2, 3]" was split inside the list
            pairs[last] += "," + token
        else:
            raise ValueError(f"config {text!r} is neither JSON nor k=v,k=v")
    return {key: _literal(value) for key, value in pairs.items()}


def canonical_config(text: str) -> str:
    """One text per config: rows written as ``k=v`` (before JSON) become the JSON of
    :func:`config_text`, so that they are the same variant as new rows; a cell in neither form
    is kept as it is."""
    try:
        return config_text(parse_config(text))
    except ValueError:
        return text


def _literal(value: str) -> Any:
    # The old writer used str(): True, None, 9, 0.1, [2, 3] read back as Python literals.
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value


def code_version() -> str:
    """The package version, ``+<git sha12>`` (``.dirty`` when modified) when the code runs
    from srbench's own git checkout (``benchmark.locations.git_commit``), e.g.
    ``0.1.0+1a803db1aa2e``; a PEP 440 local version label."""
    from benchmark import __version__
    from benchmark.locations import git_commit

    sha = git_commit()
    return f"{__version__}+{sha}" if sha else __version__


#: ``run.json`` library label -> the distributions that provide it (first installed wins).
_LIBRARIES = {"torch": ("torch",), "numpy": ("numpy",), "scipy": ("scipy",),
              "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python"),
              "scikit-image": ("scikit-image",), "pandas": ("pandas",)}


def environment() -> dict[str, Any]:
    """What ran the code, for ``run.json``: Python, the numeric libraries and the processors.

    Library versions come from the installed distributions (None when absent); ``gpu`` is the
    CUDA device torch sees, None without one.
    """
    from importlib import metadata

    libraries: dict[str, str | None] = {}
    for label, distributions in _LIBRARIES.items():
        libraries[label] = None
        for name in distributions:
            try:
                libraries[label] = metadata.version(name)
                break
            except metadata.PackageNotFoundError:
                continue
    return {"python": platform.python_version(), **libraries, "cpu": _cpu_model(),
            "gpu": _gpu_model()}


def _cpu_model() -> str:
    try:  # platform.processor() is empty or just the architecture on Linux
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_model() -> str | None:
    torch = sys.modules.get("torch")  # a command that never loaded torch used no GPU
    if torch is None or not torch.cuda.is_available():
        return None
    return str(torch.cuda.get_device_name())


@dataclass
class RunStamp:
    """What every row of one run carries: its run id, one timestamp and the code version
    (the one stamper of ``run``, ``score`` and ``ablate``)."""

    run_id: str
    version: str = field(default_factory=lambda: code_version())
    timestamp: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def apply(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Stamp ``rows`` in place; returns them."""
        for row in rows:
            row.update(run_id=self.run_id, timestamp=self.timestamp, version=self.version)
        return rows

    def fields(self) -> dict[str, str]:
        return {"run_id": self.run_id, "timestamp": self.timestamp, "version": self.version}


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    atomic_write_files({path: text})


def atomic_write_files(texts: Mapping[Path, str]) -> None:
    """Write each text to a temporary file beside its path, then rename them all, in order.

    Every file is complete on disk before the first rename, so the files change together
    but for the instants between renames (a SIGKILL there leaves the earlier ones new).
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in texts.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            staged.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` as CSV atomically (full float precision)."""
    atomic_write_text(path, csv_text(frame))


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as the CSV text of every table written here (full float precision)."""
    return frame.to_csv(index=False, float_format="%.10g")


def new_run_dir(results_dir: Path, label: str = "run") -> tuple[str, Path]:
    """Create a fresh run folder ``<results_dir>/<UTC time>-<label>-<random>``; never reuse one."""
    results_dir.mkdir(parents=True, exist_ok=True)
    while True:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        run_id = f"{stamp}-{label}-{secrets.token_hex(3)}"
        path = results_dir / run_id
        try:
            path.mkdir()
            return run_id, path
        except FileExistsError:
            continue


def summarize(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean per method x config x protocol x dataset x scale, with published values.

    Rows of different protocols are never averaged together (``protocol`` is in ``GROUP``),
    and published values (drrn-matlab-v1 figures) are shown only beside drrn-matlab-v1 rows.

    Dataset figures are means of per-image values (PSNR included), as in the protocol.
    Rows whose status is not ``ok`` are left out of the means and counted in ``n_failed``;
    a group with no ``ok`` row is still listed, with ``n_images`` 0 and NaN means.
    """
    per_image, group = _with_ensemble(per_image)
    ok = per_image[per_image["status"] == "ok"]
    failed = per_image[per_image["status"] != "ok"].groupby(group, dropna=False).size()
    grouped = ok.groupby(group, dropna=False, sort=False)
    summary = grouped.agg(
        n_images=("image", "size"),
        psnr=("psnr", "mean"),
        ssim=("ssim", "mean"),
        ifc=("ifc", "mean"),
        ifc_missing=("ifc", lambda s: int(s.isna().sum())),
        seconds=("seconds", "mean"),
    ).reset_index()
    extended = [c for c in EXTENDED if c in ok.columns]
    if extended:  # sewar metrics requested with --metrics: means beside the protocol's
        means = grouped[extended].mean().reset_index()
        summary = summary.merge(means, on=group, how="left")
    # A group whose every row failed keeps its line (n_images 0, means NaN, n_failed > 0).
    keys = per_image[group].drop_duplicates()
    summary = keys.merge(summary, on=group, how="left").reset_index(drop=True)
    counts = ["n_images", "ifc_missing"]
    summary[counts] = summary[counts].fillna(0).astype(int)
    summary["n_failed"] = [
        int(failed.get(tuple(row[c] for c in group), 0)) for _, row in summary.iterrows()
    ]
    paper_psnr, paper_ssim = [], []
    for _, row in summary.iterrows():
        # Published values are drrn-matlab-v1 figures: no comparison across protocols.
        # ... and of plain models: an ensemble row has no published cell.
        published = (
            published_cell(row["method"], row["dataset"], int(row["scale"]))
            if row["protocol"] == PROTOCOL and not row.get("ensemble", "") else (np.nan, np.nan)
        )
        paper_psnr.append(published[0])
        paper_ssim.append(published[1])
    summary["paper_psnr"] = paper_psnr
    summary["paper_ssim"] = paper_ssim
    summary["diff_psnr"] = summary["psnr"] - summary["paper_psnr"]
    summary["diff_ssim"] = summary["ssim"] - summary["paper_ssim"]
    return summary


def _with_ensemble(per_image: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rows with ``ensemble`` ("" for plain rows, NaN read from CSV too) and the grouping keys:
    ``GROUP`` plus ``ensemble`` when the rows carry it, so ensemble and plain rows never mix."""
    if "ensemble" not in per_image.columns:
        return per_image, GROUP
    ensemble = per_image["ensemble"].astype(object).where(per_image["ensemble"].notna(), "")
    per_image = per_image.assign(ensemble=ensemble.astype(str))
    return per_image, GROUP + ["ensemble"]


def method_label(row: Any) -> str:
    """The method's name, with ``+`` for a self-ensemble row (``vdsr+``)."""
    ensemble = row.get("ensemble", "") if hasattr(row, "get") else ""
    return f"{row['method']}+" if isinstance(ensemble, str) and ensemble else str(row["method"])


def published_cell(method: str, dataset: str, scale: int) -> tuple[float, float]:
    """Published (psnr, ssim) of a method, NaN where the paper has no such cell.

    A model trained with a reduced recipe is not the published model: its paper cell is
    shown all the same (it is what the user compares against) and the row's recipe column
    says which recipe produced it.
    """
    try:
        spec = get_method(method)
    except KeyError:
        return (np.nan, np.nan)
    return spec.published.get((dataset, scale), (np.nan, np.nan))


def format_summary(summary: pd.DataFrame) -> str:
    """A Table-2-style text table: ours, the paper's value and the difference.

    Rows of different protocols are never tabulated together: a summary holding several
    protocols gives one table per protocol, each headed by ``protocol: <name>``.
    """
    if summary.empty:
        return "(no results)"
    if "protocol" in summary.columns and summary["protocol"].nunique(dropna=False) > 1:
        return "\n\n".join(
            f"protocol: {name}\n{format_summary(part)}"
            for name, part in summary.groupby("protocol", dropna=False, sort=False)
        )

    def num(value: float, digits: int, signed: bool = False) -> str:
        if value is None or not np.isfinite(value):
            return "n/a"
        return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"

    labels = [method_label(row) for _, row in summary.iterrows()]
    mw = max(14, *(len(m) for m in labels))
    rw = max(8, *(len(str(r)) for r in summary["recipe"]))
    dw = max(9, *(len(str(d)) for d in summary["dataset"]))
    header = (
        f"{'method':<{mw}} {'recipe':<{rw}} {'dataset':<{dw}} {'x':>2} {'n':>4} "
        f"{'PSNR':>7} {'paper':>7} {'diff':>6}  {'SSIM':>7} {'paper':>7} {'diff':>8}  "
        f"{'IFC':>6}  {'s/img':>7}"
    )
    lines = [header, "-" * len(header)]
    for label, (_, row) in zip(labels, summary.iterrows()):
        flag = f"  ({int(row['n_failed'])} failed)" if row.get("n_failed", 0) else ""
        lines.append(
            f"{label:<{mw}} {str(row['recipe']):<{rw}} {row['dataset']:<{dw}} "
            f"{int(row['scale']):>2} {int(row['n_images']):>4} "
            f"{num(row['psnr'], 2):>7} {num(row['paper_psnr'], 2):>7} "
            f"{num(row['diff_psnr'], 2, True):>6}  {num(row['ssim'], 4):>7} "
            f"{num(row['paper_ssim'], 4):>7} {num(row['diff_ssim'], 4, True):>8}  "
            f"{num(row['ifc'], 3):>6}  {num(row['seconds'], 4):>7}{flag}"
        )
    return "\n".join(lines + _extended_lines(summary))


def _extended_lines(summary: pd.DataFrame) -> list[str]:
    """One line per sewar metric in the summary, labelled as not part of the protocol."""
    from benchmark.extmetrics import label

    lines = []
    for name in (c for c in EXTENDED if c in summary.columns):
        cells = ", ".join(
            f"{method_label(row)} {row['dataset']} x{int(row['scale'])} "
            + (f"{row[name]:.4f}" if np.isfinite(row[name]) else "n/a")
            for _, row in summary.iterrows())
        lines.append(f"{label(name)}: {cells}")
    return [""] + lines if lines else []


def write_run(run_dir: Path, rows: Iterable[dict[str, Any]], meta: dict[str, Any]) -> pd.DataFrame:
    """Write ``per_image.csv``, ``summary.csv`` and ``run.json`` atomically; return the summary.

    ``run.json`` gains ``metric_labels`` (name -> :func:`benchmark.extmetrics.label`) when the
    rows hold sewar metrics: the CSV columns are bare names, a CSV has no place for a label;
    and ``environment`` (:func:`environment`) unless ``meta`` has it. Ctrl-C is held until
    the three are in place; they are renamed together (:func:`atomic_write_files`),
    ``per_image.csv`` last, so that a folder never holds one without the other two.
    """
    per_image = per_image_frame(rows)
    summary = summarize(per_image)
    extended = [c for c in EXTENDED if c in per_image.columns]
    if extended:
        from benchmark.extmetrics import label

        meta = {**meta, "metric_labels": {name: label(name) for name in extended}}
    meta = {**meta, "environment": meta.get("environment") or environment()}
    with interrupts.held():
        atomic_write_files({
            run_dir / "summary.csv": csv_text(summary),
            run_dir / "run.json": json.dumps(meta, indent=2, default=str) + "\n",
            run_dir / "per_image.csv": csv_text(per_image),
        })
    return summary


#: Column types of ``per_image.csv``: names stay strings (BSD100's ``101085`` is no int).
DTYPES = {"run_id": "string", "timestamp": "string", "method": "string", "config": "string",
          "weights": "string", "recipe": "string", "dataset": "string", "scale": "int64",
          "image": "string", "psnr": "float64", "ssim": "float64", "ifc": "float64",
          "seconds": "float64", "status": "string", "device": "string", "dtype": "string",
          "threads": "Int64", "protocol": "string", "version": "string"}


def per_image_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a frame in the ``per_image.csv`` column order (extra columns after)."""
    per_image = pd.DataFrame(list(rows))
    extra = [c for c in per_image.columns if c not in PER_IMAGE_COLUMNS]
    return per_image.reindex(columns=PER_IMAGE_COLUMNS + extra)


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the column types of ``DTYPES`` (text as str objects, NaN for missing)."""
    frame = frame.copy()
    for column, dtype in DTYPES.items():
        if column not in frame.columns:
            continue
        if dtype == "string":
            frame[column] = pd.Series([None if pd.isna(v) else str(v) for v in frame[column]],
                                      index=frame.index, dtype=object)
        elif dtype == "Int64":
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
        else:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(dtype)
    return frame


def load_results(path: str | Path) -> pd.DataFrame:
    """The rows of a run folder (or a ``per_image.csv``) with the explicit column types of
    ``DTYPES`` and canonical config cells (:func:`canonical_config`); missing values are
    NaN / <NA>; an empty frame for a run with no rows yet."""
    path = Path(path)
    csv = path / "per_image.csv" if path.is_dir() else path
    if not csv.is_file():
        return pd.DataFrame(columns=PER_IMAGE_COLUMNS)
    text = [k for k, v in DTYPES.items() if v == "string"]
    frame = typed(pd.read_csv(csv, dtype={k: str for k in text}, keep_default_na=False,
                              na_values=[""]))
    if "config" in frame:  # a resumed run rewrites rows of before JSON in the new form
        frame["config"] = [c if c is None else canonical_config(c) for c in frame["config"]]
    return frame
