"""Where each evaluated model comes from: a fixed method, a weight file, the zoo, or training.

``--weights`` absent: a method the zoo has is evaluated with its published model (no
training), any other learned method is trained with the recipe (or a finished training of
the same plan is reused). An explicit ``--recipe`` means "train". ``--weights published``
(or ``METHOD=published``) asks for the zoo; ``METHOD=FILE`` for a file, which is recognised
as a zoo entry by its sha256 when it is one.

A per-scale model (a zoo entry for one scale, or a checkpoint of a method whose recipe says
``per_scale_models``) serves only its scales: asking it for another is a one-line error.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from benchmark import harness, registry, zoo
from benchmark.weights import WeightsError

PUBLISHED = "published"


@dataclass
class SourcePlan:
    """How to get the models of one run (what ``run``'s options say)."""

    scales: list[int]
    weights: dict[str, str] = field(default_factory=dict)  # method -> FILE or "published"
    recipe: str | None = None  # None: not given (zoo first); else train with it
    overrides: dict[str, Any] = field(default_factory=dict)
    offline: bool = False
    data_root: Path | None = None
    weights_dir: str | None = None
    weights_search: list[str] = field(default_factory=list)
    device: str = "auto"
    train_threads: int | None = None
    tile: int | None = None
    progress: bool = True
    fallbacks: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def resolve_recipe(name: str, device: str) -> str:
    """``auto``: the GPU budget recipe (``fast``) on CUDA, the CPU one (``quick``) otherwise."""
    if name != "auto":
        return name
    return "fast" if harness.resolve_device(device).type == "cuda" else "quick"


def training_data_fallback(recipe: str, root: Path | None, offline: bool,
                           method: str | None = None) -> dict[str, Any]:
    """Recipe overrides for a machine that cannot have the recipe's data.

    The recipe's training set (train291) and validation set (Set5) are fetched when missing
    unless ``offline``; when that fails, training uses the embedded ``sample_train`` photographs
    and validates on ``sample``, said here and recorded in the checkpoint and every row's
    ``recipe`` ("quick(x2, on sample_train)"). With ``method``, its own recipe's sets (e.g.
    SRCNN's T91) are the ones checked.
    """
    from benchmark import data, trainer

    if method is None:
        params = trainer.recipe_params(recipe)
    else:
        plan = trainer.plan_training(method, recipe)
        params = {**plan.params, **plan.execution}
    out: dict[str, Any] = {}
    for key, fallback in (("train_set", "sample_train"), ("val_set", "sample")):
        try:
            data.list_images(params[key], root, offline=offline, progress=False)
        except data.DatasetError as exc:
            print(f"note: {key} {params[key]} is not available ({exc}); using the embedded "
                  f"'{fallback}' set instead", file=sys.stderr)
            out[key] = fallback
    return out


def parse_weights(text: str | None, specs: Sequence[registry.MethodSpec]) -> dict[str, str]:
    """``published``, ``FILE`` (one learned method) or ``METHOD=FILE|published,...``.

    Raises ValueError with a one-line message for names not among ``specs``, methods without
    weights, missing files, or a bare FILE with several learned methods.
    """
    if not text:
        return {}
    names = [s.name for s in specs]
    learned = [s.name for s in specs if s.trainable]
    if text.strip() == PUBLISHED:
        return {name: PUBLISHED for name in learned}
    mapping: dict[str, str] = {}
    for item in [i.strip() for i in text.split(",") if i.strip()]:
        if "=" in item:
            name, _, value = item.partition("=")
            name, value = name.strip().lower(), value.strip()
            if name not in names:
                raise ValueError(f"--weights: {name!r} is not among --methods ({', '.join(names)})")
        elif len(learned) == 1 and not mapping:
            name, value = learned[0], item
        else:
            raise ValueError("--weights FILE needs exactly one learned method in --methods; "
                             "use --weights METHOD=FILE,... or --weights published")
        if not registry.get_method(name).trainable:
            raise ValueError(f"--weights: {name} has no weights")
        if value != PUBLISHED and not Path(value).is_file():
            raise ValueError(f"--weights: {value} is not a file")
        if value == PUBLISHED and not zoo.has_method(name):
            raise ValueError(f"--weights: the zoo has no published model for {name}; "
                             "train it (--recipe) or pass METHOD=FILE")
        mapping[name] = value
    return mapping


def build_runs(specs: Sequence[registry.MethodSpec], plan: SourcePlan) -> list[harness.MethodRun]:
    """A ready model per method and scale group, in ``specs`` order."""
    runs: list[harness.MethodRun] = []
    for spec in specs:
        if not spec.trainable:
            config = registry.resolve_config(spec.name)
            runs.append(harness.MethodRun(spec, config, spec.factory(**config), tile=plan.tile))
        elif spec.name in plan.weights and plan.weights[spec.name] != PUBLISHED:
            runs.append(_file_run(spec, Path(plan.weights[spec.name]), plan))
        elif plan.weights.get(spec.name) == PUBLISHED or (
                plan.recipe is None and zoo.has_method(spec.name)):
            runs.extend(_zoo_runs(spec, plan))
        else:
            runs.extend(_trained_runs(spec, plan))
    return runs


def describe(run: harness.MethodRun) -> str:
    """One line per model for the printed summary: which source served which scales."""
    scales = "all scales" if run.scales is None else "x" + ",x".join(map(str, run.scales))
    if not run.spec.trainable:
        return f"{run.spec.name}: fixed method, {scales}"
    if run.weights.startswith("zoo:"):
        entry = next(e for e in zoo.entries() if run.weights == e.label)
        kind = "zoo model" if entry.provenance == "srbench-trained" else "published model"
        return f"{run.spec.name}: {kind} {entry.source_line}, {scales}"
    return f"{run.spec.name}: {run.recipe} weights {run.weights}, {scales}"


def _load(spec: registry.MethodSpec, path: Path, weights_label: str, recipe_default: str,
          scales: Sequence[int] | None, plan: SourcePlan) -> harness.MethodRun:
    from benchmark import trainer, weights

    model, config, meta = weights.build_model(spec.name, path)
    return harness.MethodRun(
        spec, config, model, weights=weights_label, recipe=trainer.recipe_label(meta, recipe_default),
        tile=plan.tile, scales=tuple(scales) if scales is not None else None,
    )


def _zoo_runs(spec: registry.MethodSpec, plan: SourcePlan) -> list[harness.MethodRun]:
    found = zoo.resolve(spec.name, plan.scales, offline=plan.offline,
                        extra_dirs=plan.weights_search, data_root=plan.data_root,
                        progress=plan.progress)
    return [_load(spec, path, entry.label, PUBLISHED, scales, plan)
            for entry, path, scales in found]


def _file_run(spec: registry.MethodSpec, path: Path, plan: SourcePlan) -> harness.MethodRun:
    """A given file; a zoo file or a per-scale checkpoint must serve every evaluated scale."""
    from benchmark import weights

    entry = zoo.entry_by_sha256(weights.file_sha256(path))
    if entry is not None:
        served, label = list(entry.scales), entry.label
    else:
        served, label = _checkpoint_scales(spec, path), str(path)
    if served is not None:
        missing = [s for s in plan.scales if s not in served]
        if missing:
            raise WeightsError(
                f"{path}: a per-scale {spec.name} model for x{', x'.join(map(str, served))}; "
                f"it cannot evaluate x{', x'.join(map(str, missing))} (use --scales "
                f"{','.join(map(str, served))})")
    return _load(spec, path, label, PUBLISHED, served, plan)


def _checkpoint_scales(spec: registry.MethodSpec, path: Path) -> list[int] | None:
    """The scales an srbench checkpoint of a per-scale method was trained on, else None."""
    from benchmark import weights

    if not spec.recipe.get("per_scale_models"):
        return None
    try:
        _, meta = weights.load_checkpoint(path, spec.name)
    except WeightsError:
        return None  # a published format: it records no scale
    scales = meta.get("scales")
    return [int(s) for s in scales] if scales else None


def _trained_runs(spec: registry.MethodSpec, plan: SourcePlan) -> list[harness.MethodRun]:
    """Train (or reuse) on the run's scales: one multi-scale model, or one per scale."""
    from benchmark import trainer

    recipe = resolve_recipe(plan.recipe or "auto", plan.device)
    params = trainer.plan_training(spec.name, recipe).params  # the method's own recipe part
    if (spec.name, recipe) not in plan.fallbacks:
        plan.fallbacks[spec.name, recipe] = training_data_fallback(
            recipe, plan.data_root, plan.offline, spec.name)
    groups = [[s] for s in plan.scales] if spec.recipe.get("per_scale_models") \
        else [sorted(plan.scales)]
    runs = []
    for scales in groups:
        overrides: Mapping[str, Any] = {**plan.fallbacks[spec.name, recipe], **plan.overrides}
        trained = sorted(int(x) for x in overrides.get("scales", params["scales"]))
        if "scales" in overrides and not set(scales) <= set(trained):
            print(f"note: {spec.name} is trained on x{', x'.join(map(str, trained))} (--set "
                  f"scales); rows at other scales are evaluated at scales it never saw, and "
                  f"their recipe column says so", file=sys.stderr)
        elif "scales" not in overrides and trained != scales:
            print(f"note: {spec.name} is trained with the {recipe} recipe on "
                  f"x{', x'.join(map(str, scales))}, the scales this run evaluates",
                  file=sys.stderr)
            overrides = {**overrides, "scales": scales}
        with trainer.cpu_threads(plan.train_threads, plan.device):
            path = trainer.find_or_train(
                spec.name, recipe, overrides, data_root=plan.data_root, offline=plan.offline,
                weights_dir=plan.weights_dir, device=plan.device, progress=plan.progress)
        per_scale = scales if len(groups) > 1 else None
        runs.append(_load(spec, path, str(path), recipe, per_scale, plan))
    return runs
