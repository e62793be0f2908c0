"""Markdown tables of ablation runs.

Default: the validation split (all levels) and VB3 field-of-view variants, from ``<run>/validation.json``
(``python -m spinemark.train.validate``) and ``<run>/fov/fov_summary.json`` (``benchmarks/fov_benchmark.py
--weights <run>/weights.pt --out <run>/fov``) of each run folder given.

``--windows``: from ``<run>/fov/fov_summary.json`` alone (a benchmark run with ``--all-windows``): one row per run
and subset, the identification rate of every variant, and the mean error of the full scans.

``--windows --baselines N``: the first N runs are baselines (the same recipe, other seeds); for every other run a
second table says, per subset and variant, where it differs from *every* baseline in the same direction by more
than the baselines differ from each other (``+`` better, ``-`` worse, ``.`` within their spread, ``n/a`` not measured).

Usage: ``python benchmarks/training/ablation_table.py [--windows [--baselines N]] runs/ablation_baseline ...``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VARIANTS = ("full", "pelvic", "lumbosacral", "upper_lumbar", "random_k3", "thick4mm")
WINDOW_VARIANTS = ("full", "pelvic", "lumbosacral", "upper_lumbar", "mid_lumbar", "random_k2", "random_k3",
                   "random_k4", "random_k5", "thick4mm")


def row(run: Path) -> str:
    val = json.loads((run / "validation.json").read_text())["overall"]
    fov = json.loads((run / "fov" / "fov_summary.json").read_text())["per_subset"]["VB3"]
    cells = [run.name, f"{100 * val['id_rate']:.1f}%", f"{val['mean_mm']:.1f}", f"{val['median_mm']:.1f}"]
    cells += [f"{100 * fov[v]['identification_rate']:.0f}%" for v in VARIANTS]
    cells.append(f"{100 * fov['pelvic']['subset_accuracy']:.0f}%")
    return "| " + " | ".join(cells) + " |"


def per_subset(run: Path) -> dict[str, dict]:
    """The per-subset variant tables of ``<run>/fov/fov_summary.json``."""
    return json.loads((run / "fov" / "fov_summary.json").read_text())["per_subset"]


def rates_of(table: dict) -> list[float | None]:
    """Identification rate of every window variant of one subset's table (None: not measured)."""
    return [table[v]["identification_rate"] if v in table else None for v in WINDOW_VARIANTS]


def window_rates(run: Path) -> dict[str, list[float | None]]:
    """Identification rate of every window variant (None: not measured), per subset."""
    return {sub: rates_of(t) for sub, t in per_subset(run).items()}


def beyond_spread(arm: float, baselines: list[float]) -> str:
    """``+``/``-`` where ``arm`` is above/below every baseline by more than the baselines' own spread, else ``.``."""
    spread = max(baselines) - min(baselines)
    if arm - max(baselines) > spread:
        return "+"
    if min(baselines) - arm > spread:
        return "-"
    return "."


def verdict_rows(runs: list[Path], n_baselines: int) -> list[str]:
    base = [window_rates(r) for r in runs[:n_baselines]]
    out = []
    for run in runs[n_baselines:]:
        for sub, rates in window_rates(run).items():
            cells = ["n/a" if a is None or any(b[sub][i] is None for b in base) else
                     beyond_spread(a, [b[sub][i] for b in base]) for i, a in enumerate(rates)]
            out.append("| " + " | ".join([run.name, sub, *cells]) + " |")
    return out


def window_rows(run: Path) -> list[str]:
    """One row per subset: ID of every variant, their mean, full-scan mean error."""
    out = []
    for sub, table in per_subset(run).items():
        rates = rates_of(table)
        known = [r for r in rates if r is not None]
        cells = [run.name, sub, *("-" if r is None else f"{100 * r:.1f}" for r in rates),
                 f"{100 * sum(known) / len(known):.1f}", f"{table['full']['error']['mean_mm']:.2f}"]
        out.append("| " + " | ".join(cells) + " |")
    return out


def main(argv: list[str]) -> int:
    windows = "--windows" in argv
    n_baselines = 0
    if "--baselines" in argv:
        i = argv.index("--baselines")
        n_baselines = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    runs = [Path(a) for a in argv if a != "--windows"]
    if windows:
        head = ["run", "subset", *WINDOW_VARIANTS, "mean ID", "full mean mm"]
        lines = [line for r in runs for line in window_rows(r)]
    else:
        head = ["run", "ID (all 95 levels)", "mean mm", "median mm", *(f"VB3 {v}" for v in VARIANTS),
                "VB3 pelvic subset acc."]
        lines = [row(r) for r in runs]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    print("\n".join(lines))
    if windows and n_baselines:
        print(f"\nAgainst the spread of the {n_baselines} baselines (+ better, - worse, . within it):\n")
        print("| " + " | ".join(["run", "subset", *WINDOW_VARIANTS]) + " |")
        print("|" + "---|" * (2 + len(WINDOW_VARIANTS)))
        print("\n".join(verdict_rows(runs, n_baselines)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
