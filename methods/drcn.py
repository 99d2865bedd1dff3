"""DRCN (Kim, Lee, Lee; CVPR 2016): one conv layer recursed D times, with recursive supervision.

Embedding net ``conv(1 -> F) + ReLU, conv(F -> F) + ReLU`` gives H_0; the inference net applies
one shared ``conv(F -> F) + ReLU`` D = 16 times (H_1..H_D); a reconstruction net shared across
recursions, ``conv(F -> F) + ReLU, conv(F -> 1)``, plus the skip connection turns every H_d into
a prediction ``y_d = recon(H_d) + ILR``; the output is ``sum_d w_d y_d`` with learned w_d.

Training (the trainer's job) uses ``forward_all`` for the recursive-supervision loss
``alpha * mean_d MSE(y_d) + (1 - alpha) * MSE(final)``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmark.registry import PaperRoles, register_method

#: DRCN column of DRRN Table 2 (mean PSNR, SSIM), protocol drrn-matlab-v1.
PUBLISHED = {
    ("set5", 2): (37.63, 0.9588), ("set5", 3): (33.82, 0.9226), ("set5", 4): (31.53, 0.8854),
    ("set14", 2): (33.04, 0.9118), ("set14", 3): (29.76, 0.8311), ("set14", 4): (28.02, 0.7670),
    ("bsd100", 2): (31.85, 0.8942), ("bsd100", 3): (28.80, 0.7963), ("bsd100", 4): (27.23, 0.7233),
    ("urban100", 2): (30.75, 0.9133), ("urban100", 3): (27.15, 0.8276),
    ("urban100", 4): (25.14, 0.7510),
}

#: DRCN paper training set-up: 91 images, 41x41 patches with stride 21, batch 64, lr 0.01
#: divided by 10 when the validation error stalls for 5 epochs, weight decay 1e-4,
#: recursive-supervision weight alpha decayed from 1 towards 0 (schedule not printed).
RECIPE = {
    "train_set": "t91",
    "patch_size": 41,
    "stride": 21,
    "scales": [2, 3, 4],
    "per_scale_models": True,
    "batch_size": 64,
    "optimizer": "sgd",
    "lr": 0.01,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "lr_plateau_epochs": 5,
    "lr_gamma": 0.1,
    "loss": "recursive_supervision",
    "alpha_start": 1.0,
    "alpha_end": 0.0,
}


class DRCN(nn.Module):
    """Deeply-recursive convolutional network.

    Parameters
    ----------
    recursions : int
        D, applications of the shared inference conv (paper: 16).
    channels : int
        Feature maps F (paper: 256).

    Shapes: input ``(N, 1, H, W)`` ILR in [0, 1] -> output ``(N, 1, H, W)``.
    """

    def __init__(self, recursions: int = 16, channels: int = 256) -> None:
        super().__init__()
        if recursions < 1:
            raise ValueError(f"DRCN needs at least one recursion, got {recursions}")
        self.recursions = recursions
        self.embed1 = nn.Conv2d(1, channels, 3, padding=1)
        self.embed2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.infer = nn.Conv2d(channels, channels, 3, padding=1)
        self.recon1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.recon2 = nn.Conv2d(channels, 1, 3, padding=1)
        # Ensemble weights w_d; start as a plain average of the D predictions.
        self.ensemble = nn.Parameter(torch.full((recursions,), 1.0 / recursions))
        self.reset_parameters()

    @property
    def depth(self) -> int:
        """Convs on the longest input-output path: 2 embedding + D + 2 reconstruction (20)."""
        return self.recursions + 4

    @property
    def receptive_radius(self) -> int:
        """The deepest prediction y_D sees one pixel more per 3x3 conv on its path."""
        return self.recursions + 4

    def reset_parameters(self) -> None:
        """He (MSRA) normal init, fan_in, biases zero; ensemble weights 1/D."""
        for conv in (self.embed1, self.embed2, self.infer, self.recon1, self.recon2):
            nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        nn.init.constant_(self.ensemble, 1.0 / self.recursions)

    def _run(self, x: torch.Tensor, keep: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = F.relu(self.embed2(F.relu(self.embed1(x))))
        preds: list[torch.Tensor] = []
        out = torch.zeros_like(x)
        for d in range(self.recursions):
            h = F.relu(self.infer(h))
            y = self.recon2(F.relu(self.recon1(h))) + x
            if keep:  # only training needs all D predictions alive at once
                preds.append(y)
            out = out + self.ensemble[d] * y
        return out, preds

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Final output and the D intermediate predictions ``[y_1, ..., y_D]`` (all like ``x``)."""
        return self._run(x, keep=True)

    def forward(self, x: torch.Tensor, return_intermediate: bool = False):
        """``final`` or, with ``return_intermediate=True``, ``(final, [y_1..y_D])``."""
        final, preds = self._run(x, keep=return_intermediate)
        return (final, preds) if return_intermediate else final


@register_method(
    "drcn",
    family="drcn",
    config={"recursions": 16, "channels": 256},
    recipe=RECIPE,
    published=PUBLISHED,
    description="DRCN: 16 recursions of a shared conv3x3 x 256, recursive supervision",
    label="DRCN",
    roles=PaperRoles(table2=3, figure9="DRCN"),
)
def drcn(**config) -> DRCN:
    """Build a :class:`DRCN` from the registered config."""
    return DRCN(**config)
