"""The spine's course from L2 to S2 on real scans and on phantoms: each link's sagittal angle and the turns between.

A link is the segment between two consecutive vertebral body centres; its angle is measured in the sagittal plane
from straight down, posterior positive, and the turn at a vertebra is the angle of the link below it less that of the
link above. Real scans: the centroids of the label maps (L2..L5; VB1's S1 as re-read), with S1 and S2 from
``benchmarks/sacral_review.py``'s ``sacral_names.csv`` where the label map has none and a reading calls them right.
Phantoms: the truth of ``synth.spine_model.sample_spine`` (pelvic preset, five lumbar and twelve thoracic vertebrae).

Usage (from the repository root)::

    python benchmarks/lumbosacral_angles.py runs/spine-mri-vb1-s1 --names runs/sacral_review/sacral_names.csv \\
        --reading docs/benchmarks/sacral_review/reading_dualhead_v13_s33.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

LINKS = (("L2", "L3"), ("L3", "L4"), ("L4", "L5"), ("L5", "S1"), ("S1", "S2"))


def angles(centres: dict[str, np.ndarray]) -> dict[str, float]:
    """The angle of every link of :data:`LINKS` whose two ends are known (world RAS mm), keyed ``"L4L5"``."""
    from spinemark.labeling import sagittal_angle_deg

    return {a + b: sagittal_angle_deg(centres[a], centres[b]) for a, b in LINKS if a in centres and b in centres}


def real_centres(data: Path, names_csv: Path, reading_csv: Path, subsets=("VB3", "VB1")) -> list[dict]:
    """Per real scan, its labelled centres plus the predicted S1/S2 that the reading calls right."""
    import nibabel as nib

    from spinemark.landmarks import Landmarks

    with open(reading_csv, newline="") as fh:
        right = {(r["case"], r["name"]) for r in csv.DictReader(fh) if r["verdict"] == "right"}
    predicted: dict[str, dict[str, np.ndarray]] = {}
    with open(names_csv, newline="") as fh:
        for r in csv.DictReader(fh):
            if (r["case"], r["name"]) in right:
                predicted.setdefault(r["case"], {})[r["name"]] = np.array([float(r[k]) for k in ("x_mm", "y_mm", "z_mm")])
    out = []
    with open(data / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["subset"] in subsets and not r["duplicate_of"]]
    for r in rows:
        case = f"{r['subset']}_{r['case']}"
        img = nib.load(data / r["subset"] / f"{case}_seg-vert_msk.nii.gz")
        centres = {p.name: np.array(p.position_mm) for p in Landmarks.from_label_map(np.asarray(img.dataobj), img.affine)}
        for name, pos in predicted.get(case, {}).items():
            centres.setdefault(name, pos)
        out.append(centres)
    return out


def phantom_centres(n: int) -> list[dict]:
    """The truth of ``n`` pelvic phantom spines (seeds 0..n-1)."""
    from spinemark.synth.config import PhantomConfig
    from spinemark.synth.phantom import body_centroid
    from spinemark.synth.spine_model import sample_spine

    cfg = PhantomConfig(preset="pelvic", n_lumbar=5, n_thoracic=12)
    out = []
    for seed in range(n):
        spine = sample_spine(cfg, np.random.default_rng(seed))
        out.append({e.name: body_centroid(spine, e) for e in spine.elements})
    return out


def table_row(label: str, scans: list[dict]) -> str:
    """Markdown row: count, median angle of each link, median turn at L3, L4, L5 and S1."""
    per = [angles(c) for c in scans]
    med = [np.median([a[k] for a in per if k in a]) for k in (a + b for a, b in LINKS)]
    counts = [sum(a + b in p for p in per) for a, b in LINKS]
    keys = [a + b for a, b in LINKS]
    turns = [np.median([p[k2] - p[k1] for p in per if k1 in p and k2 in p]) for k1, k2 in zip(keys[:-1], keys[1:])]
    s1 = [p["S1S2"] - p["L5S1"] for p in per if "S1S2" in p and "L5S1" in p]
    return (f"| {label} ({counts[0]}; S1->S2: {counts[-1]}) | " + " | ".join(f"{m:.0f}" for m in med) + " | "
            + " / ".join(f"{t:.0f}" for t in turns) + f" | {min(s1):.0f}..{max(s1):.0f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="dataset folder with manifest.csv (VB1 re-read: runs/spine-mri-vb1-s1)")
    ap.add_argument("--names", type=Path, required=True, help="sacral_names.csv of benchmarks/sacral_review.py")
    ap.add_argument("--reading", type=Path, required=True, help="the reading of those names (case,name,verdict)")
    ap.add_argument("--phantoms", type=int, default=150, help="how many phantom spines")
    args = ap.parse_args(argv)
    print("| | L2->L3 | L3->L4 | L4->L5 | L5->S1 | S1->S2 | turn at L3 / L4 / L5 / S1 | turn at S1, range |")
    print("|---|---|---|---|---|---|---|---|")
    print(table_row("real scans", real_centres(args.data, args.names, args.reading)))
    print(table_row("phantoms", phantom_centres(args.phantoms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
