"""Level-evidence benchmark: how well the level channels alone tell one lumbar level from the next.

Runs a dual-head model on field-of-view variants of labelled scans and reads every level channel
at each labelled centre in view (the largest value in the 3x3x3 voxels around it, as the decoder
does). Per variant it reports how often the right channel is the largest (top-1), the mean value
of the right channel and of the largest wrong one, and the mean share of the right level after
the decoder's per-centre normalisation, and for each true level the mean value of every channel at its
centres (which levels a level's evidence leans towards). No chain, no S1 anchor: this measures what the
sequence decoder gets to work with when S1 is out of view. The same by where a body lies in the view (the
topmost labelled body of a sample, the bottommost, those between), with the lean: the mean number of levels
from the true level to the largest channel's (negative: cranial).

Usage:
    python benchmarks/level_evidence.py --data runs/spine-mri-vb1-s1 \
        --cases VB3_10,VB3_26,VB3_31,VB3_42,VB1_12 --out runs/level_evidence_v6.md [--all-windows]
    python benchmarks/level_evidence.py --phantoms DIR --out REPORT.md   # whole phantoms of `spinemark synth`
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fov_benchmark import DEFAULT_DATA, read_cases  # noqa: E402

VARIANTS = "full,upper_lumbar,mid_lumbar,random_k2,random_k3"


def case_parser(doc: str, variants: str, out_help: str) -> argparse.ArgumentParser:
    """The arguments of the scripts that read a dual-head model at labelled centres: data, weights, cases,
    variants and the report."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset folder holding manifest.csv")
    p.add_argument("--weights", default=None, help="dual-head weights (default: the shipped model)")
    p.add_argument("--subsets", default="VB3,VB1", help="comma-separated subsets of the manifest")
    p.add_argument("--cases", default=None, help="as for fov_benchmark.py: comma list, JSON list or split file")
    p.add_argument("--split-key", default=None,
                   help="key of the case list in a JSON split file (default: 'validation' or 'val')")
    p.add_argument("--variants", default=variants, help="comma list of field-of-view variants")
    p.add_argument("--out", type=Path, required=True, help=out_help)
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    return p


def _get_parser() -> argparse.ArgumentParser:
    p = case_parser(__doc__, VARIANTS, "markdown report (a .json with the numbers beside it)")
    p.add_argument("--phantoms", type=Path, default=None,
                   help="a folder of phantoms (spinemark synth: images with .landmarks.json), each read whole as "
                        "variant 'phantom', instead of the cases of --data")
    p.add_argument("--seed", type=int, default=0, help="seed of the random crops")
    p.add_argument("--all-windows", action="store_true",
                   help="every window of k consecutive labelled vertebrae for random_k, not one seeded window")
    return p


POSITIONS = ("top", "middle", "bottom")


def centre_evidence(method, sample) -> list[tuple[str, np.ndarray, str]]:
    """(true level, level-channel values, where in the view) at each labelled centre of a variant sample that
    the model can name; where: ``top`` (the most cranial labelled body in view), ``bottom`` (the most caudal),
    ``middle``, or ``only``."""
    from spinemark import anatomy
    from spinemark.labeling import sample_max

    canon = method.canonical(sample.volume)
    level_maps = method.level_maps(method.heatmaps(canon)[0])
    ranks = sorted(anatomy.order(p.name) for p in sample.truth)
    rows = []
    for p in sample.truth:
        if p.name in method.levels:
            vox = canon.world_to_voxel(p.position_mm)
            rank = anatomy.order(p.name)
            where = ("only" if len(ranks) == 1 else "top" if rank == ranks[0] else "bottom" if rank == ranks[-1]
                     else "middle")
            rows.append((p.name, np.array([sample_max(m, vox) for m in level_maps]), where))
    return rows


def summarize(rows: list[tuple], levels: list[str], floor: float) -> dict:
    """Top-1 rate, right/wrong channel means, the normalised share of the right level and the lean (mean levels
    from the true level to the largest channel's; negative: cranial) of rows ``(true level, values, ...)``."""
    from spinemark import anatomy
    from spinemark.labeling import level_shares

    if not rows:
        return {"centres": 0}
    idx = np.array([levels.index(r[0]) for r in rows])
    ev = np.clip(np.stack([r[1] for r in rows]), 0.0, 1.0)
    right = ev[np.arange(len(idx)), idx]
    wrong = ev.copy()
    wrong[np.arange(len(idx)), idx] = -np.inf
    share = level_shares(ev, floor)[0][np.arange(len(idx)), idx]
    order = np.array([anatomy.order(n) for n in levels])
    lean = order[ev.argmax(axis=1)] - order[idx]
    return {"centres": len(rows), "top1": float(np.mean(ev.argmax(axis=1) == idx)), "right_mean": float(right.mean()),
            "best_wrong_mean": float(wrong.max(axis=1).mean()), "right_share": float(share.mean()),
            "lean": float(lean.mean())}


def level_profile(rows: list[tuple], levels: list[str]) -> dict:
    """True level -> number of centres and the mean value of every channel there (pooled over variants)."""
    out = {}
    for name in levels:
        vals = [r[1] for r in rows if r[0] == name]
        if vals:
            out[name] = {"centres": len(vals), "mean": [round(float(x), 3) for x in np.mean(vals, axis=0)]}
    return out


def phantom_rows(method, folder: Path) -> tuple[list[str], dict[str, list]]:
    """The phantoms of ``folder`` (their names) and :func:`centre_evidence` at their vertebrae, as variant
    ``phantom``."""
    from types import SimpleNamespace

    from spinemark.io.readers import find_inputs, image_stem, load_volume
    from spinemark.io.writers import read_landmarks

    images = sorted(find_inputs([folder]))
    rows: list = []
    for img in images:
        truth = [p for p in read_landmarks(img.with_name(image_stem(img) + ".landmarks.json")) if not p.is_disc]
        rows += centre_evidence(method, SimpleNamespace(volume=load_volume(img), truth=truth))
    return [img.name for img in images], {"phantom": rows}


def main(argv=None) -> int:
    args = _get_parser().parse_args(argv)
    from spinemark.evaluate.fov import load_case, load_cases, variant_samples
    from spinemark.info import git_commit
    from spinemark.methods import get_method

    json_path = args.out.with_suffix(".json")
    if not args.overwrite and (args.out.exists() or json_path.exists()):
        print(f"error: {args.out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 1
    method = get_method("dualhead", weights=args.weights)
    if args.phantoms:
        keys, rows = phantom_rows(method, args.phantoms)
    else:
        cases = load_cases(args.data, [s for s in args.subsets.split(",") if s], read_cases(args.cases, args.split_key))
        keys = [c.key for c in cases]
        variants = [v for v in args.variants.split(",") if v]
        rows = {v: [] for v in variants}
        for case in cases:
            vol, truth = load_case(case)
            for v in variants:
                for sample in variant_samples(vol, truth, v, key=case.key, seed=args.seed, all_windows=args.all_windows):
                    rows[v] += centre_evidence(method, sample)
    if not keys:
        print("no cases selected", file=sys.stderr)
        return 2
    levels = list(method.levels)
    floor = method.decode_config.emission_floor
    summary = {v: summarize(r, levels, floor) | {"by_position": {w: summarize([x for x in r if x[2] == w], levels, floor)
                                                                 for w in POSITIONS}}
               for v, r in rows.items()}
    meta = {"model": method.model_info, "cases": keys, "commit": git_commit(),
            "command": "python benchmarks/level_evidence.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    lines = [f"# Level evidence: {meta['model']['name']} {meta['model']['version']}", "",
             f"Cases: {', '.join(meta['cases'])}. Command: `{meta['command']}` (commit {meta['commit']}).", "",
             "| variant | centres | top-1 | right channel | best wrong channel | right share | lean |",
             "|---|---|---|---|---|---|---|"]
    for v, s in summary.items():
        if s["centres"]:
            lines.append(f"| {v} | {s['centres']} | {100 * s['top1']:.1f}% | {s['right_mean']:.3f} | "
                         f"{s['best_wrong_mean']:.3f} | {s['right_share']:.3f} | {s['lean']:+.2f} |")
    lines += ["", "By where the body lies in the view (top-1 / lean, centres):", "",
              "| variant | " + " | ".join(POSITIONS) + " |", "|---|" + "---|" * len(POSITIONS)]
    for v, s in summary.items():
        cells = [f"{100 * p['top1']:.1f}% / {p['lean']:+.2f} ({p['centres']})" if p["centres"] else "-"
                 for p in s["by_position"].values()]
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    profile = level_profile([r for rs in rows.values() for r in rs], levels)
    lines += ["", "Mean value of each channel at the centres of each true level (every variant pooled):", "",
              "| true level | centres | " + " | ".join(levels) + " |", "|---|---|" + "---|" * len(levels)]
    for name, p in profile.items():
        lines.append(f"| {name} | {p['centres']} | " + " | ".join(f"{x:.2f}" for x in p["mean"]) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    json_path.write_text(json.dumps({"meta": meta, "summary": summary, "profile": profile}, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
