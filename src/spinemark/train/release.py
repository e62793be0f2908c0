"""Turn a training run into shippable weights: decoding thresholds chosen on the run's tuning cases.

The tuning cases are the training-side cases the run held out (``data.json``, key ``tuning``):
never trained on, and never the validation split. The network runs once per case; every
decoding setting of the grid is then scored on its cached heatmaps with the validation
metrics (identification rate first, then mean error), and the best setting is written into
the released metadata, which :class:`~spinemark.methods.dualhead.DualHeadMethod` reads as its
decoding defaults.

Usage::

    python -m spinemark.train.release runs/dualhead_v2 ../shared/data/spine-mri \\
        --name dualhead_v2 --version 2.0.0 --out src/spinemark/weights
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
from pathlib import Path

from spinemark import labeling
from spinemark.landmarks import Landmark, Landmarks
from spinemark.methods.base import Prediction
from spinemark.nets.io import read_metadata
from spinemark.train.data import discover
from spinemark.train.validate import evaluate

log = logging.getLogger(__name__)

GRID = {"peak_threshold": (0.15, 0.25, 0.35, 0.45), "s1_threshold": (0.3, 0.5, 0.7)}
"""Decoding settings tried on the tuning cases."""


class _CachedDecoder:
    """A method that runs the network once per volume and decodes with a settable config."""

    name = "dualhead"

    def __init__(self, method):
        self.method = method
        self.config = method.decode_config
        self._cache: dict[int, tuple] = {}  # id(volume) -> (canonical input, level maps, S1 map)

    def predict(self, volume) -> Prediction:
        """Decode ``volume`` with ``self.config`` (the caller keeps the volumes alive, so ids stay unique)."""
        if id(volume) not in self._cache:
            canon = self.method.canonical(volume)
            self._cache[id(volume)] = (canon, *self.method.heatmaps(canon))
        canon, maps, s1 = self._cache[id(volume)]
        self.method.decode_config = self.config
        dec = self.method.decode(canon, maps, s1)
        points = [Landmark(p.name, canon.voxel_to_world(p.voxel), p.confidence) for p in dec.points]
        return Prediction(Landmarks(points, geometry=volume.source), warnings=list(dec.warnings))


def tune_decoding(weights: str | Path, refs, grid: dict | None = None) -> tuple[dict, list[str]]:
    """Best decoding setting of ``grid`` on the cases ``refs``.

    Returns:
        ``(setting, lines)``: the chosen setting and one line per setting tried.
    """
    from spinemark.io.readers import load_volume
    from spinemark.methods.dualhead import DualHeadMethod

    grid = grid or GRID
    method = DualHeadMethod(weights)
    cached = _CachedDecoder(method)
    volumes = {r.image: load_volume(r.image) for r in refs}
    base = method.decode_config
    lines, best = [], None
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values))
        cached.config = labeling.DecodeConfig(**{**base.__dict__, **setting})
        res = evaluate(cached, refs, volumes=volumes)
        o = res["overall"]
        lines.append(f"{setting}: id {o['id_rate']:.3f} mean {o['mean_mm']:.2f} mm; "
                     f"predicted {[c['predicted'] for c in res['cases']]}")
        log.info(lines[-1])
        key = (o["id_rate"], -o["mean_mm"] if o["mean_mm"] == o["mean_mm"] else float("-inf"))
        if best is None or key > best[0]:
            best = (key, setting)
    lines.append(f"chosen: {best[1]}")
    return best[1], lines


def release(run: str | Path, data: str | Path, name: str, version: str, out: str | Path) -> Path:
    """Copy a run's weights to ``out/<name>.pt`` with metadata that carries the tuned decoding.

    Also writes ``tune_decode.txt`` (every setting tried and its score) into the run folder.
    """
    run, out = Path(run), Path(out)
    tuning = [t["case"] for t in json.loads((run / "data.json").read_text())["tuning"]]
    if not tuning:
        raise ValueError(f"{run}: the run has no tuning cases to choose the decoding on")
    refs = [r for r in discover([data]) if r.case_id in set(tuning)]
    setting, lines = tune_decoding(run / "weights.pt", refs)
    (run / "tune_decode.txt").write_text("\n".join(lines) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    dst = out / f"{name}.pt"
    shutil.copyfile(run / "weights.pt", dst)
    meta = read_metadata(run / "weights.pt")
    meta.update(name=name, version=version, decode={**meta.get("decode", {}), **setting},
                training_run=str(run), validation_split=meta.get("config", {}).get("split"))
    dst.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return dst


def main(argv=None) -> int:
    """``python -m spinemark.train.release RUN DATA --name NAME --version V --out FOLDER``."""
    import argparse

    ap = argparse.ArgumentParser(description="Release a training run's weights with decoding tuned on its tuning cases")
    ap.add_argument("run", help="run folder of `spinemark train`")
    ap.add_argument("data", help="folder holding the run's tuning cases")
    ap.add_argument("--name", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--out", required=True, help="folder for <name>.pt and <name>.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dst = release(args.run, args.data, args.name, args.version, args.out)
    log.info("wrote %s", dst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
