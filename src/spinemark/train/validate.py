"""Validation of a trained model on held-out annotated cases: identification rate and errors.

A ground-truth level is *identified* when a prediction of the same name lies within 20 mm
and the closest ground-truth centre to that prediction is this level (Glocker et al.).
Localization error is measured for every ground-truth level that has a prediction of the
same name; the <= 5 mm / <= 10 mm rates count a missing prediction as a failure.
Only labelled levels are scored (unlabelled ones in view cannot be judged).

Example:
    >>> from spinemark.train.validate import score_case
    >>> score_case({"L5": [0, 0, 0]}, {"L5": [3, 0, 4]})[0]["error_mm"]
    5.0
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from spinemark import anatomy
from spinemark.errors import InputError, SpinemarkError
from spinemark.io.readers import load_volume
from spinemark.train.data import CaseRef, discover, subset_of, validation_ids, world_landmarks

log = logging.getLogger(__name__)

ID_RADIUS_MM = 20.0


def score_case(truth: dict, pred: dict) -> list[dict]:
    """Per-level results of one case: name, error (mm or None), identified."""
    rows = []
    names = sorted(truth, key=anatomy.order)
    gt = np.array([truth[n] for n in names], dtype=np.float64).reshape(-1, 3)
    for i, n in enumerate(names):
        row = {"level": n, "error_mm": None, "identified": False}
        if n in pred:
            p = np.asarray(pred[n], dtype=np.float64)
            err = float(np.linalg.norm(p - gt[i]))
            row["error_mm"] = err
            row["identified"] = err <= ID_RADIUS_MM and int(np.argmin(np.linalg.norm(gt - p, axis=1))) == i
        rows.append(row)
    return rows


def summarise(rows: list[dict]) -> dict:
    """Identification rate, mean/median error and <= 5/10 mm rates of a list of per-level rows."""
    n = len(rows)
    errs = np.array([r["error_mm"] for r in rows if r["error_mm"] is not None])
    return {
        "n": n,
        "id_rate": float(np.mean([r["identified"] for r in rows])) if n else float("nan"),
        "detected": int(len(errs)),
        "mean_mm": float(errs.mean()) if len(errs) else float("nan"),
        "median_mm": float(np.median(errs)) if len(errs) else float("nan"),
        "within_5mm": float(np.sum(errs <= 5) / n) if n else float("nan"),
        "within_10mm": float(np.sum(errs <= 10) / n) if n else float("nan"),
    }


def evaluate(method, refs: list[CaseRef], volumes: dict | None = None) -> dict:
    """Run ``method`` on every case and score it.

    Args:
        method: Anything with ``predict(volume) -> Prediction``.
        refs: The cases.
        volumes: Images already read, by ``ref.image`` (the others are read here).

    Returns:
        ``{"overall": ..., "per_level": {name: ...}, "per_subset": ..., "cases": [...]}``.
    """
    all_rows, cases = [], []
    for ref in refs:
        vol = volumes[ref.image] if volumes and ref.image in volumes else load_volume(ref.image)
        t0 = time.perf_counter()
        pred = method.predict(vol)
        seconds = time.perf_counter() - t0
        truth = world_landmarks(ref)
        rows = score_case(truth, {p.name: p.position_mm for p in pred.landmarks})
        for r in rows:
            r["case"] = ref.case_id
        all_rows += rows
        cases.append({"case": ref.case_id, "predicted": pred.landmarks.names, "truth": sorted(truth, key=anatomy.order),
                      "warnings": pred.warnings, "seconds": round(seconds, 2), **summarise(rows)})
        log.info("%s: id %.2f mean %.1f mm predicted %s", ref.case_id, cases[-1]["id_rate"], cases[-1]["mean_mm"],
                 pred.landmarks.names)
    levels = sorted({r["level"] for r in all_rows}, key=anatomy.order)
    subsets = sorted({subset_of(r["case"]) for r in all_rows})
    return {
        "overall": summarise(all_rows),
        "per_level": {lv: summarise([r for r in all_rows if r["level"] == lv]) for lv in levels},
        "per_subset": {s: summarise([r for r in all_rows if subset_of(r["case"]) == s]) for s in subsets},
        "cases": cases,
    }


def _row(label: str, s: dict) -> str:
    return (f"| {label} | {s['n']} | {100 * s['id_rate']:.1f}% | {s['detected']} | {s['mean_mm']:.2f} | "
            f"{s['median_mm']:.2f} | {100 * s['within_5mm']:.1f}% | {100 * s['within_10mm']:.1f}% |")


def markdown(result: dict) -> str:
    """Tables of an :func:`evaluate` result: overall and per subset, per level, per case."""
    head = "| {} | levels | ID rate | detected | mean mm | median mm | <=5 mm | <=10 mm |\n|---|---|---|---|---|---|---|---|"
    lines = [head.format("set"), _row("all", result["overall"])]
    lines += [_row(k, v) for k, v in result["per_subset"].items()]
    lines += ["", head.format("level")] + [_row(k, v) for k, v in result["per_level"].items()]
    lines += ["", "| case | ID rate | mean mm | predicted | warnings |", "|---|---|---|---|---|"]
    lines += [f"| {c['case']} | {100 * c['id_rate']:.0f}% | {c['mean_mm']:.1f} | {' '.join(c['predicted'])} | "
              f"{'; '.join(c['warnings'])} |" for c in result["cases"]]
    return "\n".join(lines) + "\n"


def evaluate_split(weights: str | Path, data: str | Path, split: str = "spine_mri_v1", **options) -> dict:
    """Score weights on the validation cases of a split (cases found under ``data``).

    Raises:
        InputError: ``data`` is not a folder, or a validation case of the split is not found there.
        FileNotFoundError: No such split.
        ValueError: The split names no validation case.
    """
    from spinemark.methods.dualhead import make

    if not Path(data).is_dir():
        raise InputError(data, "data folder not found")
    ids = validation_ids(split)
    if not ids:
        raise ValueError(f"split {split!r} names no validation cases (its key 'validation')")
    refs = [r for r in discover([data]) if r.case_id in ids]
    missing = sorted(ids - {r.case_id for r in refs})
    if missing:
        raise InputError(data, f"{len(missing)} validation case(s) of split {split!r} not found there (an image with "
                               f"its label map or landmarks file): {missing}")
    result = evaluate(make(weights, **options), refs)
    result["weights"] = str(weights)
    result["split"] = split
    return result


def main(argv=None) -> int:
    """``python -m spinemark.train.validate WEIGHTS DATA [SPLIT] [-o OUT.json] [--markdown OUT.md] [--decode F=V ...]``."""
    import argparse

    from spinemark.cli import parse_assignments

    ap = argparse.ArgumentParser(description="Score dual-head weights on a validation split")
    ap.add_argument("weights")
    ap.add_argument("data")
    ap.add_argument("split", nargs="?", default="spine_mri_v1")
    ap.add_argument("-o", "--output", help="result JSON")
    ap.add_argument("--markdown", help="also write the result tables (markdown) here")
    ap.add_argument("--decode", action="append", default=[], metavar="FIELD=VALUE",
                    help="decoding parameter (spinemark.labeling.DecodeConfig), e.g. --decode use_s1_head=false")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        res = evaluate_split(args.weights, args.data, args.split, **parse_assignments(args.decode))
    except (SpinemarkError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    res["decode_options"] = args.decode
    text = json.dumps(res, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(res))
    log.info("overall: %s", res["overall"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
