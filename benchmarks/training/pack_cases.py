"""Pack annotated cases small enough to travel: each image on the training grid, its centres as a landmarks file.

``spinemark train`` reads a folder of images with label masks or landmarks files. This writes, for every
case found under the data folders (``spinemark.train.data.discover``), ``<case>.nii.gz`` reoriented to RAS
and resampled to ``--spacing`` mm with its original intensities, and ``<case>.landmarks.json`` with the
labelled body centres in world mm (bodies between two labelled discs for disc-only label maps). Training on
the packed folder at the same spacing sees the same voxels and centres as training on the originals
(resampling to the spacing an image already has leaves it alone), at about a tenth of the bytes: the
50 VB3 scans take about 125 MB as delivered. Cases of a split's validation side can be left out.

    python benchmarks/training/pack_cases.py runs/spine-mri-vb1-s1 -o runs/packed --subsets VB3,IVD,VB1 \
        --without-split spine_mri_v1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spinemark.io.readers import load_volume
from spinemark.io.writers import save_volume
from spinemark.train.data import discover, validation_ids, world_landmarks
from spinemark.volume import resample, to_canonical


def pack(folders, out: Path, spacing_mm: float, subsets=(), leave_out=()) -> list[str]:
    """Write the packed cases into ``out`` (which must not exist); returns the case ids written."""
    out.mkdir(parents=True)
    written = []
    for ref in discover(folders, subsets):
        if ref.case_id in leave_out:
            continue
        image = resample(to_canonical(load_volume(ref.image)), spacing_mm, order=1, antialias=True)
        save_volume(image, out / f"{ref.case_id}.nii.gz")
        centres = [{"name": n, "position_mm": [float(c) for c in p]} for n, p in sorted(world_landmarks(ref).items())]
        (out / f"{ref.case_id}.landmarks.json").write_text(json.dumps({"landmarks": centres}, indent=1) + "\n")
        written.append(ref.case_id)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="+", type=Path, help="folders of annotated images (spinemark train's --data)")
    ap.add_argument("-o", "--out", type=Path, required=True, help="new folder for the packed cases")
    ap.add_argument("--spacing", type=float, default=3.0, help="training spacing in mm (default 3.0)")
    ap.add_argument("--subsets", default="", help="comma-separated case id prefixes to keep (default: all)")
    ap.add_argument("--without-split", help="leave out the validation cases of this split (file or packaged name)")
    args = ap.parse_args(argv)
    if args.out.exists():
        print(f"error: {args.out}: exists; choose a new folder", file=sys.stderr)
        return 1
    leave_out = validation_ids(args.without_split)
    subsets = tuple(s for s in args.subsets.split(",") if s)
    ids = pack(args.data, args.out, args.spacing, subsets, leave_out)
    print(f"{len(ids)} cases packed into {args.out} ({len(leave_out)} validation cases left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
