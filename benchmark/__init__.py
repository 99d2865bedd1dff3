"""srbench: a benchmark and ablation suite for single-image super-resolution."""

from benchmark.registry import MethodSpec, create_model, get_method, list_methods, register_method

__version__ = "0.1.0"
PROTOCOL = "drrn-matlab-v1"

__all__ = [
    "MethodSpec",
    "PROTOCOL",
    "__version__",
    "create_model",
    "get_method",
    "list_methods",
    "register_method",
]
