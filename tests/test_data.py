"""Tests of benchmark.data: registry, manifests, verification, downloads and the sample set.

Tests that need the standard sets read them in place from ``$SRBENCH_DATA`` and skip when it
is absent. Download tests talk only to a local HTTP server bound to 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from benchmark import data

FOLDERS = {"set5": "Set5", "set14": "Set14", "bsd100": "B100", "urban100": "Urban100",
           "t91": "T91", "bsd200": "BSD200"}
COUNTS = {"set5": 5, "set14": 14, "bsd100": 100, "urban100": 100, "t91": 91, "bsd200": 200,
          "train291": 291}
HEX40 = re.compile(r"[0-9a-f]{40}")
HEX64 = re.compile(r"[0-9a-f]{64}")


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("srbench-cache")


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, _session_cache: Path) -> None:
    # Never touch ~/.cache, never follow a mirror or proxy from the caller's environment.
    monkeypatch.setenv("SRBENCH_CACHE", str(_session_cache))
    monkeypatch.delenv("SRBENCH_MIRROR", raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(data, "RETRY_DELAY_S", 0.0)


@pytest.fixture
def shared() -> Path:
    """The read-only shared data root, or a skip saying why there is none."""
    env = os.environ.get("SRBENCH_DATA", "")
    if not env:
        pytest.skip("SRBENCH_DATA is not set: the standard datasets are absent")
    root = Path(env)
    missing = [f for f in FOLDERS.values() if not (root / f).is_dir()]
    if missing:
        pytest.skip(f"SRBENCH_DATA={env} lacks {', '.join(missing)}")
    return root


def _sums(folder: Path) -> dict[str, str]:
    lines = (folder / "SHA256SUMS").read_text().splitlines()
    return {name: sha for sha, name in (line.split() for line in lines if line.strip())}


def _copy_set5(shared: Path, dest_root: Path, names: list[str]) -> Path:
    folder = dest_root / "Set5"
    folder.mkdir(parents=True)
    for name in names:
        shutil.copyfile(shared / "Set5" / name, folder / name)
    return folder


# ------------------------------------------------------------------------ registry, manifests


def test_names_and_aliases_resolve() -> None:
    names = [s.name for s in data.list_datasets()]
    assert names == ["set5", "set14", "bsd100", "urban100", "t91", "bsd200", "train291", "sample",
                     "sample_train"]
    for alias, name in [("B100", "bsd100"), ("b100", "bsd100"), (" Set5 ", "set5"),
                        ("URBAN100", "urban100"), ("Train_291", "train291"), ("T91", "t91")]:
        assert data.get_dataset(alias).name == name
    assert data.get_dataset("train291").parts == ("t91", "bsd200")
    for spec in data.list_datasets():
        assert data.get_dataset(spec.name) is spec


@pytest.mark.parametrize("typo, suggestion", [("set15", "set14"), ("urban10", "urban100"),
                                              ("bsd10", "bsd100")])
def test_unknown_name_suggests(typo: str, suggestion: str) -> None:
    with pytest.raises(data.UnknownDatasetError) as info:
        data.get_dataset(typo)
    msg = str(info.value)
    assert isinstance(info.value, KeyError)
    assert "\n" not in msg and msg.startswith(f"unknown dataset {typo!r}")
    assert f"did you mean '{suggestion}'" in msg or f"or '{suggestion}'" in msg
    assert "known: set5" in msg and "sample" in msg


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(data.UnknownDatasetError, match=r"^unknown dataset 'imagenet'; known: "):
        data.get_dataset("imagenet")


@pytest.mark.parametrize("name", list(FOLDERS))
def test_manifest_schema_and_pinned_urls(name: str) -> None:
    spec = data.get_dataset(name)
    man = data.load_manifest(name)
    assert set(man) == {"name", "folder", "source", "license_note", "files"}
    assert man["name"] == name and man["folder"] == spec.folder == FOLDERS[name]
    src = man["source"]
    assert HEX40.fullmatch(src["commit"]) and "/" in src["repo"] and src["path"]
    assert man["license_note"].strip()
    names = [f["name"] for f in man["files"]]
    assert len(names) == COUNTS[name] and names == sorted(names) and len(set(names)) == len(names)
    for f in man["files"]:
        assert HEX64.fullmatch(f["sha256"]) and f["size"] > 0
        assert Path(f["name"]).suffix in spec.extensions
        assert f["url"] == (f"https://raw.githubusercontent.com/{src['repo']}/{src['commit']}/"
                            f"{src['path']}/{f['name']}")


@pytest.mark.parametrize("name", list(FOLDERS))
def test_manifest_lists_exactly_the_shared_files(shared: Path, name: str) -> None:
    folder = shared / FOLDERS[name]
    on_disk = {p.name for p in folder.iterdir() if p.name != "SHA256SUMS"}
    files = {f["name"]: f for f in data.load_manifest(name)["files"]}
    assert set(files) == on_disk
    assert {n: f["sha256"] for n, f in files.items()} == _sums(folder)
    sizes = {n: (folder / n).stat().st_size for n in files}
    assert {n: f["size"] for n, f in files.items()} == sizes


def test_resolve_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SRBENCH_DATA", str(tmp_path / "env"))
    assert data.resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data.resolve_data_root(str(tmp_path / "arg")) == tmp_path / "arg"
    assert data.resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("SRBENCH_DATA")
    # Run from the checkout: its datasets folder (an installed wheel: ./datasets, test_wheel.py)
    assert data.resolve_data_root() == Path(data.__file__).resolve().parent.parent / "datasets"


# ------------------------------------------------------------------------ shared data


@pytest.mark.parametrize("name", list(COUNTS))
def test_list_images_counts_and_order(shared: Path, name: str) -> None:
    refs = data.list_images(name, shared, offline=True, progress=False)
    assert len(refs) == COUNTS[name]
    for leaf in data.get_dataset(name).parts or (name,):
        files = [r.path.name for r in refs if r.dataset == leaf and r.path is not None]
        assert files == sorted(files)  # MATLAB dir() order
    for r in refs:
        assert r.path is not None and r.path.is_file() and r.name == r.path.stem
        assert r.sha256 is not None and HEX64.fullmatch(r.sha256)


def test_set5_names_keep_stems(shared: Path) -> None:
    refs = data.list_images("set5", shared, offline=True, progress=False)
    assert [r.name for r in refs] == ["baby_GT", "bird_GT", "butterfly_GT", "head_GT", "woman_GT"]
    assert refs[0] == data.ImageRef("set5", "baby_GT", shared / "Set5" / "baby_GT.bmp",
                                    _sums(shared / "Set5")["baby_GT.bmp"])


def test_load_standard_image(shared: Path) -> None:
    ref = data.list_images("set5", shared, offline=True, progress=False)[0]
    img = ref.load()
    assert img.dtype == np.uint8 and img.shape == (512, 512, 3)


def test_verify_dataset_uses_the_digest_cache(shared: Path, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("SRBENCH_CACHE", str(tmp_path / "cache"))
    report = data.verify_dataset("set14", shared, progress=False)
    assert len(report) == 14 and {s for _, s in report} == {"ok"}
    assert report[0] == ("Set14/baboon.bmp", "ok")
    assert (tmp_path / "cache" / "sha256-cache.json").is_file()

    def no_hashing(path: object) -> str:
        raise AssertionError(f"rehashed {path}")

    monkeypatch.setattr(data, "file_sha256", no_hashing)
    assert data.verify_dataset("set14", shared, progress=False) == report


def test_datasets_table(shared: Path, tmp_path: Path) -> None:
    rows = {r["name"]: r for r in data.datasets_table(shared)}
    assert list(rows) == [s.name for s in data.list_datasets()]
    assert rows["set5"]["images"] == rows["set5"]["present"] == 5
    assert rows["set5"]["verified"] is True
    assert rows["train291"]["images"] == 291 and rows["train291"]["verified"] is True
    assert rows["bsd100"]["aliases"] == ["b100"]
    assert rows["urban100"]["source"].startswith("majedelhelou/denoising_datasets@")
    assert rows["sample"]["present"] == rows["sample"]["images"] >= 4
    assert rows["sample_train"]["present"] == rows["sample_train"]["images"] == 11
    assert not set(data.SAMPLE_FILES) & set(data.SAMPLE_TRAIN_FILES)  # evaluation stays unseen
    empty = {r["name"]: r for r in data.datasets_table(tmp_path)}
    assert empty["set14"]["missing"] == 14 and empty["set14"]["present"] == 0
    assert empty["set14"]["verified"] is False


# ------------------------------------------------------------------------ local checks


def test_checksum_mismatch_names_the_file(shared: Path, tmp_path: Path) -> None:
    folder = _copy_set5(shared, tmp_path, ["baby_GT.bmp", "bird_GT.bmp"])
    bad = folder / "bird_GT.bmp"
    raw = bytearray(bad.read_bytes())
    raw[-1] ^= 0xFF  # same size, different content
    bad.write_bytes(raw)
    actual = hashlib.sha256(raw).hexdigest()
    expected = _sums(shared / "Set5")["bird_GT.bmp"]
    with pytest.raises(data.DatasetError) as info:
        data.list_images("set5", tmp_path, offline=True, progress=False)
    msg = str(info.value)
    assert "\n" not in msg and str(bad) in msg and expected in msg and actual in msg
    assert bad.read_bytes() == raw  # the user's file is left alone
    assert dict(data.verify_dataset("set5", tmp_path, progress=False)) == {
        "Set5/baby_GT.bmp": "ok", "Set5/bird_GT.bmp": "mismatch",
        "Set5/butterfly_GT.bmp": "missing", "Set5/head_GT.bmp": "missing",
        "Set5/woman_GT.bmp": "missing"}


def test_changed_file_is_rehashed(shared: Path, tmp_path: Path) -> None:
    folder = _copy_set5(shared, tmp_path, ["head_GT.bmp"])
    assert dict(data.verify_dataset("set5", tmp_path, progress=False))["Set5/head_GT.bmp"] == "ok"
    path = folder / "head_GT.bmp"
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0x01
    path.write_bytes(raw)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    report = dict(data.verify_dataset("set5", tmp_path, progress=False))
    assert report["Set5/head_GT.bmp"] == "mismatch"


def test_truncated_file_is_caught_without_hashing(shared: Path, tmp_path: Path) -> None:
    folder = _copy_set5(shared, tmp_path, ["woman_GT.bmp"])
    with open(folder / "woman_GT.bmp", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(data.DatasetError, match=r"woman_GT\.bmp.*\(1000 bytes\)"):
        data.list_images("set5", tmp_path, offline=True, verify=False, progress=False)


def test_missing_files_offline(shared: Path, tmp_path: Path) -> None:
    _copy_set5(shared, tmp_path, ["baby_GT.bmp", "bird_GT.bmp"])
    with pytest.raises(data.DatasetError) as info:
        data.list_images("set5", tmp_path, offline=True, progress=False)
    assert str(info.value) == (f"set5: 3 of 5 files missing under {tmp_path / 'Set5'} "
                               "and --offline forbids downloading")
    assert not isinstance(info.value, data.DownloadError)


def test_extra_files_are_ignored_and_root_is_not_written(shared: Path, tmp_path: Path) -> None:
    names = [f["name"] for f in data.load_manifest("set5")["files"]]
    folder = _copy_set5(shared, tmp_path, names)
    (folder / "Thumbs.db").write_bytes(b"junk")
    (folder / "README").write_text("stray")
    before = sorted(p.name for p in folder.iterdir())
    refs = data.list_images("set5", tmp_path, offline=True, progress=False)
    assert [r.path.name for r in refs if r.path] == names
    assert sorted(p.name for p in folder.iterdir()) == before and os.listdir(tmp_path) == ["Set5"]


def test_offline_without_any_data(tmp_path: Path) -> None:
    with pytest.raises(data.DatasetError, match=r"^set14: 14 of 14 files missing under .*Set14 "):
        data.list_images("set14", tmp_path / "nothing", offline=True, progress=False)


# ------------------------------------------------------------------------ sample set


def test_sample_set_loads_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SRBENCH_DATA", str(tmp_path / "no-data"))

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sample set must not touch the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    refs = data.list_images("sample", offline=True, progress=False)
    assert len(refs) >= 4
    assert [r.path.name for r in refs if r.path] == sorted(data.SAMPLE_FILES)
    for r in refs:
        assert r.dataset == "sample" and r.path is not None and r.sha256 == data.file_sha256(r.path)
        img = r.load()
        assert img.dtype == np.uint8 and img.ndim in (2, 3)
        assert img.shape[:2] == (data.SAMPLE_CROP, data.SAMPLE_CROP)
        assert img.ndim == 2 or img.shape[2] == 3
    assert not (tmp_path / "no-data").exists()
    assert {s for _, s in data.verify_dataset("sample")} == {"ok"}
    assert data.download_dataset("sample") == []


# ------------------------------------------------------------------------ downloads


class _Server(ThreadingHTTPServer):
    """Serves ``routes[path]``: a list of behaviours, one per request (the last one repeats)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, list[tuple[str, bytes]]] = {}
        self.hits: dict[str, int] = {}
        self.release = threading.Event()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that time out leave broken pipes behind; they are expected


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        srv = self.server
        with srv.lock:
            n = srv.hits[self.path] = srv.hits.get(self.path, 0) + 1
            plan = srv.routes.get(self.path)
        if not plan:
            self.send_error(404)
            return
        kind, body = plan[min(n, len(plan)) - 1]
        if kind == "stall":  # say nothing until the test ends
            srv.release.wait(10)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "ok":
            self.wfile.write(body)
        elif kind == "truncate":  # promise len(body), send half, close
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        elif kind == "stall_body":  # headers and part of the body, then silence
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            srv.release.wait(10)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


BODY = bytes(range(256)) * 64  # 16 KiB
BODY_SHA = hashlib.sha256(BODY).hexdigest()


def test_download_good_file(server: _Server, tmp_path: Path) -> None:
    server.routes["/f.bin"] = [("ok", BODY)]
    dest = tmp_path / "sub" / "f.bin"
    got = data.download_file(f"{server.url}/f.bin", dest, BODY_SHA, len(BODY), progress=False)
    assert got == dest
    assert dest.read_bytes() == BODY and os.listdir(dest.parent) == ["f.bin"]


@pytest.mark.parametrize("size", [len(BODY), None])
def test_download_wrong_checksum_leaves_nothing(server: _Server, tmp_path: Path,
                                                size: int | None) -> None:
    server.routes["/f.bin"] = [("ok", BODY[::-1])]
    with pytest.raises(data.DownloadError, match=r"/f\.bin: checksum mismatch: expected sha256 "):
        data.download_file(f"{server.url}/f.bin", tmp_path / "new" / "f.bin", BODY_SHA, size,
                           progress=False)
    assert os.listdir(tmp_path) == []  # neither file, .part nor the folder made for them
    assert server.hits["/f.bin"] == 1  # a wrong file is not fetched again


def test_download_404(server: _Server, tmp_path: Path) -> None:
    url = f"{server.url}/absent.bin"
    with pytest.raises(data.DownloadError) as info:
        data.download_file(url, tmp_path / "a.bin", BODY_SHA, progress=False)
    assert str(info.value) == f"download failed: {url}: HTTP 404 Not Found"
    assert os.listdir(tmp_path) == [] and server.hits["/absent.bin"] == 1


def test_download_wrong_length_is_refused(server: _Server, tmp_path: Path) -> None:
    server.routes["/f.bin"] = [("ok", BODY + b"<html>")]
    with pytest.raises(data.DownloadError, match=r"server sends 16390 bytes, expected 16384"):
        data.download_file(f"{server.url}/f.bin", tmp_path / "f.bin", BODY_SHA, len(BODY),
                           progress=False)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("size", [len(BODY), None])
def test_download_truncated(server: _Server, tmp_path: Path, size: int | None) -> None:
    server.routes["/f.bin"] = [("truncate", BODY)]
    expected = r"truncated transfer: got 8192 of 16384 bytes \(after 2 attempts\)$"
    with pytest.raises(data.DownloadError, match=expected):
        data.download_file(f"{server.url}/f.bin", tmp_path / "a" / "b" / "f.bin", BODY_SHA, size,
                           progress=False, retries=1)
    assert os.listdir(tmp_path) == [] and server.hits["/f.bin"] == 2


@pytest.mark.parametrize("kind", ["stall", "stall_body"])
def test_download_stalled_server_times_out(server: _Server, tmp_path: Path, kind: str) -> None:
    server.routes["/f.bin"] = [(kind, BODY)]
    with pytest.raises(data.DownloadError, match=r"no data for 0\.5 s \(timed out\)") as info:
        data.download_file(f"{server.url}/f.bin", tmp_path / "new" / "f.bin", BODY_SHA, len(BODY),
                           progress=False, timeout=0.5, retries=0)
    assert "\n" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_download_unreachable_server_creates_nothing(tmp_path: Path) -> None:
    srv = _Server()  # bind a free port, then close it: connections are refused
    url = f"{srv.url}/f.bin"
    srv.server_close()
    expected = r"^download failed: http://127\.0\.0\.1:\d+/f\.bin: .*refused"
    with pytest.raises(data.DownloadError, match=expected):
        data.download_file(url, tmp_path / "Set5" / "f.bin", BODY_SHA, progress=False, retries=0)
    assert os.listdir(tmp_path) == []


def test_download_retry_recovers(server: _Server, tmp_path: Path) -> None:
    server.routes["/f.bin"] = [("stall", BODY), ("truncate", BODY), ("ok", BODY)]
    dest = tmp_path / "f.bin"
    data.download_file(f"{server.url}/f.bin", dest, BODY_SHA, len(BODY), progress=False,
                       timeout=0.5, retries=2)
    assert dest.read_bytes() == BODY and os.listdir(tmp_path) == ["f.bin"]
    assert server.hits["/f.bin"] == 3


def test_download_dataset_from_mirror(shared: Path, server: _Server, tmp_path: Path) -> None:
    names = [f["name"] for f in data.load_manifest("set5")["files"]]
    for name in names:
        server.routes[f"/Set5/{name}"] = [("ok", (shared / "Set5" / name).read_bytes())]
    fetched = data.download_dataset("set5", tmp_path, base_url=server.url + "/", progress=False)
    assert [p.name for p in fetched] == names
    assert {s for _, s in data.verify_dataset("set5", tmp_path, progress=False)} == {"ok"}
    assert data.download_dataset("set5", tmp_path, base_url=server.url, progress=False) == []
    assert sorted(os.listdir(tmp_path / "Set5")) == names  # no .part files left


def test_list_images_downloads_missing_from_env_mirror(
    shared: Path, server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    have = ["baby_GT.bmp", "bird_GT.bmp"]
    _copy_set5(shared, tmp_path, have)
    for f in data.load_manifest("set5")["files"]:
        server.routes[f"/Set5/{f['name']}"] = [("ok", (shared / "Set5" / f["name"]).read_bytes())]
    monkeypatch.setenv("SRBENCH_MIRROR", server.url)
    refs = data.list_images("set5", tmp_path, progress=False)
    assert len(refs) == 5 and all(r.path is not None and r.path.is_file() for r in refs)
    fetched = ["/Set5/butterfly_GT.bmp", "/Set5/head_GT.bmp", "/Set5/woman_GT.bmp"]
    assert sorted(server.hits) == fetched


def test_download_dataset_refuses_to_overwrite_a_mismatch(shared: Path, server: _Server,
                                                         tmp_path: Path) -> None:
    folder = _copy_set5(shared, tmp_path, ["baby_GT.bmp"])
    (folder / "baby_GT.bmp").write_bytes(b"not an image")
    with pytest.raises(data.DatasetError, match=r"checksum mismatch for .*baby_GT\.bmp"):
        data.download_dataset("set5", tmp_path, base_url=server.url, progress=False)
    assert (folder / "baby_GT.bmp").read_bytes() == b"not an image" and server.hits == {}


def test_manifests_are_valid_json_files() -> None:
    # Guards hand edits: each standard set has exactly one manifest, named after it, and it is
    # package data (read through importlib.resources, as an installed wheel reads it).
    folder = resources.files("benchmark") / data.MANIFESTS
    found = sorted(p.name[:-len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))
    assert found == sorted(FOLDERS)
    for name in found:
        json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
