"""Bicubic interpolation: the ILR itself (MATLAB ``imresize``, docs/protocol.md step 4)."""

from __future__ import annotations

import torch.nn as nn

from benchmark.registry import PaperRoles, register_method

#: Published bicubic means (PSNR, SSIM), DRRN Table 2 (docs/methods.md).
PUBLISHED = {
    ("set5", 2): (33.66, 0.9299), ("set5", 3): (30.39, 0.8682), ("set5", 4): (28.42, 0.8104),
    ("set14", 2): (30.24, 0.8688), ("set14", 3): (27.55, 0.7742), ("set14", 4): (26.00, 0.7027),
    ("bsd100", 2): (29.56, 0.8431), ("bsd100", 3): (27.21, 0.7385), ("bsd100", 4): (25.96, 0.6675),
    ("urban100", 2): (26.88, 0.8403), ("urban100", 3): (24.46, 0.7349),
    ("urban100", 4): (23.14, 0.6577),
}


@register_method(
    "bicubic",
    family="bicubic",
    trainable=False,
    dtype="float64",
    published=PUBLISHED,
    description="MATLAB bicubic upscaling (the ILR); no parameters",
    label="Bicubic",
    roles=PaperRoles(table2=0),
)
def bicubic() -> nn.Module:
    """The identity on the ILR input: the harness already computes MATLAB bicubic."""
    return nn.Identity()
