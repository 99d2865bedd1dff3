"""Shared pytest fixtures.

Reference data is read in place, never copied: ``$SRBENCH_DATA`` points to the staged datasets
folder (e.g. ``/work/shared/datasets``) and the reference files live beside it in
``$SRBENCH_DATA/../reference``. Fixtures that need them skip with a reason when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def datasets_root() -> Path:
    """The staged datasets folder ``$SRBENCH_DATA`` (Set5/, Set14/, B100/, Urban100/, ...)."""
    value = os.environ.get("SRBENCH_DATA", "")
    if not value:
        pytest.skip("SRBENCH_DATA is not set: it must point to the staged datasets folder")
    root = Path(value)
    if not root.is_dir():
        pytest.skip(f"SRBENCH_DATA={value} is not a folder: the reference data is absent")
    return root


@pytest.fixture(scope="session")
def shared_root(datasets_root: Path) -> Path:
    """The shared data root ``$SRBENCH_DATA/..`` that holds ``datasets/`` and ``reference/``."""
    return datasets_root.resolve().parent


@pytest.fixture(scope="session")
def reference_root(shared_root: Path) -> Path:
    """``$SRBENCH_DATA/../reference``: golden metrics, MATLAB-made images and weights."""
    root = shared_root / "reference"
    if not root.is_dir():
        pytest.skip(f"{root} is missing: the reference data is absent")
    return root


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run a module's tiny convs on one torch thread (thread start-up dominates them)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A private ``$SRBENCH_CACHE`` shared by a module's tests, and one torch thread: tiny
    models run fastest on one, and a second thread waiting on a busy core makes every small
    op take milliseconds."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SRBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield
    torch.set_num_threads(threads)
