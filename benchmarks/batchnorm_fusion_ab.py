"""A/B timing of the dual-head network with and without BatchNorm folded into the convolutions.

The two variants run alternately in one process on the same input (the canonical size of a
381x381x77 sagittal scan at 3 mm), so machine drift hits both alike; the speed benchmark's
run-to-run spread on this machine (about 10%) is as large as the effect.

Usage:
    python benchmarks/batchnorm_fusion_ab.py [--weights W] [--rounds 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="weights file (default: the shipped model)")
    p.add_argument("--rounds", type=int, default=8, help="alternating rounds")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--shape", default="76,104,76", help="input shape (canonical voxels)")
    args = p.parse_args(argv)
    import torch

    from spinemark.methods.dualhead import default_weights_path
    from spinemark.nets.inference import predict_heatmaps
    from spinemark.nets.io import load_model
    from spinemark.nets.unet3d import fuse_batchnorm

    torch.set_num_threads(args.threads)
    plain, _ = load_model(args.weights or default_weights_path())
    nets = {"plain": plain, "fused": fuse_batchnorm(copy.deepcopy(plain))}
    x = np.random.default_rng(0).random([int(s) for s in args.shape.split(",")]).astype(np.float32)
    outs = {k: predict_heatmaps(n, x) for k, n in nets.items()}  # warm-up
    times: dict[str, list[float]] = {k: [] for k in nets}
    for r in range(args.rounds):
        for k in (("plain", "fused") if r % 2 == 0 else ("fused", "plain")):
            t0 = time.perf_counter()
            predict_heatmaps(nets[k], x)
            times[k].append(time.perf_counter() - t0)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(outs["plain"], outs["fused"]))
    for k, v in times.items():
        print(f"{k}: median {np.median(v):.3f} s, min {min(v):.3f} s over {len(v)} runs")
    print(f"fused/plain (medians): {np.median(times['fused']) / np.median(times['plain']):.3f}; "
          f"largest output difference {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
