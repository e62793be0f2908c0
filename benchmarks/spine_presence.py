"""How strongly the model's detection heatmap fires on images with and without a spine (``min_detection``).

For each image: the largest value of the dual-head model's detection heatmap (:func:`spinemark.labeling.
detection_map`, the ``any`` channel), the statistic that ``DecodeConfig.min_detection`` compares. Three groups:

- ``spine``: every sample of the field-of-view variants of the chosen labelled cases (as
  ``benchmarks/fov_benchmark.py`` makes them, ``--all-windows`` for every window of the random crops);
- ``no_spine``: the same cases cut to what lies more than ``--anterior-mm`` in front of their most anterior labelled
  body centre (the abdomen or pelvis in front of the spine), kept when at least ``--min-depth-mm`` remain; and
  ``--synthetic`` images without any spine (noise, smooth random textures, a ramp, a blob, stripes), drawn from
  ``--seed``;
- ``other``: image files or folders given with ``--images`` (phantoms, the SCT crops), read as ``spinemark
  predict`` reads them.

Writes ``presence.csv`` (group, sample, strongest value) and prints each group's spread and, for ``--thresholds``,
how many samples of each group lie below::

    python benchmarks/spine_presence.py --data runs/spine-mri-vb1-s1 --cases VB3_10,VB3_26 --all-windows --out runs/presence
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fov_benchmark import read_cases  # noqa: E402
from level_evidence import case_parser  # noqa: E402
from spinemark import labeling  # noqa: E402
from spinemark.volume import Volume, crop  # noqa: E402


def strongest(method, volume: Volume) -> float:
    """The largest value of ``method``'s detection heatmap on ``volume`` (a dual-head method)."""
    canon = method.canonical(volume)
    maps, _ = method.heatmaps(canon)
    channels = list(method.metadata["channels"])
    any_map = maps[channels.index("any")] if "any" in channels else None
    return float(labeling.detection_map(method.level_maps(maps), any_map).max())


def anterior_crop(volume: Volume, centres_mm: np.ndarray, anterior_mm: float, min_depth_mm: float) -> Volume | None:
    """The part of ``volume`` more than ``anterior_mm`` in front of the most anterior of the labelled body centres
    (world RAS mm), where no vertebra lies; None when less than ``min_depth_mm`` deep. (Behind the spine the
    scans here hold little but the back muscles and air.)"""
    from spinemark.evaluate.fov import axis_towards

    axis = axis_towards(volume, 1)[0]  # the array axis closest to anterior
    y = np.array([volume.voxel_to_world(np.eye(3)[axis] * i)[1] for i in range(volume.shape[axis])])
    idx = np.flatnonzero(y > centres_mm[:, 1].max() + anterior_mm)
    if len(idx) * volume.spacing_mm[axis] < min_depth_mm:
        return None
    start, stop = [0, 0, 0], list(volume.shape)
    start[axis], stop[axis] = int(idx.min()), int(idx.max()) + 1
    return crop(volume, start, stop)


def synthetic(n: int, seed: int) -> Iterator[tuple[str, Volume]]:
    """``n`` images without a spine: white, Rician and uniform noise, smooth random textures of three grains, a ramp,
    a blob and stripes 35 mm apart (about a lumbar vertebra's pitch), cycled, on sagittal-like and axial-like grids
    of 1..4 mm."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    kinds = ("gauss", "rician", "uniform", "smooth3", "smooth8", "smooth20", "ramp", "blob", "stripes")
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if i % 2:
            shape, spacing = (160, 160, 36), (1.2, 1.2, 5.0)  # axial-like: thick slices along z
        else:
            shape, spacing = (24, 200, 200), (4.0, 1.0, 1.0)  # sagittal-like: thick slices along x
        mm = [np.arange(s) * d for s, d in zip(shape, spacing)]
        x, y, z = np.meshgrid(*mm, indexing="ij")
        if kind == "gauss":
            a = rng.normal(100, 30, shape)
        elif kind == "rician":
            a = np.hypot(rng.normal(0, 40, shape), rng.normal(0, 40, shape))
        elif kind == "uniform":
            a = rng.uniform(0, 200, shape)
        elif kind.startswith("smooth"):
            grain = float(kind[len("smooth"):])
            a = ndimage.gaussian_filter(rng.normal(0, 1, shape), [grain / d for d in spacing]) * 100 + 100
        elif kind == "ramp":
            a = z + y + rng.normal(0, 5, shape)
        elif kind == "blob":
            c = [m.mean() for m in mm]
            a = 200 * np.exp(-((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) / (2 * 40.0 ** 2))
            a += rng.normal(0, 10, shape)
        else:  # stripes along z, 35 mm pitch
            a = 100 + 80 * (np.sin(2 * np.pi * z / 35.0) > 0) + rng.normal(0, 10, shape)
        affine = np.diag([*spacing, 1.0])
        yield f"synthetic_{i:02d}_{kind}", Volume(np.clip(a, 0, None).astype(np.float32), affine)


def samples(args) -> Iterator[tuple[str, str, Volume]]:
    """``(group, sample, volume)`` of every image to score."""
    from spinemark.evaluate.fov import DEFAULT_VARIANTS, expand_variants, load_case, load_cases, variant_samples
    from spinemark.io.readers import find_inputs, load_volume

    variants = list(DEFAULT_VARIANTS) if args.variants == "all" else expand_variants(args.variants.split(","))
    if args.cases:
        for case in load_cases(args.data, [s for s in args.subsets.split(",") if s], read_cases(args.cases, args.split_key)):
            vol, truth = load_case(case)
            for v in variants:
                for i, s in enumerate(variant_samples(vol, truth, v, key=case.key, seed=args.seed,
                                                      all_windows=args.all_windows)):
                    yield "spine", f"{case.key}:{v}:{i}", s.volume
            part = anterior_crop(vol, np.array([p.position_mm for p in truth]), args.anterior_mm, args.min_depth_mm)
            if part is not None:
                yield "no_spine", f"{case.key}:anterior", part
    for name, vol in synthetic(args.synthetic, args.seed):
        yield "no_spine", name, vol
    for src in args.images:
        for path in find_inputs([src]):
            yield "other", str(path), load_volume(path)


def report(rows: list[tuple[str, str, float]], thresholds: list[float]) -> str:
    lines = []
    for group in ("spine", "no_spine", "other"):
        vals = np.array([v for g, _, v in rows if g == group])
        if not len(vals):
            continue
        q = np.percentile(vals, [0, 1, 5, 50, 95, 100])
        lines.append(f"{group}: {len(vals)} images; strongest detection min {q[0]:.3f}, 1% {q[1]:.3f}, 5% {q[2]:.3f}, "
                     f"median {q[3]:.3f}, 95% {q[4]:.3f}, max {q[5]:.3f}")
        for t in thresholds:
            below = [(s, v) for g, s, v in rows if g == group and v < t]
            line = f"  below {t:g}: {len(below)} ({100 * len(below) / len(vals):.1f}%)"
            shown = below if group == "spine" else [(s, v) for g, s, v in rows if g == group and v >= t]
            if shown and len(shown) <= 12:
                line += ("; " if group == "spine" else "; at or above: ") + ", ".join(f"{s} {v:.3f}" for s, v in shown)
            lines.append(line)
    return "\n".join(lines)


def _get_parser() -> argparse.ArgumentParser:
    p = case_parser(__doc__, "all", "output folder (presence.csv, presence.txt)")
    p.add_argument("--all-windows", action="store_true", help="every window of the random_k crops")
    p.add_argument("--seed", type=int, default=0, help="seed of the random crops and the synthetic images")
    p.add_argument("--anterior-mm", type=float, default=35.0, help="no_spine crops start this far in front of the "
                   "most anterior labelled body centre")
    p.add_argument("--min-depth-mm", type=float, default=32.0, help="shallowest off-spine crop kept")
    p.add_argument("--synthetic", type=int, default=0, help="how many synthetic images without a spine")
    p.add_argument("--images", nargs="*", default=[], help="other image files or folders (group 'other')")
    p.add_argument("--thresholds", default="0.5,0.6,0.7", help="comma list: count the images below each")
    return p


def main(argv=None) -> int:
    args = _get_parser().parse_args(argv)
    from spinemark.methods import get_method

    if (args.out / "presence.csv").exists() and not args.overwrite:
        print(f"{args.out / 'presence.csv'}: exists; use --overwrite to replace it", file=sys.stderr)
        return 1
    method = get_method("dualhead", weights=args.weights)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with (args.out / "presence.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["group", "sample", "strongest"])
        for group, name, vol in samples(args):
            rows.append((group, name, strongest(method, vol)))
            w.writerow([group, name, f"{rows[-1][2]:.4f}"])
            fh.flush()
    text = report(rows, [float(t) for t in args.thresholds.split(",") if t])
    (args.out / "presence.txt").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
