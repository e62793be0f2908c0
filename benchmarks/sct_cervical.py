"""Names on the two cervical crops of the SCT test data, against the levels their spinal cord is labelled with.

The SCT subject (``../shared/data/spine-mri/sct_testing_data``) has no vertebral-body labels, only levels on the cord:
the T2 crop's cord is coloured by vertebral level (2..5 = C2..C5, ``t2_seg-manual_labeled.nii.gz``) and the T1 crop
has one slice marked C3 (``init_label_vertebrae.txt``, ``-initz <slice>,3``; the slice index counts along the image's
superior axis). The cord at a vertebra's level runs behind that vertebra's body, so each predicted body is given the
level of the cord nearest its height (superior coordinate): the centroid height of each coloured cord level (T2), or
the marked slice (T1, where only a body within ``--tolerance`` mm of its height can be checked). A vertebra counts
as right when its name is that level. A proxy, not a body-centre truth: it checks names, not positions::

    python benchmarks/sct_cervical.py [--weights W] [--decode FIELD=VALUE] [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

LEVEL_NAMES = {2: "C2", 3: "C3", 4: "C4", 5: "C5"}


def level_heights_t2(folder: Path) -> dict[str, float]:
    """World superior coordinate (mm) of each labelled cord level's centroid in the T2 crop."""
    import nibabel as nib

    img = nib.load(folder / "t2_seg-manual_labeled.nii.gz")
    lab = np.rint(np.asarray(img.dataobj)).astype(int)
    out = {}
    for value, name in LEVEL_NAMES.items():
        ijk = np.argwhere(lab == value)
        if len(ijk):
            out[name] = float((img.affine[:3, :3] @ ijk.mean(axis=0) + img.affine[:3, 3])[2])
    return out


def level_heights_t1(folder: Path) -> dict[str, float]:
    """World superior coordinate (mm) of the slice the T1 crop marks with a level (``-initz z,level``)."""
    import nibabel as nib

    img = nib.load(folder / "t1w.nii.gz")
    z, level = (int(v) for v in (folder / "init_label_vertebrae.txt").read_text().split()[1].split(","))
    axis = int(np.argmax(np.abs(img.affine[2, :3])))  # the voxel axis that runs along superior
    ijk = (np.array(img.shape[:3]) - 1) / 2.0
    ijk[axis] = z
    return {LEVEL_NAMES[level]: float((img.affine[:3, :3] @ ijk + img.affine[:3, 3])[2])}


def nearest_level(z_mm: float, heights: dict[str, float], tolerance_mm: float) -> tuple[str, float]:
    """The labelled level nearest the height ``z_mm`` ("-" when farther than ``tolerance_mm``) and its distance."""
    level, dist = min(((n, abs(h - z_mm)) for n, h in heights.items()), key=lambda t: t[1])
    return (level if dist <= tolerance_mm else "-"), dist


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data/spine-mri/sct_testing_data", help="the SCT test data folder")
    ap.add_argument("--weights", default=None, help="weights of the dual-head model (default: the shipped one)")
    ap.add_argument("--decode", action="append", default=[], metavar="FIELD=VALUE",
                    help="decoding option, e.g. --decode s1_threshold=0.5 (default: the weights' own)")
    ap.add_argument("--tolerance", type=float, default=10.0,
                    help="a body farther than this (mm) from every labelled height is not checked")
    args = ap.parse_args(argv)
    from spinemark.api import predict
    from spinemark.cli import parse_assignments
    from spinemark.methods.base import get_method

    data = Path(args.data)
    if not data.is_dir():
        print(f"{data}: no such folder", file=sys.stderr)
        return 2
    method = get_method("dualhead", weights=args.weights, **parse_assignments(args.decode))
    right = checked = 0
    for crop, image, heights in (("T2", data / "t2" / "t2.nii.gz", level_heights_t2(data / "t2")),
                                 ("T1", data / "t1" / "t1w.nii.gz", level_heights_t1(data / "t1"))):
        pred = predict(image, method)
        labelled = ", ".join(f"{n} {h:.1f}" for n, h in heights.items())
        print(f"{crop} crop ({image.name}); cord levels at superior mm: {labelled}")
        for p in pred.landmarks.points:
            z = p.position_mm[2]
            level, dist = nearest_level(z, heights, args.tolerance)
            mark = "" if level == "-" else ("right" if level == p.name else "wrong")
            checked += level != "-"
            right += level == p.name
            print(f"  {p.name:>4} at S {z:7.1f} mm  confidence {p.confidence:.2f}  nearest cord level {level} "
                  f"({dist:.1f} mm) {mark}")
        for w in pred.warnings:
            print(f"  warning: {w}")
    print(f"named right: {right} of {checked} checked vertebrae")
    return 0


if __name__ == "__main__":
    sys.exit(main())
