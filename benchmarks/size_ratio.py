"""How long the chains found are against the reference adult length of their names (``min_size_ratio``).

Reads predictions made with ``--decode min_size_ratio=10``, a ratio no chain reaches, so that every chain of two or
more vertebrae carries the warning with its ratio: ``fov_results.csv`` files of ``benchmarks/fov_benchmark.py`` or
folders of ``spinemark predict`` output (``*.landmarks.json``). For each source: how many chains, the ratios'
spread, and how many lie below the threshold; for ``fov_results.csv`` also how many of those had every labelled
vertebra identified (names that the warning would flag although right)::

    python benchmarks/size_ratio.py runs/fov_trainside_size10/fov_results.csv runs/ph/pred_size10_cervical --threshold 0.7
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fov_benchmark import read_results_rows  # noqa: E402

RATIO = re.compile(r"closer together than the levels named: .*?\(ratio ([0-9.]+)\)")


def ratio_of(warnings: str | list[str]) -> float | None:
    """The ratio a warning text (or list of warnings) reports; None when no chain of two or more was checked."""
    text = " ".join(warnings) if isinstance(warnings, list) else warnings
    m = RATIO.search(text)
    return float(m.group(1)) if m else None


def read(source: Path) -> list[tuple[str, float | None, bool | None]]:
    """``(sample, ratio, every labelled vertebra identified or None when unknown)`` of every prediction."""
    if source.is_dir():
        return [(f.name.removesuffix(".landmarks.json"), ratio_of(json.loads(f.read_text()).get("warnings", [])), None)
                for f in sorted(source.glob("*.landmarks.json"))]
    return [(f"{r['case']}:{r['variant']}", ratio_of(r["warnings"]),
             int(r["n_identified"]) == int(r["n_true"]) and int(r["n_true"]) > 0)
            for r in read_results_rows(source, ("case", "variant", "warnings", "n_identified", "n_true", "error"))
            if not r["error"]]


def summary(source: Path, threshold: float) -> str:
    rows = read(source)
    ratios = np.array([r for _, r, _ in rows if r is not None])
    if not len(ratios):
        return f"{source}: no chain of two or more vertebrae with a ratio (was it run with min_size_ratio=10?)"
    below = [(s, r, ok) for s, r, ok in rows if r is not None and r < threshold]
    q = np.percentile(ratios, [0, 5, 50, 95, 100])
    line = (f"{source}: {len(ratios)} chains of {len(rows)} predictions; ratio min {q[0]:.2f}, 5% {q[1]:.2f}, "
            f"median {q[2]:.2f}, 95% {q[3]:.2f}, max {q[4]:.2f}; below {threshold:g}: {len(below)} "
            f"({100 * len(below) / len(ratios):.1f}%)")
    known = [ok for _, _, ok in below if ok is not None]
    if known:
        line += f", of them {sum(known)} with every labelled vertebra identified"
    if below and len(below) <= 12:
        line += "\n  " + ", ".join(f"{s} {r:.2f}" for s, r, _ in below)
    return line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="+", type=Path, help="fov_results.csv files or folders of predictions")
    ap.add_argument("--threshold", type=float, default=0.7, help="the min_size_ratio to count against")
    args = ap.parse_args(argv)
    for source in args.sources:
        if not source.exists():
            print(f"error: {source}: not found", file=sys.stderr)
            return 1
        try:
            print(summary(source, args.threshold))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
