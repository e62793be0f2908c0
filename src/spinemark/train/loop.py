"""The training loop: :func:`train` turns a :class:`TrainConfig` into a run folder with weights.

A run folder holds ``config.json`` (resolved), ``data.json`` (cases and their split),
``git_commit.txt``, ``loss.csv`` + ``loss.png``, ``weights.pt`` + ``weights.json`` (best
checkpoint on the tuning cases); progress goes to :mod:`logging`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import multiprocessing
import shutil
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from spinemark import anatomy
from spinemark.errors import InputError
from spinemark.info import git_commit
from spinemark.train.config import TrainConfig
from spinemark.train.data import (
    Case,
    UnusableCase,
    check_case,
    discover,
    load_case,
    phantom_case,
    read_extra_landmarks,
    subset_of,
    synth_available,
    validation_ids,
)
from spinemark.train.sampling import PATCH_KEYS, PatchConfig, draw_batch, draw_patch

log = logging.getLogger(__name__)


def masked_loss(pred, target, mask, pos_weight: float, foreground=None):
    """Masked, foreground-weighted MSE: mean of ``mask * (1 + pos_weight * f) * (pred - target)^2``.

    ``f`` is ``foreground`` when given (broadcast over channels), else the channel's own target.
    With its own target a channel pays ``1 + pos_weight`` for missing its level but only 1 for
    firing at another level's centre, so a network unsure which level a centre is outputs near 1
    on every plausible channel: ``(1 + w) p / ((1 + w) p + 1 - p)`` for a level of probability ``p``
    and ``w = pos_weight``, 0.94 for p = 0.25 and w = 50. With the "any vertebra" target as
    ``foreground`` both errors cost the same near every centre, and the minimiser of the loss is
    the level's probability there (level-contrast weighting).

    A voxel whose mask is 0 contributes neither to the loss nor to the gradient.
    """
    w = mask * (1.0 + pos_weight * (target if foreground is None else foreground))
    return (w * (pred - target) ** 2).sum() / mask.sum().clamp_min(1.0)


CENTRE_TARGET = 0.8
"""A voxel whose largest level target reaches this lies at a labelled centre (within about 4 mm of it for the
Gaussian targets of sigma 6 mm), for :func:`level_ce_loss`."""


def level_ce_loss(pred, target, mask, temperature: float):
    """Cross-entropy of the level channels at labelled centres: which level is this centre?

    ``pred``, ``target`` and ``mask`` hold the level channels and the "any vertebra" channel last (B, C+1, X, Y, Z).
    At every voxel whose largest level target reaches :data:`CENTRE_TARGET` in a channel the mask keeps, the level
    channels' values times ``temperature`` are the logits and that channel the class; channels the mask leaves out
    there (levels unlabelled in the sample) take no part. 0 when a batch holds no such voxel.
    """
    import torch.nn.functional as F

    lv_pred, lv_target, lv_mask = pred[:, :-1], target[:, :-1], mask[:, :-1]
    peak, label = lv_target.max(dim=1)
    known = lv_mask.gather(1, label[:, None])[:, 0] > 0
    centre = (peak >= CENTRE_TARGET) & known
    if not bool(centre.any()):
        return pred.sum() * 0.0
    logits = (temperature * lv_pred).masked_fill(lv_mask <= 0, -1e4).movedim(1, -1)[centre]
    return F.cross_entropy(logits, label[centre])


_STREAM_STATE: tuple | None = None
"""What a patch-drawing worker process draws from (set once per worker by :class:`_BatchStream`)."""


def _set_stream_state(state: tuple) -> None:
    global _STREAM_STATE
    _STREAM_STATE = state


def case_weights(cases: list, subset_weights: dict[str, float]) -> np.ndarray | None:
    """Drawing probabilities of ``cases`` from their subsets' weights (None: no weights, uniform).

    Raises:
        ValueError: Every case weighs 0.
    """
    if not subset_weights:
        return None
    w = np.array([subset_weights.get(subset_of(c.case_id), 1.0) for c in cases], float)
    if not w.sum() > 0:
        raise ValueError(f"subset_weights {subset_weights}: every training case weighs 0")
    return w / w.sum()


def _make_batch(i: int, state: tuple | None = None) -> dict[str, np.ndarray]:
    """Training batch ``i``: a function of the run's seed and ``i`` alone.

    ``state`` is (real cases, phantoms, PatchConfig, TrainConfig); None: the worker's own. A worker sends
    targets as float16 and masks as uint8 (0/1), a third of the bytes; :func:`_to_tensors` makes them float32.
    """
    in_worker = state is None
    real, phantoms, pcfg, cfg = _STREAM_STATE if in_worker else state
    rng = np.random.default_rng([cfg.seed, i])
    use_ph = phantoms and (not real or rng.random() < cfg.phantom_fraction)
    weights = None if use_ph else case_weights(real, cfg.subset_weights)
    b = draw_batch(phantoms if use_ph else real, rng, pcfg, cfg.batch_size, weights)
    if in_worker:
        b = {k: v.astype(np.uint8 if "mask" in k else np.float16) if k != "image" else v for k, v in b.items()}
    return b


class _BatchStream:
    """Batches 1, 2, ... in order, drawn in ``workers`` forked processes (0: in this process).

    A few batches per worker are drawn ahead, no more. Create it before the network touches a GPU
    (forked children must not inherit a CUDA context); :meth:`close` stops the workers.
    """

    def __init__(self, state: tuple, workers: int):
        self._state = state
        self._next = 1
        self._pool = None
        self._ahead: deque = deque()
        if workers > 0:
            self._pool = multiprocessing.get_context("fork").Pool(workers, _set_stream_state, (state,))
            for _ in range(3 * workers):
                self._submit()

    def _submit(self) -> None:
        self._ahead.append(self._pool.apply_async(_make_batch, (self._next,)))
        self._next += 1

    def next(self) -> dict[str, np.ndarray]:
        if self._pool is None:
            self._next += 1
            return _make_batch(self._next - 1, self._state)
        self._submit()
        return self._ahead.popleft().get()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


def _to_tensors(batch: dict[str, np.ndarray], device) -> dict:
    import torch

    return {k: torch.from_numpy(v).to(device).float() for k, v in batch.items()}


def _split_cases(cfg: TrainConfig, rng: np.random.Generator):
    """The cases of ``cfg.data``: ``(train, tuning, validation, excluded)``.

    ``excluded`` lists the training-side cases left out as unusable (:func:`~spinemark.train.data.check_case`), as
    ``{"case", "image", "labels", "reason"}``, each with a warning in the log; the tuning cases are drawn from the
    others.

    Raises:
        InputError: A data folder is missing.
        ValueError: Nothing to train on (the message counts the cases found and what dropped them), ``tuning_ids``
            not among the usable training-side cases, or a split that is no JSON object with a list of validation ids.
    """
    if not cfg.data and cfg.phantoms <= 0:
        raise ValueError("nothing to train on: give data folders (--data) and/or phantoms (--set phantoms=N)")
    for folder in cfg.data:
        if not Path(folder).is_dir():
            raise InputError(folder, "training data folder not found")
    found = discover(cfg.data)
    refs = [r for r in found if not cfg.subsets or any(r.case_id.startswith(s) for s in cfg.subsets)]
    val_ids = validation_ids(cfg.split)
    unknown = sorted(val_ids - {r.case_id for r in found})
    if unknown:
        log.warning("validation cases of split %s found in no data folder (so not trained on either): %s", cfg.split,
                    ", ".join(unknown))
    val_refs = [r for r in refs if r.case_id in val_ids]
    train_refs, excluded = [], []
    for r in refs:
        if r.case_id in val_ids:
            continue
        try:
            check_case(r)
        except UnusableCase as exc:
            log.warning("%s; case %s left out of training", exc, r.case_id)
            excluded.append({"case": r.case_id, "image": r.image, "labels": r.labels or r.landmarks,
                             "reason": exc.problem})
            continue
        train_refs.append(r)
    if not train_refs and cfg.phantoms <= 0:
        raise ValueError(_no_cases_message(cfg, len(found), len(found) - len(refs), len(val_refs), len(excluded)))
    if cfg.tuning_ids:
        missing = sorted(set(cfg.tuning_ids) - {r.case_id for r in train_refs})
        if missing:
            raise ValueError(f"tuning_ids not among the training-side cases: {missing}")
        tune_idx = {i for i, r in enumerate(train_refs) if r.case_id in set(cfg.tuning_ids)}
    else:
        n_tune = min(cfg.tuning_cases, max(0, len(train_refs) - 1))
        tune_idx = set(rng.choice(len(train_refs), n_tune, replace=False).tolist()) if n_tune else set()
    tune_refs = [r for i, r in enumerate(train_refs) if i in tune_idx]
    train_refs = [r for i, r in enumerate(train_refs) if i not in tune_idx]
    return train_refs, tune_refs, val_refs, excluded


def _no_cases_message(cfg: TrainConfig, n_found: int, n_subsets: int, n_validation: int, n_excluded: int) -> str:
    """Why no annotated case is left to train on: how many were found and what dropped them."""
    if not n_found:
        return "no training data: no annotated cases found and no phantoms"
    dropped = []
    if n_subsets:
        dropped.append(f"{n_subsets} by subsets {list(cfg.subsets)} (case ids must start with one; "
                       "--set subsets=[] keeps every case)")
    if n_validation:
        dropped.append(f"{n_validation} as validation cases of split {cfg.split!r} (--set split=null: none)")
    if n_excluded:
        dropped.append(f"{n_excluded} as unusable (see the warnings)")
    return (f"no training data: {n_found} annotated case(s) found in {', '.join(cfg.data)}, dropped "
            + "; ".join(dropped) + ", and no phantoms")


def _phantoms(cfg: TrainConfig, rng: np.random.Generator) -> list[Case]:
    if cfg.phantoms <= 0:
        return []
    if not synth_available():
        log.warning("spinemark.synth is not available: training without phantoms")
        return []
    out = []
    for i in range(cfg.phantoms):
        preset = cfg.phantom_presets[i % len(cfg.phantom_presets)]
        seed = int(rng.integers(1 << 30))
        try:
            out.append(phantom_case(seed, preset, cfg.spacing_mm))
        except Exception as exc:  # a broken phantom must not stop the run
            log.warning("phantom %s/%d failed: %s", preset, seed, exc)
    return out


def _extra_landmarks(cfg: TrainConfig, train_refs: list, tune_refs: list, val_refs: list, excluded: list) -> dict:
    """The extra landmarks of ``cfg`` by case id (:func:`~spinemark.train.data.read_extra_landmarks`), with a warning
    naming the case ids that are not training cases (their landmarks are not used)."""
    extra = read_extra_landmarks(cfg.extra_landmarks)
    role = {**{e["case"]: "left out as unusable" for e in excluded}, **{r.case_id: "a validation case" for r in val_refs},
            **{r.case_id: "a tuning case" for r in tune_refs}}
    unused = [f"{k} ({role.get(k, 'no such training case')})"
              for k in sorted(set(extra) - {r.case_id for r in train_refs})]
    if unused:
        log.warning("%s: landmarks of cases that are not training cases are not used: %s", cfg.extra_landmarks,
                    ", ".join(unused))
    return extra


def _check_levels(cfg: TrainConfig, cases: list[Case]) -> None:
    """Warn of levels of ``cfg`` that no training case or phantom labels (their channels learn no centre).

    Raises:
        ValueError: They label none of the levels.
    """
    labelled = {n for c in cases for n in c.landmarks}
    unlabelled = [lv for lv in cfg.levels if lv not in labelled]
    if len(unlabelled) == len(cfg.levels):
        raise ValueError(f"no training case labels any of the levels {list(cfg.levels)} (they label "
                         f"{anatomy.sort_names(labelled)}): give the levels to learn (--set 'levels=[...]')")
    if unlabelled:
        log.warning("levels labelled by no training case%s: %s (their channels learn no centre)",
                    " or phantom" if any(c.source == "phantom" for c in cases) else "", ", ".join(unlabelled))


def _build_model(config: TrainConfig):
    """The network to train: a new one, or ``config.init_weights`` with the wide blocks and levels of ``config``.

    Raises:
        ValueError: The starting weights have other wide blocks than ``config`` asks for.
    """
    from spinemark.nets.io import load_model
    from spinemark.nets.unet3d import DualHeadUNet3D, NetConfig, with_levels, with_wide_blocks

    if not config.init_weights:
        return DualHeadUNet3D(NetConfig(levels=tuple(config.levels), width=config.width,
                                        bottleneck_dilations=config.bottleneck_dilations))
    model = with_levels(with_wide_blocks(load_model(config.init_weights)[0], config.bottleneck_dilations),
                        config.levels)
    model.train()
    return model


def _resolve_init(config: TrainConfig, model, start: dict) -> TrainConfig:
    """``config`` with the architecture ``model`` took from the starting weights (``start``: their metadata); warns
    where its spacing, target width or patch size differ from theirs."""
    for f in ("spacing_mm", "sigma_mm", "patch_size"):
        new = list(getattr(config, f)) if f == "patch_size" else getattr(config, f)
        if f in start and start[f] != new:
            log.warning("%s %s differs from the %s %s the starting weights %s were trained with", f, new, f, start[f],
                        config.init_weights)
    arch = {"width": model.config.width, "bottleneck_dilations": model.config.bottleneck_dilations}
    if any(getattr(config, k) != v for k, v in arch.items()):
        log.info("the network keeps the architecture of the starting weights: %s", arch)
    return dataclasses.replace(config, **arch)


def _write_csv(rows: list[dict], path: Path) -> None:
    """The tuning evaluations so far as CSV (one row each)."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _plot(rows: list[dict], path: Path, tuning: str | None, ylabel: str = "masked MSE") -> None:
    """Loss curves, a marker at each evaluation (one evaluation shows as a point); the tuning curve (labelled
    ``tuning``) only when there are tuning cases (otherwise it would repeat the train loss)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot([r["iteration"] for r in rows], [r["train_loss"] for r in rows], marker="o", markersize=3,
            label="train (running mean)")
    if tuning:
        ax.plot([r["iteration"] for r in rows], [r["tune_loss"] for r in rows], marker="o", markersize=3, label=tuning)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _check_device(device: str) -> None:
    """Raise ``ValueError`` when torch has no such device here (``TrainConfig`` checked its spelling)."""
    import torch

    if device.startswith("cuda"):
        n = torch.cuda.device_count()
        if int(device.partition(":")[2] or 0) >= n:
            raise ValueError(f"device {device}: torch finds {n} CUDA device(s) here")
    elif device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device mps: torch finds no MPS device here")


RUN_FILES = ("config.json", "data.json", "git_commit.txt", "loss.csv", "loss.png", "weights.pt", "weights.json",
             "tune_decode.txt")
"""The files :func:`train` writes into a run folder, and ``tune_decode.txt`` of :mod:`spinemark.train.release`;
those of an earlier run there are removed first."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`train` in its optimisation loop. As at a time limit, the run folder keeps the curves and
    the best weights so far; ``weights.json`` says where it stopped (``interrupted_at_iteration``)."""


def train(config: TrainConfig, callback: Callable[[dict], None] | None = None) -> Path:
    """Train a dual-head U-Net and return the path of its weights (best tuning checkpoint).

    The network is built and the data are found, checked and loaded before anything is written. Then the files of an
    earlier run in ``config.output`` (:data:`RUN_FILES`) are removed and the new run's written; a folder made by this
    call is removed again when the run fails before it saved any weights. With ``init_weights``, the written config
    holds the architecture taken from them (``width``, ``bottleneck_dilations``).

    Args:
        config: The run configuration.
        callback: Called with a dict (iteration, losses, lr, elapsed) at every tuning evaluation.

    Returns:
        Path of ``weights.pt`` in ``config.output`` (metadata beside it as ``weights.json``).

    Raises:
        TrainingInterrupted: Ctrl-C during the optimisation (after the curves and weights were written).
        ValueError: The training diverged (a loss or weight not finite); weights saved before stay.
    """
    import torch

    from spinemark.nets.fast import reuse_freed_memory
    from spinemark.nets.io import read_metadata

    t_start = time.time()
    out = Path(config.output)
    torch.set_num_threads(config.threads)
    reuse_freed_memory()  # dualhead_v14 config on two cores: 4.9 instead of 5.8 s per iteration, same losses
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    # everything is checked and loaded before the run folder is written
    model = _build_model(config)
    if config.init_weights:
        config = _resolve_init(config, model, read_metadata(config.init_weights))

    train_refs, tune_refs, val_refs, excluded = _split_cases(config, rng)
    log.info("cases: %d train, %d tuning, %d validation (never trained on), %d left out as unusable", len(train_refs),
             len(tune_refs), len(val_refs), len(excluded))
    extra = _extra_landmarks(config, train_refs, tune_refs, val_refs, excluded)
    train_cases = [load_case(r, config.spacing_mm, config.cache_dir, extra.get(r.case_id)) for r in train_refs]
    tune_cases = [load_case(r, config.spacing_mm, config.cache_dir) for r in tune_refs]
    phantoms = _phantoms(config, rng)
    if not train_cases and not phantoms:
        raise ValueError(f"no training data: {len(tune_refs)} usable annotated case(s), all held out as tuning cases, "
                         f"and no phantoms" + (f" ({config.phantoms} asked for, none made: see the warnings)"
                                               if config.phantoms > 0 else ""))
    _check_levels(config, train_cases + phantoms)
    if train_cases:
        case_weights(train_cases, config.subset_weights)  # every case weighing 0 fails here, not in a worker
    data_list = {
        "train": [{"case": r.case_id, "image": r.image, "labels": r.labels or r.landmarks} for r in train_refs],
        "tuning": [{"case": r.case_id, "image": r.image, "labels": r.labels or r.landmarks} for r in tune_refs],
        "validation_excluded": [r.case_id for r in val_refs],
        "excluded": excluded,
        "phantoms": [c.case_id for c in phantoms],
        "split": config.split,
        "extra_landmarks": {r.case_id: sorted(extra[r.case_id]) for r in train_refs if r.case_id in extra},
        "levels_labelled": {c.case_id: sorted(c.landmarks) for c in train_cases + tune_cases},
        "label_notes": {c.case_id: list(c.notes) for c in train_cases + tune_cases if c.notes},
    }

    pcfg = PatchConfig(tuple(config.levels), tuple(config.patch_size), config.spacing_mm, config.sigma_mm,
                       config.biased_fraction, config.augment, config.fov_crop_prob, config.fov_disc_fraction,
                       config.fov_edge_targets)
    tune_rng = np.random.default_rng(12345)
    tune_cfg = PatchConfig(pcfg.levels, pcfg.patch_size, pcfg.spacing_mm, pcfg.sigma_mm, 1.0, False, 0.0)
    tune_patches = [draw_patch(c, tune_rng, tune_cfg) for c in tune_cases for _ in range(4)]

    commit = git_commit()  # recorded with the weights
    created = not out.exists()
    stream = _BatchStream((train_cases, phantoms, pcfg, config), config.workers)  # before any GPU use
    try:
        _check_device(config.device)
        out.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES:  # an earlier run's files, so that none is left beside the new ones
            (out / name).unlink(missing_ok=True)
        config.to_json(out / "config.json")
        (out / "git_commit.txt").write_text(commit + "\n")
        (out / "data.json").write_text(json.dumps(data_list, indent=2) + "\n")
        return _optimise(config, model, stream, tune_patches, out, commit, t_start, callback)
    except BaseException:
        if created and not (out / "weights.pt").exists():  # failed before any weights: leave no half-written run
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        stream.close()


def _optimise(config: TrainConfig, model, stream: _BatchStream, tune_patches: list, out: Path, commit: str,
              t_start: float, callback: Callable[[dict], None] | None) -> Path:
    """The optimisation loop of :func:`train` (arguments as prepared there); returns the weights path."""
    import torch

    from spinemark.io.writers import write_files
    from spinemark.nets.io import metadata_path, save_weights

    channels_last = torch.channels_last_3d
    device = torch.device(config.device)
    model.to(device=device, memory_format=channels_last)  # about twice as fast on CPU (see nets.inference)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    average = None  # the moving average of the weights; evaluated and saved instead of them when there is one
    if config.ema_decay > 0:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    kept = average.module if average is not None else model
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=config.plateau_patience)
    meta = {"name": config.name, "version": config.version, "spacing_mm": config.spacing_mm,
            "normalisation": {"kind": "percentile", "low": 1.0, "high": 99.0}, "patch_size": list(config.patch_size),
            "sigma_mm": config.sigma_mm, "git_commit": commit, "config": config.to_dict()}
    if not config.s1_head:
        meta["decode"] = {"use_s1_head": False}
    weights = out / "weights.pt"
    best = float("inf")
    rows: list[dict] = []
    running: list[float] = []

    def step_loss(t: dict, net=model):
        """Loss of ``net`` on a batch of patches (tensors keyed like :class:`Patch` fields)."""
        lv, s1 = net(t["image"].contiguous(memory_format=channels_last))
        fg = t["target"][:, -1:] if config.level_contrast else None  # the "any vertebra" target
        loss = masked_loss(lv, t["target"], t["mask"], config.pos_weight, fg)
        if config.s1_head:
            loss = loss + masked_loss(s1, t["s1_target"], t["s1_mask"], config.pos_weight, fg)
        if config.level_ce_weight > 0:
            loss = loss + config.level_ce_weight * level_ce_loss(lv, t["target"], t["mask"],
                                                                 config.level_ce_temperature)
        return loss

    def diverged(it: int, what: str) -> ValueError:
        kept_note = f"; the weights saved before are in {weights}" if weights.is_file() else ""
        return ValueError(f"training diverged at iteration {it} ({what}); lower lr (now {config.lr}){kept_note}")

    def save(it: int, extra: dict) -> None:
        """Save ``kept`` as the run's weights (metadata ``meta``, ``iteration`` and ``extra``), finite ones only."""
        if not all(bool(torch.isfinite(v).all()) for v in kept.state_dict().values() if v.is_floating_point()):
            raise diverged(it, "weights not finite")
        save_weights(kept, weights, {**meta, "iteration": it, **extra})

    def evaluate() -> float:
        if not tune_patches:
            return float(np.mean(running)) if running else float("inf")
        kept.eval()
        losses = []
        with torch.no_grad():
            for p in tune_patches:
                t = _to_tensors({k: getattr(p, k)[None] for k in PATCH_KEYS}, device)
                losses.append(float(step_loss(t, kept)))
        kept.train()
        return float(np.mean(losses))

    it, done, interrupted = 0, 0, False
    try:
        for it in range(1, config.iterations + 1):
            loss = step_loss(_to_tensors(stream.next(), device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if average is not None:
                average.update_parameters(model)
            done = it
            running.append(loss.item())
            if not np.isfinite(running[-1]):  # the step just taken spoilt the weights: none of them is saved
                raise diverged(it, f"loss {running[-1]}")
            elapsed = time.time() - t_start
            out_of_time = config.time_limit_min is not None and elapsed > 60 * config.time_limit_min
            if it % config.eval_every == 0 or it == config.iterations or out_of_time:
                tune_loss = evaluate()
                if not np.isfinite(tune_loss):
                    raise diverged(it, f"tuning loss {tune_loss}")
                sched.step(tune_loss)
                row = {"iteration": it, "train_loss": float(np.mean(running)), "tune_loss": tune_loss,
                       "lr": opt.param_groups[0]["lr"], "elapsed_s": round(elapsed, 1)}
                rows.append(row)
                running = []
                if tune_loss < best:
                    best = tune_loss
                    save(it, {"tune_loss": tune_loss})
                log.info("it %d train %.4f tune %.4f lr %.2g (%.0f s)", it, row["train_loss"], tune_loss, row["lr"],
                         elapsed)
                if callback:
                    callback(row)
                _write_csv(rows, out / "loss.csv")
            if out_of_time:
                log.info("time limit reached at iteration %d", it)
                break
    except KeyboardInterrupt:  # Ctrl-C: stop as at a time limit, keeping the curves and the best weights so far
        interrupted = True
        log.warning("interrupted at iteration %d of %d: stopping; the best weights so far are kept", it,
                    config.iterations)
    if not weights.is_file() or not metadata_path(weights).is_file():
        save(done, {"checkpoint": "the last weights: no tuning evaluation before the run stopped"})
    if interrupted:
        meta_file = metadata_path(weights)
        saved = {**json.loads(meta_file.read_text()), "interrupted_at_iteration": it}
        write_files({meta_file: (json.dumps(saved, indent=2) + "\n").encode()}, overwrite=True)
    if rows:
        _write_csv(rows, out / "loss.csv")
        tuning = "tuning cases" + (" (moving average of the weights)" if average is not None else "")
        _plot(rows, out / "loss.png", tuning=tuning if tune_patches else None,
              ylabel="masked MSE + level cross-entropy" if config.level_ce_weight > 0 else "masked MSE")
    if interrupted:
        raise TrainingInterrupted(f"training interrupted at iteration {it} of {config.iterations}; the best weights "
                                  f"so far are in {weights}")
    return weights
