"""Method variants: one (method, config, weights, recipe) as the report labels and orders it.

A :class:`Variant` says whether its recipe is comparable to the paper, whether its config is the
registered one, and its ablation class; :func:`paper_cell` gives its published values.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.registry import Ablation, MethodSpec, PaperRoles, list_methods
from benchmark.results import parse_config
from methods import drrn_paper

#: A method variant: one column of Table 2.
VARIANT = ["method", "config", "weights", "recipe"]
#: Appended by :func:`load_results` to a self-ensemble row's method (``vdsr+``), which makes it
#: a variant of its own; ``x8`` is the only ensemble (``benchmark.ensemble.ENSEMBLES``).
ENSEMBLE_SUFFIX = "+"

#: Recipes that reproduce (or are) the published training: comparable to the paper.
COMPARABLE_RECIPES = frozenset({"-", "", "paper", "released", "official", "published",
                                "pretrained"})


def is_comparable(recipe: str) -> bool:
    """True for a recipe that is (or reproduces) the paper's training, or none (fixed method)."""
    return str(recipe).strip().lower() in COMPARABLE_RECIPES


def _config_of(text: str) -> dict[str, Any]:
    """:func:`benchmark.results.parse_config`, or ``{}`` for a cell in neither of its forms."""
    try:
        return parse_config(text)
    except ValueError:
        return {}


@lru_cache(maxsize=None)
def _spec(method: str) -> MethodSpec | None:
    from benchmark.registry import get_method

    try:
        return get_method(method)
    except KeyError:
        return None


@lru_cache(maxsize=None)
def _cost(method: str, config: str, ensemble: str = "") -> dict[str, Any] | None:
    """:func:`benchmark.modelinfo.cost_table` of ``method`` built with ``config`` (``ensemble``
    ``"x8"``: 8 passes), or None when it cannot be built. Callers must not modify it."""
    from benchmark.modelinfo import cost_table

    spec = _spec(method)
    if spec is None:
        return None
    cfg = {k: v for k, v in _config_of(config).items() if k in spec.config}
    try:
        return cost_table(method, ensemble, **cfg)
    except Exception:  # a plugin that cannot be built on the meta device, a bad config
        return None


def _params(method: str, config: str) -> float:
    """Parameter count of ``method`` built with ``config`` (NaN when it cannot be built)."""
    cost = _cost(method, config)
    return math.nan if cost is None else float(cost["params"])


@dataclass(frozen=True)
class Variant:
    """What the report knows about one (method, config, weights, recipe)."""

    method: str
    config: str
    weights: str
    recipe: str
    label: str
    comparable: bool
    default_config: bool       # the registered config (width cap of a reduced recipe aside)
    config_diff: str           # "B=3,U=4" where it differs from the registered config
    ablation: str | None       # the method's PaperRoles.ablation class: "DRRN_NS", ... or None
    blocks: int | None
    units: int | None
    depth: int | None
    ensemble: str = ""         # "x8" for a self-ensemble (method "vdsr+"), "" for a plain model

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.method, self.config, self.weights, self.recipe)

    @property
    def roles(self) -> PaperRoles:
        """The registered method's roles in the paper's tables; a plugin's defaults else."""
        spec = _spec(self.method)
        return spec.roles if spec is not None else PaperRoles()

    @property
    def model(self) -> str:
        """The registered method that makes the outputs: ``vdsr`` for ``vdsr+``."""
        return _split_ensemble(self.method)[0]

    @property
    def uid(self) -> str:
        return hashlib.sha1("\x1f".join(self.key).encode()).hexdigest()[:10]


def _split_ensemble(method: str) -> tuple[str, str]:
    """``("vdsr", "x8")`` for the self-ensemble ``vdsr+`` (:data:`ENSEMBLE_SUFFIX`), else
    ``(method, "")``."""
    if method.endswith(ENSEMBLE_SUFFIX) and _spec(method) is None:
        return method[:-len(ENSEMBLE_SUFFIX)], "x8"
    return method, ""


def describe_variant(method: str, config: str, weights: str, recipe: str) -> Variant:
    """Label, comparability and ablation class of a variant (see :class:`Variant`)."""
    spec = _spec(method)
    comparable = is_comparable(recipe)
    cfg = _config_of(config)
    diff = ""
    default = spec is not None
    found: Ablation | None = None
    if spec is not None:
        changed = {k: v for k, v in cfg.items() if k not in spec.config or spec.config[k] != v}
        diff = ",".join(f"{k}={v}" for k, v in sorted(changed.items()))
        ignore = set() if comparable else {"channels"}  # quick caps the width
        default = not (set(changed) - ignore) and set(cfg) >= set(spec.config)
        if spec.roles.ablation is not None:
            found = spec.roles.ablation({**spec.config, **cfg})
    # A self-ensemble has no spec of its own: no paper cell, no ablation class; its model's
    # label with a suffix.
    model, ensemble = _split_ensemble(method)
    name = _label(model) + (ENSEMBLE_SUFFIX if ensemble else "")
    label = f"{name} [{diff}]" if diff else name
    if not comparable:
        label += f" ({recipe})"
    blocks, units, depth = (found.blocks, found.units, found.depth) if found else (None,) * 3
    return Variant(method, config, weights, recipe, label, comparable, default, diff,
                   found.name if found else None, blocks, units, depth, ensemble)


def _label(method: str) -> str:
    """The registered display label of ``method``; an unregistered name as it is."""
    spec = _spec(method)
    return spec.label if spec is not None else method


def paper_cell(variant: Variant, dataset: str, scale: int) -> tuple[float, float]:
    """The registry's published (PSNR, SSIM) for a variant with the registered config, else NaN."""
    spec = _spec(variant.method)
    if spec is None or not variant.default_config:
        return (math.nan, math.nan)
    return spec.published.get((dataset, int(scale)), (math.nan, math.nan))


def _rank(method: str) -> float:
    """Position of ``method``'s column in the paper's Table 2; other methods come after."""
    spec = _spec(method)
    return math.inf if spec is None or spec.roles.table2 is None else spec.roles.table2


def _table2_methods() -> list[str]:
    """The registered methods that are columns of the paper's Table 2, in its order."""
    return sorted((s.name for s in list_methods() if s.roles.table2 is not None), key=_rank)


def _compared(v: Variant) -> bool:
    """A model of the paper's comparisons (Tables 2 and 3, Figure 1): not an ablation-only
    method, and of an ablation class only the main DRRN's."""
    return not v.roles.ablation_only and v.ablation in (None, drrn_paper.MAIN_CLASS)


def _order(variant: Variant) -> tuple:
    return (_rank(variant.method), variant.method, not variant.default_config, not variant.comparable,
            variant.config, variant.recipe, variant.weights)


def _variants(summary: pd.DataFrame) -> dict[tuple[str, str, str, str], Variant]:
    found: dict[tuple[str, str, str, str], Variant] = {}
    for key in summary[VARIANT].drop_duplicates().itertuples(index=False):
        found[tuple(key)] = describe_variant(*key)
    # Labels must tell columns apart: add the weights, else a counter, on a clash.
    by_label: dict[str, list[Variant]] = {}
    for v in found.values():
        by_label.setdefault(v.label, []).append(v)
    for label, group in by_label.items():
        if len(group) < 2:
            continue
        names = [Path(v.weights).name or v.weights for v in group]
        for i, v in enumerate(sorted(group, key=_order), 1):
            extra = Path(v.weights).name or v.weights
            if names.count(extra) > 1:
                extra += f" #{i}"
            found[v.key] = Variant(**{**v.__dict__, "label": f"{label} · weights {extra}"})
    return found

