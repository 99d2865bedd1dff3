"""srbench outside its checkout: defaults of an installed package, and the built wheel itself.

The slow test builds the wheel, installs it (not editable) into a fresh virtual environment
that sits inside a foreign git repository, and runs the commands from there: the manifests
must come from the package, trained checkpoints must go to the user cache (never
``site-packages``), and results must carry the package version, not the foreign commit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmark import __version__, data, locations, results

REPO = Path(__file__).resolve().parent.parent
#: What the wheel is built from (a copy, so that the build leaves nothing in the checkout).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "benchmark", "methods")


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def _foreign_repo(path: Path) -> str:
    """A git repository at ``path`` with one commit; returns that commit's full sha."""
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("not srbench\n")
    _git(path, "init", "-q")
    _git(path, "add", "notes.txt")
    _git(path, "commit", "-q", "-m", "foreign")
    return _git(path, "rev-parse", "HEAD")


# ------------------------------------------------------------------------------ defaults
def test_installed_defaults_stay_out_of_site_packages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(locations, "source_root", lambda: None)  # as a wheel install sees it
    monkeypatch.setenv("SRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SRBENCH_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert locations.default_weights_dir() == tmp_path / "cache" / "trained"
    assert data.resolve_data_root() == tmp_path / "datasets"
    assert results.code_version() == __version__


def test_checkout_defaults_and_version() -> None:
    if Path(locations.__file__).resolve().parent.parent != REPO:
        pytest.skip(f"benchmark is imported from {locations.__file__}, not this checkout")
    assert locations.source_root() == REPO
    assert locations.default_weights_dir() == REPO / "weights"
    version = results.code_version()
    sha = locations.git_commit()
    assert version == (f"{__version__}+{sha}" if sha else __version__)


def test_a_foreign_repository_around_the_sources_gives_no_commit(tmp_path: Path) -> None:
    # A source tree vendored inside another repository is not srbench's own checkout.
    _foreign_repo(tmp_path / "foreign")
    tree = tmp_path / "foreign" / "vendor" / "srbench"
    (tree / "benchmark").mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", tree)
    shutil.copy(REPO / "benchmark" / "locations.py", tree / "benchmark")
    code = ("import importlib.util as u, sys; s = u.spec_from_file_location('loc', sys.argv[1]);"
            " m = u.module_from_spec(s); s.loader.exec_module(m);"
            " print(m.source_root(), m.git_commit())")
    out = subprocess.run([sys.executable, "-c", code, str(tree / "benchmark" / "locations.py")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(tree.resolve()), "None"]


def test_environment_names_the_libraries_and_processors() -> None:
    env = results.environment()
    assert set(env) == {"python", "torch", "numpy", "scipy", "opencv", "scikit-image", "pandas",
                        "cpu", "gpu"}
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["numpy"] and env["cpu"]


# --------------------------------------------------------------------------------- wheel
def _build_wheel(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(REPO / name, src / name)
    # --no-build-isolation and --no-index: the installed setuptools builds it, offline.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(tmp_path / "dist"), str(src)], check=True)
    (wheel,) = (tmp_path / "dist").glob("srbench-*.whl")
    return wheel


def _venv(path: Path, wheel: Path) -> Path:
    """A venv that sees the system packages (torch etc.; nothing is downloaded) with the
    wheel installed in it, shadowing any editable install of srbench outside it."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(path)],
                   check=True)
    python = path / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--force-reinstall", str(wheel)], check=True)
    return python


@pytest.mark.slow
def test_wheel_runs_every_command_outside_the_checkout(tmp_path: Path) -> None:
    foreign = tmp_path / "elsewhere"
    foreign_sha = _foreign_repo(foreign)
    python = _venv(foreign / ".venv", _build_wheel(tmp_path))  # the venv inside the foreign repo
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no checkout on the path
    env.update(SRBENCH_CACHE=str(cache), MPLBACKEND="Agg")
    data_root = os.environ.get("SRBENCH_DATA", "")
    has_data = bool(data_root) and Path(data_root).is_dir()

    def cli(*args: str) -> str:
        done = subprocess.run([str(python), *args], cwd=foreign, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"{args}: {done.stderr[-2000:]}"
        return done.stdout

    site = Path(cli("-c", "import benchmark, methods; print(benchmark.__file__); "
                          "print(methods.__file__)").split()[0])
    assert (foreign / ".venv") in site.parents, site  # the wheel, not an editable checkout
    cli("-m", "benchmark", "--help")
    if has_data:
        assert "5/5 files ok" in cli("-m", "benchmark", "datasets", "verify", "set5")
    dataset = "set5" if has_data else "sample"  # without SRBENCH_DATA: the embedded set
    cli("-m", "benchmark", "run", "--methods", "bicubic", "--datasets", dataset, "--scales", "2",
        "--offline", "--no-report", "--quiet", "--jobs", "1")
    (run_dir,) = (foreign / "results").iterdir()  # results go to ./results of the cwd
    rows = pd.read_csv(run_dir / "per_image.csv", dtype={"version": str})
    assert (rows["status"] == "ok").all() and len(rows) == 5
    assert set(rows["version"]) == {__version__}, "the foreign repository's commit leaked in"
    assert not rows["version"].str.contains(foreign_sha[:7]).any()
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert meta["version"] == __version__ and meta["environment"]["torch"]

    sets = ("set5", "set5") if has_data else ("sample_train", "sample")
    out = cli("-m", "benchmark", "train", "srcnn_915", "--scales", "2", "--iterations", "5",
              "--offline", "--quiet", "--device", "cpu", "--train-threads", "1",
              f"--set=train_set={sets[0]}", f"--set=val_set={sets[1]}", "--set=max_patches=64",
              "--set=batch_size=4",
              "--set=val_every=0", "--set=log_every=5", "--set=ckpt_every=5")
    checkpoint = Path(out.strip().splitlines()[-1])
    assert checkpoint.parent == cache / "trained" and checkpoint.is_file(), out
    written = [p for p in (foreign / ".venv").rglob("*.safetensors")
               if p.parent.name != "zoo"]  # benchmark/zoo: the packaged srbench models
    assert not written, written
    assert len(list((foreign / ".venv").rglob("benchmark/zoo/*.safetensors"))) == 3
    if not has_data:
        pytest.skip("SRBENCH_DATA is not set: `datasets verify set5` was not run and `sample` "
                    "stood in for set5 (the rest passed)")
