"""Speed benchmark: per-scan wall time by stage (read, resample, network, decode, write) and peak memory.

Default batch: 10 synthetic volumes of 381x381x77 voxels (0.6 x 0.6 x 4 mm) written to a temporary folder.
Writes ``speed.json`` and ``speed.md`` (with the machine: CPU model, cores, torch threads, versions).

Usage:
    python benchmarks/speed.py --method dualhead --out docs/benchmarks/speed
    python benchmarks/speed.py --inputs /path/to/scans --threads 2
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import multiprocessing
import sys
import tempfile
from pathlib import Path


def _get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--method", default="dualhead", help="registered method name")
    p.add_argument("--weights", default=None, help="weights file for the method")
    p.add_argument("--inputs", nargs="*", default=None, help="image files or folders (default: synthetic batch)")
    p.add_argument("--n", type=int, default=10, help="number of synthetic volumes")
    p.add_argument("--shape", default="381,381,77", help="shape of the synthetic volumes")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs before the batch")
    p.add_argument("--out", type=Path, default=Path("speed_out"), help="output folder for speed.json and speed.md")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return p


def run(args: argparse.Namespace, method=None) -> int:
    """Run the benchmark; ``method`` overrides ``--method`` (tests pass a fake)."""
    from spinemark.errors import OutputError
    from spinemark.evaluate.speed import run_speed, speed_markdown, synthetic_volumes
    from spinemark.info import git_commit
    from spinemark.io.readers import find_inputs
    from spinemark.io.writers import write_files

    targets = [args.out / "speed.json", args.out / "speed.md"]
    if not args.overwrite:
        for t in targets:
            if t.exists():
                raise OutputError(t, "output exists; use --overwrite to replace it")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if method is None:
        from spinemark.methods import get_method

        method = get_method(args.method, weights=args.weights)
    with tempfile.TemporaryDirectory(prefix="spinemark-speed-") as tmp:
        if args.inputs:
            inputs = find_inputs(args.inputs)
            if not inputs:
                raise ValueError(f"no images found in {', '.join(args.inputs)}")
        else:
            shape = tuple(int(s) for s in args.shape.split(","))
            if len(shape) != 3 or min(shape) < 8 or args.n < 1:
                raise ValueError(f"--shape {args.shape} --n {args.n}: three sizes of at least 8 and one scan or more")
            # made in a child process, so that this process's peak memory is the prediction's alone
            ctx = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
                inputs = pool.submit(synthetic_volumes, Path(tmp) / "in", n=args.n, shape=shape).result()
        result = run_speed(method, inputs, Path(tmp) / "pred", warmup=args.warmup)
    meta = {"method": getattr(method, "name", args.method), "weights": args.weights or "shipped default",
            "inputs": "synthetic " + args.shape if not args.inputs else " ".join(args.inputs),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git_commit(), "command": "python " + " ".join(sys.argv)}
    result["meta"] = meta
    write_files({targets[0]: json.dumps(result, indent=1).encode(), targets[1]: speed_markdown(result, meta).encode()},
                overwrite=args.overwrite)
    print(speed_markdown(result, meta))
    return 0


QUOTES = "'\""  # around a KeyError's message


def main(argv=None) -> int:
    args = _get_parser().parse_args(argv)
    from spinemark.errors import SpinemarkError

    try:
        return run(args)
    except (SpinemarkError, KeyError, ValueError, OSError) as exc:
        print(f"error: {str(exc).strip(QUOTES)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
