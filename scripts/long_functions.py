"""List the functions and methods of ``benchmark/`` and ``methods/`` longer than N lines.

A function's length is its source span, from ``def`` (or its first decorator) to its last
line, comments and blank lines included, less its docstring: documentation (a numpy-style
parameter list can be longer than the code) is not what makes a function hard to follow.

Usage::

    python scripts/long_functions.py [--max-lines 80] [PATH ...]

Prints ``file:line  length  name`` for each, longest first; exit status 1 if any.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = (REPO / "benchmark", REPO / "methods")


def _docstring_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """How many lines the docstring of ``function`` spans (0 without one)."""
    first = function.body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return (first.end_lineno or first.lineno) - first.lineno + 1
    return 0


def long_functions(path: Path, max_lines: int) -> list[tuple[int, int, str]]:
    """``(line, length, qualified name)`` of every function in ``path`` over ``max_lines``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                length = (child.end_lineno or child.lineno) - start + 1 - _docstring_lines(child)
                if length > max_lines:
                    found.append((start, length, name))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=list(DEFAULT_PATHS),
                        help="files or folders (default: benchmark/ and methods/)")
    parser.add_argument("--max-lines", type=int, default=80, metavar="N",
                        help="longest allowed function (default 80)")
    args = parser.parse_args()
    files = sorted(f for p in args.paths for f in (p.rglob("*.py") if p.is_dir() else [p]))
    rows = [(length, f, line, name) for f in files
            for line, length, name in long_functions(f, args.max_lines)]
    for length, f, line, name in sorted(rows, key=lambda r: -r[0]):
        shown = f.relative_to(REPO) if f.is_relative_to(REPO) else f
        print(f"{shown}:{line}  {length}  {name}")
    return 1 if rows else 0


if __name__ == "__main__":
    sys.exit(main())
