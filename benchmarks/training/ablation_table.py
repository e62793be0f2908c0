"""Markdown table of the ablation runs: validation split (all levels) and VB3 field-of-view variants.

Reads ``<run>/validation.json`` (``python -m spinemark.train.validate``) and ``<run>/fov/fov_summary.json``
(``benchmarks/fov_benchmark.py --weights <run>/weights.pt --out <run>/fov``) of each run folder given.

Usage: ``python benchmarks/training/ablation_table.py runs/ablation_baseline runs/ablation_no_fov_crops ...``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VARIANTS = ("full", "pelvic", "lumbosacral", "upper_lumbar", "random_k3", "thick4mm")


def row(run: Path) -> str:
    val = json.loads((run / "validation.json").read_text())["overall"]
    fov = json.loads((run / "fov" / "fov_summary.json").read_text())["per_subset"]["VB3"]
    cells = [run.name, f"{100 * val['id_rate']:.1f}%", f"{val['mean_mm']:.1f}", f"{val['median_mm']:.1f}"]
    cells += [f"{100 * fov[v]['identification_rate']:.0f}%" for v in VARIANTS]
    cells.append(f"{100 * fov['pelvic']['subset_accuracy']:.0f}%")
    return "| " + " | ".join(cells) + " |"


def main(runs: list[str]) -> int:
    head = ["run", "ID (all 95 levels)", "mean mm", "median mm", *(f"VB3 {v}" for v in VARIANTS), "VB3 pelvic subset acc."]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in runs:
        print(row(Path(r)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
