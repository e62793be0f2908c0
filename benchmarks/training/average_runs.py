"""Average the weights of training runs that share an architecture and tuning cases (a "model soup").

Fine-tunes from one starting point stay close in weight space, and the mean of their weights often predicts
better than each of them at no cost at inference. This writes a run folder that ``spinemark.train.release``
reads like any other: ``weights.pt`` (the elementwise mean of every floating-point tensor, BatchNorm running
statistics included; integer counters from the first run), ``weights.json`` (the first run's metadata, its
``version`` and ``averaged_from`` naming the runs) and the first run's ``data.json`` (the runs must hold out
the same tuning cases, or the release would tune on cases one of them trained on).

    python benchmarks/training/average_runs.py runs/dualhead_v13 runs/dualhead_v15 -o runs/soup_a
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from spinemark.nets.io import read_metadata

ARCHITECTURE_KEYS = ("architecture", "width", "bottleneck_dilations", "in_channels", "levels", "channels",
                     "spacing_mm", "normalisation", "sigma_mm")
"""Metadata that must agree for two runs' weights to be averaged and read the same way."""


def tuning_ids(run: Path) -> list[str]:
    """The tuning cases a run held out (its ``data.json``)."""
    return sorted(t["case"] for t in json.loads((run / "data.json").read_text())["tuning"])


def average_runs(runs: list[Path], out: Path, version: str) -> Path:
    """Write the averaged run into ``out`` (which must not exist); returns its weights path."""
    if len(runs) < 2:
        raise ValueError("give at least two runs to average")
    metas = [read_metadata(r / "weights.pt") for r in runs]
    for run, meta in zip(runs[1:], metas[1:]):
        differ = [k for k in ARCHITECTURE_KEYS if meta.get(k) != metas[0].get(k)]
        if differ:
            raise ValueError(f"{run}: {', '.join(differ)} differ from {runs[0]}")
        if tuning_ids(run) != tuning_ids(runs[0]):
            raise ValueError(f"{run}: holds out other tuning cases than {runs[0]}")
    states = [torch.load(r / "weights.pt", map_location="cpu", weights_only=True) for r in runs]
    mean = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            mean[key] = torch.stack([s[key] for s in states]).mean(0)
        else:
            mean[key] = first.clone()
    out.mkdir(parents=True)
    meta = dict(metas[0], version=version,
                averaged_from=[{"run": str(r), "version": m.get("version"), "git_commit": m.get("git_commit"),
                                "iteration": m.get("iteration")} for r, m in zip(runs, metas)])
    for key in ("iteration", "tune_loss"):
        meta.pop(key, None)
    torch.save(mean, out / "weights.pt")
    (out / "weights.json").write_text(json.dumps(meta, indent=2) + "\n")
    (out / "data.json").write_bytes((runs[0] / "data.json").read_bytes())
    return out / "weights.pt"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders (weights.pt, weights.json, data.json)")
    ap.add_argument("-o", "--out", required=True, type=Path, help="new run folder")
    ap.add_argument("--version", default="soup", help="version written into the metadata")
    args = ap.parse_args(argv)
    if args.out.exists():
        print(f"error: {args.out} exists", file=sys.stderr)
        return 1
    try:
        print(average_runs(args.runs, args.out, args.version))
    except (ValueError, FileNotFoundError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
