"""``scripts/gpu_acceptance.py --device cpu --tiny``: the GPU acceptance script's code paths on
tiny sizes, so that it cannot crash on its first GPU. Takes about a minute: slow."""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path

import pytest
import torch

from benchmark import registry

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_acceptance.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("gpu_acceptance", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tiny_cpu_run_writes_every_section(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRBENCH_CACHE", str(tmp_path / "cache"))
    script = _load_script()
    out = tmp_path / "acceptance.json"
    threads = torch.get_num_threads()
    try:
        assert script.main(["--device", "cpu", "--tiny", "--out", str(out),
                            "--weights-dir", str(tmp_path / "weights")]) == 0
    finally:
        torch.set_num_threads(threads)  # --tiny runs on one thread
    report = json.loads(out.read_text())
    assert {"train", "inference", "fast_training", "published", "device"} <= set(report)
    assert report["device"]["device"] == "cpu"
    assert set(report["train"]) == set(script.TRAIN_METHODS)
    for row in report["train"].values():
        assert row["eager_patches_per_s"] > 0 and row["optimised_patches_per_s"] > 0
        assert row["speedup"] == pytest.approx(
            row["optimised_patches_per_s"] / row["eager_patches_per_s"])
    methods = {s.name for s in registry.list_methods()}
    assert methods <= set(report["inference"])
    assert all(report["inference"][m]["eager_ms"] > 0 for m in methods)
    fast = report["fast_training"]
    assert fast["iterations"] == 20 and set(fast["psnr"]) == {"x2", "x3", "x4"}
    assert all(math.isfinite(v) for v in fast["psnr"].values())
    has_reference = bool(os.environ.get("SRBENCH_DATA"))
    for name, row in report["published"].items():
        if row["status"] == "skipped":
            assert "not found" in row["reason"]
            continue
        assert has_reference, name
        assert row["status"] == "ok"  # the CPU against itself: identical
        assert all(abs(d) < script.PUBLISHED_TOLERANCE_DB for d in row["difference_db"].values())
