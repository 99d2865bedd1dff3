"""Compute accounting: MACs and FLOPs per pixel and at the papers' sizes, params both ways,
measured peak forward memory, and the `methods` table that states them."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from benchmark import cli, modelinfo


def test_vdsr_cost_by_hand() -> None:
    c = modelinfo.cost_table("vdsr")
    macs = 9 * 64 + 18 * 9 * 64 * 64 + 9 * 64  # 20 conv3x3: 1->64, 18 x 64->64, 64->1
    assert c["macs_per_pixel"] == macs == 664_704 and c["flops_per_pixel"] == 2 * macs
    assert c["gmacs_288x288"] == pytest.approx(macs * 288 * 288 / 1e9)
    assert c["gflops_1280x720"] == pytest.approx(2 * macs * 1280 * 720 / 1e9)
    assert c["params"] == c["conv_weights"] + 19 * 64 + 1 == 665_921  # + biases


def test_self_ensemble_costs_eight_passes() -> None:
    plain, x8 = modelinfo.cost_table("vdsr"), modelinfo.cost_table("vdsr", ensemble="x8")
    assert x8["macs_per_pixel"] == 8 * plain["macs_per_pixel"] and x8["params"] == plain["params"]
    assert x8["gflops_288x288"] == pytest.approx(8 * plain["gflops_288x288"])


def test_drrn_params_counted_both_ways() -> None:
    c = modelinfo.cost_table("drrn_b1u25")
    assert c["conv_weights"] == 9 * 128 + 2 * 9 * 128 * 128 + 9 * 128 == 297_216  # the "297K"
    assert c["params"] == 310_659 and c["params"] > c["conv_weights"]  # + per-unit BN


def test_peak_memory_holds_the_live_feature_maps() -> None:
    x = torch.zeros(1, 1, 96, 80)
    plane = 96 * 80 * 4
    one = modelinfo._profiled_peak(nn.Conv2d(1, 64, 3, padding=1).eval(), x)
    assert 64 * plane <= one <= (64 + 9) * plane  # the output, at most an im2col buffer more
    two = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1))
    assert 2 * 64 * plane <= modelinfo._profiled_peak(two.eval(), x) <= (2 * 64 + 9 * 64) * plane
    peak = modelinfo.peak_forward_bytes("srcnn_915", (40, 40), torch.device("cpu"))
    assert peak >= 64 * 40 * 40 * 4  # at least its first 64-channel feature map


def test_methods_table_states_the_convention(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["methods"]) == 0
    out = capsys.readouterr().out
    assert out.count("1 MAC (multiply-add) = 2 FLOPs") == 1
    line = next(l for l in out.splitlines() if l.startswith("drrn_b1u25 "))
    assert "310,659" in line and "297,216" in line and "7,375,104" in line and "14,750,208" in line
    assert cli.main(["methods", "--memory", "--memory-size", "24", "--device", "cpu"]) == 0
    assert "peak MiB: one forward pass on cpu at 24x24 (measured)" in capsys.readouterr().out
