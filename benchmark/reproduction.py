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


def readme_block(text: str) -> str:
    """The part of README ``text`` between the reproduction markers."""
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip()


def write_readme(readme: str | Path, folder: str | Path) -> None:
    """Replace the README's table with the one the runs under ``folder`` give."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    path.write_text(f"{text[:start]}\n{markdown_table(folder)}\n{text[end:]}", encoding="utf-8")
