"""Moved to ``python -m benchmark bench train`` (benchmark/bench.py); this wrapper passes its options on."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's benchmark
from benchmark.cli import main  # noqa: E402

sys.exit(main(["bench", "train", *sys.argv[1:]]))
