"""Speed of the phantom generator on one core: median time of ``make_phantom``.

Usage:
    python benchmarks/synth_speed.py [--n 7] [--preset pelvic] [--shape 256 256 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=7)
    p.add_argument("--preset", default="pelvic")
    p.add_argument("--shape", type=int, nargs=3, default=(256, 256, 64))
    p.add_argument("--contrast", default="T1")
    a = p.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    from spinemark.synth import make_phantom

    make_phantom(a.preset, seed=999, shape=(32, 32, 8))  # warm up imports
    times = []
    for i in range(a.n):
        t = time.perf_counter()
        ph = make_phantom(a.preset, seed=i, shape=tuple(a.shape), contrast=a.contrast)
        times.append(time.perf_counter() - t)
    print(f"preset={a.preset} shape={ph.image.shape} spacing={ph.image.spacing_mm.round(2).tolist()} "
          f"n={a.n}: median {statistics.median(times):.3f} s, min {min(times):.3f} s, max {max(times):.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
