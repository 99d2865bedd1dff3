"""The DRRN paper's (Tai, Yang, Liu; CVPR 2017) figure and ablation values, in one place.

Table 2 lives in each method's ``published`` (its own module); this module holds the rest:
Table 4, the points of Figures 1, 6, 8 and 9, and the Set5 x3 levels the ablation studies
are compared with. docs/methods.md ("Other tables and figures the report redraws") says where
each number comes from. The report, the figures and ``benchmark.ablation`` read them here.
Plain data: importing it needs no torch beyond what the ``methods`` package imports.
"""

from __future__ import annotations

import math

#: (dataset, scale) of every value below unless stated: Table 4 is most likely Set5 x3.
PAPER_SET = ("set5", 3)

#: Table 4 (B3U4, d = 28): Set5 x3 PSNR by ablation class, in the table's row order; no SSIM.
TABLE4 = {"DRRN_NS_C": 33.92, "DRRN_NS": 33.97, "DRRN_C": 33.95, "DRRN": 33.99}
#: The B/U shape, as (B, U), every Table 4 model has.
TABLE4_SHAPE = (3, 4)
TABLE4_DEPTH = (1 + 2 * TABLE4_SHAPE[1]) * TABLE4_SHAPE[0] + 1
#: The registered method of each Table 4 class (``drrn`` at B3U4, the others at their defaults).
TABLE4_METHODS = {"drrn_ns_c": "DRRN_NS_C", "drrn_ns": "DRRN_NS", "drrn_c": "DRRN_C",
                  "drrn": "DRRN"}

#: The ablation class of the paper's main model (shared weights, multi-path): its one-block
#: models are the DRRN columns of Tables 2 and 3, every shape of it a point of Figures 1 and 6.
MAIN_CLASS = "DRRN"
#: Table 3's "VDSR re-implemented with BN" column: this ablation class at this depth.
TABLE3_PLAIN_STACK = ("VDSR", 20)

#: Figure 1: (label, parameters, Set5 x3 PSNR); RED30's PSNR is not known (NaN, not drawn).
FIGURE1 = [("SRCNN", 57e3, 32.75), ("VDSR", 665e3, 33.66), ("DRCN", 1774e3, 33.82),
           ("DRRN_B1U9", 297e3, 33.93), ("DRRN_B1U25", 297e3, 34.03),
           ("RED30", 4131e3, math.nan)]

#: Figure 6: (shape, depth, Set5 x3 PSNR, certain?); uncertain values come from a weaker
#: source. The other points of the paper's B/U grid are not known.
FIGURE6 = [("B2U3", 15, 33.76, True), ("B3U2", 16, 33.77, True), ("B1U25", 52, 34.03, True),
           ("B17U1", 52, 34.03, False), ("B3U8", 52, 34.04, False)]

#: Figure 8: the paper's series (ablation classes), whose points are the Table 4 values at
#: d = 28; the report also draws our DRRN_NS_C, last.
FIGURE8_PAPER_SERIES = ("VDSR", "DRRN_NS", "DRRN_C", "DRRN")
FIGURE8_SERIES = (*FIGURE8_PAPER_SERIES, "DRRN_NS_C")
#: Figure 8 draws B = 3 models (B3U2, B3U3, B3U4: d = 16, 22, 28) and the plain stack.
FIGURE8_BLOCKS = 3

#: Figure 9: its two panels, and category -> PSNR per panel; A+, SelfEx and CSCN are not in
#: the suite. A method's category is its ``PaperRoles.figure9``.
FIGURE9_SETS = (("set5", 3), ("set14", 3))
FIGURE9 = {
    "A+": (32.59, 29.13), "SelfEx": (32.58, 29.16), "SRCNN": (32.75, 29.28),
    "CSCN": (33.10, 29.41), "VDSR": (33.66, 29.77), "DRCN": (33.82, 29.76),
    "DRRN_B1U9": (33.93, math.nan), "DRRN_B1U25": (34.03, 29.96),
}


def _shape(blocks: int, units: int) -> str:
    return f"B{blocks}U{units}"


#: Set5 x3 PSNR of single ablation models, keyed by (registered method, B/U shape): Table 4
#: and Figure 6 (its uncertain points included).
LEVELS: dict[tuple[str, str], float] = {
    **{(method, _shape(*TABLE4_SHAPE)): TABLE4[name] for method, name in TABLE4_METHODS.items()},
    **{("drrn", shape): psnr for shape, _, psnr, _ in FIGURE6},
}
