"""Built-in SR methods, one module per family; importing this package registers them all."""

from methods import bicubic  # noqa: F401
from methods import drcn, drrn, srcnn, vdsr  # noqa: F401
