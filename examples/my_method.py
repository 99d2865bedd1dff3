"""A complete third-party srbench method: a 3-layer residual CNN on the bicubic Y.

Nothing in srbench needs to change for this file to take part in ``run`` (and training)
like a built-in method. Load it with ``--plugin``::

    python -m benchmark --plugin examples/my_method.py run --methods tiny_residual \\
        --datasets set5 --scales 2

or, for an installed package, declare the module under the ``srbench.methods`` entry-point
group in its ``pyproject.toml``::

    [project.entry-points."srbench.methods"]
    tiny_residual = "my_package.my_method"

The contract (see ``benchmark.registry.MethodSpec``): the factory returns a
``torch.nn.Module`` mapping the ILR, a float tensor ``(N, 1, H, W)`` on the [0, 1] scale
(the protocol's bicubic-upscaled Y), to the SR Y of the same shape. The harness clips,
quantises, shaves and scores the output under ``drrn-matlab-v1``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from benchmark import register_method


class TinyResidual(nn.Module):
    """``ILR + conv(ReLU(conv(ReLU(conv(ILR)))))``, all convs ``kernel x kernel``, same size.

    Parameters
    ----------
    channels : int
        Width of the two hidden layers.
    kernel : int
        Odd kernel size of every convolution.
    """

    def __init__(self, channels: int = 32, kernel: int = 3) -> None:
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd, got {kernel}")
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv2d(1, channels, kernel, padding=pad),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel, padding=pad),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, 1, kernel, padding=pad),
        )
        # The residual branch starts at zero: before training the network returns the ILR,
        # i.e. it scores exactly as bicubic.
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """SR Y ``(N, 1, H, W)`` for the ILR ``x`` of the same shape."""
        return x + self.body(x)


@register_method(
    "tiny_residual",
    family="tiny_residual",
    config={"channels": 32, "kernel": 3},
    description="example plugin: 3-layer residual CNN on the ILR (examples/my_method.py)",
)
def tiny_residual(channels: int = 32, kernel: int = 3) -> nn.Module:
    """Build :class:`TinyResidual` (the registry passes the config as keyword arguments)."""
    return TinyResidual(channels=channels, kernel=kernel)
