"""DRRN (Tai, Yang, Liu; CVPR 2017): recursive blocks of pre-activation residual units.

One class, :class:`DRRN`, covers the published models and every ablation of the paper:

* B recursive blocks of U residual units, ``channels`` feature maps, every conv 3x3, pad 1.
* Pre-activation everywhere: each conv is preceded by ``act = BatchNorm -> affine -> ReLU``
  (``bn=False``: ReLU only), including one on the raw ILR before the first conv (as the official
  Caffe prototxt, ``bn_conv1`` on ``data``).
* Block b: ``H0 = conv_b(act(x_{b-1}))``; unit u:
  ``H_u = conv_b2(act(conv_b1(act(H_{u-1})))) + H0`` (multi-path; ``multipath=False`` gives the
  chain ``... + H_{u-1}`` of DRRN_C). With ``share=True`` only ``conv_b1``/``conv_b2`` (weights
  and biases) are shared across the U units; every unit has its own BN statistics and affine.
* Output: ``conv(act(x_B)) (channels -> 1) + ILR``. Depth ``d = (1 + 2U) B + 1``.
* ``U = 0`` makes each block a single conv: the plain pre-activation stack that the paper calls
  VDSR in its ablations (registered as ``vdsr_bn``, parametrised by its depth).
* Import-only options: ``bn=False, bias=False`` and ``relu_skip=True`` reproduce the unofficial
  jt827859032/DRRN-pytorch model whose MXNet conversion is the only published DRRN weight file
  here; its in-place ReLUs make the identity paths carry ReLU(H0) and ReLU(ILR). Without that
  option those weights score near bicubic (Set5 x3 30.65 dB), with it 33.99 dB.

Conv weights (no biases, no BN): ``9 C + 9 C + 9 C^2 (3B - 1)``; for C = 128
``2,304 + 147,456 (3B - 1)``: 297,216 for any B1 model, 1,181,952 for B3, 7,375,104 for B17U1.

State-dict layout (what the checkpoint and the importers write)::

    blocks.{b}.act_in.bn.*      blocks.{b}.conv_in.{weight,bias}
    blocks.{b}.conv1.{i}.*      blocks.{b}.conv2.{i}.*        i = 0 if share else unit index
    blocks.{b}.act1.{u}.bn.*    blocks.{b}.act2.{u}.bn.*
    out_act.bn.*                out_conv.{weight,bias}
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmark.formats import Converted, Importer, WeightsError, as_tensor
from benchmark.registry import Ablation, MethodSpec, PaperRoles, register_method
from methods.drrn_paper import PAPER_SET, TABLE4, TABLE4_METHODS

NAN = math.nan

#: DRRN_B1U25 column of DRRN Table 2 (mean PSNR, SSIM), protocol drrn-matlab-v1.
PUBLISHED_B1U25 = {
    ("set5", 2): (37.74, 0.9591), ("set5", 3): (34.03, 0.9244), ("set5", 4): (31.68, 0.8888),
    ("set14", 2): (33.23, 0.9136), ("set14", 3): (29.96, 0.8349), ("set14", 4): (28.21, 0.7720),
    ("bsd100", 2): (32.05, 0.8973), ("bsd100", 3): (28.95, 0.8004), ("bsd100", 4): (27.38, 0.7284),
    ("urban100", 2): (31.23, 0.9188), ("urban100", 3): (27.53, 0.8378),
    ("urban100", 4): (25.44, 0.7638),
}

#: DRRN_B1U9: only the Set5 cells of Table 2 are known.
PUBLISHED_B1U9 = {
    ("set5", 2): (37.66, 0.9589), ("set5", 3): (33.93, 0.9234), ("set5", 4): (31.58, 0.8864),
}

#: Table 4 cells of the ablation models (Set5 x3 PSNR; no SSIM printed: NaN), from
#: :mod:`methods.drrn_paper`. Valid for their registered B3U4 defaults only, so ``drrn``
#: (registered as B1U25) does not get its Table 4 cell.
PUBLISHED_TABLE4 = {method: {PAPER_SET: (TABLE4[name], NAN)}
                    for method, name in TABLE4_METHODS.items() if method != "drrn"}

#: Training set-up of the official DRRN release (docs/methods.md, DRRN): 291 images x 8
#: flips/rotations, scales 2/3/4 mixed into one model, 31x31 patches with stride 21, batch
#: 128, SGD momentum 0.9, weight decay 1e-4, lr 0.1 halved every 10 epochs of 6,536
#: iterations, biases at 0.1x lr, adjustable clipping of the GLOBAL gradient norm to
#: theta / lr (theta = 0.01), BN in train mode, loss 1/(2N) sum ||y - D(x)||^2.
RECIPE = {
    "train_set": "train291",
    "augment": "dihedral8",
    "patch_size": 31,
    "stride": 21,
    "scales": [2, 3, 4],
    "per_scale_models": False,
    "batch_size": 128,
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "bias_lr_mult": 0.1,
    "lr_step_epochs": 10,
    "lr_gamma": 0.5,
    "iters_per_epoch": 6536,
    "clip": "global_norm",
    "clip_theta": 0.01,
    "loss": "mse_half_sum",
}


class PreAct(nn.Module):
    """Pre-activation ``BatchNorm2d -> (affine) -> ReLU``; just ReLU when ``bn=False``.

    Shapes: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, channels: int, bn: bool = True) -> None:
        super().__init__()
        self.bn: nn.Module = nn.BatchNorm2d(channels) if bn else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Not in-place: with bn=False the input may be H0, which later units still add.
        return F.relu(self.bn(x))


class RecursiveBlock(nn.Module):
    """One recursive block: an input conv producing H0, then U residual units.

    Parameters
    ----------
    in_channels, channels : int
        Input maps (1 for the first block) and feature maps.
    U : int
        Residual units (0: the block is only its input conv).
    share : bool
        One ``conv1``/``conv2`` pair for all units (DRRN) or one per unit (DRRN_NS).
    multipath : bool
        Every unit adds H0 (DRRN) or its own input (chain, DRRN_C).
    bn, bias : bool
        Batch-norm in the pre-activations; biases in the convs.
    input_act : bool
        Whether ``conv_in`` is preceded by a pre-activation (False only makes sense for the
        first block of a network whose input conv sees the raw ILR).
    relu_skip : bool
        The identity paths carry the ReLU'd tensor (ReLU(H0), or ReLU(H_{u-1}) in a chain), as
        in-place ReLUs make them in the jt827859032/DRRN-pytorch port. Needs ``bn=False``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        U: int,
        *,
        share: bool = True,
        multipath: bool = True,
        bn: bool = True,
        bias: bool = True,
        input_act: bool = True,
        relu_skip: bool = False,
    ) -> None:
        super().__init__()
        if relu_skip and bn:
            raise ValueError("relu_skip reproduces a ReLU-only port and needs bn=False")
        self.U = U
        self.share = share
        self.multipath = multipath
        self.relu_skip = relu_skip
        self.act_in: nn.Module = PreAct(in_channels, bn) if input_act else nn.Identity()
        self.conv_in = nn.Conv2d(in_channels, channels, 3, padding=1, bias=bias)
        n_convs = (1 if share else U) if U > 0 else 0
        self.conv1 = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias) for _ in range(n_convs)
        )
        self.conv2 = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias) for _ in range(n_convs)
        )
        # BN statistics and affine parameters are per unit even when the convs are shared.
        self.act1 = nn.ModuleList(PreAct(channels, bn) for _ in range(U))
        self.act2 = nn.ModuleList(PreAct(channels, bn) for _ in range(U))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = self.conv_in(self.act_in(x))
        skip0 = F.relu(h0) if self.relu_skip else h0
        h = h0
        for u in range(self.U):
            i = 0 if self.share else u
            a = self.act1[u](h)
            residual = self.conv2[i](self.act2[u](self.conv1[i](a)))
            if self.multipath:
                h = residual + skip0
            else:
                h = residual + (a if self.relu_skip else h)
        return h


class DRRN(nn.Module):
    """Deep recursive residual network (and its ablation variants).

    Parameters
    ----------
    B : int
        Recursive blocks (>= 1).
    U : int
        Residual units per block (>= 0; 0 gives the plain pre-activation stack of depth B + 1).
    channels : int
        Feature maps of every hidden conv (paper: 128).
    share : bool
        Share conv weights across the units of a block (False: DRRN_NS).
    multipath : bool
        Multi-path identity to H0 (False: chain, DRRN_C).
    bn : bool
        Batch-norm + affine in every pre-activation (False: ReLU only).
    bias : bool
        Conv biases.
    input_act : bool
        Pre-activation on the raw ILR before the first conv (the official model: BN + ReLU).
        False drops it; kept as an option for imported models without it.
    relu_skip : bool
        Reproduce the jt827859032/DRRN-pytorch port (the published ``.params`` weights): its
        in-place ReLUs make the block identity add ReLU(H0) instead of H0 and the global
        residual add ReLU(ILR) instead of the ILR. Needs ``bn=False``; default False.

    Shapes: input ``(N, 1, H, W)`` ILR in [0, 1] -> output ``(N, 1, H, W)`` = ILR + residual.
    """

    def __init__(
        self,
        B: int = 1,
        U: int = 25,
        channels: int = 128,
        share: bool = True,
        multipath: bool = True,
        bn: bool = True,
        bias: bool = True,
        input_act: bool = True,
        relu_skip: bool = False,
    ) -> None:
        super().__init__()
        if B < 1 or U < 0:
            raise ValueError(f"DRRN needs B >= 1 and U >= 0, got B={B}, U={U}")
        self.B, self.U = B, U
        # The port's in-place ReLU on the raw input also rewrites the tensor the global residual adds.
        self.relu_residual = relu_skip and input_act
        self.blocks = nn.ModuleList(
            RecursiveBlock(
                1 if b == 0 else channels,
                channels,
                U,
                share=share,
                multipath=multipath,
                bn=bn,
                bias=bias,
                input_act=input_act or b > 0,
                relu_skip=relu_skip,
            )
            for b in range(B)
        )
        self.out_act = PreAct(channels, bn)
        self.out_conv = nn.Conv2d(channels, 1, 3, padding=1, bias=bias)
        self.reset_parameters()

    @property
    def depth(self) -> int:
        """Conv layers on the input-output path, recursions included: (1 + 2U) B + 1."""
        return (1 + 2 * self.U) * self.B + 1

    @property
    def receptive_radius(self) -> int:
        """One pixel of context per 3x3 conv application."""
        return self.depth

    def reset_parameters(self) -> None:
        """He (MSRA) normal init, fan_in, biases zero; BN scale 1, shift 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        return self.out_conv(self.out_act(h)) + (F.relu(x) if self.relu_residual else x)


def ablation_class(config: Mapping[str, Any]) -> Ablation | None:
    """The paper's ablation class of a full DRRN config: DRRN, DRRN_NS (no weight sharing),
    DRRN_C (chain) or DRRN_NS_C, with its B, U and depth (None without a valid B and U)."""
    try:
        blocks, units = int(config["B"]), int(config["U"])
    except (KeyError, TypeError, ValueError):
        return None
    name = ("DRRN" + ("_NS" if config.get("share", True) is False else "")
            + ("_C" if config.get("multipath", True) is False else ""))
    return Ablation(name, blocks, units, (1 + 2 * units) * blocks + 1)


def _plain_stack_class(config: Mapping[str, Any]) -> Ablation | None:
    """``vdsr_bn`` is the paper's ablation "VDSR" at its depth."""
    try:
        return Ablation("VDSR", None, None, int(config["depth"]))
    except (KeyError, TypeError, ValueError):
        return None


#: MXNet argument names of the Super-Resolution-Zoo conversion -> our DRRN state-dict keys.
_MXNET_DRRN = {"learned_0": "blocks.0.conv_in.weight", "learned_1": "blocks.0.conv1.0.weight",
               "learned_2": "blocks.0.conv2.0.weight", "learned_3": "out_conv.weight"}


def _plain_names(arrays: Mapping[str, Any]) -> dict[str, Any]:
    # MXNet prefixes argument names with "arg:" (auxiliary states with "aux:").
    return {k.split(":", 1)[-1]: v for k, v in arrays.items()}


def _from_mxnet(path: Path, arrays: Mapping[str, np.ndarray], spec: MethodSpec) -> Converted:
    """The Super-Resolution-Zoo conversion of jt827859032/DRRN-pytorch (B1, no BN, no bias).

    That port pre-activates with in-place ReLUs: ``self.input(self.relu(x))`` rewrites the ILR
    the global residual later adds, and the first unit's ``self.relu(out)`` rewrites H0, which
    every unit adds (the converted MXNet graph shows both adds taking the ReLU outputs). Hence
    ``input_act=True`` and ``relu_skip=True``; U is not stored in the file (the port runs 25).
    """
    if not (spec.config.get("share", False) and spec.config.get("multipath", False)):
        raise WeightsError(f"{path}: shared multi-path DRRN weights cannot serve {spec.name!r}")
    plain = _plain_names(arrays)
    c = plain["learned_0"].shape[0]
    want = {"learned_0": (c, 1, 3, 3), "learned_1": (c, c, 3, 3), "learned_2": (c, c, 3, 3),
            "learned_3": (1, c, 3, 3)}
    for k, shape in want.items():
        if plain[k].shape != shape:
            raise WeightsError(f"{path}: {k} has shape {plain[k].shape}, DRRN B1 needs {shape}")
    state = {_MXNET_DRRN[k]: as_tensor(v) for k, v in plain.items()}
    config = {"B": 1, "channels": c, "share": True, "multipath": True, "bn": False, "bias": False,
              "input_act": True, "relu_skip": True}
    notes = () if spec.config.get("U") == 25 else (
        f"source model ran U=25 recursions; {spec.name} uses U={spec.config.get('U')}",)
    return Converted(state, config, notes)


#: The MXNet ``.params`` of jt827859032/DRRN-pytorch (``weights_manifest.json``:
#: ``drrn_b1u25_jt827859032``), recognised by its four argument names.
MXNET = Importer("mxnet", lambda arrays: set(_plain_names(arrays)) == set(_MXNET_DRRN),
                 _from_mxnet)
_IMPORTERS = {"mxnet-params": MXNET}
#: Roles of a model of the paper's ablations only (Table 4, Figures 6 and 8).
_ABLATION_ROLES = PaperRoles(ablation_only=True, ablation=ablation_class)


_DRRN_CONFIG = {
    "B": 1,
    "U": 25,
    "channels": 128,
    "share": True,
    "multipath": True,
    "bn": True,
    "bias": True,
    "input_act": True,
    "relu_skip": False,
}
_ABLATION = {**_DRRN_CONFIG, "B": 3, "U": 4}  # Table 4: B3U4, d = 28


@register_method(
    "drrn_ns_c",
    family="drrn",
    config={**_ABLATION, "share": False, "multipath": False},
    recipe=RECIPE,
    published=PUBLISHED_TABLE4["drrn_ns_c"],
    description="DRRN ablation: no weight sharing, chain (ResNet-like), B3U4 d=28",
    label="DRRN_NS_C",
    roles=_ABLATION_ROLES,
    importers=_IMPORTERS,
)
@register_method(
    "drrn_c",
    family="drrn",
    config={**_ABLATION, "multipath": False},
    recipe=RECIPE,
    published=PUBLISHED_TABLE4["drrn_c"],
    description="DRRN ablation: chained residual units (no multi-path), B3U4 d=28",
    label="DRRN_C",
    roles=_ABLATION_ROLES,
    importers=_IMPORTERS,
)
@register_method(
    "drrn_ns",
    family="drrn",
    config={**_ABLATION, "share": False},
    recipe=RECIPE,
    published=PUBLISHED_TABLE4["drrn_ns"],
    description="DRRN ablation: no weight sharing across units, B3U4 d=28",
    label="DRRN_NS",
    roles=_ABLATION_ROLES,
    importers=_IMPORTERS,
)
@register_method(
    "drrn_b1u9",
    family="drrn",
    config={**_DRRN_CONFIG, "U": 9},
    recipe={**RECIPE, "epochs": 71},
    published=PUBLISHED_B1U9,
    description="DRRN_B1U9 (d=20), 297K params; released at epoch 71",
    label="DRRN_B1U9",
    roles=PaperRoles(table2=4, figure9="DRRN_B1U9", ablation=ablation_class),
    importers=_IMPORTERS,
)
@register_method(
    "drrn_b1u25",
    family="drrn",
    config=_DRRN_CONFIG,
    recipe={**RECIPE, "epochs": 101},
    published=PUBLISHED_B1U25,
    description="DRRN_B1U25 (d=52), 297K params; released at epoch 101",
    label="DRRN_B1U25",
    roles=PaperRoles(table2=5, figure9="DRRN_B1U25", ablation=ablation_class),
    importers=_IMPORTERS,
)
@register_method(
    "drrn",
    family="drrn",
    config=_DRRN_CONFIG,
    recipe={**RECIPE, "epochs": 101},
    published=PUBLISHED_B1U25,
    description="DRRN (= drrn_b1u25): 1 recursive block x 25 shared residual units, d=52",
    label="DRRN",
    roles=PaperRoles(figure9="DRRN_B1U25", ablation=ablation_class),
    importers=_IMPORTERS,
)
def drrn(**config) -> DRRN:
    """Build a :class:`DRRN` from the registered config (see the class for options)."""
    return DRRN(**config)


@register_method(
    "vdsr_bn",
    family="drrn",
    config={"depth": 28, "channels": 128, "bn": True, "bias": True},
    recipe=RECIPE,
    published={},
    description="Ablation 'VDSR': plain pre-activation BN stack, d=28 x 128 (DRRN with U=0)",
    label="VDSR (BN)",
    roles=PaperRoles(ablation_only=True, ablation=_plain_stack_class),
)
def vdsr_bn(depth: int = 28, channels: int = 128, bn: bool = True, bias: bool = True) -> DRRN:
    """Plain pre-activation stack of ``depth`` 3x3 convs with global residual.

    The VDSR of DRRN's ablations (Table 4, Fig. 8): same depth and width as the DRRN_NS it is
    compared with, no local residuals; built as ``DRRN(B=depth - 1, U=0)``, so the state-dict
    layout is DRRN's. DRRN's Table 3 "VDSR re-implemented with BN" is
    ``create_model("vdsr_bn", depth=20, channels=64)`` (the release's VDSR_20C64_PreBN).
    """
    if depth < 2:
        raise ValueError(f"vdsr_bn needs depth >= 2, got {depth}")
    return DRRN(B=depth - 1, U=0, channels=channels, bn=bn, bias=bias)
