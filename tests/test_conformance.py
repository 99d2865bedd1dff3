"""benchmark.conformance.check on every registered method, and on methods that break it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn as nn

from benchmark import registry
from benchmark.conformance import ConformanceError, check


@pytest.mark.parametrize("name", [spec.name for spec in registry.list_methods()])
def test_registered_method_conforms(name: str) -> None:
    # 12 x 12 rather than the default 24 x 24: the rules do not depend on the size, and the
    # paper-size DRCN and DRRN models take seconds per forward on a CPU.
    check(name, size=12)


@pytest.fixture()
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Registrations made by a test go to a copy of the registry."""
    registry.load_plugins()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    yield


class _Shrink(nn.Module):
    """Drops a border pixel: the shape of the ILR is not kept."""

    def forward(self, x):
        return x[..., 1:, 1:]


def test_shape_change_is_refused(isolated_registry: None) -> None:
    @registry.register_method("conformance_shrink", family="conformance", trainable=False)
    def shrink() -> nn.Module:
        return _Shrink()

    with pytest.raises(ConformanceError, match="output shape"):
        check("conformance_shrink")


class _Unsaved(nn.Module):
    """Its output depends on a random buffer that a checkpoint does not hold."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.register_buffer("offset", torch.rand(()), persistent=False)

    def forward(self, x):
        return self.conv(x) + self.offset


def test_checkpoint_round_trip_is_checked(isolated_registry: None) -> None:
    @registry.register_method("conformance_unsaved", family="conformance")
    def unsaved() -> nn.Module:
        return _Unsaved()

    with pytest.raises(ConformanceError, match="reloaded checkpoint"):
        check("conformance_unsaved")
