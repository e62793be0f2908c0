"""S1 pseudo-labels for real training scans whose sacrum is in view but not labelled.

The real lumbar data label L1..L5 only, so without help the S1 head (the anchor of the labelling)
learns real sacra from the loss mask alone ("not above L5") and S1 itself from phantoms. Here a
trained model places S1 on each training-side scan, constrained by that scan's own labelled L4 and
L5: S1 is the maximum of the model's S1 evidence (mean of the S1 head and the S1 level channel)
inside a cone below L5, between 0.6 and 1.5 times the L4-L5 distance from L5 and within
:data:`MAX_TURN_DEG` of the L4->L5 direction. Scans whose evidence there stays below
``min_evidence`` get no label. The result is a landmarks file for ``TrainConfig.extra_landmarks``
and a picture of every placement to check by eye.

Command line::

    python -m spinemark.train.pseudo_s1 WEIGHTS DATA --split spine_mri_v1 --exclude VB3_10,VB3_26 \\
        -o s1_labels.json [--png s1_labels.png] [--overwrite]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from pathlib import Path

import numpy as np

from spinemark.errors import OutputError, SpinemarkError
from spinemark.io.writers import write_files
from spinemark.train.data import CaseRef, discover, read_split, world_landmarks

log = logging.getLogger(__name__)

MAX_TURN_DEG = 50.0
"""Largest angle between L4->L5 and L5->S1 accepted (the lumbosacral junction turns posteriorly)."""

DISTANCE_RANGE = (0.6, 1.5)
"""S1 search range from L5, as multiples of the L4-L5 distance."""


def place_s1(method, ref: CaseRef, min_evidence: float = 0.1) -> tuple[np.ndarray | None, dict]:
    """S1 centre (world mm) of one scan, or None, with what was found.

    Returns:
        ``(position, info)``; ``info`` holds the evidence at the chosen voxel, the distance ratio and
        turn angle, the canonical slice data for a picture, or the reason for no label.
    """
    from spinemark.io.readers import load_volume

    world = world_landmarks(ref)
    if not {"L4", "L5"} <= set(world):
        return None, {"reason": "L4 and L5 not both labelled"}
    if "S1" in world:
        return None, {"reason": "S1 already labelled"}
    canon = method.canonical(load_volume(ref.image))
    maps, s1 = method.heatmaps(canon)
    channels = list(method.metadata["channels"])
    evidence = (s1 + maps[channels.index("S1")]) / 2.0 if "S1" in channels else s1
    l4, l5 = (np.asarray(canon.world_to_voxel(world[n])) for n in ("L4", "L5"))
    step = l5 - l4
    step_len = float(np.linalg.norm(step))
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in evidence.shape], indexing="ij"), -1).astype(np.float64)
    rel = grid - l5
    dist = np.linalg.norm(rel, axis=-1)
    cos = (rel @ step) / np.maximum(dist * step_len, 1e-9)
    region = ((dist >= DISTANCE_RANGE[0] * step_len) & (dist <= DISTANCE_RANGE[1] * step_len)
              & (cos >= np.cos(np.radians(MAX_TURN_DEG))))
    if not region.any():
        return None, {"reason": "search region outside the image"}
    masked = np.where(region, evidence, -np.inf)
    best = np.unravel_index(int(np.argmax(masked)), masked.shape)
    value = float(evidence[best])
    info = {"evidence": value, "canon": canon.data, "voxels": {"L4": l4, "L5": l5}}
    if value < min_evidence:
        info["reason"] = f"S1 evidence {value:.3f} below {min_evidence}"
        return None, info
    # sub-voxel position: evidence-weighted centre of the 3x3x3 neighbourhood inside the region
    lo = np.maximum(np.array(best) - 1, 0)
    hi = np.minimum(np.array(best) + 2, evidence.shape)
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    w = np.clip(masked[sl], 0, None)
    voxel = (grid[sl] * w[..., None]).sum((0, 1, 2)) / w.sum()
    rel_best = voxel - l5
    info.update(voxels={"L4": l4, "L5": l5, "S1": voxel}, distance_ratio=float(np.linalg.norm(rel_best) / step_len),
                turn_deg=float(np.degrees(np.arccos(np.clip(rel_best @ step / (np.linalg.norm(rel_best) * step_len),
                                                                -1, 1)))))
    return np.asarray(canon.voxel_to_world(voxel), dtype=np.float64), info


def picture(rows: list[tuple[str, dict]], target, per_row: int = 8):
    """Sagittal slices through each placed S1 with L4, L5 (labels) and S1 (placed) marked.

    ``target``: a PNG path or a binary file object; returned as given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(rows)
    ncol = min(per_row, max(n, 1))
    nrow = max(1, -(-n // ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.2 * ncol, 2.8 * nrow), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (case_id, info) in zip(axes.ravel(), rows):
        v = info["voxels"]
        x = int(round(v.get("S1", v["L5"])[0]))
        img = info["canon"][x]  # (A, S) plane in RAS
        ax.imshow(img.T, cmap="gray", origin="lower")
        for name, colour in (("L4", "tab:blue"), ("L5", "tab:green"), ("S1", "tab:red")):
            if name in v:
                ax.plot(v[name][1], v[name][2], "o", ms=4, color=colour)
        title = case_id if "S1" in v else f"{case_id} (none)"
        ax.set_title(f"{title}\n{info.get('evidence', 0):.2f}", fontsize=7)
    fig.suptitle("S1 pseudo-labels: L4 blue, L5 green (labelled), S1 red (placed); S1 evidence", fontsize=9)
    fig.tight_layout()
    fig.savefig(target, dpi=90, format="png")
    plt.close(fig)
    return target


def main(argv=None) -> int:
    from spinemark.methods.dualhead import DualHeadMethod

    ap = argparse.ArgumentParser(prog="python -m spinemark.train.pseudo_s1", description=__doc__.split("\n\n")[0])
    ap.add_argument("weights")
    ap.add_argument("data")
    ap.add_argument("--subsets", default="", help="comma list of case-id prefixes to keep (default: every case)")
    ap.add_argument("--split", default="spine_mri_v1", help="its validation cases are never labelled")
    ap.add_argument("--exclude", default="", help="more case ids to leave out (e.g. a run's tuning cases)")
    ap.add_argument("--min-evidence", type=float, default=0.1)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--png", help="picture of every placement")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out)
    for p in (out, Path(args.png) if args.png else None):
        if p is not None and p.exists() and not args.overwrite:
            print(f"error: {p} exists (use --overwrite)", file=sys.stderr)
            return 1
    skip = set(read_split(args.split).get("validation", [])) | {s for s in args.exclude.split(",") if s}
    refs = [r for r in discover([args.data], tuple(s for s in args.subsets.split(",") if s)) if r.case_id not in skip]
    method = DualHeadMethod(args.weights)
    labels, skipped, rows = {}, {}, []
    for ref in refs:
        try:
            pos, info = place_s1(method, ref, args.min_evidence)
        except (SpinemarkError, ValueError, OSError) as exc:  # one bad scan never stops the batch
            pos, info = None, {"reason": f"error: {exc}"}
        if pos is None:
            skipped[ref.case_id] = info["reason"]
            log.info("%s: no label (%s)", ref.case_id, info["reason"])
        else:
            labels[ref.case_id] = {"S1": [round(float(c), 2) for c in pos]}
            log.info("%s: S1 evidence %.2f, %.2f x L4-L5 from L5, turn %.0f deg", ref.case_id, info["evidence"],
                     info["distance_ratio"], info["turn_deg"])
        if "canon" in info:
            rows.append((ref.case_id, info))
    doc = {"weights": str(args.weights), "sha256": method.model_info["sha256"], "min_evidence": args.min_evidence,
           "excluded": sorted(skip), "landmarks": labels, "skipped": skipped}
    files = {out: (json.dumps(doc, indent=1) + "\n").encode()}
    if args.png and rows:
        files[Path(args.png)] = picture(rows, io.BytesIO()).getvalue()
    try:
        write_files(files, overwrite=args.overwrite)  # all or nothing
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"S1 placed on {len(labels)} of {len(refs)} scans -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
