"""Datasets: a registry of the standard SR sets, their manifests, local checks and downloads.

A standard set is defined by its manifest ``benchmark/manifests/<name>.json`` (package data:
file names, sha256, sizes and URLs pinned to a source commit), not by what happens to lie in
its folder: files that the manifest does not list (``Thumbs.db``, a stray README) are never
evaluated. Images live under a data root (``resolve_data_root``) in the folders ``Set5/``,
``Set14/``, ``B100/``, ``Urban100/``, ``T91/`` and ``BSD200/``. ``train291`` is the union of
``t91`` and ``bsd200``; ``sample`` is a handful of photographs shipped inside scikit-image, so
that a smoke run needs no data at all.

``dir:PATH`` is an ad-hoc set: every image file directly in the folder ``PATH`` (by extension,
see ``DIR_EXTENSIONS``; hidden files skipped), in sorted order, with no manifest and the sha256
computed. Nothing is checked at listing time: a file that cannot be read becomes a row whose
status names the problem when evaluated, and never aborts the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from stat import S_ISREG
from typing import Any, Union

import numpy as np

from benchmark.locations import cache_dir, default_data_root
from benchmark.progress import progress_bar
from benchmark.registry import suggest

PathLike = Union[str, "os.PathLike[str]"]  # str or any os.PathLike

#: Package data folder (under ``benchmark``) of the manifests, read with importlib.resources.
MANIFESTS = "manifests"
#: The paper's four test sets, in its tables' order: the default job of ``run``.
STANDARD_SETS = ("set5", "set14", "bsd100", "urban100")
#: Read and hash in 1 MiB chunks: large enough that hashing runs at hashlib speed.
CHUNK_SIZE = 1 << 20
#: Natural photographs from scikit-image's package data (no network needed), in dir() order.
SAMPLE_FILES = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg")
#: Other scikit-image photographs (none of ``SAMPLE_FILES``), uncropped: the training set of
#: last resort for an offline machine without train291, so ``sample`` stays unseen.
SAMPLE_TRAIN_FILES = ("brick.png", "coins.png", "grass.png", "gravel.png",
                      "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png",
                      "page.png", "retina.jpg", "text.png")
#: Sample images are centre-cropped to this square; 240 is a multiple of 2, 3 and 4, so every
#: DRRN scale divides it, and the short side stays well above the 96 px that IFC needs.
SAMPLE_CROP = 240
#: Seconds to wait before retry ``k`` is ``RETRY_DELAY_S * k`` (tests set it to 0).
RETRY_DELAY_S = 1.0
_HASH_CACHE_FILE = "sha256-cache.json"
#: Prefix of an ad-hoc folder set, ``dir:PATH``, and the file types it lists.
DIR_PREFIX = "dir:"
DIR_EXTENSIONS = (".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".webp", ".ppm",
                  ".pgm", ".pnm")


class DatasetError(RuntimeError):
    """A dataset is missing, corrupt or unusable; the message is one line."""


class DownloadError(DatasetError):
    """A download failed (HTTP error, timeout, truncation, checksum); nothing was left behind."""


class UnknownDatasetError(KeyError):
    """Raised for a dataset name that is not registered; the message suggests close matches."""

    def __str__(self) -> str:  # KeyError quotes its message; we want a plain line
        return str(self.args[0])


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset.

    Attributes
    ----------
    name : str
        Canonical lower-case name, e.g. ``"bsd100"``.
    folder : str or None
        Folder under the data root (``"B100"``); None for composite and built-in sets.
    aliases : tuple of str
        Other accepted names (matched case-insensitively, like ``name``).
    extensions : tuple of str
        The image file types of the set (the ones the official DRRN test script globs).
    manifest : str or None
        Manifest file name in ``benchmark/manifests/``, e.g. ``"bsd100.json"``.
    parts : tuple of str
        For a composite set, the names of the sets it joins, in order.
    description : str
        One line for listings.
    """

    name: str
    folder: str | None
    aliases: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    manifest: str | None = None
    parts: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ManifestFile:
    """One file entry of a manifest."""

    name: str
    sha256: str
    size: int
    url: str


@dataclass(frozen=True)
class ImageRef:
    """One image of a dataset.

    Attributes
    ----------
    dataset : str
        Canonical name of the set the file belongs to (a part's name for ``train291``).
    name : str
        File stem as is, e.g. ``"baby_GT"``, ``"101085"``, ``"img_001"``.
    path : Path or None
        The file on disk.
    sha256 : str or None
        Hex digest of the file's bytes (from the manifest, or computed for ``sample``).
    """

    dataset: str
    name: str
    path: Path | None
    sha256: str | None = None

    def load(self) -> np.ndarray:
        """The image as uint8, ``(H, W)`` or ``(H, W, 3)``.

        Standard sets are decoded by :func:`benchmark.imaging.read_image`; embedded sets
        (``sample``: centre-cropped to ``SAMPLE_CROP`` squared) are decoded directly.
        """
        if self.path is None:
            raise DatasetError(f"{self.dataset}/{self.name}: no file to load")
        if self.dataset in EMBEDDED_SETS:
            return _load_embedded(self.path, EMBEDDED_SETS[self.dataset][1])
        # Imported here so that listing and verifying data never needs the image stack.
        from benchmark.imaging import read_image

        return read_image(self.path)


_SPECS: tuple[DatasetSpec, ...] = (
    DatasetSpec("set5", "Set5", (), (".bmp",), "set5.json", description="Set5 test set (5 images)"),
    DatasetSpec(
        "set14", "Set14", (), (".bmp",), "set14.json", description="Set14 test set (14 images)"
    ),
    DatasetSpec(
        "bsd100", "B100", ("b100",), (".jpg",), "bsd100.json",
        description="BSDS300 test split / BSDS500 val (100 images)",
    ),
    DatasetSpec(
        "urban100", "Urban100", (), (".png",), "urban100.json",
        description="Urban100 test set (100 images)",
    ),
    DatasetSpec(
        "t91", "T91", ("yang91",), (".bmp",), "t91.json",
        description="Yang et al. 91 training images",
    ),
    DatasetSpec(
        "bsd200", "BSD200", (), (".jpg",), "bsd200.json",
        description="BSDS500 train split (200 training images)",
    ),
    DatasetSpec(
        "train291", None, ("train_291",), (".bmp", ".jpg"), None, ("t91", "bsd200"),
        description="DRRN training set: t91 + bsd200 (291 images)",
    ),
    DatasetSpec(
        "sample", None, (), (".png", ".jpg"), None,
        description=f"{len(SAMPLE_FILES)} scikit-image photographs, centre {SAMPLE_CROP}x"
        f"{SAMPLE_CROP} crops (offline smoke set)",
    ),
    DatasetSpec(
        "sample_train", None, (), (".png", ".jpg"), None,
        description=f"{len(SAMPLE_TRAIN_FILES)} other scikit-image photographs (offline "
        "training set when train291 cannot be had)",
    ),
)
#: Sets made of scikit-image's package data: file names and the centre crop (None: whole).
EMBEDDED_SETS: dict[str, tuple[tuple[str, ...], int | None]] = {
    "sample": (SAMPLE_FILES, SAMPLE_CROP), "sample_train": (SAMPLE_TRAIN_FILES, None)}
_BY_KEY: dict[str, DatasetSpec] = {k: s for s in _SPECS for k in (s.name, *s.aliases)}


def list_datasets() -> list[DatasetSpec]:
    """All registered datasets: test sets, training sets, then ``sample``."""
    return list(_SPECS)


def get_dataset(name: str) -> DatasetSpec:
    """The spec of ``name`` or one of its aliases (case-insensitive).

    Raises
    ------
    UnknownDatasetError
        One line naming the closest known names and listing all of them.
    """
    if name.strip().lower().startswith(DIR_PREFIX):
        folder = name.strip()[len(DIR_PREFIX):]
        if not folder:
            raise UnknownDatasetError(f"{name!r}: dir: needs a folder, e.g. dir:path/to/images")
        return DatasetSpec(DIR_PREFIX + folder, None, (), DIR_EXTENSIONS,
                           description=f"every image file in {folder}")
    key = name.strip().lower()
    if key in _BY_KEY:
        return _BY_KEY[key]
    hint = suggest(key, list(_BY_KEY))
    known = ", ".join(s.name + (f" ({'/'.join(s.aliases)})" if s.aliases else "") for s in _SPECS)
    raise UnknownDatasetError(f"unknown dataset {name!r}{hint}; known: {known}")


def resolve_data_root(arg: PathLike | None = None) -> Path:
    """The data root: ``arg``, else ``$SRBENCH_DATA``, else
    :func:`benchmark.locations.default_data_root` (the checkout's ``datasets`` folder, or
    ``./datasets`` for an installed package).
    """
    if arg is not None and str(arg) != "":
        return Path(os.path.abspath(Path(arg).expanduser()))
    env = os.environ.get("SRBENCH_DATA", "")
    if env:
        return Path(os.path.abspath(Path(env).expanduser()))
    return default_data_root()


def load_manifest(name: str) -> dict[str, Any]:
    """The parsed manifest JSON of a standard set (a fresh copy each call)."""
    spec = get_dataset(name)
    if spec.manifest is None:
        raise DatasetError(f"{spec.name}: has no manifest (composite or built-in set)")
    copy: dict[str, Any] = json.loads(json.dumps(_read_manifest(spec.manifest)))
    return copy


@cache
def _read_manifest(filename: str) -> dict[str, Any]:
    # Package data, so that an installed wheel (or a zip import) has the manifests too.
    path = resources.files("benchmark") / MANIFESTS / filename
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return manifest
    except FileNotFoundError:
        raise DatasetError(
            f"manifest {path} not found (manifests ship as package data of benchmark)"
        ) from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"manifest {path} unreadable: {_one_line(exc)}") from None


def _manifest_files(spec: DatasetSpec) -> list[ManifestFile]:
    assert spec.manifest is not None
    entries = _read_manifest(spec.manifest)["files"]
    files = [ManifestFile(e["name"], e["sha256"], int(e["size"]), e["url"]) for e in entries]
    return sorted(files, key=lambda f: f.name)  # MATLAB dir(): plain string order of file names


def _leaves(spec: DatasetSpec) -> list[DatasetSpec]:
    """The standard sets behind ``spec`` (itself, or its parts for a composite)."""
    if spec.parts:
        return [leaf for p in spec.parts for leaf in _leaves(get_dataset(p))]
    return [spec]


# --------------------------------------------------------------------------- hashing


def file_sha256(path: PathLike) -> str:
    """Hex sha256 of a file, read in ``CHUNK_SIZE`` chunks into one reused buffer."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


class _HashCache:
    """Verified digests keyed by (path, size, mtime_ns), so unchanged files are not rehashed.

    Kept in the cache dir, never in the data root (which may be read-only). Any failure to read
    or write it only costs a rehash.
    """

    def __init__(self) -> None:
        self.path = cache_dir() / _HASH_CACHE_FILE
        self.entries = self._read()
        self.new: dict[str, list[Any]] = {}

    def _read(self) -> dict[str, list[Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _key(path: Path) -> str:
        return str(path.resolve())

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        e = self.entries.get(self._key(path))
        if isinstance(e, list) and len(e) == 3 and e[0] == st.st_size and e[1] == st.st_mtime_ns:
            return str(e[2])
        return None

    def store(self, path: Path, st: os.stat_result, sha: str) -> None:
        key = self._key(path)
        self.entries[key] = self.new[key] = [st.st_size, st.st_mtime_ns, sha]

    def save(self) -> None:
        if not self.new:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            merged = {**self._read(), **self.new}  # keep what concurrent runs added meanwhile
            fd, tmp = tempfile.mkstemp(prefix=".sha256-", suffix=".tmp", dir=self.path.parent)
        except OSError:
            return  # an unwritable cache only means hashing again next time
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(merged, f)
            os.replace(tmp, self.path)  # atomic: readers never see a half-written cache
            self.new = {}
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


@dataclass
class _Check:
    file: ManifestFile
    path: Path
    status: str  # 'ok' | 'missing' | 'mismatch'
    actual: str | None = None  # sha256 of the file on disk, when computed
    actual_size: int | None = None


def _check_set(spec: DatasetSpec, root: Path, verify: bool, progress: bool) -> list[_Check]:
    """Status of every manifest file of a standard set under ``root``.

    Sizes are always compared (cheap, catches truncation); hashes only when ``verify``, with
    the digest cache sparing unchanged files.
    """
    folder = root / (spec.folder or "")
    checks: list[_Check] = []
    to_hash: list[tuple[_Check, os.stat_result]] = []
    cache = _HashCache() if verify else None
    for mf in _manifest_files(spec):
        path = folder / mf.name
        try:
            st = path.stat()
        except OSError:
            st = None
        if st is None or not S_ISREG(st.st_mode):
            checks.append(_Check(mf, path, "missing"))
            continue
        c = _Check(mf, path, "ok", actual_size=st.st_size)
        checks.append(c)
        if st.st_size != mf.size:
            c.status = "mismatch"
            to_hash.append((c, st))  # the actual digest makes the error message useful
        elif cache is not None:
            cached = cache.lookup(path, st)
            if cached is not None:
                c.actual = cached
                c.status = "ok" if cached == mf.sha256 else "mismatch"
            else:
                to_hash.append((c, st))
    if to_hash:
        total = sum(st.st_size for _, st in to_hash)
        with progress_bar(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                          leave=False, desc=f"{spec.name}: sha256", show=progress) as bar:
            for c, st in to_hash:
                c.actual = file_sha256(c.path)
                bar.update(st.st_size)
                if c.actual != c.file.sha256 or st.st_size != c.file.size:
                    c.status = "mismatch"
                elif cache is not None:
                    c.status = "ok"
                    cache.store(c.path, st, c.actual)
    if cache is not None:
        cache.save()
    return checks


def _raise_on_mismatch(spec: DatasetSpec, checks: list[_Check]) -> None:
    bad = [c for c in checks if c.status == "mismatch"]
    if not bad:
        return
    c = bad[0]
    more = f" (and {len(bad) - 1} more mismatched file(s))" if len(bad) > 1 else ""
    raise DatasetError(
        f"{spec.name}: checksum mismatch for {c.path}: expected sha256 {c.file.sha256} "
        f"({c.file.size} bytes), got {c.actual} ({c.actual_size} bytes){more}; "
        "the file was left in place: remove or replace it"
    )


# --------------------------------------------------------------------------- downloads


class _Transient(Exception):
    """A failure worth retrying (timeout, dropped connection, truncation, HTTP 5xx)."""


def _failed(url: str, reason: str) -> DownloadError:
    return DownloadError(f"download failed: {url}: {reason}")


def _one_line(exc: BaseException | str) -> str:
    """The message squeezed onto one line (an exception without text gives its type name)."""
    text = exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)
    return " ".join(text.split())


def download_file(
    url: str,
    dest: PathLike,
    sha256: str,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 30,
    retries: int = 2,
) -> Path:
    """Download ``url`` to ``dest``; the file appears only if its sha256 (and size) match.

    The body streams into a ``.part`` temporary file in ``dest``'s folder, which is moved into
    place with ``os.replace`` once verified, so ``dest`` is never half-written.

    Parameters
    ----------
    url : str
        http(s) URL.
    dest : path
        Final file path; its folder is created.
    sha256 : str
        Expected hex digest.
    size : int, optional
        Expected size in bytes (detects truncation and oversize responses early).
    progress : bool
        Show a tqdm progress bar.
    timeout : float
        Seconds allowed for connecting and for each read; a server that stalls longer fails.
    retries : int
        Extra attempts after a transient failure (timeout, dropped connection, truncation,
        HTTP 5xx). HTTP 4xx and checksum mismatches are not retried.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DownloadError
        One line with the URL and the reason; no ``.part`` or ``dest`` file is left behind.
    """
    dest = Path(dest)
    attempts = max(0, retries) + 1
    for attempt in range(1, attempts + 1):
        try:
            _fetch(url, dest, sha256.lower(), size, progress, timeout)
            return dest
        except _Transient as exc:
            if attempt == attempts:
                tries = f" (after {attempts} attempts)" if attempts > 1 else ""
                raise _failed(url, f"{exc}{tries}") from None
            time.sleep(RETRY_DELAY_S * attempt)
    raise AssertionError("unreachable")


def _fetch(
    url: str, dest: Path, sha256: str, size: int | None, progress: bool, timeout: float
) -> None:
    """One download attempt; raises _Transient or DownloadError and leaves nothing behind.

    The server is asked first, so that an unreachable URL creates no folder or file at all;
    folders created for ``dest`` are removed again (when still empty) if the attempt fails.
    """
    with _open(url, timeout) as resp:
        length = resp.headers.get("Content-Length")
        announced = int(length) if length and length.isdigit() else None
        if size is not None and announced is not None and announced != size:
            raise _failed(url, f"server sends {announced} bytes, expected {size}")
        expected = size if size is not None else announced
        created = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
        tmp: str | None = None
        done = False
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
            with os.fdopen(fd, "wb") as out:
                digest = _stream(url, resp, out, expected, dest.name, progress, timeout)
            if digest != sha256:
                raise _failed(url, f"checksum mismatch: expected sha256 {sha256}, got {digest}")
            os.replace(tmp, dest)
            done = True
        except OSError as exc:  # local trouble: read-only root, disk full
            raise _failed(url, f"cannot write {dest}: {_one_line(exc)}") from None
        finally:
            if not done:
                if tmp is not None:
                    _remove_quietly(Path(tmp))
                for folder in created:  # deepest first
                    try:
                        folder.rmdir()
                    except OSError:
                        break  # not empty (a concurrent download?) or not ours to remove


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _open(url: str, timeout: float) -> http.client.HTTPResponse:
    req = urllib.request.Request(url, headers={"User-Agent": "srbench"})
    try:
        resp: http.client.HTTPResponse = urllib.request.urlopen(req, timeout=timeout)
        return resp
    except urllib.error.HTTPError as exc:
        exc.close()
        reason = f"HTTP {exc.code} {exc.reason}"
        if exc.code >= 500:
            raise _Transient(reason) from None
        raise _failed(url, reason) from None
    except urllib.error.URLError as exc:
        raise _Transient(_reason(exc.reason, timeout)) from None
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise _Transient(_reason(exc, timeout)) from None


def _reason(exc: BaseException | str, timeout: float) -> str:
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError since 3.10
        return f"no data for {timeout:g} s (timed out)"
    return _one_line(exc)


def _stream(url: str, resp: Any, out: Any, expected: int | None, label: str, progress: bool,
            timeout: float) -> str:
    """Copy the body to ``out`` and return its sha256; raise on truncation or oversize."""
    h = hashlib.sha256()
    got = 0
    with progress_bar(total=expected, unit="B", unit_scale=True, unit_divisor=1024,
                      leave=False, desc=label, show=progress) as bar:
        while True:
            try:
                chunk = resp.read(CHUNK_SIZE)
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                raise _Transient(f"{_reason(exc, timeout)} after {got} bytes") from None
            if not chunk:
                break
            got += len(chunk)
            if expected is not None and got > expected:
                # A wrong response (an HTML page, another file) is not worth retrying.
                raise _failed(url, f"response longer than {expected} bytes")
            h.update(chunk)
            out.write(chunk)
            bar.update(len(chunk))
    # http.client does not raise on a short body read in chunks, so count the bytes ourselves.
    if expected is not None and got < expected:
        raise _Transient(f"truncated transfer: got {got} of {expected} bytes")
    return h.hexdigest()


def _file_url(spec: DatasetSpec, mf: ManifestFile, base_url: str | None) -> str:
    if base_url:
        return f"{base_url.rstrip('/')}/{spec.folder}/{urllib.parse.quote(mf.name)}"
    return mf.url


# --------------------------------------------------------------------------- public operations


def verify_dataset(
    name: str, root: PathLike | None = None, *, progress: bool = True
) -> list[tuple[str, str]]:
    """Hash-check every file of a set under the data root.

    Returns
    -------
    list of (str, str)
        ``("<folder>/<file>", status)`` with status ``'ok'``, ``'missing'`` or ``'mismatch'``,
        in manifest order (parts in order for ``train291``). For ``sample`` the files are
        scikit-image's and only their presence is checked; for ``dir:PATH`` (no digests)
        each listed file is ``'ok'``, or ``'unreadable'`` when it cannot be read.
    """
    spec = get_dataset(name)
    if spec.name in EMBEDDED_SETS:
        return [(f"skimage/data/{f}", "ok" if (_skimage_data_dir() / f).is_file() else "missing")
                for f in EMBEDDED_SETS[spec.name][0]]
    if spec.name.startswith(DIR_PREFIX):  # no pinned digests: a listed, hashable file is "ok"
        return [(str(r.path), "ok" if r.sha256 else "unreadable") for r in _dir_images(spec)]
    data_root = resolve_data_root(root)
    out: list[tuple[str, str]] = []
    for leaf in _leaves(spec):
        checks = _check_set(leaf, data_root, True, progress)
        out += [(f"{leaf.folder}/{c.file.name}", c.status) for c in checks]
    return out


def download_dataset(
    name: str,
    root: PathLike | None = None,
    base_url: str | None = None,
    *,
    progress: bool = True,
    timeout: float = 30,
    retries: int = 2,
) -> list[Path]:
    """Download the files of a set that are missing under the data root.

    Existing files are hash-checked first; a mismatch raises :class:`DatasetError` and nothing
    is overwritten.

    Parameters
    ----------
    name : str
        Dataset name or alias (``train291`` downloads both parts; ``sample`` needs nothing).
    root : path, optional
        Data root (see :func:`resolve_data_root`).
    base_url : str, optional
        Mirror: fetch ``<base_url>/<folder>/<file>`` instead of the manifest URL. Defaults to
        ``$SRBENCH_MIRROR`` when set.
    progress, timeout, retries
        As in :func:`download_file`.

    Returns
    -------
    list of Path
        The files downloaded (empty when the set was complete).
    """
    spec = get_dataset(name)
    if spec.name in EMBEDDED_SETS or spec.name.startswith(DIR_PREFIX):
        return []
    data_root = resolve_data_root(root)
    base = base_url or os.environ.get("SRBENCH_MIRROR") or None
    fetched: list[Path] = []
    for leaf in _leaves(spec):
        checks = _check_set(leaf, data_root, True, progress)
        _raise_on_mismatch(leaf, checks)
        fetched += _download_missing(leaf, checks, base, progress, timeout, retries)
    return fetched


def _download_missing(spec: DatasetSpec, checks: list[_Check], base: str | None, progress: bool,
                      timeout: float, retries: int) -> list[Path]:
    missing = [c for c in checks if c.status == "missing"]
    if not missing:
        return []
    cache = _HashCache()
    for c in missing:
        download_file(_file_url(spec, c.file, base), c.path, c.file.sha256, c.file.size,
                      progress=progress, timeout=timeout, retries=retries)
        cache.store(c.path, c.path.stat(), c.file.sha256)  # verified while downloading
        c.status = "ok"
    cache.save()
    return [c.path for c in missing]


def list_images(
    name: str,
    root: PathLike | None = None,
    *,
    offline: bool = False,
    verify: bool = True,
    progress: bool = True,
) -> list[ImageRef]:
    """The images of a set, in MATLAB ``dir()`` order (plain string order of file names).

    Every manifest file must be present under ``<root>/<folder>`` (missing ones are downloaded
    unless ``offline``) and, with ``verify``, match its sha256. Files in the folder that the
    manifest does not list are ignored.

    Parameters
    ----------
    name : str
        Dataset name or alias.
    root : path, optional
        Data root (see :func:`resolve_data_root`); unused for ``sample``.
    offline : bool
        Never download: missing files raise :class:`DatasetError`.
    verify : bool
        Hash every file (cached by path, size and mtime); otherwise compare sizes only.
    progress : bool
        Progress bars for hashing and downloads.

    Returns
    -------
    list of ImageRef
        For ``train291``: the images of ``t91`` then of ``bsd200``.

    Raises
    ------
    DatasetError
        A file whose checksum does not match, or missing files while ``offline``.
    DownloadError
        A download failed.
    """
    spec = get_dataset(name)
    if spec.name in EMBEDDED_SETS:
        return _embedded_images(spec.name)
    if spec.name.startswith(DIR_PREFIX):
        return _dir_images(spec)
    data_root = resolve_data_root(root)
    base = os.environ.get("SRBENCH_MIRROR") or None
    refs: list[ImageRef] = []
    for leaf in _leaves(spec):
        checks = _check_set(leaf, data_root, verify, progress)
        _raise_on_mismatch(leaf, checks)
        missing = sum(c.status == "missing" for c in checks)
        if missing and offline:
            raise DatasetError(
                f"{leaf.name}: {missing} of {len(checks)} files missing under "
                f"{data_root / (leaf.folder or '')} and --offline forbids downloading"
            )
        _download_missing(leaf, checks, base, progress, timeout=30, retries=2)
        refs += [ImageRef(leaf.name, Path(c.file.name).stem, c.path, c.file.sha256) for c in checks]
    return refs


def datasets_table(root: PathLike | None = None, *, verify: bool = True,
                   progress: bool = False) -> list[dict[str, Any]]:
    """One row per registered dataset, for ``python -m benchmark datasets list``.

    Each row has ``name``, ``aliases`` (list), ``images`` (count the set defines), ``present``
    (files found intact: right size, and right sha256 when ``verify``), ``missing``,
    ``mismatch``, ``verified`` (True/False when ``verify``, else None), ``folder`` (path on
    disk) and ``source`` (``repo@commit:path``, or how the set is made).
    """
    data_root = resolve_data_root(root)
    rows: list[dict[str, Any]] = []
    for spec in _SPECS:
        if spec.name in EMBEDDED_SETS:
            status = [s for _, s in verify_dataset(spec.name)]
            folder = str(_skimage_data_dir())
            source = f"scikit-image {_skimage_version()} package data"
        else:
            status = [c.status for leaf in _leaves(spec)
                      for c in _check_set(leaf, data_root, verify, progress)]
            folder = " + ".join(str(data_root / (leaf.folder or "")) for leaf in _leaves(spec))
            if spec.parts:
                source = " + ".join(spec.parts)
            else:
                src = _read_manifest(spec.manifest or "")["source"]
                source = f"{src['repo']}@{src['commit']}:{src['path']}"
        missing, mismatch = status.count("missing"), status.count("mismatch")
        rows.append({
            "name": spec.name,
            "aliases": list(spec.aliases),
            "images": len(status),
            "present": status.count("ok"),
            "missing": missing,
            "mismatch": mismatch,
            # sample files have no pinned digests, so they are never "verified"
            "verified": (None if not verify or spec.name in EMBEDDED_SETS
                         else not (missing or mismatch)),
            "folder": folder,
            "source": source,
        })
    return rows


def _dir_images(spec: DatasetSpec) -> list[ImageRef]:
    """The images of ``dir:PATH``: image files in PATH, sorted by name, sha256 computed."""
    folder = Path(spec.name[len(DIR_PREFIX):]).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"{spec.name}: {folder} is not a folder")
    refs = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or path.suffix.lower() not in spec.extensions:
            continue
        try:
            sha: str | None = file_sha256(path)
        except OSError:
            sha = None  # unreadable: the harness records the error as the image's status
        refs.append(ImageRef(spec.name, path.stem, path, sha))
    return refs


# --------------------------------------------------------------------------- sample set


def _skimage_data_dir() -> Path:
    # The package's own data folder; skimage.data's fetchers (pooch) could reach the network.
    import skimage

    return Path(skimage.__file__).resolve().parent / "data"


def _skimage_version() -> str:
    import skimage

    return str(getattr(skimage, "__version__", "?"))


def _embedded_images(name: str) -> list[ImageRef]:
    data_dir = _skimage_data_dir()
    refs = []
    for fname in sorted(EMBEDDED_SETS[name][0]):
        path = data_dir / fname
        if not path.is_file():
            raise DatasetError(
                f"{name}: {path} not found (scikit-image installed without its data?)"
            )
        refs.append(ImageRef(name, path.stem, path, file_sha256(path)))
    return refs


def _load_embedded(path: Path, crop: int | None) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as src:
        # Keep grey as (H, W); palette or alpha images become plain RGB.
        im = src if src.mode in ("L", "RGB") else src.convert("RGB")
        arr = np.asarray(im, dtype=np.uint8)
    h, w = arr.shape[:2]
    if crop is not None and h >= crop and w >= crop:
        top, left = (h - crop) // 2, (w - crop) // 2
        arr = arr[top:top + crop, left:left + crop]
    return np.ascontiguousarray(arr)


__all__ = [
    "DatasetError",
    "DatasetSpec",
    "DownloadError",
    "ImageRef",
    "ManifestFile",
    "UnknownDatasetError",
    "cache_dir",
    "datasets_table",
    "download_dataset",
    "download_file",
    "file_sha256",
    "get_dataset",
    "list_datasets",
    "list_images",
    "load_manifest",
    "resolve_data_root",
    "verify_dataset",
]
