"""The model zoo: manifest, local search by sha256, downloads, ``--weights published``,
per-scale models and the choice between the zoo and training."""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest
import torch

from benchmark import cli, data, registry, sources, weights, zoo

SAMPLE_N = len(data.SAMPLE_FILES)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served on http://127.0.0.1:PORT/ (404 for what it lacks)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _tiny_srcnn_checkpoint(path: Path, scales: list[int], seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = registry.resolve_config("srcnn_915")
    model = registry.create_model("srcnn_915", **config)
    weights.save_checkpoint(path, model, method="srcnn_915", config=config,
                            meta={"recipe": "quick", "scales": scales})
    return path


def _manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries: dict) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"format_version": 1, "weights": entries}))
    monkeypatch.setattr(weights, "MANIFEST_PATH", path)


def _entry(file: Path, url: str, scales: list[int], **changes: object) -> dict:
    entry = {"method": "srcnn_915", "methods": ["srcnn_915"], "format": "srbench-checkpoint",
             "filename": file.name, "url": url, "sha256": weights.file_sha256(file),
             "size": file.stat().st_size, "scales": scales, "provenance": "srbench-trained",
             "official": False, "license": "test"}
    entry.update(changes)
    return entry


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache, no $SRBENCH_WEIGHTS, no data folder (so no reference copies)."""
    monkeypatch.setenv("SRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SRBENCH_WEIGHTS", raising=False)
    monkeypatch.delenv("SRBENCH_DATA", raising=False)
    empty = tmp_path / "no-data"
    empty.mkdir()
    return empty


def _run(empty: Path, tmp_path: Path, *extra: str) -> int:
    return cli.main(["run", "--methods", "bicubic,srcnn_915", "--scales", "2", "--datasets", "sample",
                     "--metrics", "psnr", "--data-root", str(empty), "--device", "cpu",
                     "--quiet", "--no-report", "--jobs", "1",
                     "--results-dir", str(tmp_path / "results"), *extra])


def test_fresh_cache_downloads_verifies_and_evaluates_a_zoo_file(
    served: tuple[Path, str], fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    www, url = served
    file = _tiny_srcnn_checkpoint(www / "m_x2.safetensors", [2])
    _manifest(tmp_path, monkeypatch, {"tiny_x2": _entry(file, f"{url}/m_x2.safetensors", [2])})
    entry = zoo.entries()[0]
    assert zoo.status(entry)[0] == "absent"
    assert _run(fresh, tmp_path, "--weights", "published") == 0
    out = capsys.readouterr().out
    assert "srcnn_915: zoo model tiny_x2 (srbench-trained, UNOFFICIAL" in out
    assert zoo.status(entry) == ("cached", zoo.cache_path(entry))
    (run,) = (tmp_path / "results").iterdir()
    rows = pd.read_csv(run / "per_image.csv")
    learned = rows[rows["method"] == "srcnn_915"]
    assert len(learned) == SAMPLE_N and (learned["status"] == "ok").all()
    assert set(learned["weights"]) == {entry.label} and set(learned["recipe"]) == {"quick(x2)"}
    # Offline, the cached file serves again; without --weights the zoo is the default.
    assert _run(fresh, tmp_path, "--offline") == 0


@pytest.mark.parametrize("fault, expected", [
    ("checksum", "checksum mismatch"),
    ("truncated", "bytes, expected"),
    ("missing", "404"),
])
def test_zoo_download_faults_are_one_line_and_leave_nothing(
    served: tuple[Path, str], fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture, fault: str, expected: str,
) -> None:
    www, url = served
    file = _tiny_srcnn_checkpoint(www / "m_x2.safetensors", [2])
    entry = _entry(file, f"{url}/m_x2.safetensors", [2])
    if fault == "checksum":
        entry["sha256"] = "0" * 64
    elif fault == "truncated":
        file.write_bytes(file.read_bytes()[: entry["size"] // 2])
    else:
        entry["url"] = f"{url}/nowhere.safetensors"
    _manifest(tmp_path, monkeypatch, {"tiny_x2": entry})
    assert _run(fresh, tmp_path, "--weights", "published") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0].lower()
    cache = tmp_path / "cache" / "weights"
    assert not cache.exists() or not [p for p in cache.rglob("*") if p.is_file()]
    # Models are resolved before a run folder is made: no empty run is left behind.
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())


def test_a_failed_download_falls_back_to_a_local_entry_and_says_so(
    served: tuple[Path, str], fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """No network for the official file: the local srbench-trained one serves, with a note."""
    www, url = served
    official = _tiny_srcnn_checkpoint(www / "official.safetensors", [2])
    local = tmp_path / "local"
    local.mkdir()
    ours = _tiny_srcnn_checkpoint(local / "ours.safetensors", [2], seed=1)  # its own sha256
    _manifest(tmp_path, monkeypatch, {
        "official_x2": _entry(official, f"{url}/gone.safetensors", [2],
                              provenance="official release", official=True),
        "ours_x2": _entry(ours, f"{url}/ours.safetensors", [2]),
    })
    monkeypatch.setenv("SRBENCH_WEIGHTS", str(local))
    assert _run(fresh, tmp_path) == 0
    captured = capsys.readouterr()
    assert "official_x2 could not be downloaded" in captured.err and "using the local ours_x2" \
        in captured.err
    assert "srcnn_915: zoo model ours_x2 (srbench-trained" in captured.out


def test_local_files_are_found_by_sha256_whatever_their_names(
    fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "my-weights" / "deep"
    folder.mkdir(parents=True)
    file = _tiny_srcnn_checkpoint(folder / "renamed.bin", [2])
    (folder / "other.bin").write_bytes(b"x" * file.stat().st_size)  # same size, other bytes
    _manifest(tmp_path, monkeypatch, {"tiny_x2": _entry(file, None, [2])})
    (entry,) = zoo.entries()
    assert zoo.locate(entry) is None
    monkeypatch.setenv("SRBENCH_WEIGHTS", str(tmp_path / "my-weights"))
    assert zoo.locate(entry) == file
    assert zoo.status(entry) == ("verified", file)


def test_per_scale_zoo_entries_serve_their_own_scale_and_refuse_others(
    fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
) -> None:
    files = {s: _tiny_srcnn_checkpoint(tmp_path / f"x{s}.safetensors", [s]) for s in (2, 3)}
    _manifest(tmp_path, monkeypatch,
              {f"tiny_x{s}": _entry(f, None, [s]) for s, f in files.items()})
    monkeypatch.setenv("SRBENCH_WEIGHTS", str(tmp_path))
    plan = sources.SourcePlan(scales=[2, 3], offline=True)
    runs = sources.build_runs([registry.get_method("srcnn_915")], plan)
    assert [(r.scales, r.weights.split("@")[0]) for r in runs] == \
        [((2,), "zoo:tiny_x2"), ((3,), "zoo:tiny_x3")]
    # No zoo file for x4: one line, before any work.
    assert _run(fresh, tmp_path, "--scales", "4", "--offline") == 2
    assert "the zoo has no model for x4" in capsys.readouterr().err
    # A per-scale file given explicitly cannot evaluate another scale.
    code = cli.main(["run", "--methods", "srcnn_915", "--weights", str(files[2]), "--scales", "3",
                     "--datasets", "sample", "--data-root", str(fresh), "--quiet", "--no-report",
                     "--results-dir", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert code == 2 and "per-scale srcnn_915 model for x2" in err and "--scales 2" in err


def test_an_explicit_recipe_trains_even_what_the_zoo_has(
    fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    file = _tiny_srcnn_checkpoint(tmp_path / "x2.safetensors", [2])
    _manifest(tmp_path, monkeypatch, {"tiny_x2": _entry(file, None, [2])})
    monkeypatch.setenv("SRBENCH_WEIGHTS", str(tmp_path))
    trained: list[str] = []

    def fake_train(method: str, recipe: str, *args: object, **kwargs: object) -> Path:
        trained.append(f"{method}:{recipe}")
        return file

    monkeypatch.setattr("benchmark.trainer.find_or_train", fake_train)
    spec = registry.get_method("srcnn_915")
    sources.build_runs([spec], sources.SourcePlan(scales=[2], offline=True))
    assert trained == []
    sources.build_runs([spec], sources.SourcePlan(scales=[2], offline=True, recipe="quick",
                                                  data_root=fresh))
    assert trained == ["srcnn_915:quick"]


def test_headline_methods_use_the_published_models_without_training(
    reference_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """`run --methods drrn,vdsr` with the weights at hand trains nothing and names its models."""
    monkeypatch.setenv("SRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SRBENCH_WEIGHTS", str(reference_root))

    def no_training(*args: object, **kwargs: object) -> Path:
        raise AssertionError("nothing may be trained")

    monkeypatch.setattr("benchmark.trainer.find_or_train", no_training)
    specs = [registry.get_method(n) for n in ("drrn", "vdsr")]
    runs = sources.build_runs(specs, sources.SourcePlan(scales=[2, 3, 4], offline=True))
    lines = [sources.describe(r) for r in runs]
    assert lines == [
        "drrn: published model drrn_b1u25_jt827859032 (third-party port, UNOFFICIAL; "
        "sha256 96bd152619bc), x2,x3,x4",
        "vdsr: published model vdsr_official (converted official; sha256 f61316666084), "
        "x2,x3,x4",
    ]
    assert runs[0].config["relu_skip"] is True and runs[0].config["bn"] is False


def test_every_manifest_entry_is_complete() -> None:
    for entry in zoo.entries():
        raw = weights.load_weights_manifest()[entry.name]
        assert entry.methods and all(registry.get_method(m) for m in entry.methods)
        assert len(entry.sha256) == 64 and entry.size > 0 and entry.scales
        assert entry.provenance in zoo.PROVENANCE_RANK and entry.license
        assert raw["reference"]["psnr"] and raw["reference"]["source"]
        if entry.packaged:
            assert zoo.locate(entry) == zoo.PACKAGE_DIR / entry.packaged, entry.name
            assert "command" in raw
        else:
            assert raw["source"]["commit"] and entry.url
