"""Building the report folder: the page's context, the template, the atomic swap, serving.

:func:`build_report` writes the folder; :func:`refresh_report` is its never-raising form for
the end of ``run``; :func:`serve` and :func:`open_in_browser` show it.
"""

from __future__ import annotations

import http.server
import math
import os
import secrets
import shlex
import shutil
import sys
import tempfile
import time
import webbrowser
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from benchmark import PROTOCOL, __version__, interrupts, report_checks
from benchmark.report.browser import image_browser
from benchmark.report.figures import make_figures, training_section
from benchmark.report.load import Results, load_results, select_newest, summarize_variants
from benchmark.report.tables import (
    all_results, compute_table, extended_in, extended_note, table2, table3, table4,
    _write_table)
from benchmark.report.text import _ds, fmt, slug
from benchmark.report.variants import VARIANT, _variants, paper_cell

MARKER = ".srbench-report"
#: Files a report folder may hold before its first build, kept across rebuilds.
KEPT_FILES = frozenset({"README.md"})


class ReportError(RuntimeError):
    """The report cannot be written (e.g. the output folder holds files that are not a report)."""


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
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent.parent / "templates")),
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
        with interrupts.held():  # a Ctrl-C between the renames would leave no report at all
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
