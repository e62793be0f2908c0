"""A/B timing of the dual-head network as trained, with BatchNorm folded, and rearranged for CPU inference.

The variants (``plain``; ``fused``: :func:`~spinemark.nets.unet3d.fuse_batchnorm`; ``fast``:
:class:`~spinemark.nets.fast.FastDualHead`, what ``spinemark predict`` runs) take turns in one process on
the same input (the canonical size of a 381x381x77 sagittal scan at 3 mm), so machine drift hits all
alike; the speed benchmark's run-to-run spread on this machine (about 10%) is as large as some effects.
``--reuse-freed-memory`` first applies :func:`~spinemark.nets.fast.reuse_freed_memory` (as ``spinemark
predict`` does); it cannot be undone within a process, so compare two runs, with and without.

Usage:
    python benchmarks/inference_ab.py [--weights W] [--rounds 8] [--threads 2] [--reuse-freed-memory]
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="weights file (default: the shipped model)")
    p.add_argument("--rounds", type=int, default=8, help="rounds (each variant once per round, order rotating)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--shape", default="76,104,76", help="input shape (canonical voxels)")
    p.add_argument("--reuse-freed-memory", action="store_true", help="keep freed memory for reuse (glibc)")
    args = p.parse_args(argv)
    import torch

    from spinemark.methods.dualhead import default_weights_path
    from spinemark.nets.fast import FastDualHead, reuse_freed_memory
    from spinemark.nets.inference import predict_heatmaps
    from spinemark.nets.io import load_model
    from spinemark.nets.unet3d import fuse_batchnorm

    torch.set_num_threads(args.threads)
    if args.reuse_freed_memory:
        print(f"reuse_freed_memory applied: {reuse_freed_memory()}")
    plain, _ = load_model(args.weights or default_weights_path())
    nets = {"plain": plain, "fused": fuse_batchnorm(copy.deepcopy(plain)), "fast": FastDualHead(plain)}
    names = list(nets)
    x = np.random.default_rng(0).random([int(s) for s in args.shape.split(",")]).astype(np.float32)
    outs = {k: predict_heatmaps(n, x) for k, n in nets.items()}  # warm-up
    times: dict[str, list[float]] = {k: [] for k in nets}
    for r in range(args.rounds):
        for k in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            predict_heatmaps(nets[k], x)
            times[k].append(time.perf_counter() - t0)
    for k, v in times.items():
        diff = max(float(np.abs(a - b).max()) for a, b in zip(outs["plain"], outs[k]))
        print(f"{k}: median {np.median(v):.3f} s, min {min(v):.3f} s over {len(v)} runs, "
              f"{np.median(v) / np.median(times['plain']):.3f} of plain; largest output difference {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
