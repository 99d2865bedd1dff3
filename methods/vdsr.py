"""VDSR (Kim, Lee, Lee; CVPR 2016): a plain 20-layer 3x3 conv stack with a global residual.

``conv(1 -> 64) + ReLU -> 18 x [conv(64 -> 64) + ReLU] -> conv(64 -> 1)``, zero padding 1, output
added to the ILR. 665,921 parameters. One model serves x2, x3 and x4 (trained on mixed scales).

The pre-activation batch-normalised VDSR used in DRRN's ablations is a different model: see
``vdsr_bn`` in :mod:`methods.drrn`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmark.formats import Converted, Importer, WeightsError, as_tensor
from benchmark.registry import MethodSpec, PaperRoles, register_method

#: VDSR column of DRRN Table 2 (mean PSNR, SSIM), protocol drrn-matlab-v1.
PUBLISHED = {
    ("set5", 2): (37.53, 0.9587), ("set5", 3): (33.66, 0.9213), ("set5", 4): (31.35, 0.8838),
    ("set14", 2): (33.03, 0.9124), ("set14", 3): (29.77, 0.8314), ("set14", 4): (28.01, 0.7674),
    ("bsd100", 2): (31.90, 0.8960), ("bsd100", 3): (28.82, 0.7976), ("bsd100", 4): (27.29, 0.7251),
    ("urban100", 2): (30.76, 0.9140), ("urban100", 3): (27.14, 0.8279),
    ("urban100", 4): (25.18, 0.7524),
}

#: VDSR paper training set-up: 291 images, 41x41 patches, batch 64, 80 epochs, lr 0.1 divided
#: by 10 every 20 epochs, adjustable gradient clipping to [-theta/lr, theta/lr]. The paper does
#: not print theta; 0.01 is the value of the DRRN release, which inherits VDSR's solver.
RECIPE = {
    "train_set": "train291",
    "patch_size": 41,
    "stride": 41,
    "scales": [2, 3, 4],
    "per_scale_models": False,
    "batch_size": 64,
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "lr_step_epochs": 20,
    "lr_gamma": 0.1,
    "epochs": 80,
    "clip": "value",
    "clip_theta": 0.01,
    "loss": "mse",
}


class VDSR(nn.Module):
    """Plain conv stack with global residual learning.

    Parameters
    ----------
    depth : int
        Number of conv layers (paper: 20).
    channels : int
        Feature maps of the hidden layers (paper: 64).

    Shapes: input ``(N, 1, H, W)`` ILR in [0, 1] -> output ``(N, 1, H, W)`` = ILR + residual.
    """

    def __init__(self, depth: int = 20, channels: int = 64) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"VDSR needs depth >= 2, got {depth}")
        widths = [1] + [channels] * (depth - 1) + [1]
        self.convs = nn.ModuleList(
            nn.Conv2d(cin, cout, 3, padding=1) for cin, cout in zip(widths[:-1], widths[1:])
        )
        self.reset_parameters()

    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return len(self.convs)

    @property
    def receptive_radius(self) -> int:
        """One pixel of context per 3x3 layer."""
        return len(self.convs)

    def reset_parameters(self) -> None:
        """He (MSRA) normal init, fan_in, biases zero."""
        for conv in self.convs:
            nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for conv in self.convs[:-1]:
            h = F.relu(conv(h))
        return self.convs[-1](h) + x


def _is_matconvnet(mat: Mapping[str, Any]) -> bool:
    model = mat.get("model")
    names = getattr(getattr(model, "dtype", None), "names", None)
    return bool(names) and {"weight", "bias"} <= set(names)


def _from_matconvnet(path: Path, mat: Mapping[str, Any], spec: MethodSpec) -> Converted:
    """VDSR MatConvNet model: struct ``model`` with cell arrays weight{1..L}, bias{1..L}.

    MatConvNet stores filters H x W x Cin x Cout (trailing singleton dims dropped by MATLAB) and
    ``vl_nnconv`` is a correlation like ``torch.conv2d``, so weight[k, c, h, w] = W[h, w, c, k]:
    no flip and no spatial transpose. Checked under drrn-matlab-v1: Set5 37.53/33.66/31.34
    (x2/x3/x4; paper 37.53/33.66/31.35); spatially transposed kernels give 37.54/33.64/31.30.
    """
    model = mat["model"]
    weights = [np.asarray(w) for w in np.ravel(model["weight"][0, 0])]
    biases = [np.asarray(b).reshape(-1) for b in np.ravel(model["bias"][0, 0])]
    if len(weights) != len(biases) or len(weights) < 2:
        raise WeightsError(f"{path}: MatConvNet model with {len(weights)} weights / {len(biases)} biases")
    # MATLAB drops trailing singleton dims: restore H x W x Cin x Cout.
    weights = [w.reshape(w.shape + (1,) * (4 - w.ndim)) for w in weights]
    state = {}
    for i, (w, b) in enumerate(zip(weights, biases)):
        state[f"convs.{i}.weight"] = as_tensor(w.transpose(3, 2, 0, 1))
        state[f"convs.{i}.bias"] = as_tensor(b)
    return Converted(state, {"depth": len(weights), "channels": int(weights[0].shape[3])})


#: The VDSR release's MatConvNet ``.mat`` (``weights_manifest.json``: ``vdsr_official``).
MATCONVNET = Importer("mat5", _is_matconvnet, _from_matconvnet)


@register_method(
    "vdsr",
    family="vdsr",
    config={"depth": 20, "channels": 64},
    recipe=RECIPE,
    published=PUBLISHED,
    label="VDSR",
    roles=PaperRoles(table2=2, figure9="VDSR"),
    importers={"matconvnet-mat": MATCONVNET},
    description="VDSR: 20 conv3x3 x 64, ReLU, global residual; 665,921 params",
)
def vdsr(**config) -> VDSR:
    """Build a :class:`VDSR` from the registered config."""
    return VDSR(**config)
