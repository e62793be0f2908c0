"""The heatmap loss and the level cross-entropy of a model on its run's tuning patches, with their gradient norms.

Chooses ``level_ce_weight`` so that the two losses pull the weights equally hard (the ratio printed last)::

    python benchmarks/training/loss_gradients.py benchmarks/training/dualhead_v13.json src/spinemark/weights/dualhead_v13.pt
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main(argv=None) -> int:
    import torch

    from spinemark.nets.io import load_model
    from spinemark.train.data import discover, load_case
    from spinemark.train.loop import level_ce_loss, masked_loss
    from spinemark.train.sampling import PATCH_KEYS, PatchConfig, draw_patch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="training config JSON whose tuning_ids, data, levels and patch size are used")
    p.add_argument("weights", help="the model")
    p.add_argument("--temperature", type=float, default=10.0)
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    cfg = json.loads(open(args.config).read())
    refs = [r for r in discover(cfg["data"]) if r.case_id in cfg["tuning_ids"]]
    cases = [load_case(r, cfg["spacing_mm"], cfg.get("cache_dir")) for r in refs]
    pcfg = PatchConfig(tuple(cfg["levels"]), tuple(cfg["patch_size"]), cfg["spacing_mm"], cfg["sigma_mm"], 1.0, False, 0.0)
    rng = np.random.default_rng(12345)  # the tuning patches of spinemark.train.loop.train
    patches = [draw_patch(c, rng, pcfg) for c in cases for _ in range(4)]
    model = load_model(args.weights)[0]
    model.train()
    params = [w for w in model.parameters() if w.requires_grad]

    def norm(loss) -> float:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        return float(torch.sqrt(sum((g**2).sum() for g in grads if g is not None)))

    rows = []
    for i in range(0, len(patches), 4):
        b = {k: torch.from_numpy(np.stack([getattr(q, k) for q in patches[i:i + 4]])) for k in PATCH_KEYS}
        lv, s1 = model(b["image"])
        heat = (masked_loss(lv, b["target"], b["mask"], cfg["pos_weight"])
                + masked_loss(s1, b["s1_target"], b["s1_mask"], cfg["pos_weight"]))
        ce = level_ce_loss(lv, b["target"], b["mask"], args.temperature)
        rows.append((float(heat), norm(heat), float(ce), norm(ce)))
    heat, heat_g, ce, ce_g = np.mean(rows, axis=0)
    print(f"{len(patches)} tuning patches of {', '.join(r.case_id for r in refs)}")
    print(f"heatmap loss {heat:.3g}, gradient norm {heat_g:.3g}")
    print(f"level cross-entropy {ce:.3f} nats, gradient norm {ce_g:.3g}")
    print(f"level_ce_weight for equal gradient norms: {heat_g / ce_g:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
