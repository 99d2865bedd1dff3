"""Third-party methods: ``--plugin`` files, the ``srbench.methods`` entry points, the example."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmark import cli, registry
from benchmark.conformance import check

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "my_method.py"

TINY_PLUGIN = textwrap.dedent(
    '''
    """A fixed (non-trainable) method defined outside the repository."""
    import torch.nn as nn

    from benchmark import register_method


    class Sharpen(nn.Module):
        def forward(self, x):
            return x


    @register_method("tiny", family="tiny", trainable=False, dtype="float64",
                     description="test plugin")
    def tiny() -> nn.Module:
        return Sharpen()
    '''
)


@pytest.fixture()
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Registrations made by a test go to a copy of the registry; plugin modules are unloaded."""
    registry.load_plugins()  # built-ins first, into the real registry
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    before = {name for name in sys.modules if name.startswith("srbench_plugin_")}
    yield
    for name in [n for n in sys.modules if n.startswith("srbench_plugin_")]:
        if name not in before:
            del sys.modules[name]


@pytest.fixture()
def plugin_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_method_plugin.py"
    path.write_text(TINY_PLUGIN)
    return path


def _has_command(name: str) -> bool:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return name in sub.choices


@pytest.mark.usefixtures("isolated_registry")
def test_plugin_file_registers_method(plugin_file: Path, capsys: pytest.CaptureFixture) -> None:
    if _has_command("methods"):
        assert cli.main(["--plugin", str(plugin_file), "methods"]) == 0
        assert "tiny" in capsys.readouterr().out
    else:
        registry.load_plugins([plugin_file])
    spec = registry.get_method("tiny")
    assert spec.trainable is False and spec.family == "tiny"
    assert "tiny" in [s.name for s in registry.list_methods()]
    registry.load_plugins([plugin_file])  # loading the same file again is a no-op


@pytest.mark.usefixtures("isolated_registry")
@pytest.mark.parametrize("where", ["global", "run"])
def test_plugin_method_runs_through_run(
    plugin_file: Path, datasets_root: Path, tmp_path: Path, where: str
) -> None:
    run_args = ["run", "--methods", "tiny", "--datasets", "set5", "--scales", "2",
                "--metrics", "psnr", "--data-root", str(datasets_root), "--offline",
                "--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "c"),
                "--jobs", "1", "--device", "cpu", "--quiet"]
    plugin = ["--plugin", str(plugin_file)]
    argv = plugin + run_args if where == "global" else run_args + plugin
    assert cli.main(argv) == 0
    (run_dir,) = (tmp_path / "results").iterdir()
    per_image = pd.read_csv(run_dir / "per_image.csv")
    assert set(per_image["method"]) == {"tiny"} and len(per_image) == 5
    assert set(per_image["protocol"]) == {"drrn-matlab-v1"}
    # The identity on the ILR is bicubic: Set5 x2 33.66 dB (published, docs/methods.md).
    assert per_image["psnr"].mean() == pytest.approx(33.66, abs=0.005)


@pytest.mark.usefixtures("isolated_registry")
def test_plugin_errors_exit_2(
    plugin_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["--plugin", str(tmp_path / "missing.py"), "run"]) == 2
    assert "--plugin:" in capsys.readouterr().err
    registry.load_plugins([plugin_file])
    other = tmp_path / "other"
    other.mkdir()
    (other / plugin_file.name).write_text(TINY_PLUGIN.replace('"tiny"', '"tiny2"'))
    registry.load_plugins([other / plugin_file.name])  # same file name, another folder
    assert registry.get_method("tiny2").description == registry.get_method("tiny").description
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("def oops(:\n")
    assert cli.main(["--plugin", str(broken), "run"]) == 2
    assert "cannot import" in capsys.readouterr().err


@pytest.mark.usefixtures("isolated_registry")
def test_entry_point_plugins_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site"
    package.mkdir()
    (package / "srbench_ep_plugin.py").write_text(TINY_PLUGIN.replace('"tiny"', '"tiny_ep"'))
    dist = package / "srbench_ep_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: srbench-ep-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[srbench.methods]\ntiny_ep = srbench_ep_plugin\n")
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.setattr(registry, "_LOADED", False)
    monkeypatch.delitem(sys.modules, "srbench_ep_plugin", raising=False)
    try:
        assert registry.get_method("tiny_ep").description == "test plugin"
    finally:
        sys.modules.pop("srbench_ep_plugin", None)


@pytest.mark.usefixtures("isolated_registry")
def test_example_plugin() -> None:
    registry.load_plugins([EXAMPLE])
    spec = registry.get_method("tiny_residual")
    assert spec.trainable and spec.config == {"channels": 32, "kernel": 3}
    model = registry.create_model("tiny_residual", channels=8)
    assert sum(p.numel() for p in model.parameters()) == 8 * 9 + 8 + 8 * 8 * 9 + 8 + 8 * 9 + 1
    x = torch.rand(1, 1, 12, 10)
    with torch.no_grad():
        assert torch.equal(model(x), x)  # the residual branch starts at zero
    assert spec.label == "Tiny Residual"  # registered without a label: the name title-cased
    check("tiny_residual")  # what the README tells plugin authors to run
