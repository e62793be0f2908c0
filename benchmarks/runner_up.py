"""How often the second most likely naming of an unanchored chain is the right one.

Reads a ``fov_results.csv`` of ``benchmarks/fov_benchmark.py`` (with its ``predicted`` column) and, for every sample
whose prediction carries the warning "next most likely names: A..B", checks the names given and the runner-up
against the labelled levels in view. A naming is counted right when the predicted names, shifted as a whole to it,
cover every labelled level in view and name no other labelled level: a check of the names' placement along the
chain, not of positions (the chain's positions are what ``fov_benchmark.py`` scores; the check on the names given is
printed beside its subset accuracy to show how closely the two agree)::

    python benchmarks/runner_up.py runs/fov_trainside/fov_results.csv
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

from spinemark import anatomy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fov_benchmark import read_results_rows  # noqa: E402

SEQUENCE = anatomy.standard_sequence(coccyx=True)
"""Standard anatomy in order, for shifting a naming along the spine (a sample naming T13 or L6 is left out)."""
RUNNER_UP = re.compile(r"next most likely names: (\w+)(?:\.\.(\w+))? \(probability ([0-9.]+)")


def shifted(names: list[str], first: str) -> list[str]:
    """``names`` moved along :data:`SEQUENCE` so that the first becomes ``first`` (names off its ends dropped)."""
    step = SEQUENCE.index(first) - SEQUENCE.index(names[0])
    return [SEQUENCE[i + step] for i in (SEQUENCE.index(n) for n in names) if 0 <= i + step < len(SEQUENCE)]


def names_right(names: list[str], in_view: set[str], labelled: set[str]) -> bool:
    """Every labelled level in view named, and no other labelled level."""
    named = set(names) & labelled
    return in_view <= named and not (named - in_view)


def tally(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Per variant (and ``all``): samples with a runner-up warning, how many the names given and the runner-up get
    right by :func:`names_right`, and how many of them the benchmark counts subset-correct."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"samples": 0, "given": 0, "runner_up": 0, "either": 0,
                                                          "subset_correct": 0})
    for r in rows:
        m = RUNNER_UP.search(r["warnings"])
        predicted = r.get("predicted", "").split()
        if not m or not predicted or not {*predicted, m.group(1)} <= set(SEQUENCE):
            continue
        in_view, labelled = set(r["true_levels"].split()), set(r["labelled_levels"].split())
        given = names_right(predicted, in_view, labelled)
        runner = names_right(shifted(predicted, m.group(1)), in_view, labelled)
        for key in (r["variant"], "all"):
            t = out[key]
            t["samples"] += 1
            t["given"] += given
            t["runner_up"] += runner
            t["either"] += given or runner
            t["subset_correct"] += r["subset_correct"] == "True"
    return dict(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, help="fov_results.csv with a 'predicted' column")
    args = p.parse_args(argv)
    try:
        rows = read_results_rows(args.results, ("variant", "warnings", "predicted", "true_levels", "labelled_levels",
                                                "subset_correct"))
    except ValueError as exc:  # a 'predicted' column: fov_benchmark.py since session 21
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = tally(rows)
    print("| variant | unanchored samples | names given right | runner-up right | either | subset-correct (benchmark) |")
    print("|---|---|---|---|---|---|")
    for v, t in sorted(table.items(), key=lambda kv: kv[0] == "all"):
        n = t["samples"]
        print(f"| {v} | {n} | {t['given']} ({100 * t['given'] / n:.0f}%) | {t['runner_up']} "
              f"({100 * t['runner_up'] / n:.0f}%) | {t['either']} ({100 * t['either'] / n:.0f}%) | "
              f"{t['subset_correct']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
