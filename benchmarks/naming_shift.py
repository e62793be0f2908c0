"""Which way the names of unanchored chains are off, by where along the spine the crop lies.

Reads ``fov_results.csv`` files of ``benchmarks/fov_benchmark.py`` and, for every sample whose names no S1 anchored
(its warning "S1 not detected"), takes the benchmark's ``names_off``: how many levels the names given are off, judged
by positions (:func:`spinemark.evaluate.metrics.names_off`): 0 when the sample is subset-correct, +1 when the names are
one level too caudal (L1..L2 named L2..L3), -1 one level too cranial. Samples are grouped by the labelled level in
the middle of the view (the cranial one of two middle ones), so that a pull towards some level shows as crops above
it named too caudal and crops below it too cranial::

    python benchmarks/naming_shift.py docs/benchmarks/fov_windows/fov_results.csv
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

from spinemark import anatomy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fov_benchmark import read_results_rows  # noqa: E402

UNANCHORED = "S1 not detected"
SHIFTS = (-2, -1, 0, 1, 2)
"""The columns of the table (any other shift, or none, counts as 'other')."""


def read(path: Path) -> list[tuple[str, str, int | None]]:
    """``(subset, middle labelled level in view, names_off)`` of every unanchored sample with labelled levels in
    view."""
    out = []
    for r in read_results_rows(path, ("subset", "error", "warnings", "labelled_levels", "true_levels", "names_off")):
        if r["error"] or UNANCHORED not in r["warnings"]:
            continue
        labelled = set(r["labelled_levels"].split())
        in_view = sorted(set(r["true_levels"].split()) & labelled, key=anatomy.order)
        if not in_view:
            continue
        middle = in_view[(len(in_view) - 1) // 2]
        out.append((r["subset"], middle, int(r["names_off"]) if r["names_off"] else None))
    return out


def table(rows: list[tuple[str, str, int | None]]) -> str:
    """A markdown table: per subset and middle level, how many samples had each shift."""
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for subset, middle, s in rows:
        counts[(subset, middle)][s] += 1
    head = ["subset", "middle level", "samples", *(f"{s:+d}" if s else "right" for s in SHIFTS), "other"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for subset, middle in sorted(counts, key=lambda k: (k[0], anatomy.order(k[1]))):
        c = counts[(subset, middle)]
        other = sum(n for s, n in c.items() if s not in SHIFTS)
        cells = [subset, middle, str(sum(c.values())), *(str(c[s]) for s in SHIFTS), str(other)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, nargs="+", help="fov_results.csv files")
    args = p.parse_args(argv)
    for path in args.results:
        try:
            rows = read(path)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{path}: {len(rows)} samples without an S1 anchor\n{table(rows)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
