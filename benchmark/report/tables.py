"""The report's tables: Tables 2, 3 and 4, all results and compute, each as CSV and LaTeX.

Each builder returns a :class:`Table` (tidy frame, LaTeX rows) and the rows the HTML template
renders; ``_write_table`` writes the CSV and LaTeX files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from benchmark import data
from benchmark.report.text import _ds, exact, fmt, fmt_count
from benchmark.report.variants import (
    VARIANT, Variant, _compared, _cost, _label, _order, _rank, _spec, paper_cell)
from benchmark.results import EXTENDED
from benchmark.registry import list_methods
from methods import drrn_paper

STANDARD_SETS = data.STANDARD_SETS
TABLE2_ROWS = [(d, s) for d in STANDARD_SETS for s in (2, 3, 4)]
TABLE3_ROWS = [(d, s) for d in ("set5", "set14", "urban100") for s in (2, 3, 4)]


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


def _table2_methods() -> list[str]:
    """The registered methods that are columns of the paper's Table 2, in its order."""
    return sorted((s.name for s in list_methods() if s.roles.table2 is not None), key=_rank)


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

