"""Text helpers of the report: file-name-safe slugs, number formatting, dataset names."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

DATASET_DISPLAY = {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100",
                   "urban100": "Urban100", "sample": "sample"}


def slug(text: str, max_len: int = 48) -> str:
    """A file-name-safe form of ``text``: ``[A-Za-z0-9._-]`` only, never empty or hidden.

    Names that had to change get a short hash of the original appended, so that two names
    that differ only in unsafe characters do not collide.
    """
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._") or "x"
    clean = clean[:max_len]
    if clean != text:
        clean = f"{clean}-{hashlib.sha1(str(text).encode()).hexdigest()[:8]}"
    return clean


def fmt(value: Any, digits: int, signed: bool = False) -> str:
    """``value`` with ``digits`` decimals, or ``n/a`` when missing or not finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    if not math.isfinite(number):
        return "n/a"
    return f"{number:+.{digits}f}" if signed else f"{number:.{digits}f}"


def fmt_count(value: Any) -> str:
    """A count with thousands separators (``664,704``), or ``n/a`` when missing."""
    return "n/a" if fmt(value, 0) == "n/a" else f"{int(float(value)):,}"


def exact(value: Any) -> str:
    """Full-precision text of a number (as in the CSV files), empty when missing."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return f"{number:.10g}" if math.isfinite(number) else ""


def _ds(name: str) -> str:
    return DATASET_DISPLAY.get(name, name)

