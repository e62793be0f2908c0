"""Fit the chain-shape prior (:mod:`spinemark.chain_shape`) on the training cases of a run.

Uses exactly the cases the run trained on (``data.json``, key ``train``; never its tuning cases
nor the validation split), their labelled centres and the run's extra landmarks (such as S1
pseudo-labels). Phantoms are left out: their curves are drawn, not measured.

Usage::

    python -m spinemark.train.shape_prior runs/my_run -o runs/shape_prior.json

The JSON holds the prior (``"prior"``, what ``spinemark.train.release --shape-prior`` and
``DualHeadMethod(shape_prior=...)`` read), the number of examples per level, and the cases used.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from spinemark.chain_shape import ShapePrior, fit_shape_prior
from spinemark.errors import OutputError
from spinemark.io.writers import write_files
from spinemark.train.data import CaseRef, read_extra_landmarks, world_landmarks

log = logging.getLogger(__name__)


def fit_from_run(run: str | Path) -> tuple[ShapePrior, dict]:
    """The prior fitted on a run's training cases, and a record (counts, cases, run)."""
    run = Path(run)
    data = json.loads((run / "data.json").read_text())
    config = json.loads((run / "config.json").read_text())
    extra = read_extra_landmarks(config.get("extra_landmarks"))
    scans, cases = [], []
    for entry in data["train"]:
        ref = CaseRef(entry["case"], entry["image"], entry.get("labels"), entry.get("landmarks"))
        points = {**world_landmarks(ref), **{n: np.asarray(p, dtype=np.float64)
                                             for n, p in extra.get(ref.case_id, {}).items()}}
        scans.append(points)
        cases.append(ref.case_id)
    prior, counts = fit_shape_prior(scans)
    return prior, {"counts": counts, "cases": cases, "run": str(run)}


def main(argv=None) -> int:
    """``python -m spinemark.train.shape_prior RUN -o FILE``."""
    ap = argparse.ArgumentParser(description="Fit the chain-shape prior on a training run's training cases")
    ap.add_argument("run", help="run folder of `spinemark train`")
    ap.add_argument("-o", "--output", required=True, type=Path, help="JSON file to write")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        prior, record = fit_from_run(args.run)
        doc = {"prior": prior.to_dict(), **record}
        write_files({args.output: (json.dumps(doc, indent=2) + "\n").encode()}, overwrite=args.overwrite)
    except (OutputError, ValueError, OSError, KeyError) as exc:
        log.error("error: %s", exc)
        return 1
    for kind in ("tilt", "bend"):
        log.info("%s: %s", kind, ", ".join(f"{n} {m:.1f}+-{s:.1f} (n={record['counts'][kind][n]})"
                                            for n, (m, s) in getattr(prior, kind).items()))
    log.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
