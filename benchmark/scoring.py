"""Score super-resolved images made outside the suite against a registered test set.

``python -m benchmark score --sr DIR --dataset set5 --scale 2 --name MyNet`` pairs every
ground-truth image of the set with one file of ``DIR`` by name, checks the sizes, and computes
the metrics under a named protocol (:mod:`benchmark.protocol`). The rows have the columns of
``run``'s ``per_image.csv``: ``method`` is the given name, ``weights`` the SR folder,
``recipe`` ``"external"`` and ``config`` ``"-"``.

Accepted SR file names for the ground truth ``baby_GT`` (a trailing ``_GT`` of a GT stem is
optional in SR names) at scale 2, case-insensitive, any of the :data:`IMAGE_SUFFIXES`::

    baby  baby_GT  baby_x2  babyx2  baby_2x  baby_x2_SR  baby_RCAN_x2  baby_LRBI_x2
    baby_SRF_2  baby_SRF_2_SR (SelfExSR)  baby_SR  baby_<name>
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from PIL import Image

from benchmark import imaging
from benchmark.data import EMBEDDED_SETS, ImageRef
from benchmark.protocol import EXPLAIN_ORDER, METRICS, Protocol, get_protocol

__all__ = [
    "IMAGE_SUFFIXES",
    "Match",
    "MatchError",
    "ScoreError",
    "SizeMismatchError",
    "check_sizes",
    "explain",
    "format_explain",
    "matching",
    "gt_key",
    "list_sr_files",
    "match_files",
    "score_folder",
    "score_match",
]

#: File types read from the SR folder (others, and hidden files, are ignored).
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".ppm", ".pgm", ".webp")


class ScoreError(ValueError):
    """SR images that cannot be scored; the message names the files."""


class MatchError(ScoreError):
    """Missing or ambiguous SR files; one message lists every problem."""


class SizeMismatchError(ScoreError):
    """An SR image whose size is not the ground truth's modcropped size."""


@dataclass(frozen=True)
class Match:
    """A ground-truth image and the SR file scored against it."""

    gt: ImageRef
    sr: Path


# ---------------------------------------------------------------------------- name matching
def gt_key(stem: str) -> str:
    """The GT stem without a trailing ``_GT`` (case-insensitive), lower-cased."""
    key = stem.lower()
    return key[:-3] if key.endswith("_gt") and len(key) > 3 else key


def _suffix_pattern(scale: int, name: str | None) -> re.Pattern[str]:
    """What may follow the GT key in an SR file stem (lower-case, key already removed)."""
    s = int(scale)
    tok = rf"(?:x{s}|{s}x)"
    tail = r"(?:[_-].*)?"
    names = "sr" + (f"|{re.escape(name.lower())}" if name else "")
    alternatives = [
        rf"[_-]?{tok}{tail}",  # _x2, x2, _2x, _x2_SR
        rf"[_-].+[_-]{tok}{tail}",  # _RCAN_x2, _LRBI_x2, _MyNet_x2_SR
        rf"[_-]srf_{s}{tail}",  # SelfExSR: _SRF_2, _SRF_2_SR
        rf"[_-](?:{names})",  # _SR, _<name>
    ]
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


def _match_length(sr_stem: str, gt_stem: str, pattern: re.Pattern[str]) -> int:
    """Length of the longest GT key (stem, or stem without ``_GT``) that names ``sr_stem``; 0
    when none does."""
    sr = sr_stem.lower()
    best = 0
    for key in {gt_stem.lower(), gt_key(gt_stem)}:
        if sr.startswith(key) and (len(sr) == len(key) or pattern.fullmatch(sr[len(key):])):
            best = max(best, len(key))
    return best


def list_sr_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder`` (by suffix, case-insensitive), sorted by name.

    Raises
    ------
    ScoreError
        If ``folder`` is not a directory or holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ScoreError(f"--sr: {folder} is not a folder")
    files = sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise ScoreError(f"--sr: no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def _tokens(stem: str) -> set[str]:
    return set(re.split(r"[_\-.\s]+", stem.lower()))


def match_files(
    refs: Sequence[ImageRef], sr_files: Sequence[Path], scale: int, name: str | None = None
) -> tuple[list[Match], list[Path]]:
    """Pair every ground-truth image with exactly one SR file by name.

    Parameters
    ----------
    refs : sequence of ImageRef
        The ground-truth images (only ``name``, the file stem, is used here).
    sr_files : sequence of Path
        Candidate SR files.
    scale : int
        SR factor; names that carry a scale (``_x3``, ``_SRF_3``) must carry this one.
    name : str, optional
        The method's name: ``<stem>_<name>`` is accepted, and when several files fit one GT
        image, the one whose name contains ``name`` as a ``_``-separated token is taken.

    Returns
    -------
    matches : list of Match
        In the order of ``refs``.
    unmatched : list of Path
        SR files that fit no GT image (other scales, other sets...), left unscored.

    Raises
    ------
    MatchError
        One message listing every GT image without an SR file, every GT image that several
        files fit, and every SR file that fits several GT images.
    """
    pattern = _suffix_pattern(scale, name)
    candidates: dict[int, list[Path]] = {i: [] for i in range(len(refs))}
    unmatched: list[Path] = []
    problems: list[str] = []
    for path in sr_files:
        lengths = [_match_length(path.stem, ref.name, pattern) for ref in refs]
        best = max(lengths, default=0)
        if best == 0:
            unmatched.append(path)
            continue
        owners = [i for i, n in enumerate(lengths) if n == best]
        if len(owners) > 1:
            problems.append(
                f"{path.name} fits several GT images: "
                + ", ".join(refs[i].name for i in owners)
            )
            continue
        candidates[owners[0]].append(path)

    matches: list[Match] = []
    missing: list[str] = []
    for i, ref in enumerate(refs):
        found = candidates[i]
        if len(found) > 1 and name:
            named = [p for p in found if name.lower() in _tokens(p.stem)]
            found = named if len(named) == 1 else found
        if not found:
            missing.append(ref.name)
        elif len(found) > 1:
            problems.append(
                f"{ref.name} is fitted by several SR files: " + ", ".join(p.name for p in found)
            )
        else:
            matches.append(Match(ref, found[0]))
    if missing:
        example = gt_key(refs[0].name) if refs else "name"
        problems.insert(
            0,
            f"no SR file for {len(missing)} of {len(refs)} GT images: {', '.join(missing)} "
            f"(accepted names are e.g. {example}.png, {example}_x{scale}.png, "
            f"{example}_<Name>_x{scale}.png, {example}_SRF_{scale}_SR.png)",
        )
    if problems:
        raise MatchError("cannot pair SR files with GT images:\n  " + "\n  ".join(problems))
    return matches, unmatched


# ------------------------------------------------------------------------------ size checks
def _stored_size(ref: ImageRef) -> tuple[int, int]:
    """(height, width) of a GT image as the protocol reads it, from the file header."""
    if ref.path is None or ref.dataset in EMBEDDED_SETS:  # sample is cropped on load
        return tuple(ref.load().shape[:2])  # type: ignore[return-value]
    return _header_size(ref.path)


def _header_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            width, height = im.size
    except FileNotFoundError:
        raise
    except Exception as exc:  # PIL raises several types for non-images
        raise imaging.ImageReadError(f"{path} is not a readable image file ({exc})") from None
    return height, width


def check_sizes(matches: Sequence[Match], scale: int) -> None:
    """Check that every SR image has its GT's size modcropped to a multiple of ``scale``.

    Only file headers are read.

    Raises
    ------
    SizeMismatchError
        Naming every mismatched SR file with both sizes (height x width).
    ImageReadError
        For a file that is not an image.
    """
    bad: list[str] = []
    for m in matches:
        h, w = _stored_size(m.gt)
        want = (h - h % scale, w - w % scale)
        got = _header_size(m.sr)
        if got != want:
            bad.append(
                f"{m.sr.name} is {got[0]}x{got[1]} px but GT {m.gt.name} modcropped for "
                f"x{scale} is {want[0]}x{want[1]} px (from {h}x{w})"
            )
    if bad:
        raise SizeMismatchError("SR image size differs from the ground truth:\n  "
                                + "\n  ".join(bad))


# ---------------------------------------------------------------------------------- scoring
def _sr_for_gt(sr_img: np.ndarray, gt_img: np.ndarray, path: Path) -> np.ndarray:
    """A colour SR image for a grayscale GT is accepted only when its channels are equal."""
    if gt_img.ndim == 2 and sr_img.ndim == 3:
        if np.array_equal(sr_img[:, :, 0], sr_img[:, :, 1]) and np.array_equal(
            sr_img[:, :, 0], sr_img[:, :, 2]
        ):
            return sr_img[:, :, 0]
        raise ScoreError(
            f"{path.name} is a colour image but its ground truth is grayscale; save the SR "
            "output as a single-channel image (or with equal R, G, B)"
        )
    return sr_img


def score_match(
    match: Match, scale: int, protocol: Protocol | str, names: tuple[str, ...] = METRICS
) -> dict[str, float]:
    """Metric values of one SR file against its ground truth under ``protocol``.

    Returns
    -------
    dict
        ``{metric: value}`` for psnr, ssim and ifc (NaN for those not in ``names``) and the
        seconds spent per metric (``<metric>_seconds``).

    Raises
    ------
    ScoreError, ImageReadError
        Unreadable files, a size mismatch, a colour SR image for a grayscale GT.
    """
    proto = get_protocol(protocol) if isinstance(protocol, str) else protocol
    gt_img = match.gt.load()
    sr_img = _sr_for_gt(imaging.read_image(match.sr), gt_img, match.sr)
    gt = proto.gt_y(gt_img, scale)
    sr = proto.sr_y(sr_img)
    if proto.crop_sr:
        sr = sr[: gt.shape[0], : gt.shape[1]]
    if gt.shape != sr.shape:
        raise SizeMismatchError(
            f"{match.sr.name} is {sr.shape[0]}x{sr.shape[1]} px but GT {match.gt.name} "
            f"modcropped for x{scale} is {gt.shape[0]}x{gt.shape[1]} px"
        )
    return proto.score(gt, sr, scale, names)


def score_folder(
    matches: Sequence[Match],
    scale: int,
    *,
    method: str,
    weights: str,
    protocol: Protocol | str,
    names: tuple[str, ...] = METRICS,
    jobs: int = 1,
) -> list[dict[str, Any]]:
    """Tidy rows (the ``per_image.csv`` columns of ``run``, without run id, time and version).

    Parameters
    ----------
    matches : sequence of Match
        From :func:`match_files`, after :func:`check_sizes`.
    scale : int
    method : str
        The name recorded in the ``method`` column.
    weights : str
        Recorded in the ``weights`` column (the SR folder).
    protocol : Protocol or str
    names : tuple of str
        Metrics to compute (the others are NaN).
    jobs : int
        Parallel worker processes (joblib); 1 computes in this process.

    Returns
    -------
    list of dict
        One row per match, in order. ``seconds`` (forward time) is NaN: there was no forward
        pass here.
    """
    proto = get_protocol(protocol) if isinstance(protocol, str) else protocol
    values = Parallel(n_jobs=max(1, min(jobs, len(matches))))(
        delayed(score_match)(m, scale, proto.name, names) for m in matches
    )
    rows = []
    for m, v in zip(matches, values):
        rows.append(
            {
                "method": method,
                "config": "-",
                "weights": weights,
                "recipe": "external",
                "dataset": m.gt.dataset,
                "scale": scale,
                "image": m.gt.name,
                **{name: v[name] for name in METRICS},
                **{name: v.get(name, float("nan")) for name in names if name not in METRICS},
                "seconds": float("nan"),
                "status": "ok",
                "device": "-",
                "dtype": "-",
                "threads": float("nan"),
                "protocol": proto.name,
            }
        )
    return rows


# ------------------------------------------------------------------------------ explain
#: Two means closer than this (dB) are taken as the same published figure (2-decimal tables).
MATCH_TOLERANCE = 0.005


def explain(
    matches: Sequence[Match], scale: int, protocols: Sequence[str] = EXPLAIN_ORDER,
    jobs: int = 1,
) -> pd.DataFrame:
    """Mean PSNR/SSIM of the same SR images under every protocol variant.

    Returns
    -------
    DataFrame
        Columns ``protocol, psnr, ssim, n, description``, one row per protocol, in order.
    """
    out = []
    for name in protocols:
        proto = get_protocol(name)
        rows = score_folder(matches, scale, method="-", weights="-", protocol=proto,
                            names=("psnr", "ssim"), jobs=jobs)
        out.append({"protocol": proto.name, "psnr": float(np.mean([r["psnr"] for r in rows])),
                    "ssim": float(np.mean([r["ssim"] for r in rows])), "n": len(rows),
                    "description": proto.description})
    return pd.DataFrame(out)


def matching(table: pd.DataFrame, target: float, tol: float = MATCH_TOLERANCE) -> list[str]:
    """The protocols whose mean PSNR is within ``tol`` dB of ``target``."""
    return [r["protocol"] for _, r in table.iterrows() if abs(r["psnr"] - target) <= tol]


def format_explain(table: pd.DataFrame, target: float | None = None) -> str:
    """The explain table; with ``target``, a last line ``matches: ...`` (or ``matches: none``)."""
    width = max(len(p) for p in table["protocol"])
    head = "" if target is None else f" {'- target':>9}"
    lines = [f"{'protocol':<{width}} {'PSNR':>9}{head} {'SSIM':>8}  {'n':>3}  what it does"]
    for _, r in table.iterrows():
        diff = "" if target is None else f" {r['psnr'] - target:>+9.4f}"
        lines.append(f"{r['protocol']:<{width}} {r['psnr']:>9.4f}{diff} {r['ssim']:>8.5f}  "
                     f"{int(r['n']):>3}  {r['description']}")
    if target is not None:
        found = matching(table, target)
        lines.append(f"matches: {', '.join(found) if found else 'none'} "
                     f"(target {target:.3f} dB, within {MATCH_TOLERANCE} dB)")
    return "\n".join(lines)
