"""srbench: a benchmark and ablation suite for single-image super-resolution."""

from benchmark.registry import MethodSpec, create_model, get_method, list_methods, register_method

__version__ = "0.1.0"
PROTOCOL = "drrn-matlab-v1"

__all__ = [
    "MethodSpec",
    "Run",
    "ablate",
    "compare",
    "inference_model",
    "load_results",
    "run",
    "score",
    "train",
    "PROTOCOL",
    "__version__",
    "create_model",
    "get_method",
    "list_methods",
    "register_method",
]


#: The public API, imported on first use (so ``import benchmark`` stays light):
#: name -> module that defines it.
_LAZY = {"run": "api", "score": "api", "train": "api", "ablate": "api", "Run": "api",
         "load_results": "api", "compare": "comparison", "inference_model": "inference"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"benchmark.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'benchmark' has no attribute {name!r}")
