"""How far a body centre derived from the discs above and below it lies from the true centre.

Training and ``spinemark evaluate`` read a label map of discs alone (such as the IVD set) as the vertebral bodies
between two labelled discs (:func:`spinemark.landmarks.bodies_from_discs`: on the curve through the discs;
``--midpoint``: the plain midpoint of the two discs, as before session 32). The real data here never labels both a
body and its discs, so the derivation is measured on phantoms, whose body and disc centres are the centroids of their
shapes, per region over every body with a disc in view above and below; and with ``--data`` (the spine-mri folder) on
the real VB3 and VB1 body masks, with each disc centre taken midway across the gap between its two bodies on the line
joining their centroids (where the line leaves the upper body and where it enters the lower one), a stand-in for the
disc's own centroid, which these masks do not give::

    python benchmarks/bodies_from_discs.py --n 20 --seed 0 --data ../shared/data/spine-mri [--midpoint]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from spinemark import anatomy
from spinemark.landmarks import bodies_from_discs
from spinemark.synth import make_phantom

PRESETS = ("cervical", "thoracic", "lumbar", "lumbosacral", "pelvic", "wholespine")
STEP_MM = 0.25
"""Sampling step along the line joining two body centroids."""


def midpoints(discs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Body centres at the plain midpoint of the disc above and the disc below (keys as in ``bodies_from_discs``)."""
    below = {upper: anatomy.neighbours(upper, anatomy.sequence_of(discs))[1] for upper in discs}
    return {below[upper]: (p + discs[below[upper]]) / 2.0 for upper, p in discs.items() if below[upper] in discs}


def errors(preset: str, seed: int, derive=None) -> list[tuple[str, np.ndarray, float]]:
    """``(level, derived minus true centre (RAS mm), disc-to-disc distance mm)`` of every body of one phantom that
    ``derive`` gives from its discs (None: :func:`~spinemark.landmarks.bodies_from_discs`)."""
    lms = make_phantom(preset=preset, seed=seed).landmarks
    discs = {p.name.split("/")[0]: np.asarray(p.position_mm) for p in lms if p.is_disc}
    return _offsets(discs, {p.name: np.asarray(p.position_mm) for p in lms if not p.is_disc}, derive)


def _offsets(discs: dict[str, np.ndarray], bodies: dict[str, np.ndarray], derive) -> list[tuple[str, np.ndarray, float]]:
    """``(level, derived minus true centre, disc-to-disc distance)`` of every body of ``bodies`` that ``derive`` (None:
    ``bodies_from_discs``) gives from ``discs`` (keyed by the vertebra above each disc)."""
    out = []
    for name, c in (derive or bodies_from_discs)(discs).items():
        above = discs.get(anatomy.neighbours(name, anatomy.sequence_of(discs))[0])
        if name in bodies and above is not None:
            out.append((name, c - bodies[name], float(np.linalg.norm(discs[name] - above))))
    return out


def mask_centres_and_discs(mask_path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The body centroids of a body mask (world mm) and its disc centres keyed by the vertebra above each disc, a disc
    taken midway across the gap between its two bodies on the line joining their centroids."""
    from spinemark.io.readers import load_volume

    vol = load_volume(mask_path)
    data = np.asarray(vol.data)
    inverse = np.linalg.inv(vol.affine)
    centre = {anatomy.id_to_name(int(i)): vol.affine[:3, :3] @ np.argwhere(data == i).mean(axis=0) + vol.affine[:3, 3]
              for i in np.unique(data) if anatomy.is_vertebra(int(i))}
    names = anatomy.sort_names(centre)
    discs = {}
    for a, b in zip(names, names[1:]):
        if anatomy.neighbours(a)[1] != b:
            continue
        t = np.arange(0.0, 1.0, STEP_MM / np.linalg.norm(centre[b] - centre[a]))
        line = centre[a] + t[:, None] * (centre[b] - centre[a])
        ijk = np.rint(line @ inverse[:3, :3].T + inverse[:3, 3]).astype(int)
        inside = np.all((ijk >= 0) & (ijk < data.shape), axis=1)
        label = np.where(inside, data[tuple(np.clip(ijk, 0, np.array(data.shape) - 1).T)], 0)
        in_a, in_b = label == anatomy.name_to_id(a), label == anatomy.name_to_id(b)
        if not in_a.any() or not in_b.any():
            continue
        leave = np.argmin(in_a) if not in_a.all() else len(t)  # first sample past body a
        enter = leave + np.argmax(in_b[leave:])  # first sample in body b after it
        discs[a] = centre[a] + (t[leave - 1] + t[enter]) / 2.0 * (centre[b] - centre[a])
    return centre, discs


def mask_errors(mask_path: Path, derive=None) -> list[tuple[str, np.ndarray, float]]:
    """As :func:`errors`, for the bodies of a body mask, with the discs of :func:`mask_centres_and_discs`."""
    centre, discs = mask_centres_and_discs(mask_path)
    return _offsets(discs, centre, derive)


def table(rows: dict[str, list[tuple[np.ndarray, float]]], keys) -> list[str]:
    """Error statistics per group; the mean offset's anterior and superior parts (RAS y, z) say which way."""
    lines = ["| group | bodies | mean mm | median mm | 95th pct mm | max mm | mean error / disc-to-disc distance | "
             "mean offset anterior / superior mm |", "|---|---|---|---|---|---|---|---|"]
    for key in keys:
        if key not in rows:
            continue
        offset = np.array([o for o, _ in rows[key]])
        e, s = np.linalg.norm(offset, axis=1), np.array([d for _, d in rows[key]])
        lines.append(f"| {key} | {len(e)} | {e.mean():.2f} | {np.median(e):.2f} | {np.percentile(e, 95):.2f} | "
                     f"{e.max():.2f} | {np.mean(e / s):.3f} | {offset[:, 1].mean():+.2f} / {offset[:, 2].mean():+.2f} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="phantoms per preset (seeds seed..seed+n-1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, help="the spine-mri folder: also measure on the VB3 and VB1 body masks")
    ap.add_argument("--midpoint", action="store_true", help="measure the plain midpoint of the two discs instead")
    args = ap.parse_args(argv)
    derive = midpoints if args.midpoint else bodies_from_discs
    by_region: dict[str, list[tuple[np.ndarray, float]]] = defaultdict(list)
    for preset in PRESETS:
        for seed in range(args.seed, args.seed + args.n):
            for name, err, span in errors(preset, seed, derive):
                by_region[anatomy.region(name)].append((err, span))
    print(f"{'midpoint of the two discs' if args.midpoint else 'on the curve through the discs'}; {args.n} phantoms per "
          f"preset ({', '.join(PRESETS)}), seeds {args.seed}..{args.seed + args.n - 1}\n")
    print("\n".join(table(by_region, anatomy.REGIONS)))
    if args.data is not None:
        real: dict[str, list[tuple[np.ndarray, float]]] = defaultdict(list)
        for subset in ("VB3", "VB1"):
            for mask in sorted((args.data / subset).glob("*_seg-vert_msk.nii.gz")):
                for name, err, span in mask_errors(mask, derive):
                    real[subset].append((err, span))
                    real[f"{subset} {name}"].append((err, span))
        print(f"\nReal body masks ({args.data}; discs midway across the gap on the line joining the body centroids; "
              "VB1 by its provisional names)\n")
        keys = [k for k in real if " " not in k] + sorted((k for k in real if " " in k),
                                                             key=lambda k: (k.split()[0], anatomy.order(k.split()[1])))
        print("\n".join(table(real, keys)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
