"""The report's image browser: GT, bicubic and method crops of the browsed images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark import data, imaging
from benchmark.report.load import RunInfo
from benchmark.report.text import _ds, fmt, slug
from benchmark.report.variants import VARIANT, _order

#: Image browser: datasets shown by default, at x3 (else the smallest scale present).
BROWSE_DATASETS = ("set5", "set14", "sample")
BROWSE_SCALE = 3
CROP = 80          # side of the zoomed crop, HR pixels
THUMB_WIDTH = 220  # GT thumbnail width, pixels


def _detail_window(gray: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` square with the most gradient energy."""
    h, w = gray.shape
    if h <= size or w <= size:
        return 0, 0
    g = np.zeros_like(gray, dtype=np.float64)
    g[:, 1:] += np.abs(np.diff(gray, axis=1))
    g[1:, :] += np.abs(np.diff(gray, axis=0))
    integral = np.pad(g.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(size // 8, 1)
    ys = np.arange(0, h - size + 1, step)
    xs = np.arange(0, w - size + 1, step)
    top, left = ys[:, None], xs[None, :]
    sums = (integral[top + size, left + size] - integral[top, left + size]
            - integral[top + size, left] + integral[top, left])
    i, j = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(ys[i]), int(xs[j])


def _bicubic_crop(gt: np.ndarray, scale: int, top: int, left: int, size: int) -> np.ndarray:
    """The ``size`` square at (top, left) of the colour bicubic ILR of ``gt``.

    Resizes a window around the crop that starts on the LR grid and reaches 8 LR pixels
    beyond it (where the image allows): MATLAB's bicubic taps reach 2 LR pixels, so the crop
    equals the same crop of the whole image's ILR.
    """
    margin = 8 * scale
    y0, x0 = max(0, (top - margin) // scale * scale), max(0, (left - margin) // scale * scale)
    y1 = min(gt.shape[0], -(-(top + size + margin) // scale) * scale)
    x1 = min(gt.shape[1], -(-(left + size + margin) // scale) * scale)
    window = _bicubic_colour(gt[y0:y1, x0:x1], scale)
    return window[top - y0:top - y0 + size, left - x0:left - x0 + size]


def _bicubic_colour(gt: np.ndarray, scale: int) -> np.ndarray:
    """Colour bicubic ILR: YCbCr planes down and up by MATLAB imresize (Y = the protocol's ILR)."""
    if gt.ndim == 2:
        unit = gt.astype(np.float64) / 255.0
        return imaging.quantize_unit(imaging.imresize(imaging.imresize(unit, 1.0 / scale),
                                                      output_shape=gt.shape))
    ycc = imaging.rgb2ycbcr(gt).astype(np.float64) / 255.0
    up = imaging.imresize(imaging.imresize(ycc, 1.0 / scale), output_shape=gt.shape[:2])
    return imaging.quantize_unit(imaging.ycbcr2rgb(up))


def _thumbnail(image: np.ndarray, box: tuple[int, int, int], path: Path) -> None:
    from PIL import Image, ImageDraw

    pil = Image.fromarray(image).convert("RGB")
    ratio = THUMB_WIDTH / pil.width
    thumb = pil.resize((THUMB_WIDTH, max(1, round(pil.height * ratio))), Image.LANCZOS)
    top, left, size = box
    draw = ImageDraw.Draw(thumb)
    draw.rectangle([left * ratio, top * ratio, (left + size) * ratio - 1,
                    (top + size) * ratio - 1], outline=(255, 40, 40), width=2)
    thumb.save(path, format="PNG")


def _saved_image(run_dir: Path, method: str, dataset: str, scale: int, image: str) -> Path | None:
    """``<run>/images/<method>/<dataset>/x<scale>/<image>.png`` if present and inside the run."""
    base = (run_dir / "images").resolve()
    path = (run_dir / "images" / method / dataset / f"x{scale}" / f"{image}.png")
    try:
        resolved = path.resolve()
        resolved.relative_to(base)
    except (OSError, ValueError):
        return None
    return resolved if resolved.is_file() else None


def _gt_refs(dataset: str, roots: list[Path]) -> tuple[dict[str, data.ImageRef], str]:
    problem = ""
    for root in roots:
        try:
            refs = data.list_images(dataset, root, offline=True, verify=False, progress=False)
            return {ref.name: ref for ref in refs}, ""
        except (data.DatasetError, KeyError, OSError, ValueError) as exc:
            problem = str(exc)
    return {}, problem


def image_browser(
    selected: pd.DataFrame,
    variants: dict,
    runs: dict[str, RunInfo],
    out: Path,
    *,
    data_root: Path | None,
    limit: int = 40,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Crops of GT, bicubic and every method with a saved SR image, per browsed image.

    Browsed: :data:`BROWSE_DATASETS` at x3 (else the smallest scale present) and every
    (dataset, scale, image) for which a run saved SR images, at most ``limit`` images.
    """
    notes: list[str] = []
    if selected.empty:
        return [], notes
    rows = selected[selected["status"] == "ok"]
    wanted: dict[tuple[str, int], set[str]] = {}
    for dataset in BROWSE_DATASETS:
        scales = sorted(set(rows.loc[rows["dataset"] == dataset, "scale"]))
        if scales:
            scale = BROWSE_SCALE if BROWSE_SCALE in scales else scales[0]
            names = rows.loc[(rows["dataset"] == dataset) & (rows["scale"] == scale), "image"]
            wanted[(dataset, scale)] = set(names)
    saved: dict[tuple[str, str, str, str, str, int, str], Path] = {}
    for run_name in rows["_run"].unique():
        run = runs[run_name]
        if not (run.path / "images").is_dir():
            continue
        part = rows[rows["_run"] == run_name]
        for r in part[[*VARIANT, "dataset", "scale", "image"]].drop_duplicates().itertuples(
                index=False):
            path = _saved_image(run.path, r.method, r.dataset, int(r.scale), r.image)
            if path is not None:
                saved[(r.method, r.config, r.weights, r.recipe, r.dataset, int(r.scale),
                       r.image)] = path
                wanted.setdefault((r.dataset, int(r.scale)), set()).add(r.image)
    def rank(key: tuple[str, int]) -> tuple:
        dataset, scale = key
        known = BROWSE_DATASETS.index(dataset) if dataset in BROWSE_DATASETS else len(
            BROWSE_DATASETS)
        return (known, dataset, scale)

    items = [(d, s, i) for (d, s) in sorted(wanted, key=rank) for i in sorted(wanted[(d, s)])]
    if len(items) > limit:
        notes.append(f"Showing the first {limit} of the {len(items)} images with saved SR "
                     "images (Set5 and Set14 first); `report --browse-limit N` shows more.")
        items = items[:limit]
    metrics = rows.groupby([*VARIANT, "dataset", "scale", "image"], sort=False)[
        ["psnr", "ssim"]].mean()
    refs_cache: dict[str, dict[str, data.ImageRef]] = {}
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    for dataset, scale, image in items:
        if dataset not in refs_cache:
            roots = [data_root] if data_root is not None else []
            roots += [Path(r.meta["data_root"]) for r in runs.values()
                      if r.meta.get("data_root") and dataset in r.meta.get("datasets", [dataset])]
            roots.append(data.resolve_data_root(None))
            refs_cache[dataset], problem = _gt_refs(dataset, list(dict.fromkeys(roots)))
            if problem:
                notes.append(f"{dataset}: ground truth not available ({problem}); GT and "
                             "bicubic crops left out")
        group = groups.setdefault((dataset, scale), {
            "title": f"{_ds(dataset)} x{scale}", "anchor": slug(f"browse-{dataset}-x{scale}"),
            "images": []})
        entry = _browse_one(dataset, scale, image, refs_cache[dataset].get(image), variants,
                            saved, metrics, out)
        if entry is not None:
            group["images"].append(entry)
    return [g for g in groups.values() if g["images"]], notes


def _browse_one(dataset: str, scale: int, image: str, ref: data.ImageRef | None,
                variants: dict, saved: dict, metrics: pd.DataFrame, out: Path) -> dict | None:
    folder_rel = f"browser/{slug(dataset)}-x{scale}/{slug(image)}"
    folder = out / folder_rel
    mine = {k: p for k, p in saved.items() if k[4:] == (dataset, scale, image)}
    gt = None
    if ref is not None:
        try:
            gt = imaging.modcrop(ref.load(), scale)
        except Exception:
            gt = None
    base = gt if gt is not None else (imaging.read_image(next(iter(mine.values())))
                                      if mine else None)
    if base is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    gray = imaging.rgb2y(base) if base.ndim == 3 else base
    size = min(CROP, *gray.shape)
    top, left = _detail_window(gray.astype(np.float64), size)

    def crop(arr: np.ndarray, name: str) -> str:
        imaging.write_image(folder / f"{name}.png",
                            np.ascontiguousarray(arr[top:top + size, left:left + size]))
        return f"{folder_rel}/{name}.png"

    def scores(key: tuple) -> tuple[str, str]:
        try:
            psnr, ssim = metrics.loc[(*key, dataset, scale, image)]
        except KeyError:
            return "n/a", "n/a"
        return fmt(psnr, 2), fmt(ssim, 4)

    panels: list[dict[str, Any]] = []
    _thumbnail(base, (top, left, size), folder / "thumb.png")
    if gt is not None:
        panels.append({"title": "GT", "src": crop(gt, "gt"), "psnr": "", "ssim": "",
                       "comparable": True, "kind": "ref", "note": ""})
    bicubic_keys = [k for k in variants if k[0] == "bicubic"]
    bic_saved = [k for k in bicubic_keys if (*k, dataset, scale, image) in mine]
    if gt is not None and not bic_saved:
        psnr, ssim = scores(bicubic_keys[0]) if bicubic_keys else ("n/a", "n/a")
        bicubic = np.zeros_like(gt)
        bicubic[top:top + size, left:left + size] = _bicubic_crop(gt, scale, top, left, size)
        panels.append({"title": "Bicubic", "src": crop(bicubic, "bicubic"),
                       "psnr": psnr, "ssim": ssim, "comparable": True, "kind": "ref",
                       "note": ""})
    listed: list[dict[str, Any]] = []
    for key, variant in sorted(variants.items(), key=lambda kv: _order(kv[1])):
        psnr, ssim = scores(key)
        if psnr == "n/a" and ssim == "n/a" and (*key, dataset, scale, image) not in mine:
            continue
        path = mine.get((*key, dataset, scale, image))
        entry = {"title": variant.label, "psnr": psnr, "ssim": ssim,
                 "comparable": variant.comparable, "kind": "method", "note": ""}
        if path is not None:
            arr = imaging.read_image(path)
            if arr.shape[:2] != base.shape[:2]:
                entry["note"] = f"saved image is {arr.shape[1]}x{arr.shape[0]}, GT is " \
                                f"{base.shape[1]}x{base.shape[0]}"
                listed.append(entry)
                continue
            entry["src"] = crop(arr, f"m-{slug(variant.method, 24)}-{variant.uid}")
            panels.append(entry)
        elif variant.method != "bicubic" or bic_saved:
            listed.append(entry)
    return {"name": image, "anchor": slug(f"img-{dataset}-x{scale}-{image}"),
            "thumb": f"{folder_rel}/thumb.png", "panels": panels, "listed": listed,
            "crop": f"{size}x{size} px at ({left}, {top})",
            "size": f"{base.shape[1]}x{base.shape[0]}", "has_gt": gt is not None}

