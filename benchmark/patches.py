"""The training patch bank: (ILR, GT) patch pairs cut from a registered training set.

Each training image goes through the evaluation protocol's own steps 1-3
(:func:`benchmark.imaging.prepare_pair`: MATLAB Y, modcrop per scale, GT = Y/255, ILR = MATLAB
bicubic down + up, not quantised), so a training input is exactly what the harness feeds a
model at test time. Patches of ``patch x patch`` pixels are cut on a grid of ``stride`` from
the top-left corner, for every scale, and all scales go into one bank (one model serves x2,
x3 and x4, as in the DRRN release).

Augmentation is not stored: the release's 8 flipped/rotated copies of every image
(``Train_291``, name_00..07) are replaced by a random one of the 8 dihedral transforms applied
to each sampled (ILR, GT) pair on the fly (:func:`augment`). Bicubic resizing commutes with
flips and 90-degree rotations of a modcropped image, so the transformed pair is the pair of the
transformed image; the only differences from the release are which < ``scale`` border rows the
modcrop drops and the offset of the patch grid. The bank is 8x smaller for it.

Storage: GT as uint8 (it is Y/255, so exact), ILR as float32 (the dtype models run in; the
test checks it equals the harness's float64 ILR cast to float32), the scale per patch. A bank
is built once and cached as ``.npy`` files under ``$SRBENCH_CACHE/patches/<key>/`` (default
``~/.cache/srbench``); the key hashes the dataset's image checksums, the scales, patch size,
stride and the source of :mod:`benchmark.imaging`, so a change to any of them builds a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from joblib import Parallel, delayed

from benchmark import PROTOCOL, data, imaging
from benchmark.progress import progress_bar

#: Bump when the bank layout or extraction changes: old caches are then ignored.
BANK_VERSION = 1


@dataclass
class PatchBank:
    """Patch pairs of one training set, as numpy arrays (memory-mapped when loaded from disk).

    Attributes
    ----------
    ilr : np.ndarray
        ``(N, P, P)`` float32, the protocol's ILR (network input) in [0, 1].
    gt : np.ndarray
        ``(N, P, P)`` uint8, the protocol's GT Y (label = ``gt / 255``).
    scale : np.ndarray
        ``(N,)`` uint8, the scale each patch was made at.
    meta : dict
        Dataset, scales, patch, stride, image count and the cache key.
    """

    ilr: np.ndarray
    gt: np.ndarray
    scale: np.ndarray
    meta: dict

    def __len__(self) -> int:
        return len(self.scale)

    def to_tensors(
        self, device: torch.device, *, max_patches: int | None = None, seed: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ilr, gt)`` as ``(N, 1, P, P)`` tensors on ``device`` (float32, uint8).

        With ``max_patches`` a random subset of that many patches (fixed by ``seed``) is kept,
        in bank order. On a GPU the whole bank lives in GPU memory (GT stays uint8: 1 byte).
        """
        index = np.arange(len(self))
        if max_patches is not None and max_patches < len(self):
            rng = np.random.default_rng(seed)
            index = np.sort(rng.choice(len(self), size=max_patches, replace=False))
        ilr = torch.from_numpy(np.ascontiguousarray(self.ilr[index]))[:, None]
        gt = torch.from_numpy(np.ascontiguousarray(self.gt[index]))[:, None]
        return ilr.to(device), gt.to(device)


def extract(image: np.ndarray, patch: int, stride: int) -> np.ndarray:
    """All ``patch x patch`` windows of a 2-D array on a ``stride`` grid from the top-left.

    Returns ``(n, patch, patch)``, rows first (window ``k`` starts at row ``(k // nw) * stride``,
    column ``(k % nw) * stride``); empty when the image is smaller than a patch.
    """
    if image.shape[0] < patch or image.shape[1] < patch:
        return np.empty((0, patch, patch), image.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(image, (patch, patch))[::stride, ::stride]
    return windows.reshape(-1, patch, patch).copy()


def image_patches(
    image: np.ndarray, scales: Sequence[int], patch: int, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ilr float32, gt uint8, scale uint8)`` patches of one uint8 image at every scale.

    A scale at which the image is too small for the protocol (``imaging.min_side``) gives no
    patches.
    """
    ilrs, gts, tags = [], [], []
    for scale in scales:
        try:
            gt, ilr = imaging.prepare_pair(image, scale)
        except ValueError:
            continue
        ilrs.append(extract(ilr.astype(np.float32), patch, stride))
        gts.append(extract(imaging.quantize_unit(gt), patch, stride))
        tags.append(np.full(len(ilrs[-1]), scale, np.uint8))
    if not tags:
        return (np.empty((0, patch, patch), np.float32), np.empty((0, patch, patch), np.uint8),
                np.empty(0, np.uint8))
    return np.concatenate(ilrs), np.concatenate(gts), np.concatenate(tags)


def _load_patches(
    ref: data.ImageRef, scales: Sequence[int], patch: int, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return image_patches(ref.load(), scales, patch, stride)


def default_cache_root() -> Path:
    """``$SRBENCH_CACHE/patches`` (default ``~/.cache/srbench/patches``)."""
    return data.cache_dir() / "patches"


def bank_key(
    refs: Sequence[data.ImageRef], scales: Sequence[int], patch: int, stride: int
) -> str:
    """Cache key: the images' content, scales, patch, stride, imaging source, bank version."""
    imaging_source = Path(imaging.__file__).read_bytes()
    payload = {
        "images": [(ref.name, ref.sha256) for ref in refs],
        "scales": list(scales),
        "patch": patch,
        "stride": stride,
        "protocol": PROTOCOL,
        "imaging": hashlib.sha256(imaging_source).hexdigest(),
        "version": BANK_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def build_patch_bank(
    dataset: str = "train291",
    scales: Sequence[int] = (2, 3, 4),
    patch: int = 31,
    stride: int = 21,
    *,
    data_root: str | Path | None = None,
    cache_root: Path | None = None,
    jobs: int = 0,
    offline: bool = False,
    progress: bool = True,
) -> PatchBank:
    """The patch bank of ``dataset``: loaded from the cache, else built and cached.

    Parameters
    ----------
    dataset : str
        A registered dataset (``data.list_images``), e.g. ``"train291"`` (T91 + BSD200).
    scales : sequence of int
        Scales mixed into the bank.
    patch, stride : int
        Patch side and grid step in pixels (DRRN: 31, 21).
    data_root : path, optional
        Dataset folder (``data.resolve_data_root``: default ``$SRBENCH_DATA``).
    cache_root : Path, optional
        Folder holding banks (default :func:`default_cache_root`).
    jobs : int
        Worker processes for the build (0: all cores).
    offline : bool
        Never download missing images (``data.list_images``).
    progress : bool
        Show a progress bar while building.
    """
    root = data.resolve_data_root(data_root)
    refs = data.list_images(dataset, root, offline=offline, progress=progress)
    key = bank_key(refs, scales, patch, stride)
    folder = (cache_root or default_cache_root()) / f"{dataset}-{key}"
    if not (folder / "meta.json").exists():
        _build(folder, refs, dataset, scales, patch, stride, jobs, progress, key)
    meta = json.loads((folder / "meta.json").read_text())
    return PatchBank(
        ilr=np.load(folder / "ilr.npy", mmap_mode="r"),
        gt=np.load(folder / "gt.npy", mmap_mode="r"),
        scale=np.load(folder / "scale.npy"),
        meta=meta,
    )


def _build(
    folder: Path,
    refs: Sequence[data.ImageRef],
    dataset: str,
    scales: Sequence[int],
    patch: int,
    stride: int,
    jobs: int,
    progress: bool,
    key: str,
) -> None:
    """Compute every image's patches in parallel and write the bank atomically (tmp + rename)."""
    start = time.perf_counter()
    results = Parallel(n_jobs=jobs or (os.cpu_count() or 1), return_as="generator")(
        delayed(_load_patches)(ref, scales, patch, stride) for ref in refs
    )
    parts = list(progress_bar(results, total=len(refs), desc=f"patches {dataset}",
                              show=progress))
    ilr, gt, scale = (np.concatenate([p[i] for p in parts]) for i in range(3))
    meta = {
        "dataset": dataset, "scales": list(scales), "patch": patch, "stride": stride,
        "images": len(refs), "patches": len(scale), "key": key, "protocol": PROTOCOL,
        "version": BANK_VERSION, "build_seconds": round(time.perf_counter() - start, 2),
    }
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "ilr.npy", ilr)
    np.save(tmp / "gt.npy", gt)
    np.save(tmp / "scale.npy", scale)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    try:
        os.replace(tmp, folder)
    except OSError:  # another process finished the same bank first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)


def augment(
    x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one random dihedral transform (8 flips/rotations) per sample to both tensors.

    ``x`` and ``y`` are ``(B, C, P, P)`` on the generator's device; three random bits per
    sample choose a horizontal flip, a vertical flip and a transpose, which together give the
    8 elements of the dihedral group. Runs on the device without a host synchronisation.
    """
    bits = torch.randint(0, 2, (3, x.shape[0], 1, 1, 1), generator=generator, device=x.device)
    bits = bits.bool()
    out = []
    for t in (x, y):
        t = torch.where(bits[0], t.flip(-1), t)
        t = torch.where(bits[1], t.flip(-2), t)
        t = torch.where(bits[2], t.transpose(-1, -2), t)
        out.append(t)
    return out[0], out[1]
