"""Print, or write into README.md, the Reproduction table of ``results/reproduction`` and
the table of our SRCNN 9-1-5 training (``results/trained/eval``).

    python scripts/reproduction_table.py            # print it
    python scripts/reproduction_table.py --write    # replace README.md's table
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark import reproduction

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default=str(REPO / "results" / "reproduction"))
    parser.add_argument("--trained", default=str(REPO / "results" / "trained" / "eval"),
                        help="run folders of the srbench-trained SRCNN 9-1-5 models")
    parser.add_argument("--write", action="store_true", help="update README.md in place")
    args = parser.parse_args()
    if args.write:
        reproduction.write_readme(REPO / "README.md", args.results, args.trained)
    else:
        print(reproduction.markdown_table(args.results))
        print()
        print(reproduction.trained_table(args.trained, args.results))


if __name__ == "__main__":
    main()
