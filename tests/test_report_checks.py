"""The report's significance section, difference plot and integrity warnings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark import PROTOCOL, report, results


def _run(root: Path, name: str, method: str, psnr: list[float], **extra: str) -> None:
    n = len(psnr)
    extra = dict(extra)
    frame = pd.DataFrame({
        "run_id": name, "timestamp": f"2026-01-0{len(name) % 9 + 1}T00:00:00", "method": method,
        "config": extra.pop("config", "-"), "weights": "-", "recipe": "published" if method != "bicubic" else "-",
        "dataset": "set5", "scale": 2, "image": [f"img{i}" for i in range(n)], "psnr": psnr,
        "ssim": [0.9] * n, "ifc": float("nan"), "seconds": 0.1, "status": "ok", "device": "cpu",
        "dtype": "float32", "threads": 1, "protocol": PROTOCOL, "version": "x", **extra,
    })
    (root / name).mkdir(parents=True)
    results.atomic_write_csv(root / name / "per_image.csv", frame)


def test_report_has_significance_plot_and_warnings(tmp_path: Path) -> None:
    res = tmp_path / "results"
    base = [33.0, 34.0, 32.5, 35.0, 33.8]
    _run(res, "r1", "bicubic", base)
    _run(res, "r2", "vdsr", [p + 2.9 + 0.1 * i for i, p in enumerate(base)],
         config="channels=64,depth=20")  # the registered config: 1.67 dB below the paper
    _run(res, "r3", "srcnn", [p + 0.05 for p in base])  # a silent training failure
    _run(res, "r4", "drrn_b1u9", [p + 4.0 for p in base], ensemble="x8")
    index = report.build_report(res, tmp_path / "out")
    html = index.read_text(encoding="utf-8")
    section = html[html.index('id="significance"'):html.index('id="browser"')]
    assert "better than the baseline" in section and "VDSR" in section
    assert "srcnn (published) on set5 x2: 33.71 dB is within 0.1 dB of bicubic (33.66 dB)" in section
    assert "vdsr (published) on set5 x2: 36.76 dB is 0.77 dB below its published 37.53" in section
    assert "DRRN_B1U9+" not in section and "drrn_b1u9+" not in section  # x8 never vs plain
    assert (tmp_path / "out" / "figures" / "significance.png").stat().st_size > 1000
