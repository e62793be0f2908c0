"""Level probe: do a dual-head model's decoder features hold more level evidence than its level channels read out?

Runs the model on field-of-view variants of labelled scans (every window), keeps its features at each labelled
centre (the full-resolution decoder output, the half-resolution decoder and the bottleneck after the wide blocks,
each at the centre's voxel) and the level channels' values there (the largest in the 3x3x3 voxels around it, as
the decoder reads them). Then fits a multinomial logistic regression (the "probe") from the features to the true
level, cross-validated by scan (5 folds), for three feature sets and three L2 weights, and reports its top-1
against the channels' top-1 on the same centres, per variant. Results in ``benchmarks/README.md`` ("A level
probe on the decoder's features").

Usage:
    python benchmarks/level_probe.py --data runs/spine-mri-vb1-s1 --cases VB3_02,VB3_03,... \
        --out runs/level_probe.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fov_benchmark import read_cases  # noqa: E402
from level_evidence import case_parser  # noqa: E402

VARIANTS = "full,upper_lumbar,mid_lumbar,pelvic,lumbosacral,random_k2,random_k3,random_k4,random_k5"
SACRUM_FREE = ("upper_lumbar", "mid_lumbar", "random_k2", "random_k3", "random_k4", "random_k5")
FEATURE_SETS = {"full-resolution decoder": 1, "+ half-resolution decoder": 2, "+ bottleneck": 3}
L2_WEIGHTS = (1e-4, 1e-3, 1e-2)
FOLDS = 5


def _get_parser() -> argparse.ArgumentParser:
    return case_parser(__doc__, VARIANTS, "markdown report")


def network_features(net, data: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The plain network's feature maps ``[full-resolution decoder, half-resolution decoder, bottleneck]`` and its
    head-1 output on a canonical input."""
    import torch

    from spinemark.nets.preprocess import pad_to_multiple

    x = torch.from_numpy(pad_to_multiple(data.astype(np.float32), 4)[0])[None, None]
    with torch.inference_mode():
        e1 = net.enc1(net.stem(x))
        e2 = net.enc2(net.pool(e1))
        b = net.wide(net.bottleneck(net.pool(e2)))
        d2 = net.dec2(torch.cat([net.up2(b), e2], 1))
        d1 = net.dec1(torch.cat([net.up1(d2), e1], 1))
        return [d1[0].numpy(), d2[0].numpy(), b[0].numpy()], net.head_levels(d1)[0].numpy()


def _at(fmap: np.ndarray, voxel: np.ndarray, scale: int) -> np.ndarray:
    c = np.clip(np.round(np.asarray(voxel) / scale).astype(int), 0, np.array(fmap.shape[1:]) - 1)
    return fmap[:, c[0], c[1], c[2]]


def collect(method, net, channels: list[str], cases, variants: list[str]) -> dict[str, np.ndarray]:
    """Per labelled centre of every window of every variant: scan, variant, true level, the three feature maps'
    values (one array per map) and the level channels' values."""
    from spinemark.evaluate.fov import load_case, variant_samples
    from spinemark.labeling import sample_max

    levels = list(method.levels)
    index = [channels.index(n) for n in levels]
    rows: dict[str, list] = {"case": [], "variant": [], "level": [], "f0": [], "f1": [], "f2": [], "channels": []}
    for case in cases:
        vol, truth = load_case(case)
        for v in variants:
            for sample in variant_samples(vol, truth, v, key=case.key, seed=0, all_windows=True):
                canon = method.canonical(sample.volume)
                fmaps, head = network_features(net, canon.data)
                for p in sample.truth:
                    if p.name not in levels:
                        continue
                    vox = canon.world_to_voxel(p.position_mm)
                    rows["case"].append(case.key)
                    rows["variant"].append(v)
                    rows["level"].append(levels.index(p.name))
                    for k, (fmap, scale) in enumerate(zip(fmaps, (1, 2, 4))):
                        rows[f"f{k}"].append(_at(fmap, vox, scale))
                    rows["channels"].append([sample_max(head[i], vox) for i in index])
        print(f"{case.key}: {len(rows['case'])} centres", file=sys.stderr, flush=True)
    return {k: np.asarray(v) for k, v in rows.items()}


def fit_probe(x: np.ndarray, y: np.ndarray, l2: float, classes: int):
    """Multinomial logistic regression on standardised features (L-BFGS); returns ``(mean, sd, W, b)``."""
    import torch

    mean, sd = x.mean(0), x.std(0) + 1e-6
    xt = torch.tensor((x - mean) / sd, dtype=torch.float32)
    yt = torch.tensor(y)
    w = torch.zeros(x.shape[1], classes, requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return mean, sd, w.detach().numpy(), b.detach().numpy()


def cross_validated_top1(x: np.ndarray, y: np.ndarray, groups: np.ndarray, l2: float, classes: int) -> np.ndarray:
    """Per row: whether the probe fitted on the other folds (:data:`FOLDS` folds of whole scans, seeded; one scan
    each when there are fewer) ranks its level first."""
    keys = np.random.default_rng(0).permutation(np.unique(groups))
    if len(keys) < 2:
        raise ValueError("cross-validation by scan needs at least two scans")
    folds = min(FOLDS, len(keys))
    right = np.zeros(len(y), bool)
    for k in range(folds):
        held = np.isin(groups, keys[k::folds])
        mean, sd, w, b = fit_probe(x[~held], y[~held], l2, classes)
        right[held] = (((x[held] - mean) / sd) @ w + b).argmax(1) == y[held]
    return right


def main(argv=None) -> int:
    args = _get_parser().parse_args(argv)
    from spinemark.evaluate.fov import load_cases
    from spinemark.info import git_commit
    from spinemark.methods import get_method
    from spinemark.nets.io import load_model

    if args.out.exists() and not args.overwrite:
        print(f"error: {args.out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 1
    method = get_method("dualhead", weights=args.weights)
    net, meta = load_model(method.weights)
    cases = load_cases(args.data, [s for s in args.subsets.split(",") if s], read_cases(args.cases, args.split_key))
    if not cases:
        print("no cases selected", file=sys.stderr)
        return 2
    variants = [v for v in args.variants.split(",") if v]
    d = collect(method, net, list(meta["channels"]), cases, variants)
    y, classes = d["level"], len(method.levels)
    columns = ["all", "sacrum-free", *variants]
    masks = [np.ones(len(y), bool), np.isin(d["variant"], SACRUM_FREE), *(d["variant"] == v for v in variants)]
    lines = [f"# Level probe: {method.model_info['name']} {method.model_info['version']}", "",
             f"{len(cases)} scans, {len(y)} labelled centres. Command: `python benchmarks/level_probe.py "
             f"{' '.join(sys.argv[1:] if argv is None else argv)}` (commit {git_commit()}).", "",
             "Top-1 at the labelled centres (%): the level channels, then the probe, cross-validated by scan.", "",
             "| evidence | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]

    def row(name: str, right: np.ndarray) -> str:
        return f"| {name} | " + " | ".join(f"{100 * right[m].mean():.1f}" if m.any() else "-" for m in masks) + " |"

    lines.append(row("level channels", np.asarray(d["channels"]).argmax(1) == y))
    for name, n_maps in FEATURE_SETS.items():
        x = np.concatenate([d[f"f{k}"] for k in range(n_maps)], axis=1)
        for l2 in L2_WEIGHTS:
            lines.append(row(f"probe, {name} ({x.shape[1]} values), L2 {l2:g}",
                             cross_validated_top1(x, y, d["case"], l2, classes)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
