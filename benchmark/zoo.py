"""The model zoo: published (and srbench-trained) weight files, found or fetched by sha256.

Every entry of ``benchmark/weights_manifest.json`` is one file: the methods and scales it
serves, where it comes from (repository, path, commit), its sha256 and size, its terms and
provenance, and the numbers it must reproduce. A file is looked for, in this order:

1. shipped with the package (``packaged``: srbench-trained models, a few tens of KB each);
2. the download cache, ``$SRBENCH_CACHE/weights/<sha256[:16]>/<filename>``;
3. the folders of ``$SRBENCH_WEIGHTS`` (``os.pathsep``-separated) and ``--weights-search``,
   searched recursively, files matched by sha256 whatever their names;
4. ``$SRBENCH_DATA/../reference/<reference_path>`` (the project's reference copies);

and otherwise downloaded into the cache (``.part`` file, sha256 check, retries) unless offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from benchmark.weights import WeightsError, file_sha256, load_weights_manifest

PACKAGE_DIR = Path(__file__).resolve().parent
#: Lower ranks are preferred when several entries serve a method at a scale.
PROVENANCE_RANK = {"official release": 0, "official release (unauthenticated copy)": 0,
                   "converted official": 1, "third-party port": 2, "srbench-trained": 3}


@dataclass(frozen=True)
class ZooEntry:
    """One weight file of the zoo (see the module docstring for the fields' meaning)."""

    name: str
    methods: tuple[str, ...]
    scales: tuple[int, ...]
    filename: str
    sha256: str
    size: int
    url: str | None
    provenance: str
    official: bool
    license: str
    fmt: str
    reference_path: str | None = None
    packaged: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        """The ``weights`` column of rows made with this file: entry name and sha256."""
        return f"zoo:{self.name}@sha256:{self.sha256}"

    @property
    def source_line(self) -> str:
        """One line for the printed summary: what the file is and how far to trust it."""
        warn = "" if self.official else ", UNOFFICIAL"
        return f"{self.name} ({self.provenance}{warn}; sha256 {self.sha256[:12]})"


def entries() -> list[ZooEntry]:
    """Every zoo entry, in manifest order."""
    out = []
    for name, e in load_weights_manifest().items():
        known = {"method", "methods", "scales", "filename", "sha256", "size", "url",
                 "provenance", "official", "license", "format", "reference_path", "packaged",
                 "note"}
        out.append(ZooEntry(
            name=name, methods=tuple(e.get("methods") or [e["method"]]),
            scales=tuple(int(s) for s in e["scales"]), filename=e["filename"],
            sha256=e["sha256"].lower(), size=int(e["size"]), url=e.get("url"),
            provenance=e.get("provenance", "third-party port"),
            official=bool(e.get("official", False)), license=e.get("license", "no license stated"),
            fmt=e["format"], reference_path=e.get("reference_path"), packaged=e.get("packaged"),
            note=e.get("note", ""), extra={k: v for k, v in e.items() if k not in known},
        ))
    return out


def entries_for(method: str) -> list[ZooEntry]:
    """The entries that serve ``method``, best provenance first."""
    found = [e for e in entries() if method in e.methods]
    return sorted(found, key=lambda e: PROVENANCE_RANK.get(e.provenance, 9))


def has_method(method: str) -> bool:
    return bool(entries_for(method))


def entry_by_sha256(sha256: str) -> ZooEntry | None:
    """The entry whose file has this sha256 (how an explicit ``--weights FILE`` is recognised)."""
    return next((e for e in entries() if e.sha256 == sha256.lower()), None)


def cache_path(entry: ZooEntry) -> Path:
    from benchmark.data import cache_dir

    return cache_dir() / "weights" / entry.sha256[:16] / entry.filename


def search_dirs(extra: Iterable[str | Path] = ()) -> list[Path]:
    """``extra`` folders, then those of ``$SRBENCH_WEIGHTS``; missing folders are dropped."""
    env = [p for p in os.environ.get("SRBENCH_WEIGHTS", "").split(os.pathsep) if p]
    return [Path(p).expanduser() for p in [*extra, *env] if Path(p).expanduser().is_dir()]


def _matches(path: Path, entry: ZooEntry) -> bool:
    try:
        return path.is_file() and path.stat().st_size == entry.size \
            and file_sha256(path) == entry.sha256
    except OSError:
        return False


def _search(entry: ZooEntry, folders: Sequence[Path]) -> Path | None:
    """A file of ``entry``'s size and sha256 anywhere below ``folders`` (size filters first)."""
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if _matches(path, entry):
                return path
    return None


def locate(entry: ZooEntry, *, extra_dirs: Iterable[str | Path] = (),
           data_root: str | Path | None = None) -> Path | None:
    """A verified local copy of ``entry``'s file, or None (the search order of the module)."""
    candidates: list[Path] = []
    if entry.packaged:
        candidates.append(PACKAGE_DIR / entry.packaged)
    candidates.append(cache_path(entry))
    for path in candidates:
        if _matches(path, entry):
            return path
    found = _search(entry, search_dirs(extra_dirs))
    if found is not None:
        return found
    root = data_root or os.environ.get("SRBENCH_DATA")
    if root and entry.reference_path:
        path = Path(root).parent / "reference" / entry.reference_path
        if _matches(path, entry):
            return path
    return None


def fetch(entry: ZooEntry, *, offline: bool = False, extra_dirs: Iterable[str | Path] = (),
          data_root: str | Path | None = None, progress: bool = True) -> Path:
    """``entry``'s file, found locally or downloaded once into the cache (sha256-verified).

    Raises
    ------
    WeightsError
        Offline (or no URL) and no local copy; the message says where it was looked for.
    benchmark.data.DownloadError
        The download failed (one line; nothing half-written is kept).
    """
    path = locate(entry, extra_dirs=extra_dirs, data_root=data_root)
    if path is not None:
        return path
    if offline or not entry.url:
        raise WeightsError(
            f"{entry.name}: no local copy (sha256 {entry.sha256[:12]}) in the cache, "
            "$SRBENCH_WEIGHTS/--weights-search folders or $SRBENCH_DATA/../reference"
            + (" and --offline forbids downloading it" if offline else ""))
    from benchmark.data import download_file

    return download_file(entry.url, cache_path(entry), entry.sha256, size=entry.size,
                         progress=progress)


def status(entry: ZooEntry, *, extra_dirs: Iterable[str | Path] = (),
           data_root: str | Path | None = None) -> tuple[str, Path | None]:
    """``("verified", path)`` for a local copy whose sha256 matches, else ``("absent", None)``;
    ``("cached", path)`` when the verified copy is the download cache's or the package's."""
    path = locate(entry, extra_dirs=extra_dirs, data_root=data_root)
    if path is None:
        return "absent", None
    in_cache = path == cache_path(entry) or (entry.packaged and path == PACKAGE_DIR / entry.packaged)
    return ("cached" if in_cache else "verified"), path


def resolve(method: str, scales: Sequence[int], *, offline: bool = False,
            extra_dirs: Iterable[str | Path] = (), data_root: str | Path | None = None,
            progress: bool = True) -> list[tuple[ZooEntry, Path, list[int]]]:
    """The files that serve ``method`` at ``scales``: ``[(entry, local path, its scales)]``.

    A multi-scale file (VDSR, DRRN) serves every scale it covers; a per-scale family (SRCNN)
    gets one file per scale. Per scale the best provenance is taken (official first,
    srbench-trained last), downloading it when needed; offline, the best one found locally.

    Raises
    ------
    WeightsError
        No entry serves a scale, or (offline) none that does is available locally.
    """
    chosen: dict[str, tuple[ZooEntry, Path, list[int]]] = {}
    options = entries_for(method)
    for scale in scales:
        serving = [e for e in options if scale in e.scales]
        if not serving:
            served = sorted({s for e in options for s in e.scales})
            raise WeightsError(f"{method}: the zoo has no model for x{scale} "
                               f"(its files serve x{', x'.join(map(str, served))})")
        known = next((c for c in chosen.values() if c[0] in serving), None)
        if known is not None:
            known[2].append(scale)
            continue
        entry, path = _best(serving, offline, extra_dirs, data_root, progress)
        chosen[entry.name] = (entry, path, [scale])
    return list(chosen.values())


def _best(serving: list[ZooEntry], offline: bool, extra_dirs: Iterable[str | Path],
          data_root: str | Path | None, progress: bool) -> tuple[ZooEntry, Path]:
    """The best-provenance entry, downloaded when needed; when offline, or when its download
    fails (no network), the best one found locally, said on stderr."""
    import sys

    from benchmark.data import DownloadError

    if not offline:
        try:
            return serving[0], fetch(serving[0], extra_dirs=extra_dirs, data_root=data_root,
                                     progress=progress)
        except DownloadError as exc:
            failure: Exception | None = exc
    else:
        failure = None
    for entry in serving:
        path = locate(entry, extra_dirs=extra_dirs, data_root=data_root)
        if path is not None:
            if failure is not None:
                print(f"note: {serving[0].name} could not be downloaded ({failure}); using "
                      f"the local {entry.name} ({entry.provenance}) instead", file=sys.stderr)
            return entry, path
    if failure is not None:
        raise failure
    fetch(serving[0], offline=True, extra_dirs=extra_dirs, data_root=data_root)  # raises
    raise AssertionError("unreachable")
