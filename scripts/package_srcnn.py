"""Ship srbench-trained SRCNN 9-1-5 checkpoints as the zoo's ``srcnn_915_x<S>_srbench`` entries.

For each finished checkpoint given (one per scale, from ``python -m benchmark train srcnn_915
--scales S ...``; see ``results/trained/README.md``): copy it to
``benchmark/zoo/srcnn_915_x<S>.safetensors`` (package data), link
``results/trained/srcnn_915_x<S>.safetensors`` to it, copy its training log beside the link,
and write its manifest entry (sha256, size, the scale read from the checkpoint, the Set5
PSNR its training validated, the command).

    python scripts/package_srcnn.py weights/srcnn_repro/srcnn_915-quick-*.safetensors
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's benchmark

from benchmark import weights  # noqa: E402

ZOO = REPO / "benchmark" / "zoo"
TRAINED = REPO / "results" / "trained"
MANIFEST = REPO / "benchmark" / "weights_manifest.json"
COMMAND = ("python -m benchmark train srcnn_915 --scales {scale} --iterations 40000 --set "
           "log_every=1000 --set val_every=5000 --train-threads 1 --offline (SRBENCH_DATA with "
           "T91 and Set5; see results/trained/README.md)")


def entry(path: Path, meta: dict, scale: int) -> dict:
    """The manifest entry of the packaged copy ``path`` of a finished checkpoint."""
    return {
        "method": "srcnn_915", "methods": ["srcnn_915"], "format": "srbench-checkpoint",
        "filename": path.name, "url": None, "sha256": weights.file_sha256(path),
        "size": path.stat().st_size, "scales": [scale], "packaged": f"zoo/{path.name}",
        "provenance": "srbench-trained", "official": False, "license": "MIT (srbench)",
        "note": (f"SRCNN 9-1-5 trained by srbench on T91 at x{scale} ({meta['recipe']} recipe, "
                 f"{meta['iterations']} iterations, {meta['train_seconds']:.0f} s on "
                 f"{meta['device']}); log: results/trained/srcnn_915_x{scale}.csv"),
        "command": COMMAND.format(scale=scale),
        "reference": {"dataset": "set5", "psnr": {str(scale): round(meta["val_psnr"], 2)},
                      "source": "srbench training's own Set5 validation (drrn-matlab-v1)"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    args = parser.parse_args()
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    ZOO.mkdir(exist_ok=True)
    TRAINED.mkdir(parents=True, exist_ok=True)
    for source in args.checkpoints:
        _, meta = weights.load_checkpoint(source, "srcnn_915")
        if not meta.get("finished") or len(meta.get("scales", [])) != 1:
            raise SystemExit(f"{source}: not a finished one-scale srcnn_915 checkpoint")
        scale = int(meta["scales"][0])
        packaged = ZOO / f"srcnn_915_x{scale}.safetensors"
        shutil.copyfile(source, packaged)
        link = TRAINED / packaged.name
        link.unlink(missing_ok=True)
        link.symlink_to(Path("../../benchmark/zoo") / packaged.name)
        shutil.copyfile(source.with_suffix(".csv"), TRAINED / f"srcnn_915_x{scale}.csv")
        manifest["weights"][f"srcnn_915_x{scale}_srbench"] = entry(packaged, meta, scale)
        print(f"x{scale}: {packaged.relative_to(REPO)} ({meta['val_psnr']:.4f} dB Set5)")
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
