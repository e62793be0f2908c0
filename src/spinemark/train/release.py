"""Turn a training run into shippable weights: decoding thresholds chosen on the run's tuning cases.

The tuning cases are the training-side cases the run held out (``data.json``, key ``tuning``):
never trained on, and never the validation split. Each tuning case is cut into the
field-of-view variants of the evaluation benchmark (:data:`TUNING_VARIANTS`: the full scan,
pelvic-like and lumbosacral crops, upper and mid lumbar without sacrum, L4 and L5 with only the top of
S1 (``s1_edge``, since session 17), random two- to five-vertebra crops: one window per k drawn with the
seed, or with ``--all-windows`` every window of k consecutive labelled vertebrae, several times the
samples), because the decoding thresholds matter most on small fields of view (the S1 anchor).
The network runs once per sample; every decoding setting of the grid is scored on the cached
heatmaps (mean identification rate over the variants first, then mean error), and the best
setting is written into the released metadata, which
:class:`~spinemark.methods.dualhead.DualHeadMethod` reads as its decoding defaults.

Usage::

    python -m spinemark.train.release runs/my_run path/to/data [more/data ...] --name my_model --version 1.0.0 --out models/
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
from pathlib import Path

import numpy as np

from spinemark.errors import SpinemarkError
from spinemark.evaluate.fov import (
    Case,
    confidence_outcomes,
    evaluate_sample,
    load_case,
    results_calibration,
    variant_samples,
)
from spinemark.evaluate.metrics import summarize
from spinemark.io.writers import check_targets, write_files
from spinemark.methods.base import Prediction
from spinemark.nets.io import load_model
from spinemark.train.data import discover, subset_of

log = logging.getLogger(__name__)

GRID = {"peak_threshold": (0.25, 0.15, 0.35), "s1_threshold": (0.5, 0.3, 0.2, 0.1, 0.05),
        "s1_needs_caudal": (False, True), "s1_edge_threshold": (None, 0.1)}
"""Decoding settings tried on the tuning cases; a tie keeps the earlier setting (the default peak
threshold first, the more cautious S1 thresholds first, no lower threshold at the image edge first)."""

TUNING_VARIANTS = ("full", "pelvic", "lumbosacral", "upper_lumbar", "mid_lumbar", "s1_edge",
                   "random_k2", "random_k3", "random_k4", "random_k5")
"""Field-of-view variants of the tuning cases that the decoding is scored on."""


class _CachedDecoder:
    """A method that runs the network once per volume and decodes with a settable config."""

    name = "dualhead"

    def __init__(self, method):
        self.method = method
        self.config = method.decode_config
        self._cache: dict[int, tuple] = {}  # id(volume) -> (canonical input, level maps, S1 map)

    def predict(self, volume, known=None) -> Prediction:
        """Decode ``volume`` with ``self.config`` (the caller keeps the volumes alive, so ids stay unique)."""
        if id(volume) not in self._cache:
            canon = self.method.canonical(volume)
            self._cache[id(volume)] = (canon, *self.method.heatmaps(canon))
        canon, maps, s1 = self._cache[id(volume)]
        dec = self.method.decode(canon, maps, s1, self.config, known)
        return Prediction(self.method.landmarks(volume, canon, dec), warnings=list(dec.warnings))


def tuning_samples(cases: list[Case], variants=TUNING_VARIANTS, seed: int = 0, all_windows: bool = False) -> list:
    """The field-of-view variants of ``cases``: for each ``random_k`` variant one window drawn with ``seed``,
    or every window of k consecutive labelled vertebrae (``all_windows``)."""
    samples = []
    for case in cases:
        vol, truth = load_case(case)
        for v in variants:
            samples += variant_samples(vol, truth, v, key=case.key, seed=seed, all_windows=all_windows)
    return samples


def tune_decoding(weights: str | Path, cases: list[Case], grid: dict | None = None,
                  variants=TUNING_VARIANTS, seed: int = 0, all_windows: bool = False) -> tuple[dict, list[str], list]:
    """Best decoding setting of ``grid`` (default :data:`GRID`) on the field-of-view variants of ``cases``
    (:func:`tuning_samples`).

    Returns:
        ``(setting, lines, results)``: the chosen setting, one line per setting tried (identification
        rate per variant, their mean, mean error, how well the confidences say it) and the chosen setting's
        :class:`~spinemark.evaluate.fov.VariantResult` per sample.
    """
    from spinemark.methods.dualhead import DualHeadMethod

    method = DualHeadMethod(weights)
    grid = grid or GRID
    cached = _CachedDecoder(method)
    samples = tuning_samples(cases, variants, seed, all_windows)
    if not samples:
        raise ValueError("no field-of-view variant could be made from the tuning cases")
    base = method.decode_config
    lines, best = [], None
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values))
        cached.config = dataclasses.replace(base, **setting)
        results = [evaluate_sample(cached, s) for s in samples]
        scores = [(r.variant, r.score) for r in results]
        rates = {v: summarize([sc for vv, sc in scores if vv == v])["identification_rate"]
                 for v in variants if any(vv == v for vv, _ in scores)}
        mean_rate = float(np.mean(list(rates.values())))
        mean_err = summarize([sc for _, sc in scores])["error"]["mean_mm"] or float("inf")
        cal = results_calibration(results)
        lines.append(f"{setting}: mean id {mean_rate:.3f}, mean error {mean_err:.2f} mm; confidence brier "
                     f"{cal['brier']:.4f}, ece {cal['ece']:.3f}; id per variant "
                     + ", ".join(f"{v} {r:.2f}" for v, r in rates.items()))
        log.info(lines[-1])
        key = (round(mean_rate, 6), -mean_err)
        if best is None or key > best[0]:
            best = (key, setting, results)
    lines.append(f"chosen: {best[1]} (variants {', '.join(variants)}; {len(cases)} tuning cases, "
                 f"{len(samples)} samples)")
    return best[1], lines, best[2]


MIN_CALIBRATION_SAMPLES = 20
"""Fewest tuning samples (some named all right, some not) that a confidence map is fitted on."""


def confidence_map_for(results, current=None) -> tuple[tuple[float, float] | None, str]:
    """The ``DecodeConfig.confidence_map`` fitted on tuning results, composed with ``current`` (the map they were
    decoded with, None: none), and a line saying what it did; ``current`` when the samples cannot fit one."""
    from spinemark.evaluate.metrics import calibration, fit_confidence_map
    from spinemark.labeling import map_confidence

    conf, share = confidence_outcomes(results)
    right = sum(s == 1.0 for s in share)
    if len(conf) < MIN_CALIBRATION_SAMPLES or right in (0, len(conf)):
        return current, (f"confidence map not fitted: {len(conf)} tuning samples, {right} named all right (needs "
                         f"{MIN_CALIBRATION_SAMPLES}, some right and some not)")
    a2, b2 = fit_confidence_map(conf, share)
    a1, b1 = current or (1.0, 0.0)
    mapped = round(a2 * a1, 4), round(a2 * b1 + b2, 4)  # sigmoid(a2 logit(sigmoid(a1 z + b1)) + b2)
    before, after = calibration(conf, share)["brier"], calibration(map_confidence(conf, (a2, b2)), share)["brier"]
    return mapped, (f"confidence map fitted on {len(conf)} tuning samples: [{mapped[0]}, {mapped[1]}], Brier score "
                    f"{before:.4f} -> {after:.4f}")


def release(run: str | Path, data: str | Path | list | None, name: str, version: str, out: str | Path,
            overwrite: bool = False, all_windows: bool = False, calibrate: bool = False) -> Path:
    """Copy a run's weights to ``out/<name>.pt`` with metadata that carries the tuned decoding, and a model card
    ``out/<name>.md`` (:func:`model_card`).

    ``data``: the folder, or list of folders, that the run was trained on (case ids depend on the list where file
    names repeat); None or empty: the data folders of the run's config.

    Also writes ``tune_decode.txt`` (every setting tried and its score) into the run folder. ``calibrate``: also
    fit a confidence map on the chosen setting's tuning samples (:func:`confidence_map_for`), so that the released
    model's confidences say how often its vertebrae are right.

    Raises:
        OutputError: An output (``out/<name>.pt``, ``.json``, ``.md``) exists and ``overwrite`` is False.
        ValueError: The run has no tuning cases, ``data`` lacks some of them, or its weights hold values that are
            not finite (a diverged training).
    """
    import torch

    run, out = Path(run), Path(out)
    dst = out / f"{name}.pt"
    check_targets((dst, dst.with_suffix(".json"), dst.with_suffix(".md")), overwrite)  # before the tuning, not after
    model, meta = load_model(run / "weights.pt")
    spoilt = [k for k, v in model.state_dict().items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if spoilt:
        raise ValueError(f"{run / 'weights.pt'}: {len(spoilt)} tensor(s) hold NaN or infinite values (such as "
                         f"{spoilt[0]}): the training diverged; train again with a lower lr")
    tuning = [t["case"] for t in json.loads((run / "data.json").read_text())["tuning"]]
    if not tuning:
        raise ValueError(f"{run}: the run has no tuning cases to choose the decoding on")
    folders = [data] if isinstance(data, (str, Path)) else data or meta.get("config", {}).get("data", [])
    folders = [str(f) for f in folders]
    cases = [Case(r.case_id, subset_of(r.case_id), Path(r.image), Path(r.labels or r.landmarks))
             for r in discover(folders) if r.case_id in set(tuning)]
    missing = sorted(set(tuning) - {c.key for c in cases})
    if missing:
        raise ValueError(f"{', '.join(folders) or 'no data folder'}: tuning cases of {run} not found: "
                         f"{', '.join(missing)}")
    setting, lines, results = tune_decoding(run / "weights.pt", cases, all_windows=all_windows)
    summary = [next(line for line in lines if line.startswith(f"{setting}:")), lines[-1]]  # its scores; "chosen"
    if calibrate:
        mapped, line = confidence_map_for(results, meta.get("decode", {}).get("confidence_map"))
        lines.append(line)
        summary.append(line)
        if mapped is not None:
            setting = {**setting, "confidence_map": list(mapped)}
    (run / "tune_decode.txt").write_text("\n".join(lines) + "\n")
    if "n_parameters" not in meta:  # runs made before the training loop recorded it
        from spinemark.nets.unet3d import count_parameters

        meta["n_parameters"] = count_parameters(model)
    meta.update(name=name, version=version, decode={**meta.get("decode", {}), **setting},
                training_run=str(run), validation_split=meta.get("config", {}).get("split"))
    weights = (run / "weights.pt").read_bytes()
    flags = " --all-windows" * all_windows + " --calibrate-confidence" * calibrate
    command = f"python -m spinemark.train.release {run} {' '.join(folders)} --name {name} --version {version} --out {out}{flags}"
    card = model_card(meta, json.loads((run / "data.json").read_text()), summary, hashlib.sha256(weights).hexdigest(),
                      command)
    files = {dst: weights, dst.with_suffix(".json"): (json.dumps(meta, indent=2) + "\n").encode(),
             dst.with_suffix(".md"): card.encode()}
    write_files(files, overwrite=overwrite)
    return dst


def model_card(meta: dict, data_list: dict, tuning: list[str], sha256: str, release_command: str) -> str:
    """A released model's card (markdown): what it is, the data and commands that made it, the commit, the decoding
    chosen on the tuning cases (``tuning``: lines of :func:`tune_decoding` and :func:`confidence_map_for`) and the
    SHA-256 of its weights; validation is left to the user, on held-out cases."""
    cfg = meta.get("config", {})
    run = meta.get("training_run", "RUN")

    def cases(key):
        items = data_list.get(key, [])
        names = [c["case"] if isinstance(c, dict) else str(c) for c in items]
        return f"{len(names)}" + (f" ({', '.join(names)})" if names else "")

    excluded = [f"- {e['case']}: {e['reason']}" for e in data_list.get("excluded", [])]
    stop = (f"; interrupted at iteration {meta['interrupted_at_iteration']}" if "interrupted_at_iteration" in meta
            else "")
    chosen = (f"lowest tuning loss {meta['tune_loss']}" if "tune_loss" in meta
              else meta.get("checkpoint", "no tuning loss"))
    lines = [
        f"# {meta.get('name')} (version {meta.get('version')}): dual-head 3D U-Net of spinemark",
        "",
        f"- Weights: `{meta.get('name')}.pt`, SHA-256 `{sha256}`; metadata `{meta.get('name')}.json` (read by "
        f"`spinemark predict --weights {meta.get('name')}.pt`).",
        f"- Network: {meta.get('architecture')}, width {meta.get('width')}, {meta.get('n_parameters')} parameters, "
        f"levels {', '.join(meta.get('levels', []))}; input resampled to {meta.get('spacing_mm')} mm.",
        f"- Training run `{run}`, spinemark commit `{meta.get('git_commit')}`; weights of iteration "
        f"{meta.get('iteration')} ({chosen}){stop}.",
        "",
        "## Training data",
        "",
        f"- Data folders: {', '.join(cfg.get('data', [])) or 'none'}; subsets {cfg.get('subsets') or 'all'}.",
        f"- Training cases: {cases('train')}.",
        f"- Tuning cases (never trained on; the checkpoint and the decoding were chosen on them): {cases('tuning')}.",
        f"- Validation split `{cfg.get('split')}`: {cases('validation_excluded')} cases left out of training.",
        f"- Phantoms generated during training: {len(data_list.get('phantoms', []))} "
        f"(presets {', '.join(cfg.get('phantom_presets', []))}).",
    ]
    if excluded:
        lines += ["- Cases left out as unusable:", *[f"  {e}" for e in excluded]]
    lines += [
        "",
        "## Commands",
        "",
        "```",
        f"spinemark train --config {run}/config.json -o {run}_repeat   # the resolved config below; run from the "
        "folder the training ran in (its data paths are relative to it)",
        release_command,
        "```",
        "",
        "## Decoding chosen on the tuning cases",
        "",
        *[f"- {line}" for line in tuning],
        "",
        f"Decoding stored in the metadata: `{json.dumps(meta.get('decode', {}))}`. Every setting tried and its score: "
        f"`{run}/tune_decode.txt`.",
        "",
        "## Validation",
        "",
        "Not measured by the release. On cases held out of training (the validation split above, or others): "
        f"`spinemark predict CASES -o PRED --weights {meta.get('name')}.pt`, then `spinemark evaluate --pred PRED "
        "--truth CASES -o REPORT`; or `python benchmarks/fov_benchmark.py --weights ...` for every field-of-view "
        "variant. Record the figures here.",
        "",
        "## Resolved training config",
        "",
        "```json",
        "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in cfg.items()) + "\n}",
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    """``python -m spinemark.train.release RUN [DATA ...] --name NAME --version V --out FOLDER``."""
    import argparse

    ap = argparse.ArgumentParser(description="Release a training run's weights with decoding tuned on its tuning cases")
    ap.add_argument("run", help="run folder of `spinemark train`")
    ap.add_argument("data", nargs="*", help="the data folders the run was trained on, which hold its tuning cases "
                    "(default: those of its config, relative to the folder it was trained in)")
    ap.add_argument("--name", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--out", required=True, help="folder for <name>.pt, <name>.json and the model card <name>.md")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing <name>.pt")
    ap.add_argument("--all-windows", action="store_true",
                    help="tune on every window of k = 2..5 consecutive labelled vertebrae, not one seeded window per k")
    ap.add_argument("--calibrate-confidence", action="store_true",
                    help="also fit a map of the confidences on the tuning samples (needs some right, some wrong)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        dst = release(args.run, args.data or None, args.name, args.version, args.out, overwrite=args.overwrite,
                      all_windows=args.all_windows, calibrate=args.calibrate_confidence)
    except (SpinemarkError, ValueError, OSError) as exc:
        log.error("error: %s", exc)
        return 1
    log.info("wrote %s", dst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
