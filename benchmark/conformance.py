"""A conformance check of one registered method, for plugin authors and the suite's tests.

:func:`check` builds the method with its registered config, runs it on a small ILR and checks
what the harness and the trainer rely on: a display label, an output of the input's shape,
importers of known containers and, for a trainable method, a checkpoint that round-trips to
identical outputs. A plugin author runs it in a test of their own::

    from benchmark.conformance import check
    check("tiny_residual")  # raises ConformanceError naming the first rule broken
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from benchmark.formats import CONTAINERS
from benchmark.registry import MethodSpec, create_model, get_method


class ConformanceError(AssertionError):
    """A method breaks the contract of :class:`benchmark.registry.MethodSpec`; the message
    is one line naming the method and the rule."""


def check(method: str | MethodSpec, *, size: int = 24) -> None:
    """Check that the registered ``method`` fits the suite (see the module docstring).

    Parameters
    ----------
    method : str or MethodSpec
        Registry name or spec.
    size : int
        Side of the square ILR ``(1, 1, size, size)`` in [0, 1] the model is run on.

    Raises
    ------
    ConformanceError
        The first rule the method breaks.
    """
    spec = get_method(method) if isinstance(method, str) else method

    def require(ok: bool, rule: str) -> None:
        if not ok:
            raise ConformanceError(f"method {spec.name!r}: {rule}")

    require(isinstance(spec.label, str) and bool(spec.label.strip()), "has no display label")
    for fmt, importer in spec.importers.items():
        require(importer.container in CONTAINERS,
                f"importer {fmt!r} reads {importer.container!r}, not one of {CONTAINERS}")
    dtype = getattr(torch, spec.dtype, None)
    require(isinstance(dtype, torch.dtype), f"dtype {spec.dtype!r} is not a torch dtype")
    model = create_model(spec.name)
    require(isinstance(model, torch.nn.Module), "factory did not return a torch.nn.Module")
    # A fixed seed: the same input for every run, so that a failure can be reproduced.
    x = torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(0)).to(dtype)
    y = _forward(model, x)
    require(isinstance(y, torch.Tensor), f"forward returned {type(y).__name__}, not a tensor")
    require(tuple(y.shape) == tuple(x.shape),
            f"output shape {tuple(y.shape)} differs from the input's {tuple(x.shape)}")
    require(bool(torch.isfinite(y).all()), "output has non-finite values")
    if not spec.trainable:
        return
    from benchmark.weights import load_model, save_checkpoint  # safetensors: only when needed

    with tempfile.TemporaryDirectory(prefix="srbench-conformance-") as tmp:
        path = save_checkpoint(Path(tmp) / f"{spec.name}.safetensors", model, method=spec.name)
        loaded, _ = load_model(path, spec.name)
    require(torch.equal(_forward(loaded, x), y),
            "a saved and reloaded checkpoint gives different outputs")


def _forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode output for ``x`` in ``x``'s dtype, as the harness runs a model."""
    model = model.to(x.dtype).eval()
    with torch.no_grad():
        return model(x)
