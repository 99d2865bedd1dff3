"""The x8 geometric self-ensemble: transforms, harness rows, summaries kept apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from benchmark import data, ensemble, harness, registry, results


class _Shift(nn.Module):
    """Not equivariant: adds a ramp along the width, so each transform sees another input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.01 * torch.arange(x.shape[3], dtype=x.dtype)


def test_x8_is_the_mean_of_the_eight_mapped_back_outputs() -> None:
    x = torch.rand(1, 1, 5, 7, dtype=torch.float64)
    assert torch.equal(ensemble.apply("", nn.Identity(), x), x)
    assert torch.allclose(ensemble.geometric_x8(nn.Identity(), x), x)
    assert torch.allclose(ensemble.geometric_x8(lambda t: t**2, x), x**2)  # pointwise
    out = ensemble.geometric_x8(_Shift(), x)
    # the ramp, rotated and flipped 8 ways and mapped back, averages to its mean 0.03 ...
    # except that on a 5x7 image the transposed passes see a width of 5 (mean 0.02)
    assert torch.allclose(out, x + (4 * 0.03 + 4 * 0.02) / 8)
    assert len(set(ensemble.TRANSFORMS)) == 8
    with pytest.raises(ValueError, match="unknown ensemble"):
        ensemble.apply("x4", nn.Identity(), x)


def test_harness_rows_carry_the_ensemble_and_summaries_keep_them_apart(tmp_path: Path) -> None:
    refs = data.list_images("sample", offline=True, progress=False)[:2]
    pairs = harness.prepare_pairs({"sample": refs}, [2], cache_dir=tmp_path, jobs=1,
                                  times=harness.StageTimes(), progress=False)
    spec = registry.get_method("bicubic")
    plain = harness.MethodRun(spec, {}, _Shift())
    x8 = harness.MethodRun(spec, {}, _Shift(), ensemble="x8")
    rows = harness.evaluate([plain, x8], pairs, metric_names=("psnr",),
                            device=torch.device("cpu"), progress=False)
    frame = pd.DataFrame(rows)
    assert list(frame["ensemble"]) == ["", "", "x8", "x8"]
    assert (frame["seconds"] > 0).all()
    summary = results.summarize(frame.assign(run_id="r", config="-", weights="-", recipe="-",
                                             ifc=np.nan))
    assert len(summary) == 2 and set(summary["ensemble"]) == {"", "x8"}
    assert summary["psnr"].iloc[0] != summary["psnr"].iloc[1]
    assert np.isnan(summary.loc[summary["ensemble"] == "x8", "paper_psnr"]).all()
    text = results.format_summary(summary)
    assert "\nbicubic+ " in text and "\nbicubic " in text
