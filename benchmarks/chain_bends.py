"""How the spine bends at each level in the sagittal plane: the table of the decoder's bend term.

For every labelled scan, at the centre of every vertebra whose two neighbours are labelled too, the signed angle
between the links into and out of it (``spinemark.labeling.sagittal_bends``; negative like the lumbar lordosis).
Prints per level the count, mean, standard deviation and range, and the same of every bend pooled; levels with
at least ``--min-samples`` bends form ``spinemark.anatomy.SAGITTAL_BEND_DEG``::

    python benchmarks/chain_bends.py --data runs/spine-mri-vb1-s1 --subsets VB3,VB1 --cases runs/trainside.json
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from spinemark import anatomy
from spinemark.labeling import sagittal_bends

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fov_benchmark import DEFAULT_DATA, read_cases  # noqa: E402


def level_bends(truths) -> dict[str, list[float]]:
    """Level -> bends at its centre, over the given truths (landmarks), where both neighbours are labelled."""
    out: dict[str, list[float]] = defaultdict(list)
    for truth in truths:
        verts = sorted(truth.vertebrae(), key=lambda p: anatomy.order(p.name))
        bends = sagittal_bends([p.position_mm for p in verts])
        for i in range(1, len(verts) - 1):
            if anatomy.order(verts[i + 1].name) - anatomy.order(verts[i - 1].name) == 2:  # consecutive levels
                out[verts[i].name].append(float(bends[i]))
    return dict(out)


def table(bends: dict[str, list[float]], min_samples: int) -> tuple[str, dict[str, tuple[float, float]], tuple]:
    """A markdown table of the bends, the per-level ``(mean, sd)`` of levels with ``min_samples`` or more, and the
    pooled ``(mean, sd)`` of every bend."""
    lines = ["| level | bends | mean (deg) | sd | min | max |", "|---|---|---|---|---|---|"]
    stats = {}
    for name in sorted(bends, key=anatomy.order):
        a = np.array(bends[name])
        lines.append(f"| {name} | {len(a)} | {a.mean():.1f} | {a.std():.1f} | {a.min():.1f} | {a.max():.1f} |")
        if len(a) >= min_samples:
            stats[name] = (round(float(a.mean()), 1), round(float(a.std()), 1))
    pooled = np.concatenate([np.array(v) for v in bends.values()]) if bends else np.zeros(0)
    ref = (round(float(pooled.mean()), 1), round(float(pooled.std()), 1)) if len(pooled) else (float("nan"),) * 2
    lines.append(f"| all | {len(pooled)} | {ref[0]:.1f} | {ref[1]:.1f} | | |")
    return "\n".join(lines), stats, ref


def main(argv=None) -> int:
    from spinemark.errors import SpinemarkError
    from spinemark.evaluate.fov import load_case, load_cases

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset folder holding manifest.csv")
    p.add_argument("--subsets", default="VB3,VB1", help="comma-separated subsets of the manifest")
    p.add_argument("--cases", default=None, help="a comma list of cases, or a JSON list / split file")
    p.add_argument("--split-key", default=None, help="key of the case list in a JSON split file")
    p.add_argument("--min-samples", type=int, default=4, help="fewest bends of a level that enter the table")
    args = p.parse_args(argv)
    try:
        cases = load_cases(args.data, [s for s in args.subsets.split(",") if s], read_cases(args.cases, args.split_key))
        truths = [load_case(c)[1] for c in cases]
    except (SpinemarkError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text, stats, ref = table(level_bends(truths), args.min_samples)
    print(f"{len(cases)} scans\n\n{text}\n\nSAGITTAL_BEND_DEG = {stats}\nSAGITTAL_BEND_POOLED_DEG = {ref}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
