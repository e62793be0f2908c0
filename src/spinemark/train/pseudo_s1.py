"""S1 and T12 pseudo-labels for real training scans that show, but do not label, these bodies.

The real lumbar data label L1..L5 only, so without help the S1 head (the anchor of the labelling)
learns real sacra from the loss mask alone ("not above L5") and S1 itself from phantoms; likewise the
T12 channel and the ``any`` channel above L1 learn the thoracolumbar junction from a few VB1 series
and phantoms only. Here a trained model places the missing body on each training-side scan,
constrained by that scan's own two labelled neighbours (:data:`NEIGHBOURS`: L4 and L5 for S1, L2 and
L1 for T12, L1 and T12 for T11, T12 and T11 for T10; a neighbour may be an earlier pseudo-label given
with ``--merge``, so thoracic bodies are placed one at a time upwards): the body is the maximum of the
model's evidence (the mean of the level's own channel and, for S1, the S1 head, for the others the
``any`` channel; that head or channel alone where the model has no channel for the level) inside a cone
beyond the nearer neighbour, between 0.6 and 1.5 times the neighbours' distance from it and within
:data:`MAX_TURN_DEG` of their direction. Scans whose evidence there stays below ``min_evidence`` get no
label. The result is a landmarks file for ``TrainConfig.extra_landmarks`` (``--merge`` adds an earlier
file's labels, so one file carries several levels) and a picture of every placement to check by eye.

Command line::

    python -m spinemark.train.pseudo_s1 WEIGHTS DATA --split spine_mri_v1 --exclude VB3_10,VB3_26 \\
        -o s1_labels.json [--level S1|T12|T11|T10] [--merge earlier.json] [--png s1_labels.png] [--overwrite]
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
from spinemark.train.data import CaseRef, discover, read_extra_landmarks, validation_ids, world_landmarks

log = logging.getLogger(__name__)

MAX_TURN_DEG = 50.0
"""Largest angle between the neighbours' direction and the step to the placed body (the lumbosacral
junction turns posteriorly)."""

DISTANCE_RANGE = (0.6, 1.5)
"""Search range from the nearer neighbour, as multiples of the neighbours' distance."""

NEIGHBOURS = {"S1": ("L4", "L5"), "T12": ("L2", "L1"), "T11": ("L1", "T12"), "T10": ("T12", "T11")}
"""Level placed -> (farther, nearer) labelled neighbour; the search goes on beyond the nearer one."""


def place(method, ref: CaseRef, level: str = "S1", min_evidence: float = 0.1,
          min_ratio: float = DISTANCE_RANGE[0], known: dict | None = None) -> tuple[np.ndarray | None, dict]:
    """Centre (world mm) of ``level`` (a key of :data:`NEIGHBOURS`) on one scan, or None, with what was found.

    ``known`` adds earlier pseudo-labels of this scan (name -> world mm) to its own labels as neighbours.

    A peak nearer than ``min_ratio`` times the neighbours' distance gives no label (a body cut by the
    image edge pulls the peak in from its true centre).

    Returns:
        ``(position, info)``; ``info`` holds the level, the evidence at the chosen voxel, the distance
        ratio and turn angle, the canonical slice data for a picture, or the reason for no label.
    """
    from spinemark.io.readers import load_volume

    far, near = NEIGHBOURS[level]
    world = world_landmarks(ref) | {n: np.asarray(p, dtype=np.float64) for n, p in (known or {}).items()}
    if level in world:
        return None, {"level": level, "reason": f"{level} already labelled"}
    if not {far, near} <= set(world):
        return None, {"level": level, "reason": f"{far} and {near} not both labelled"}
    canon = method.canonical(load_volume(ref.image))
    maps, s1 = method.heatmaps(canon)
    channels = list(method.metadata["channels"])
    head = s1 if level == "S1" else maps[channels.index("any")]
    evidence = (head + maps[channels.index(level)]) / 2.0 if level in channels else head
    v_far, v_near = (np.asarray(canon.world_to_voxel(world[n])) for n in (far, near))
    step = v_near - v_far
    step_len = float(np.linalg.norm(step))
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in evidence.shape], indexing="ij"), -1).astype(np.float64)
    rel = grid - v_near
    dist = np.linalg.norm(rel, axis=-1)
    cos = (rel @ step) / np.maximum(dist * step_len, 1e-9)
    region = ((dist >= DISTANCE_RANGE[0] * step_len) & (dist <= DISTANCE_RANGE[1] * step_len)
              & (cos >= np.cos(np.radians(MAX_TURN_DEG))))
    if not region.any():
        return None, {"level": level, "reason": "search region outside the image"}
    masked = np.where(region, evidence, -np.inf)
    best = np.unravel_index(int(np.argmax(masked)), masked.shape)
    value = float(evidence[best])
    info = {"level": level, "evidence": value, "canon": canon.data, "voxels": {far: v_far, near: v_near}}
    if value < min_evidence:
        info["reason"] = f"{level} evidence {value:.3f} below {min_evidence}"
        return None, info
    # sub-voxel position: evidence-weighted centre of the 3x3x3 neighbourhood inside the region
    lo = np.maximum(np.array(best) - 1, 0)
    hi = np.minimum(np.array(best) + 2, evidence.shape)
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    w = np.clip(masked[sl], 0, None)
    voxel = (grid[sl] * w[..., None]).sum((0, 1, 2)) / w.sum()
    rel_best = voxel - v_near
    info["voxels"][level] = voxel
    info.update(distance_ratio=float(np.linalg.norm(rel_best) / step_len),
                turn_deg=float(np.degrees(np.arccos(np.clip(rel_best @ step / (np.linalg.norm(rel_best) * step_len),
                                                                -1, 1)))))
    if info["distance_ratio"] < min_ratio:
        info["reason"] = f"{level} peak at {info['distance_ratio']:.2f} x the neighbours' distance, nearer than {min_ratio}"
        return None, info
    return np.asarray(canon.voxel_to_world(voxel), dtype=np.float64), info


def picture(rows: list[tuple[str, dict]], target, per_row: int = 8):
    """Sagittal slices through each placed body with its two labelled neighbours (blue, green) and
    the placed body (red) marked.

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
    levels = sorted({info["level"] for _, info in rows})
    for ax, (case_id, info) in zip(axes.ravel(), rows):
        level = info["level"]
        names = (*NEIGHBOURS[level], level)
        v = info["voxels"]
        x = int(round(v.get(level, v[names[1]])[0]))
        img = info["canon"][x]  # (A, S) plane in RAS
        ax.imshow(img.T, cmap="gray", origin="lower")
        for name, colour in zip(names, ("tab:blue", "tab:green", "tab:red")):
            if name in v:
                ax.plot(v[name][1], v[name][2], "o", ms=4, color=colour)
        title = case_id if level in v else f"{case_id} (none)"
        ax.set_title(f"{title}\n{info.get('evidence', 0):.2f}", fontsize=7)
    fig.suptitle(f"{', '.join(levels)} pseudo-labels: labelled neighbours blue (farther) and green (nearer), "
                 "placed body red; evidence", fontsize=9)
    fig.tight_layout()
    fig.savefig(target, dpi=90, format="png")
    plt.close(fig)
    return target


def main(argv=None) -> int:
    from spinemark.methods.dualhead import DualHeadMethod

    ap = argparse.ArgumentParser(prog="python -m spinemark.train.pseudo_s1", description=__doc__.split("\n\n")[0])
    ap.add_argument("weights")
    ap.add_argument("data")
    ap.add_argument("--level", default="S1", choices=sorted(NEIGHBOURS), help="the body to place")
    ap.add_argument("--subsets", default="", help="comma list of case-id prefixes to keep (default: every case)")
    ap.add_argument("--split", default="spine_mri_v1", help="its validation cases are never labelled")
    ap.add_argument("--exclude", default="", help="more case ids to leave out (e.g. a run's tuning cases)")
    ap.add_argument("--min-evidence", type=float, default=0.1)
    ap.add_argument("--min-ratio", type=float, default=DISTANCE_RANGE[0],
                    help="no label for a peak nearer than this many neighbour distances (a body cut by the edge)")
    ap.add_argument("--merge", help="an earlier pseudo-label file whose labels the output keeps")
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
    try:
        labels = read_extra_landmarks(args.merge)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: --merge {args.merge}: {exc}", file=sys.stderr)
        return 1
    skip = validation_ids(args.split) | {s for s in args.exclude.split(",") if s}
    refs = [r for r in discover([args.data], tuple(s for s in args.subsets.split(",") if s)) if r.case_id not in skip]
    method = DualHeadMethod(args.weights)
    skipped, rows, placed = {}, [], 0
    for ref in refs:
        try:
            pos, info = place(method, ref, args.level, args.min_evidence, args.min_ratio, labels.get(ref.case_id))
        except (SpinemarkError, ValueError, OSError) as exc:  # one bad scan never stops the batch
            pos, info = None, {"reason": f"error: {exc}"}
        if pos is None:
            skipped[ref.case_id] = info["reason"]
            log.info("%s: no %s label (%s)", ref.case_id, args.level, info["reason"])
        else:
            labels.setdefault(ref.case_id, {})[args.level] = [round(float(c), 2) for c in pos]
            placed += 1
            log.info("%s: %s evidence %.2f, %.2f x the neighbours' distance, turn %.0f deg", ref.case_id, args.level,
                     info["evidence"], info["distance_ratio"], info["turn_deg"])
        if "canon" in info:
            rows.append((ref.case_id, info))
    doc = {"weights": str(args.weights), "sha256": method.model_info["sha256"], "level": args.level,
           "min_evidence": args.min_evidence, "min_ratio": args.min_ratio, "merged": args.merge, "excluded": sorted(skip),
           "landmarks": labels, "skipped": skipped}
    files = {out: (json.dumps(doc, indent=1) + "\n").encode()}
    if args.png and rows:
        files[Path(args.png)] = picture(rows, io.BytesIO()).getvalue()
    try:
        write_files(files, overwrite=args.overwrite)  # all or nothing
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.level} placed on {placed} of {len(refs)} scans -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
