"""Architecture tests for the SRCNN, VDSR, DRCN and DRRN families (tiny configs, CPU, fast)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmark.modelinfo import model_stats
from benchmark.registry import create_model, get_method, list_methods
from benchmark.tiling import forward_tiled, receptive_radius
from methods.drrn import DRRN

DATASETS = {"set5", "set14", "bsd100", "urban100"}
NEW_METHODS = {
    "srcnn": "srcnn", "srcnn_915": "srcnn", "vdsr": "vdsr", "drcn": "drcn",
    "drrn": "drrn", "drrn_b1u9": "drrn", "drrn_b1u25": "drrn", "drrn_ns": "drrn",
    "drrn_c": "drrn", "drrn_ns_c": "drrn", "vdsr_bn": "drrn",
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_weights(model: nn.Module) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))


def conv_calls(model: nn.Module, x: torch.Tensor) -> int:
    calls = 0

    def hook(*_):
        nonlocal calls
        calls += 1

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return calls


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters, so BN bugs show in eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)
    return model


def tiny_drrn(**kw) -> DRRN:
    torch.manual_seed(0)
    cfg = {"B": 2, "U": 3, "channels": 8, **kw}
    return randomize_bn(create_model("drrn", **cfg)).eval()


# ---------------------------------------------------------------------------------------------
# Registry entries


def test_all_methods_registered_with_family():
    names = {s.name: s.family for s in list_methods()}
    for name, family in NEW_METHODS.items():
        assert names.get(name) == family, name


@pytest.mark.parametrize("name", sorted(NEW_METHODS))
def test_spec_fields(name):
    spec = get_method(name)
    assert spec.trainable and spec.description and spec.label
    for (dataset, scale), (psnr, ssim) in spec.published.items():
        assert dataset in DATASETS and scale in (2, 3, 4)
        assert 20 < psnr < 45 and (math.isnan(ssim) or 0.5 < ssim < 1)
    assert spec.recipe, "every trainable method carries its paper recipe"


def test_published_cells():
    assert get_method("vdsr").published[("set5", 2)] == (37.53, 0.9587)
    assert get_method("drcn").published[("urban100", 4)] == (25.14, 0.7510)
    assert get_method("drrn").published == get_method("drrn_b1u25").published
    assert get_method("drrn").published[("set14", 3)] == (29.96, 0.8349)
    assert set(get_method("drrn_b1u9").published) == {("set5", 2), ("set5", 3), ("set5", 4)}
    assert get_method("srcnn").published[("set5", 3)] == (32.75, 0.9090)
    assert get_method("srcnn_915").published == {}  # ECCV 32.39 is another protocol
    assert get_method("vdsr_bn").published == {}
    assert get_method("drrn_ns").published[("set5", 3)][0] == 33.97
    assert math.isnan(get_method("drrn_ns").published[("set5", 3)][1])


def test_drrn_recipe_defaults():
    for name in ("drrn", "drrn_b1u9", "drrn_ns", "vdsr_bn"):
        r = get_method(name).recipe
        assert (r["patch_size"], r["stride"], r["batch_size"]) == (31, 21, 128)
        assert r["lr"] == 0.1 and r["clip"] == "global_norm" and r["clip_theta"] == 0.01
    assert get_method("drrn_b1u9").recipe["epochs"] == 71
    assert get_method("drrn").recipe["epochs"] == 101


def test_ablation_defaults():
    for name in ("drrn_ns", "drrn_c", "drrn_ns_c"):
        cfg = get_method(name).config
        assert (cfg["B"], cfg["U"], cfg["channels"]) == (3, 4, 128)
    assert get_method("drrn_ns").config["share"] is False
    assert get_method("drrn_c").config["multipath"] is False
    assert create_model("vdsr_bn").depth == 28
    assert create_model("drrn_ns").depth == 28


# ---------------------------------------------------------------------------------------------
# Parameter counts and depth


@pytest.mark.parametrize(
    "name, params", [("vdsr", 665_921), ("srcnn", 57_281), ("srcnn_915", 8_129), ("drcn", 1_775_121)]
)
def test_param_counts(name, params):
    assert n_params(create_model(name)) == params


def test_drcn_conv_weights_match_paper():
    # The paper's 1,774K counts conv weights (biases and the 16 ensemble weights add 1,041).
    assert conv_weights(create_model("drcn")) == 1_774_080


@pytest.mark.parametrize(
    "B, U, expected",
    [(1, 1, 297_216), (1, 9, 297_216), (1, 25, 297_216), (1, 3, 297_216), (3, 4, 1_181_952),
     (17, 1, 7_375_104)],
)
def test_drrn_conv_weights(B, U, expected):
    model = create_model("drrn", B=B, U=U)
    assert conv_weights(model) == expected == 2_304 + 147_456 * (3 * B - 1)


def test_drrn_ns_and_plain_stack_have_equal_weights():
    # Ablation fairness (paper Sec. 4.4): DRRN_NS and the plain stack share depth and size.
    assert conv_weights(create_model("drrn_ns")) == conv_weights(create_model("vdsr_bn"))
    assert conv_weights(create_model("drrn_ns")) == 2_304 + 147_456 * 26


@pytest.mark.parametrize("B, U", [(1, 0), (1, 1), (1, 9), (2, 3), (3, 4)])
def test_drrn_depth_formula_and_conv_calls(B, U):
    model = create_model("drrn", B=B, U=U, channels=4).eval()
    assert model.depth == (1 + 2 * U) * B + 1
    assert conv_calls(model, torch.zeros(1, 1, 5, 5)) == model.depth


def test_depths():
    assert create_model("vdsr").depth == 20
    assert create_model("drcn").depth == 20
    assert create_model("srcnn").depth == 3
    assert create_model("drrn_b1u9").depth == 20
    assert create_model("drrn").depth == 52


def test_model_stats():
    assert model_stats("drrn") == {
        "depth": 52, "params": 310_659, "conv_weights": 297_216, "macs_per_pixel": 7_375_104
    }
    # recursions are counted each time they run: B1U25 costs as much as the unshared B17U1
    assert model_stats("drrn")["macs_per_pixel"] == conv_weights(create_model("drrn", B=17, U=1))
    assert model_stats("vdsr")["macs_per_pixel"] == 664_704
    drcn = model_stats("drcn")
    # embedding 1->F, F->F; 16 x inference; 16 x reconstruction (F->F, F->1)
    assert drcn["macs_per_pixel"] == 2_304 + 589_824 * (1 + 16 + 16) + 2_304 * 16
    assert model_stats("drrn", U=9)["depth"] == 20


# ---------------------------------------------------------------------------------------------
# Shapes and forward semantics


@pytest.mark.parametrize("name", sorted(NEW_METHODS))
def test_same_size_output(name):
    model = create_model(name).eval()
    x = torch.rand(2, 1, 11, 13)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()


def test_create_model_overrides():
    model = create_model("drrn", B=2, U=3, channels=16, bn=False, bias=False)
    assert (model.B, model.U, model.depth) == (2, 3, 15)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))
    with pytest.raises(TypeError, match="unknown option"):
        create_model("drrn", depth=3)
    with pytest.raises(ValueError):
        create_model("drrn", relu_skip=True)  # ReLU-only port option needs bn=False
    assert create_model("srcnn", f2=1).conv2.kernel_size == (1, 1)
    assert create_model("drcn", recursions=3, channels=8).recursions == 3


def test_he_init_and_zero_bias():
    model = create_model("vdsr")
    w = model.convs[5].weight
    assert abs(w.std().item() - math.sqrt(2 / (64 * 9))) < 0.002
    assert all((c.bias == 0).all() for c in model.convs)


def reference_drrn(model: DRRN, x: torch.Tensor) -> torch.Tensor:
    """The paper's equations written out with functional ops (eval-mode BN)."""

    def act(pre, t):
        bn = pre.bn
        if isinstance(bn, nn.BatchNorm2d):
            t = F.batch_norm(t, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        return F.relu(t)

    h = x
    for blk in model.blocks:
        h0 = blk.conv_in(act(blk.act_in, h))
        h = h0
        for u in range(blk.U):
            c1 = blk.conv1[0 if blk.share else u]
            c2 = blk.conv2[0 if blk.share else u]
            f = c2(act(blk.act2[u], c1(act(blk.act1[u], h))))
            h = f + (h0 if blk.multipath else h)
    return model.out_conv(act(model.out_act, h)) + x


@pytest.mark.parametrize("kw", [{}, {"multipath": False}, {"share": False}, {"bn": False}])
def test_drrn_matches_paper_equations(kw):
    model = tiny_drrn(**kw)
    x = torch.rand(1, 1, 9, 9)
    with torch.no_grad():
        assert torch.allclose(model(x), reference_drrn(model, x), atol=1e-6)


def test_drrn_has_bn_on_raw_input_and_per_unit_bn():
    model = create_model("drrn", B=1, U=3, channels=8)
    assert model.blocks[0].act_in.bn.num_features == 1
    assert len(model.blocks[0].conv1) == 1 and len(model.blocks[0].act1) == 3
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 1 + 2 * 3 + 1
    assert len({id(b) for b in bns}) == len(bns)


def test_drrn_ns_with_tied_weights_equals_drrn():
    shared = tiny_drrn()
    unshared = create_model("drrn_ns", B=2, U=3, channels=8).eval()
    state = {}
    for key in unshared.state_dict():
        parts = key.split(".")
        if len(parts) > 3 and parts[2] in ("conv1", "conv2"):
            parts[3] = "0"  # every unit of the NS model gets the block's shared conv
        state[key] = shared.state_dict()[".".join(parts)]
    unshared.load_state_dict(state)
    x = torch.rand(2, 1, 10, 12)
    with torch.no_grad():
        assert torch.equal(unshared(x), shared(x))


def test_drrn_u0_is_plain_preactivation_stack():
    plain = randomize_bn(create_model("vdsr_bn", depth=6, channels=8)).eval()
    assert isinstance(plain, DRRN) and (plain.B, plain.U, plain.depth) == (5, 0, 6)
    x = torch.rand(1, 1, 9, 9)
    with torch.no_grad():
        # independent plain stack: act -> conv five times, then act -> conv(.. -> 1) + x
        h = x
        for blk in plain.blocks:
            bn = blk.act_in.bn
            h = blk.conv_in(F.relu(F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight,
                                                bn.bias, False, 0.0, bn.eps)))
        bn = plain.out_act.bn
        ref = plain.out_conv(F.relu(F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight,
                                                 bn.bias, False, 0.0, bn.eps))) + x
        assert torch.equal(plain(x), ref)
        twin = create_model("drrn", B=5, U=0, channels=8).eval()
        twin.load_state_dict(plain.state_dict())
        assert torch.equal(twin(x), plain(x))


def test_vdsr_bn_c64_d20_has_vdsr_size():
    assert conv_weights(create_model("vdsr_bn", depth=20, channels=64)) == conv_weights(create_model("vdsr"))


@pytest.mark.parametrize("U, same", [(1, True), (2, False), (3, False)])
def test_chain_and_multipath_differ_only_in_identity(U, same):
    multi = tiny_drrn(B=1, U=U)
    chain = create_model("drrn_c", B=1, U=U, channels=8).eval()
    chain.load_state_dict(multi.state_dict())  # same tensors, only the identity path differs
    x = torch.rand(1, 1, 9, 9)
    with torch.no_grad():
        a, b = multi(x), chain(x)
    assert torch.equal(a, b) if same else not torch.allclose(a, b, atol=1e-4)


def test_relu_skip_port_variant():
    model = create_model("drrn", B=1, U=2, channels=8, bn=False, bias=False, relu_skip=True).eval()
    plain = create_model("drrn", B=1, U=2, channels=8, bn=False, bias=False).eval()
    plain.load_state_dict(model.state_dict())
    x = torch.rand(1, 1, 9, 9) - 0.2  # negative ILR pixels: the global residual differs too
    with torch.no_grad():
        blk = plain.blocks[0]
        h0 = F.relu(blk.conv_in(F.relu(x)))
        h = h0
        for _ in range(2):
            h = blk.conv2[0](F.relu(blk.conv1[0](F.relu(h)))) + h0
        ref = plain.out_conv(F.relu(h)) + F.relu(x)
        assert torch.allclose(model(x), ref, atol=1e-6)
        assert not torch.allclose(model(x), plain(x), atol=1e-4)


def test_drcn_recursive_outputs():
    torch.manual_seed(0)
    model = create_model("drcn", recursions=4, channels=8).eval()
    x = torch.rand(1, 1, 7, 7)
    with torch.no_grad():
        final, preds = model.forward_all(x)
        assert len(preds) == 4 and all(p.shape == x.shape for p in preds)
        # ensemble weights start at 1/D: the output is the mean prediction
        assert torch.allclose(final, torch.stack(preds).mean(0), atol=1e-6)
        assert torch.equal(model(x), final)
        f2, p2 = model(x, return_intermediate=True)
        assert torch.equal(f2, final) and len(p2) == 4
        model.ensemble.data = torch.tensor([0.0, 0.0, 0.0, 1.0])
        assert torch.allclose(model(x), preds[-1], atol=1e-6)
    # the reconstruction net is shared: one recon1/recon2, one inference conv
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 5


def test_drcn_ensemble_weights_are_trained():
    model = create_model("drcn", recursions=3, channels=4)
    final, preds = model.forward_all(torch.rand(1, 1, 6, 6))
    final.sum().backward()
    assert model.ensemble.grad is not None and model.ensemble.grad.abs().sum() > 0


def test_srcnn_replicate_padding():
    model = create_model("srcnn").eval()
    assert all(c.padding_mode == "replicate" for c in (model.conv1, model.conv2, model.conv3))
    with torch.no_grad():
        y = model(torch.full((1, 1, 16, 16), 0.3))
    # replicate padding keeps a constant image constant up to the border
    assert torch.allclose(y, y[0, 0, 8, 8].expand_as(y), atol=1e-6)
    assert model.receptive_radius == 8
    assert create_model("srcnn_915").receptive_radius == 6


# ---------------------------------------------------------------------------------------------
# Tiled inference


@pytest.mark.parametrize(
    "name, overrides",
    [("vdsr", {}), ("srcnn", {}), ("drrn", {"B": 2, "U": 2, "channels": 8}),
     ("drcn", {"recursions": 3, "channels": 8}), ("drrn_c", {"B": 1, "U": 3, "channels": 8})],
)
def test_forward_tiled_equals_whole_image(name, overrides):
    torch.manual_seed(0)
    model = randomize_bn(create_model(name, **overrides)).double().eval()
    x = torch.rand(1, 1, 53, 47, dtype=torch.float64)
    with torch.no_grad():
        whole = model(x)
        tiled = forward_tiled(model, x, 16)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max().item() < 1e-10


def test_forward_tiled_float32_vdsr():
    model = create_model("vdsr").eval()
    x = torch.rand(1, 1, 70, 61)
    with torch.no_grad():
        assert (forward_tiled(model, x, 24) - model(x)).abs().max().item() < 1e-6


def test_tiling_needs_the_overlap():
    model = create_model("vdsr").double().eval()
    x = torch.rand(1, 1, 40, 40, dtype=torch.float64)
    with torch.no_grad():
        short = forward_tiled(model, x, 16, overlap=4)
    assert (short - model(x)).abs().max().item() > 1e-6


def test_receptive_radius():
    assert receptive_radius(create_model("vdsr")) == 20
    assert receptive_radius(create_model("drrn")) == 52
    assert receptive_radius(create_model("drcn")) == 20
    chain = nn.Sequential(nn.Conv2d(1, 2, 5, padding=2), nn.ReLU(), nn.Conv2d(2, 1, 3, padding=1))
    assert receptive_radius(chain) == 3


def test_tiling_refuses_train_mode_bn():
    model = create_model("drrn", B=1, U=1, channels=4).train()
    with pytest.raises(ValueError, match="eval"):
        forward_tiled(model, torch.rand(1, 1, 20, 20), 8)
