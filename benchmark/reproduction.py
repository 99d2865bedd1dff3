"""The README's Reproduction table, made from the committed run folders.

``results/reproduction/<name>/`` holds the run folders of the published models under our
harness; :func:`markdown_table` turns their per-image rows into one Markdown table, ours
beside the paper's value for every (method, dataset, scale) cell. A cell whose run has not
evaluated every image of the set yet is shown as *pending*, never filled in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark import PROTOCOL
from benchmark.registry import get_method
from benchmark.results import load_results

METHODS = ("bicubic", "srcnn_915", "vdsr", "drrn_b1u25")
DATASETS = {"set5": ("Set5", 5), "set14": ("Set14", 14), "bsd100": ("B100", 100),
            "urban100": ("Urban100", 100)}
SCALES = (2, 3, 4)
START, END = "<!-- reproduction:start -->", "<!-- reproduction:end -->"
#: The README's table of our own SRCNN 9-1-5 training against the published weights.
TRAINED_START, TRAINED_END = "<!-- training:start -->", "<!-- training:end -->"
#: Issue 14's goal: each cell within this many dB of the published weights' score.
TRAINED_TOLERANCE = 0.10
TRAINED_CELLS = [(d, s) for d in ("set5", "set14") for s in SCALES]


def collect(folder: str | Path) -> pd.DataFrame:
    """Every ``ok`` drrn-matlab-v1 row of the run folders under ``folder``."""
    frames = [load_results(p.parent) for p in sorted(Path(folder).glob("*/per_image.csv"))]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if rows.empty:
        return rows
    return rows[(rows["status"] == "ok") & (rows["protocol"] == PROTOCOL)]


def _cell(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if np.isfinite(value) else "n/a"


def _signed(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}" if np.isfinite(value) else ""


def markdown_table(folder: str | Path) -> str:
    """The Markdown table (between the README's markers) for the runs under ``folder``."""
    rows = collect(folder)
    lines = ["| method | set | x | n | PSNR | paper | diff | SSIM | paper | diff |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for method in METHODS:
        spec = get_method(method)
        for dataset, (label, size) in DATASETS.items():
            for scale in SCALES:
                paper_psnr, paper_ssim = spec.published.get((dataset, scale), (np.nan, np.nan))
                part = rows[(rows["method"] == method) & (rows["dataset"] == dataset)
                            & (rows["scale"] == scale)] if not rows.empty else rows
                n = len(part)
                head = f"| {method} | {label} | {scale} | {n}/{size} |"
                if n < size:
                    lines.append(f"{head} pending | {_cell(paper_psnr, 2)} | | pending | "
                                 f"{_cell(paper_ssim, 4)} | |")
                    continue
                psnr, ssim = part["psnr"].mean(), part["ssim"].mean()
                lines.append(
                    f"{head} {psnr:.2f} | {_cell(paper_psnr, 2)} | "
                    f"{_signed(psnr - paper_psnr, 2)} | {ssim:.4f} | {_cell(paper_ssim, 4)} | "
                    f"{_signed(ssim - paper_ssim, 4)} |")
    return "\n".join(lines)


def _mean_psnr(rows: pd.DataFrame, method: str, dataset: str, scale: int) -> tuple[float, int]:
    """Mean PSNR of the cell and its image count (NaN when the set is not complete)."""
    part = rows[(rows["method"] == method) & (rows["dataset"] == dataset)
                & (rows["scale"] == scale)] if not rows.empty else rows
    n = len(part)
    return (float(part["psnr"].mean()) if n == DATASETS[dataset][1] else np.nan), n


def trained_table(trained: str | Path, published: str | Path) -> str:
    """Our SRCNN 9-1-5 (``trained``: run folders of ``results/trained``) beside the published
    9-1-5 weights under the same harness (``published``: ``results/reproduction``)."""
    ours_rows, ref_rows = collect(trained), collect(published)
    lines = ["| set | x | ours (srbench-trained) | published 9-1-5 weights | diff | within 0.10 dB |",
             "|---|---|---|---|---|---|"]
    for dataset, scale in TRAINED_CELLS:
        ours, _ = _mean_psnr(ours_rows, "srcnn_915", dataset, scale)
        ref, _ = _mean_psnr(ref_rows, "srcnn_915", dataset, scale)
        diff = ours - ref
        verdict = "pending" if not np.isfinite(diff) else "yes" \
            if abs(diff) <= TRAINED_TOLERANCE else "no (above)" if diff > 0 else "no (below)"
        lines.append(f"| {DATASETS[dataset][0]} | {scale} | {_cell(ours, 2)} | {_cell(ref, 2)} |"
                     f" {_signed(diff, 2)} | {verdict} |")
    return "\n".join(lines)


def readme_block(text: str, start: str = START, end: str = END) -> str:
    """The part of README ``text`` between two markers (default: the reproduction table)."""
    a, b = text.index(start) + len(start), text.index(end)
    return text[a:b].strip()


def write_readme(readme: str | Path, folder: str | Path, trained: str | Path | None = None) -> None:
    """Replace the README's tables with the ones the runs under ``folder`` (and ``trained``)
    give."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    blocks = [(START, END, markdown_table(folder))]
    if trained is not None:
        blocks.append((TRAINED_START, TRAINED_END, trained_table(trained, folder)))
    for start, end, table in blocks:
        a, b = text.index(start) + len(start), text.index(end)
        text = f"{text[:a]}\n{table}\n{text[b:]}"
    path.write_text(text, encoding="utf-8")
