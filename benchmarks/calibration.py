"""How well the confidences of saved field-of-view results say which predictions are right.

Reads ``fov_results.csv`` files of ``benchmarks/fov_benchmark.py`` (each crop's median vertebra confidence, an empty
one counting 0, and how many of its labelled vertebrae were identified) and prints per subset the Brier score and
expected calibration error against the share identified, and the area under the ROC curve for "every labelled
vertebra identified". ``--fit`` fits the monotone map of ``DecodeConfig.confidence_map`` on the first file;
``--map A,B`` scores every file as if that map had been applied (to the median: exact for an odd number of
vertebrae, close otherwise; rerun the benchmark with ``--decode confidence_map=[A,B]`` for the exact figure)::

    python benchmarks/calibration.py runs/fov_trainside_s21b/fov_results.csv --fit
    python benchmarks/calibration.py runs/fov_tune_T1/fov_results.csv --map 1.7,0.9
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fov_benchmark import read_results_rows  # noqa: E402


def _get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, nargs="+", help="fov_results.csv files")
    p.add_argument("--fit", action="store_true", help="fit the confidence map on the first file and apply it")
    p.add_argument("--map", metavar="A,B", help="apply this confidence map before scoring")
    return p


def read_results(path: Path) -> list[tuple[str, float, float, bool]]:
    """``(subset, median confidence, share identified, all identified)`` per scored crop of a results file.

    Raises:
        ValueError: A file without the benchmark's columns.
    """
    rows = []
    for r in read_results_rows(path, ("subset", "confidence", "n_identified", "n_true")):
        try:
            n_true, n_id = int(r["n_true"]), int(r["n_identified"])
            conf = float(r["confidence"]) if r["confidence"] else 0.0
        except ValueError as exc:
            raise ValueError(f"{path}: not a fov_results.csv of the benchmark ({exc})") from exc
        if n_true:
            rows.append((r["subset"], conf, n_id / n_true, n_id == n_true))
    return rows


def score_lines(rows, a_b=None) -> list[str]:
    """One line per subset and for all crops: Brier score, ECE and AUC of the (mapped) confidences."""
    from spinemark.evaluate.metrics import calibration, ranking_auc
    from spinemark.labeling import map_confidence

    lines = []
    for sub in [*sorted({r[0] for r in rows}), None]:
        rs = [r for r in rows if sub is None or r[0] == sub]
        conf = [float(map_confidence(r[1], a_b)) for r in rs]
        cal = calibration(conf, [r[2] for r in rs])
        auc = ranking_auc(conf, [r[3] for r in rs])
        lines.append(f"  {sub or 'all'}: {cal['n']} crops, Brier {cal['brier']:.4f}, ECE {cal['ece']:.3f}, "
                     f"AUC {'-' if auc is None else f'{auc:.3f}'}, all identified {sum(r[3] for r in rs)}")
    return lines


def main(argv=None) -> int:
    from spinemark.evaluate.metrics import fit_confidence_map

    args = _get_parser().parse_args(argv)
    try:
        files = {p: read_results(p) for p in args.results}
        a_b = tuple(float(v) for v in args.map.split(",")) if args.map else None
        if a_b is not None and (len(a_b) != 2 or a_b[0] <= 0):
            raise ValueError(f"--map {args.map}: expected A,B with A > 0")
    except (OSError, ValueError) as exc:
        print(f"calibration: {exc}", file=sys.stderr)
        return 2
    if args.fit:
        first = files[args.results[0]]
        a_b = fit_confidence_map([r[1] for r in first], [r[2] for r in first])
        print(f"fitted on {args.results[0]}: confidence_map [{a_b[0]:.4f}, {a_b[1]:.4f}]")
    empty = [str(path) for path, rows in files.items() if not rows]
    if empty:
        print(f"calibration: no scored crops in {', '.join(empty)}", file=sys.stderr)
        return 2
    for path, rows in files.items():
        print(f"{path}: raw")
        print("\n".join(score_lines(rows)))
        if a_b is not None:
            print(f"{path}: mapped with [{a_b[0]:.4f}, {a_b[1]:.4f}]")
            print("\n".join(score_lines(rows, a_b)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
