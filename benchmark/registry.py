"""Method registry: a method is a spec, never a special case in the harness.

Methods live in the top-level ``methods`` package, one module per family, and register
themselves with :func:`register_method`. The harness, trainer and CLI only ever see
:class:`MethodSpec` objects and the modules built by :func:`create_model`.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, NamedTuple, TypeVar

if TYPE_CHECKING:  # torch loads in seconds; the methods' own modules import it when used
    import torch.nn as nn

    from benchmark.formats import Importer

#: Published mean (PSNR dB, SSIM) keyed by (dataset, scale), protocol drrn-matlab-v1.
Published = dict[tuple[str, int], tuple[float, float]]


class Ablation(NamedTuple):
    """Where one configuration sits in the paper's ablations (Table 4, Figures 6 and 8).

    ``name`` is the variant class, e.g. ``"DRRN"``, ``"DRRN_NS"`` or ``"VDSR"``; ``blocks``
    and ``units`` are B and U where the model has them; ``depth`` counts conv layers.
    """

    name: str
    blocks: int | None
    units: int | None
    depth: int


@dataclass(frozen=True)
class PaperRoles:
    """Which parts of the report's reproduction of the paper a method fills.

    The defaults are those of a plugin method: a column of Table 2 (and a row of Table 3,
    a point of Figure 1) when it has results, nothing else.

    Attributes
    ----------
    table2 : int or None
        Position of the method's column among the paper's Table 2 columns (0 first); that
        column is shown with the published values even without a result of ours.
    ablation_only : bool
        A model of the paper's ablations only: kept out of Tables 2 and 3 and Figure 1.
    figure9 : str
        Category of Figure 9 the method's registered configuration is drawn in ("": none).
    ablation : callable or None
        ``ablation(config) -> Ablation | None``: the ablation class of a full configuration
        of this method (None: not an ablation model).
    """

    table2: int | None = None
    ablation_only: bool = False
    figure9: str = ""
    ablation: Callable[[Mapping[str, Any]], Ablation | None] | None = None


@dataclass(frozen=True)
class MethodSpec:
    """Everything the suite needs to know about one method.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"drrn_b1u25"``.
    factory : callable
        ``factory(**config) -> torch.nn.Module``. The module maps the ILR (the bicubic-upscaled
        Y of docs/protocol.md step 3, a float tensor ``(N, 1, H, W)`` on the [0, 1] scale) to
        the SR Y channel of the same shape.
    family : str
        Method family (module under ``methods/``), e.g. ``"drrn"``.
    config : dict
        Default keyword arguments of ``factory`` (the paper's hyper-parameters).
    trainable : bool
        False for fixed methods (bicubic) that need no weights.
    dtype : str
        Inference precision, ``"float32"`` or ``"float64"``. Fixed methods run in float64 so
        that the protocol's rounding of ILR is bit-exact.
    recipe : dict
        Default training recipe overrides for this method (see ``benchmark.trainer``).
    published : dict
        Published ``(psnr, ssim)`` per ``(dataset, scale)``; absent cells are unknown.
    description : str
        One line for ``python -m benchmark methods``.
    label : str
        Display label in reports, e.g. ``"SRCNN 9-1-5"``; by default the name title-cased
        (``"tiny_residual"`` -> ``"Tiny Residual"``).
    roles : PaperRoles
        Where the method appears in the report's reproduction of the paper.
    importers : dict
        Published weight formats the method reads: format name (``"matconvnet-mat"``) ->
        :class:`benchmark.formats.Importer`; :func:`benchmark.weights.import_weights`
        dispatches through it.
    """

    name: str
    factory: Callable[..., nn.Module]
    family: str
    config: dict[str, Any] = field(default_factory=dict)
    trainable: bool = True
    dtype: str = "float32"
    recipe: dict[str, Any] = field(default_factory=dict)
    published: Published = field(default_factory=dict)
    description: str = ""
    label: str = ""
    roles: PaperRoles = field(default_factory=PaperRoles)
    importers: Mapping[str, Importer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.label:  # frozen: the default is derived once, here
            object.__setattr__(self, "label", default_label(self.name))


def default_label(name: str) -> str:
    """The display label of a method registered without one: ``"my_net"`` -> ``"My Net"``."""
    return name.replace("_", " ").title()


_REGISTRY: dict[str, MethodSpec] = {}
_LOADED = False
ENTRY_POINT_GROUP = "srbench.methods"


class UnknownMethodError(KeyError):
    """Raised for a method name that is not registered; the message suggests close matches."""

    def __str__(self) -> str:  # KeyError quotes its message; we want a plain line
        return str(self.args[0])


def register_method(
    name: str,
    *,
    family: str,
    config: dict[str, Any] | None = None,
    **spec_fields: Any,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering ``factory`` under ``name``.

    ``spec_fields`` are the other :class:`MethodSpec` fields (``label``, ``trainable``,
    ``dtype``, ``recipe``, ``published``, ``description``, ``roles``, ``importers``).
    Stack several decorators to register named configurations of one factory::

        @register_method("drrn_b1u9", family="drrn", config={"B": 1, "U": 9})
        @register_method("drrn", family="drrn", config={"B": 1, "U": 25})
        def drrn(**config): ...
    """

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        known = _REGISTRY.get(name)
        if known is not None and _qualified(known.factory) != _qualified(factory):
            raise ValueError(
                f"method {name!r} is already registered by {_qualified(known.factory)}"
            )
        _REGISTRY[name] = MethodSpec(
            name=name, factory=factory, family=family, config=dict(config or {}), **spec_fields
        )
        return factory

    return decorate


class PluginError(ImportError):
    """A plugin file or entry point that cannot be imported; the message is one line."""


def _qualified(factory: Callable[..., Any]) -> str:
    return f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', '?')}"


def load_plugins(paths: Iterable[str | Path] = ()) -> None:
    """Import the built-in ``methods`` package, entry-point plugins and plugin files.

    A broken entry point is reported with a warning and skipped, so that it cannot make
    every built-in method unusable. A plugin file that fails to import raises
    :class:`PluginError` and leaves nothing half-registered behind in ``sys.modules``.
    """
    global _LOADED
    if not _LOADED:
        importlib.import_module("methods")
        _LOADED = True
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                entry.load()
            except Exception as exc:  # a third-party bug must not break the suite
                warnings.warn(f"skipping method plugin {entry.value!r}: {exc}", stacklevel=2)
    for path in paths:
        path = Path(path).resolve()
        if not path.is_file():
            raise PluginError(f"plugin file not found: {path}")
        # Keyed by the full path, so two plugins with the same file name can coexist.
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
        module_name = f"srbench_plugin_{path.stem}_{digest}"
        if module_name in sys.modules:
            continue
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise PluginError(f"cannot import plugin {path}: not a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise PluginError(f"cannot import plugin {path}: {type(exc).__name__}: {exc}") from exc


def list_methods() -> list[MethodSpec]:
    """All registered methods, sorted by family then name."""
    load_plugins()
    return sorted(_REGISTRY.values(), key=lambda s: (s.family, s.name))


def suggest(name: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(name, choices, n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


T = TypeVar("T")


def lookup(table: Mapping[str, T], name: str, kind: str, error: type[Exception]) -> T:
    """``table[name]`` (case- and space-insensitive), else ``error`` with one line naming the
    closest ``kind`` names and listing all of them."""
    key = name.strip().lower()
    if key not in table:
        known = sorted(table)
        raise error(f"unknown {kind} {name!r}{suggest(key, known)}; known: {', '.join(known)}")
    return table[key]


def get_method(name: str) -> MethodSpec:
    """The spec registered as ``name``; :class:`UnknownMethodError` with a suggestion otherwise."""
    load_plugins()
    return lookup(_REGISTRY, name, "method", UnknownMethodError)


def resolve_config(name: str, **overrides: Any) -> dict[str, Any]:
    """The method's default configuration updated with ``overrides`` (unknown keys rejected)."""
    spec = get_method(name)
    unknown = set(overrides) - set(spec.config)
    if unknown:
        raise TypeError(
            f"{name}: unknown option(s) {sorted(unknown)}; options are {sorted(spec.config)}"
        )
    return {**spec.config, **overrides}


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build the registered method ``name`` with its paper defaults, updated by ``overrides``.

    Examples
    --------
    >>> create_model("drrn", B=3, U=4)  # doctest: +SKIP
    """
    spec = get_method(name)
    return spec.factory(**resolve_config(name, **overrides))
