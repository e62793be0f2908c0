"""Tiled against one-pass inference of the dual-head model on scans whose model grid needs tiles.

A model grid above :data:`spinemark.nets.inference.WHOLE_VOLUME_VOXELS` runs as tiles. This makes axial lumbosacral
phantoms of 400x400x150 voxels at 1.1x1.1x3 mm (a model grid of 147x147x150 at 3 mm, above the limit), runs the
network on each grid in one pass and tiled, and prints the largest heatmap difference, the decoded names of both,
how far the tiled centres lie from the one-pass ones, and both runs' error against the phantom's truth::

    python benchmarks/tiling.py [--seeds 0,1,2] [--weights W]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2", help="comma list of phantom seeds")
    p.add_argument("--weights", default=None, help="weights file (default: the shipped model)")
    args = p.parse_args(argv)
    from spinemark.evaluate.metrics import score_scan
    from spinemark.methods.dualhead import make
    from spinemark.nets.inference import predict_heatmaps
    from spinemark.synth import make_phantom

    method = make(args.weights)
    for seed in (int(s) for s in args.seeds.split(",") if s):
        ph = make_phantom("lumbosacral", seed=seed, orientation="axial", shape=(400, 400, 150),
                          spacing_mm=(1.1, 1.1, 3.0))
        canon = method.canonical(ph.image)
        runs = {}
        for name, limit in (("one pass", canon.data.size), ("tiled", None)):
            t0 = time.perf_counter()
            maps, s1 = (predict_heatmaps(method.model(), canon.data) if limit is None
                        else predict_heatmaps(method.model(), canon.data, whole_volume_voxels=limit))
            seconds = time.perf_counter() - t0
            found = method.landmarks(ph.image, canon, method.decode(canon, maps, s1))
            runs[name] = (maps, s1, found, seconds)
        (m1, s1a, one, t1), (m2, s1b, tiled, t2) = runs["one pass"], runs["tiled"]
        shared = [n for n in one.names if n in tiled.names]
        moved = [np.linalg.norm(np.subtract(one[n].position_mm, tiled[n].position_mm)) for n in shared]
        print(f"seed {seed}: model grid {canon.data.shape}; largest difference level maps "
              f"{np.abs(m1 - m2).max():.4f}, S1 map {np.abs(s1a - s1b).max():.4f}; "
              f"{t1:.1f} s one pass, {t2:.1f} s tiled")
        print(f"  truth      {' '.join(ph.landmarks.vertebrae().names)}")
        for name, found in (("one pass", one), ("tiled", tiled)):
            s = score_scan(found.vertebrae(), ph.landmarks.vertebrae())
            error = np.mean([s.errors_mm[n] for n, ok in s.identified.items() if ok] or [np.nan])
            print(f"  {name:9s}  {' '.join(found.names)}  (identified {s.n_identified}/{s.n_true}, "
                  f"mean error {error:.2f} mm)")
        print(f"  same names: {one.names == tiled.names}; tiled centres moved up to "
              f"{max(moved, default=0.0):.2f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
