"""How often the second most likely naming of an unanchored chain is the right one.

Reads a ``fov_results.csv`` of ``benchmarks/fov_benchmark.py`` and, for every sample whose prediction carries the
warning "next most likely names: A..B", checks the names given and the runner-up by positions: the benchmark's
``names_off`` column says how many levels the names given are off (0: the sample is subset-correct; see
:func:`spinemark.evaluate.metrics.names_off`), and the runner-up, the names given moved along the spine to start at A, is
right when it moves them back by exactly that many levels::

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
"""Standard anatomy in order, for the runner-up's step along the spine (a naming with T13 or L6 is left out)."""
RUNNER_UP = re.compile(r"next most likely names: (\w+)(?:\.\.(\w+))? \(probability ([0-9.]+)")


def runner_up_step(predicted: list[str], first: str) -> int | None:
    """How many levels the runner-up names are caudal of the names given (None: a name outside :data:`SEQUENCE`)."""
    if first not in SEQUENCE or predicted[0] not in SEQUENCE:
        return None
    return SEQUENCE.index(first) - SEQUENCE.index(predicted[0])


def tally(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Per variant (and ``all``): samples with a runner-up warning, and how many the names given, the runner-up and
    either of them get right."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"samples": 0, "given": 0, "runner_up": 0, "either": 0})
    for r in rows:
        m = RUNNER_UP.search(r["warnings"])
        predicted = r["predicted"].split()
        if not m or not predicted:
            continue
        step = runner_up_step(predicted, m.group(1))
        off = int(r["names_off"]) if r["names_off"] else None
        given = off == 0
        runner = off is not None and step is not None and off == -step
        for key in (r["variant"], "all"):
            t = out[key]
            t["samples"] += 1
            t["given"] += given
            t["runner_up"] += runner
            t["either"] += given or runner
    return dict(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, help="fov_results.csv with 'predicted' and 'names_off' columns")
    args = p.parse_args(argv)
    try:
        rows = read_results_rows(args.results, ("variant", "warnings", "predicted", "names_off"))
    except ValueError as exc:  # 'names_off': fov_benchmark.py since session 31
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = tally(rows)
    print("| variant | unanchored samples | names given right | runner-up right | either |")
    print("|---|---|---|---|---|")
    for v, t in sorted(table.items(), key=lambda kv: kv[0] == "all"):
        n = t["samples"]
        print(f"| {v} | {n} | {t['given']} ({100 * t['given'] / n:.0f}%) | {t['runner_up']} "
              f"({100 * t['runner_up'] / n:.0f}%) | {t['either']} ({100 * t['either'] / n:.0f}%) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
