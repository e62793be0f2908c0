"""Compare two models on the same field-of-view samples: paired bootstrap over subjects.

Reads two ``fov_results.csv`` files written by ``benchmarks/fov_benchmark.py`` on the same cases, variants and
windows (model A, then model B) and scores each with the metric of ``spinemark.train.release``'s shipping rules:
the identification rate pooled over the vertebrae of each variant, averaged over the variants (and, beside it, the
mean localisation error of the vertebrae identified). The difference B - A
is then recomputed on subjects drawn with replacement (all samples of a subject go together; the series of one
VB1 patient are one subject, from the split file), which shows how much of a difference the subjects alone could
make::

    python benchmarks/compare_models.py runs/fov_tune_v10/fov_results.csv runs/fov_tune_v13/fov_results.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fov_benchmark import read_results_rows  # noqa: E402

DEFAULT_SPLIT = Path(__file__).resolve().parents[1] / "src" / "spinemark" / "train" / "splits" / "spine_mri_v1.json"


def _get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("a", type=Path, help="fov_results.csv of model A (the reference)")
    p.add_argument("b", type=Path, help="fov_results.csv of model B")
    p.add_argument("--split", type=Path, default=DEFAULT_SPLIT,
                   help="split file whose 'vb1_patients' groups VB1 series into patients")
    p.add_argument("--variants", default="release",
                   help="comma list of variants, or 'release' for spinemark.train.release.TUNING_VARIANTS")
    p.add_argument("--draws", type=int, default=5000, help="bootstrap draws")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws")
    return p


def subject_of(case: str, vb1_patients: dict[str, list[str]]) -> str:
    """The subject a case belongs to: its VB1 patient for a VB1 series listed in the split, else the case."""
    subset, _, number = case.partition("_")
    if subset == "VB1":
        for patient, series in vb1_patients.items():
            if number in series:
                return patient
    return case


def read_samples(path: Path, variants: tuple[str, ...]) -> dict[tuple, tuple[int, int]]:
    """``{(case, variant, levels, crop box): (identified, true)}`` of the rows of ``variants``."""
    columns = ("case", "variant", "true_levels", "crop_box", "n_identified", "n_true", "error")
    rows = [r for r in read_results_rows(path, columns) if r["variant"] in variants]
    out = {}
    for r in rows:
        if r.get("error"):
            raise SystemExit(f"{path}: sample {r['case']} {r['variant']} failed ({r['error']}); rerun the benchmark")
        out[(r["case"], r["variant"], r["true_levels"], r["crop_box"])] = (int(r["n_identified"]), int(r["n_true"]))
    return out


def mean_error(path: Path, variants: tuple[str, ...]) -> float:
    """Mean localisation error (mm) of the identified vertebrae of ``variants``, pooled over the samples."""
    rows = [r for r in read_results_rows(path, ("variant", "n_identified", "mean_error_mm"))
            if r["variant"] in variants and r["mean_error_mm"]]
    n = sum(int(r["n_identified"]) for r in rows)
    return sum(float(r["mean_error_mm"]) * int(r["n_identified"]) for r in rows) / n if n else float("nan")


def mean_rate(samples: dict[tuple, tuple[int, int]], weight: dict[str, int], subject: dict[str, str],
              variants: tuple[str, ...]) -> float:
    """Identification rate pooled per variant over the samples, each weighted by its subject's weight, averaged
    over the variants that have vertebrae."""
    ident = dict.fromkeys(variants, 0.0)
    true = dict.fromkeys(variants, 0.0)
    for key, (i, n) in samples.items():
        w = weight.get(subject[key[0]], 0)
        ident[key[1]] += w * i
        true[key[1]] += w * n
    return float(np.mean([ident[v] / true[v] for v in variants if true[v] > 0]))


def compare(a: dict, b: dict, subject: dict[str, str], variants: tuple[str, ...], draws: int = 5000,
            seed: int = 0) -> dict:
    """Metric of A and B and the bootstrap distribution of B - A over subjects.

    Raises:
        ValueError: A file holds no samples of ``variants``, or the two do not hold the same samples.
    """
    if not a or not b:
        raise ValueError("no samples of these variants in one of the runs")
    if set(a) != set(b):
        raise ValueError(f"the two runs differ in their samples ({len(set(a) ^ set(b))} not in both): "
                         "same cases, variants and windows needed")
    subjects = sorted({subject[k[0]] for k in a})
    ones = dict.fromkeys(subjects, 1)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(draws):
        drawn = rng.choice(subjects, len(subjects))
        weight = {s: int(np.sum(drawn == s)) for s in subjects}
        diffs.append(mean_rate(b, weight, subject, variants) - mean_rate(a, weight, subject, variants))
    diffs = np.array(diffs)
    return {"subjects": len(subjects), "samples": len(a),
            "a": mean_rate(a, ones, subject, variants), "b": mean_rate(b, ones, subject, variants),
            "interval": (float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))),
            "p_not_better": float(np.mean(diffs <= 0))}


def main(argv=None) -> int:
    args = _get_parser().parse_args(argv)
    if args.draws < 1:
        print(f"--draws {args.draws}: at least one bootstrap draw", file=sys.stderr)
        return 2
    if not args.split.is_file():
        print(f"--split {args.split}: no such file", file=sys.stderr)
        return 2
    if args.variants == "release":
        from spinemark.train.release import TUNING_VARIANTS as variants
    else:
        variants = tuple(v for v in args.variants.split(",") if v)
    vb1_patients = json.loads(args.split.read_text()).get("vb1_patients", {})
    try:
        a, b = read_samples(args.a, variants), read_samples(args.b, variants)
        subject = {k[0]: subject_of(k[0], vb1_patients) for k in [*a, *b]}
        r = compare(a, b, subject, variants, args.draws, args.seed)
    except ValueError as exc:
        print(f"{args.a} vs {args.b}: {exc}", file=sys.stderr)
        return 2
    lo, hi = r["interval"]
    print(f"{r['subjects']} subjects, {r['samples']} samples, variants {','.join(variants)}")
    print(f"A {100 * r['a']:.1f}%  B {100 * r['b']:.1f}%  B - A {100 * (r['b'] - r['a']):+.1f} points; "
          f"95% bootstrap interval over subjects {100 * lo:+.1f} .. {100 * hi:+.1f}; "
          f"share of draws with B not better: {r['p_not_better']:.2f}")
    print(f"mean error of identified vertebrae: A {mean_error(args.a, variants):.2f} mm  "
          f"B {mean_error(args.b, variants):.2f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
