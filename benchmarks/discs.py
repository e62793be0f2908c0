"""How far the disc centres of ``spinemark predict --discs`` lie from the true ones.

``--discs`` puts a disc between each two neighbouring vertebrae found, on the curve through their centres
(:func:`spinemark.landmarks.discs_from_bodies`). Measured three ways, per disc level:

1. ``phantoms``: the derivation alone, from the true body centres, against the true disc centres (the centroids of
   the phantom's shapes), over ``--n`` phantoms of each preset;
2. ``IVD`` (with ``--data``): the shipped model's bodies on the IVD set's five full scans against their labelled
   discs, the only real disc labels here (training cases of the shipped model);
3. ``VB3 validation``, ``VB1 validation`` (with ``--data``): the shipped model's bodies on the held-out series of the
   validation split (10 VB3 subjects, 5 VB1 series of 2 patients) against discs taken from their body masks (midway
   across the gap between two bodies on the line joining their centroids: ``bodies_from_discs.py``), a stand-in for
   disc labels. VB1's names are those of the data folder: give the folder of ``reread_vb1.py``, whose names the
   shipped model follows (in the original folder every VB1 disc is named one level off, and counted missed).

A disc whose name the prediction does not give (a body missed, or named otherwise) is counted as missed::

    python benchmarks/reread_vb1.py ../shared/data/spine-mri runs/spine-mri-vb1-s1
    python benchmarks/discs.py --n 20 --seed 0 --data runs/spine-mri-vb1-s1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bodies_from_discs import PRESETS, mask_centres_and_discs  # noqa: E402
from spinemark import anatomy  # noqa: E402
from spinemark.evaluate.metrics import disc_summary, localization_errors  # noqa: E402
from spinemark.evaluate.report import discs_table  # noqa: E402
from spinemark.landmarks import Landmark, Landmarks, discs_from_bodies  # noqa: E402
from spinemark.train.data import validation_ids  # noqa: E402

SPLIT = "spine_mri_v1"
"""The split whose validation series are measured (:func:`spinemark.train.data.validation_ids`)."""


def scan(pred: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> tuple[list[str], dict[str, float]]:
    """One scan for :func:`~spinemark.evaluate.metrics.disc_summary`: its true discs and the errors of those predicted."""
    def points(d):
        return Landmarks([Landmark(n, p) for n, p in d.items()])

    return list(truth), localization_errors(points(pred), points(truth))


def phantom_scans(n: int, seed: int) -> list[tuple[list[str], dict[str, float]]]:
    from spinemark.synth import make_phantom

    scans = []
    for preset in PRESETS:
        for s in range(seed, seed + n):
            lms = make_phantom(preset=preset, seed=s).landmarks
            derived = discs_from_bodies({p.name: np.asarray(p.position_mm) for p in lms if not p.is_disc})
            # a disc without both of its bodies in view has no derivation to measure
            scans.append(scan(derived, {p.name: p.position_mm for p in lms if p.is_disc and p.name in derived}))
    return scans


def predicted_discs(image: Path, method) -> dict[str, np.ndarray]:
    from spinemark.api import predict

    return {p.name: np.asarray(p.position_mm) for p in predict(image, method).landmarks.with_discs().discs()}


def ivd_scans(data: Path, method) -> list[tuple[list[str], dict[str, float]]]:
    from spinemark.evaluate.report import load_truth

    scans = []
    for mask in sorted((data / "IVD").glob("*_seg-vert_msk.nii.gz")):
        truth = {p.name: p.position_mm for p in load_truth(mask).discs()}
        scans.append(scan(predicted_discs(Path(str(mask).replace("_seg-vert_msk", "_img")), method), truth))
    return scans


def validation_scans(data: Path, subset: str, method) -> list[tuple[list[str], dict[str, float]]]:
    scans = []
    for case in sorted(c for c in validation_ids(SPLIT) if c.startswith(subset)):
        _, discs = mask_centres_and_discs(data / subset / f"{case}_seg-vert_msk.nii.gz")
        seq = anatomy.sequence_of(discs)
        truth = {f"{upper}/{anatomy.neighbours(upper, seq)[1]}": p for upper, p in discs.items()}
        scans.append(scan(predicted_discs(data / subset / f"{case}_img.nii.gz", method), truth))
    return scans


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="phantoms per preset (seeds seed..seed+n-1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, help="the spine-mri folder (VB1 re-read: reread_vb1.py): also the IVD set "
                                              "and the validation series")
    ap.add_argument("--weights", help="other weights than the shipped model's")
    args = ap.parse_args(argv)
    groups = {"phantoms": phantom_scans(args.n, args.seed)}
    if args.data is not None:
        from spinemark.methods.base import get_method

        method = get_method("dualhead", weights=args.weights)
        groups["IVD"] = ivd_scans(args.data, method)
        for subset in ("VB3", "VB1"):
            groups[f"{subset} validation"] = validation_scans(args.data, subset, method)
    print(f"{args.n} phantoms per preset ({', '.join(PRESETS)}), seeds {args.seed}..{args.seed + args.n - 1}"
          + (f"; {args.data}" if args.data else "") + "\n")
    print(discs_table({name: disc_summary(scans) for name, scans in groups.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
