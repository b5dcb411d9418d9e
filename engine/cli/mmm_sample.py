"""Write the shipped sample history: `python -m engine.cli.mmm_sample [--out docs]`.

Two years of weekly revenue with five channels and a price control, generated with known
effects (engine/mmm/synthetic.py, seed 2024), as `sample_mmm.csv`, and the true effects
beside it as `sample_mmm_truth.json`, so the model's answers can be checked against them.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from engine.mmm.synthetic import generate

SEED = 2024
CHANNELS = 5


def write_sample(out: Path) -> tuple[Path, Path]:
    """Write the CSV and the JSON of true effects into `out`; returns both paths."""
    data = generate(SEED, channels=CHANNELS, noise=0.08)
    out.mkdir(parents=True, exist_ok=True)
    table = out / "sample_mmm.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(data["rows"][0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(data["rows"])
    truth = out / "sample_mmm_truth.json"
    truth.write_text(json.dumps(data["truth"], indent=2) + "\n", encoding="utf-8")
    return table, truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.cli.mmm_sample", description=__doc__)
    parser.add_argument("--out", default="docs", help="folder to write into")
    args = parser.parse_args(argv)
    paths = write_sample(Path(args.out))
    print("wrote " + ", ".join(str(path) for path in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
