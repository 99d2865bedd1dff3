"""srbench: a benchmark and ablation suite for single-image super-resolution."""

from benchmark.registry import MethodSpec, create_model, get_method, list_methods, register_method

__version__ = "0.1.0"
PROTOCOL = "drrn-matlab-v1"

__all__ = [
    "MethodSpec",
    "compare",
    "PROTOCOL",
    "__version__",
    "create_model",
    "get_method",
    "list_methods",
    "register_method",
]


def __getattr__(name: str):  # lazy: ``benchmark.compare`` imports scipy/pandas only when used
    if name == "compare":
        from benchmark.comparison import compare

        return compare
    raise AttributeError(f"module 'benchmark' has no attribute {name!r}")
