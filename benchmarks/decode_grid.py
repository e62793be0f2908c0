"""Score decoding settings of a model on the training-side or tuning cases of a training run.

The release (``spinemark.train.release``) chooses the decoding defaults on the run's few tuning cases. This scores
any grid of decoding settings on either side of the run's ``data.json`` (``train``: the cases the run trained on,
many but biased towards the model; ``tuning``: the held-out ones), with the same field-of-view variants and metric
as the release, the network run once per crop. Never the validation split: the run's data list does not hold it::

    python benchmarks/decode_grid.py runs/dualhead_v13 --weights src/spinemark/weights/dualhead_v13.pt --side train \\
        --subsets VB3,VB1 --set s1_threshold=0.5,0.1 --set s1_edge_threshold=null,0.1 \\
        --variants pelvic,s1_edge,random_k2,random_k3,random_k4,random_k5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", type=Path, help="training run folder (its data.json lists the cases)")
    p.add_argument("--weights", type=Path, help="weights to score (default: the run's weights.pt)")
    p.add_argument("--side", choices=("train", "tuning"), default="train", help="which cases of data.json")
    p.add_argument("--subsets", default="", help="comma list of subsets to keep (default: all)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=V1,V2",
                   help="decoding field and the values to try (JSON each, e.g. null); repeat for a grid")
    p.add_argument("--variants", default="release", help="comma list, or 'release' for the release's variants")
    p.add_argument("--out", type=Path, help="also write the lines to this file")
    return p


def parse_grid(items: list[str]) -> dict[str, tuple]:
    """``["a=1,2", "b=null,0.1"]`` -> ``{"a": (1, 2), "b": (None, 0.1)}``.

    Raises:
        ValueError: An item without ``=`` or a value that is not JSON.
    """
    grid = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise ValueError(f"{item!r}: expected FIELD=V1,V2,...")
        grid[key.strip()] = tuple(json.loads(v) for v in values.split(","))
    return grid


def _case(entry: dict):
    """A case of ``data.json``; its label map or landmarks file found beside the image where the run did not record
    it (the tuning cases of runs made before session 18)."""
    from spinemark.evaluate.fov import Case
    from spinemark.train.data import discover, subset_of

    truth = entry.get("labels") or entry.get("landmarks")
    if truth is None:
        ref = next((r for r in discover([Path(entry["image"]).parent]) if r.case_id == entry["case"]), None)
        if ref is None:
            raise ValueError(f"{entry['image']}: no label map or landmarks file beside it")
        truth = ref.labels or ref.landmarks
    return Case(entry["case"], subset_of(entry["case"]), Path(entry["image"]), Path(truth))


def main(argv=None) -> int:
    from spinemark.evaluate.fov import expand_variants
    from spinemark.train.data import subset_of
    from spinemark.train.release import TUNING_VARIANTS, tune_decoding

    args = _get_parser().parse_args(argv)
    try:
        grid = parse_grid(args.set)
        variants = TUNING_VARIANTS if args.variants == "release" else tuple(expand_variants(args.variants.split(",")))
        listed = json.loads((args.run / "data.json").read_text())[args.side]
        keep = {s for s in args.subsets.split(",") if s}
        cases = [_case(c) for c in listed if not keep or subset_of(c["case"]) in keep]
    except (OSError, KeyError, ValueError) as exc:
        print(f"decode_grid: {exc}", file=sys.stderr)
        return 2
    if not grid or not cases:
        print("decode_grid: nothing to score (give --set, and subsets that the run's cases have)", file=sys.stderr)
        return 2
    best, lines, _ = tune_decoding(args.weights or args.run / "weights.pt", cases, grid=grid, variants=variants,
                                all_windows=True)
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
