"""Training configuration: a frozen dataclass with JSON in and out.

Example:
    >>> from spinemark.train.config import TrainConfig
    >>> cfg = TrainConfig(output="run1", iterations=10)
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from spinemark import anatomy
from spinemark.errors import InputError
from spinemark.nets.unet3d import DEFAULT_LEVELS


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_KINDS = {
    "int": _is_int,
    "number": _is_number,
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str) and v != "",
    "str?": lambda v: v is None or (isinstance(v, str) and v != ""),
    "number?": lambda v: v is None or _is_number(v),
    "strs": lambda v: all(isinstance(x, str) and x != "" for x in v),
    "ints": lambda v: all(_is_int(x) for x in v),
}


def _share(v) -> bool:
    return 0.0 <= v <= 1.0


_CHECKS = (  # field, kind, extra condition (None: none), what is expected (for the message)
    ("output", "str", None, "a folder name"),
    ("data", "strs", None, "a list of folder names"),
    ("subsets", "strs", None, "a list of case-id prefixes"),
    ("split", "str?", None, "a split file or packaged split name, or null"),
    ("tuning_cases", "int", lambda v: v >= 0, "a whole number >= 0"),
    ("tuning_ids", "strs", None, "a list of case ids"),
    ("extra_landmarks", "str?", None, "a landmarks file name or null"),
    ("phantoms", "int", lambda v: v >= 0, "a whole number >= 0"),
    ("phantom_presets", "strs", lambda v: len(v) > 0, "a non-empty list of preset names"),
    ("phantom_fraction", "number", _share, "a number in [0, 1]"),
    ("width", "int", lambda v: v >= 1, "a whole number >= 1"),
    ("bottleneck_dilations", "ints", lambda v: all(d >= 1 for d in v), "a list of whole numbers >= 1"),
    ("spacing_mm", "number", lambda v: v > 0, "a number > 0 (mm)"),
    ("patch_size", "ints", lambda v: len(v) == 3 and all(p > 0 for p in v),
     "three whole numbers > 0, multiples of 4"),
    ("sigma_mm", "number", lambda v: v > 0, "a number > 0 (mm)"),
    ("batch_size", "int", lambda v: v >= 1, "a whole number >= 1"),
    ("iterations", "int", lambda v: v >= 1, "a whole number >= 1"),
    ("lr", "number", lambda v: v > 0, "a number > 0"),
    ("pos_weight", "number", lambda v: v >= 0, "a number >= 0"),
    ("level_contrast", "bool", None, "true or false"),
    ("level_ce_weight", "number", lambda v: v >= 0, "a number >= 0"),
    ("level_ce_temperature", "number", lambda v: v > 0, "a number > 0"),
    ("ema_decay", "number", None, "a number in [0, 1)"),
    ("biased_fraction", "number", _share, "a number in [0, 1]"),
    ("augment", "bool", None, "true or false"),
    ("fov_crop_prob", "number", _share, "a number in [0, 1]"),
    ("fov_disc_fraction", "number", _share, "a number in [0, 1]"),
    ("fov_edge_targets", "bool", None, "true or false"),
    ("s1_head", "bool", None, "true or false"),
    ("eval_every", "int", lambda v: v >= 1, "a whole number >= 1"),
    ("plateau_patience", "int", lambda v: v >= 0, "a whole number >= 0"),
    ("time_limit_min", "number?", lambda v: v > 0, "a number > 0 (minutes) or null"),
    ("threads", "int", lambda v: v >= 1, "a whole number >= 1"),
    ("device", "str", lambda v: re.fullmatch(r"cpu|mps|cuda(:\d+)?", v) is not None,
     "a torch device: cpu, cuda, cuda:N or mps"),
    ("workers", "int", lambda v: v >= 0, "a whole number >= 0"),
    ("seed", "int", lambda v: v >= 0, "a whole number >= 0"),
    ("init_weights", "str?", None, "a weights file (.pt) or null"),
    ("cache_dir", "str?", None, "a folder name or null"),
)
"""Type and range of the fields that :meth:`TrainConfig.__post_init__` checks (``levels`` and ``subset_weights``
are checked there)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run.

    Attributes:
        output: Run folder (created; weights, config, data list, curves go there).
        data: Folders of annotated images: the spine-mri layout (``<subset>_<case>_img.nii.gz`` with
            ``_seg-vert_msk.nii.gz``) or a user's folder of images with label maps
            (``<stem>_seg-vert_msk.nii.gz`` / ``<stem>_seg.nii.gz``) or ``<stem>.landmarks.json``.
        subsets: Keep only cases whose id starts with one of these (empty, the default: every case found).
            The project's configs name theirs (``["VB3", "IVD", "VB1"]`` of ``../shared/data/spine-mri``).
        split: Validation split file, or the name of a packaged split (``spine_mri_v1``, the project's split of
            ``../shared/data/spine-mri``); its validation cases are never trained on. None (the default): no
            validation split.
        tuning_cases: Cases of the training side held out to steer the learning rate and pick the
            best checkpoint (never the validation split), drawn from the seed.
        tuning_ids: These cases as the tuning cases instead of a random draw (to keep the tuning cases of
            an earlier run when the data changes).
        extra_landmarks: JSON file of more landmarks for training cases, ``{"landmarks": {case id: {name:
            [x, y, z] world mm}}}`` (such as the S1 pseudo-labels of :mod:`spinemark.train.pseudo_s1`);
            merged with each case's labels; never applied to tuning cases, so tuning losses stay comparable.
        phantoms: Number of synthetic phantoms (``spinemark.synth``) mixed into training; 0: none.
        phantom_presets: Field-of-view presets drawn for phantoms.
        phantom_fraction: Share of patches taken from phantoms (when there are phantoms and real data).
        subset_weights: Relative chance of drawing a real case of each subset (the case id up to its first
            ``_``, e.g. ``{"VB1": 3}``); subsets not listed weigh 1. Empty: every real case equally likely.
        levels: Level names of head 1. With ``init_weights`` naming other levels, the channels of levels in both
            keep their weights and the others start at zero (:func:`~spinemark.nets.unet3d.with_levels`).
        width: Network width (17: about 400K parameters).
        bottleneck_dilations: Dilations of the wide blocks after the bottleneck
            (:attr:`~spinemark.nets.unet3d.NetConfig.bottleneck_dilations`); with ``init_weights`` that lack
            them, the blocks are added as identities and learned in the fine-tuning (otherwise, like
            ``width``, the starting weights' architecture is kept).
        spacing_mm: Isotropic training and inference spacing.
        patch_size: Patch shape (R, A, S voxels), multiples of 4.
        sigma_mm: Gaussian target width.
        batch_size: Patches per step.
        iterations: Optimiser steps.
        lr: Adam learning rate.
        pos_weight: Extra loss weight on target foreground (``1 + pos_weight * target``).
        level_contrast: Weight every level channel and the S1 head by the "any vertebra" target
            instead of its own, so naming a centre the wrong level costs as much as missing it
            (level-contrast weighting; see ``train.loop.masked_loss``).
        level_ce_weight: Weight of a cross-entropy over the level channels at the labelled centres
            (``train.loop.level_ce_loss``): it asks which level a centre is, which the heatmap loss asks only
            through each channel's own target. 0: off.
        level_ce_temperature: Scale of the level channels' values before that softmax.
        ema_decay: Keep an exponential moving average of the weights (and batch-norm statistics) with this decay
            per step, and evaluate and save the average instead of the last weights: it smooths the step-to-step
            noise of small-batch training (0.995: about the last 200 steps). 0: off.
        biased_fraction: Share of patches centred near a landmark (the rest uniform).
        augment: Random spatial and intensity augmentation.
        fov_crop_prob: Probability of a random field-of-view crop that keeps a few vertebrae.
        fov_disc_fraction: Share of those crops with one edge at a disc between two labelled vertebrae
            (such as a crop ending between L5 and S1); the rest are cut at random heights.
        fov_edge_targets: A vertebra whose centre such a crop cuts away keeps the tail of its Gaussian
            target inside the crop (its visible part near the edge), instead of a zero target there.
        s1_head: Train the S1 head (the anchor of the labelling); False: its loss is left out and the
            model decodes from the level heatmaps alone (the "without S1 head" ablation).
        eval_every: Steps between tuning evaluations (learning-rate schedule, best checkpoint).
        plateau_patience: Tuning evaluations without improvement before the learning rate halves.
        time_limit_min: Stop after this many minutes (None: no limit).
        threads: torch CPU threads.
        device: Torch device of the network (``cpu``, ``cuda``, ``cuda:1``); patches are always drawn on CPU.
        workers: Processes drawing training patches in parallel (0: in the training process). Batch ``i``
            is drawn from a generator seeded with ``(seed, i)``, so the batches do not depend on it.
        seed: Random seed.
        init_weights: Start from these weights (fine-tuning); None: random init.
        cache_dir: Folder for preprocessed cases (None: no disk cache).
        name: Model name written in the metadata.
        version: Model version written in the metadata.
    """

    output: str
    data: tuple[str, ...] = ()
    subsets: tuple[str, ...] = ()
    split: str | None = None
    tuning_cases: int = 4
    tuning_ids: tuple[str, ...] = ()
    extra_landmarks: str | None = None
    phantoms: int = 0
    phantom_presets: tuple[str, ...] = ("pelvic", "lumbosacral", "lumbar", "thoracic", "wholespine")
    phantom_fraction: float = 0.3
    subset_weights: dict[str, float] = field(default_factory=dict)
    levels: tuple[str, ...] = field(default=DEFAULT_LEVELS)
    width: int = 17
    bottleneck_dilations: tuple[int, ...] = ()
    spacing_mm: float = 3.0
    patch_size: tuple[int, int, int] = (32, 48, 64)
    sigma_mm: float = 4.0
    batch_size: int = 4
    iterations: int = 2000
    lr: float = 2e-3
    pos_weight: float = 10.0
    level_contrast: bool = False
    level_ce_weight: float = 0.0
    level_ce_temperature: float = 10.0
    ema_decay: float = 0.0
    biased_fraction: float = 0.7
    augment: bool = True
    fov_crop_prob: float = 0.3
    fov_disc_fraction: float = 0.0
    fov_edge_targets: bool = False
    s1_head: bool = True
    eval_every: int = 100
    plateau_patience: int = 3
    time_limit_min: float | None = None
    threads: int = 2
    device: str = "cpu"
    workers: int = 0
    seed: int = 0
    init_weights: str | None = None
    cache_dir: str | None = None
    name: str = "dualhead"
    version: str = "1"

    def __post_init__(self):
        for f in ("data", "subsets", "tuning_ids", "phantom_presets", "levels", "patch_size",
                  "bottleneck_dilations"):
            value = getattr(self, f)
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"{f}: expected a list, got {value!r}")
            object.__setattr__(self, f, tuple(value))
        if not isinstance(self.subset_weights, dict) or not all(_is_number(v) for v in self.subset_weights.values()):
            raise ValueError(f"subset_weights: expected an object of subset: number, got {self.subset_weights!r}")
        object.__setattr__(self, "subset_weights", {str(k): float(v) for k, v in dict(self.subset_weights).items()})
        if any(w < 0 for w in self.subset_weights.values()):
            raise ValueError(f"subset_weights {self.subset_weights}: weights must not be negative")
        for f, kind, ok, expected in _CHECKS:
            value = getattr(self, f)
            if not _KINDS[kind](value) or (ok is not None and value is not None and not ok(value)):
                raise ValueError(f"{f}: expected {expected}, got {value!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay {self.ema_decay}: must lie in [0, 1)")
        if any(int(p) % 4 for p in self.patch_size):
            raise ValueError(f"patch_size {self.patch_size}: every size must be a multiple of 4")
        try:
            levels = [anatomy.level(n).name for n in self.levels if isinstance(n, str)]
        except KeyError:
            levels = []
        if len(levels) < len(self.levels):
            raise ValueError(f"levels: expected vertebra names of spinemark.anatomy (such as \"L5\"), got "
                             f"{list(self.levels)!r}")
        if not levels or len(set(levels)) < len(levels):
            raise ValueError(f"levels: expected one or more different vertebra names, got {list(self.levels)!r}")
        # registry spelling, cranial to caudal: the order of the network's channels (NetConfig sorts them too)
        object.__setattr__(self, "levels", tuple(anatomy.sort_names(levels)))

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Build from a dict; unknown keys, and values of the wrong type or range, raise ``ValueError``."""
        problem = unknown_fields(d)
        if problem:
            raise ValueError(problem)
        return cls(**d)

    def to_json(self, path: str | Path) -> Path:
        """Write the config as JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_json(cls, path: str | Path, **overrides) -> TrainConfig:
        """Read a JSON config (:func:`read_config_file`); ``overrides`` (e.g. from the command line) win over the
        file."""
        d = read_config_file(path)
        d.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(d)


def unknown_fields(d: dict) -> str | None:
    """What is wrong with the keys of ``d`` (unknown fields, with the nearest known names), or None."""
    known = [f.name for f in fields(TrainConfig)]
    unknown = sorted(set(d) - set(known))
    if not unknown:
        return None
    hints = [f"{m[0]!r} for {k!r}" for k in unknown if (m := difflib.get_close_matches(str(k), known, n=1))]
    return f"unknown training config fields: {unknown}" + (f" (did you mean {', '.join(hints)}?)" if hints else "")


def read_config_file(path: str | Path) -> dict:
    """The fields of a JSON training config file (their values are checked by :class:`TrainConfig`).

    Raises:
        InputError: The file cannot be read, is not valid JSON or not a JSON object, or names unknown fields.
    """
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except OSError as exc:
        raise InputError(p, f"cannot read the training config file ({exc.strerror or exc})") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InputError(p, f"not a valid JSON training config file ({exc})") from exc
    if not isinstance(d, dict):
        raise InputError(p, f"not a training config: expected a JSON object of fields, got a {type(d).__name__}")
    problem = unknown_fields(d)
    if problem:
        raise InputError(p, problem)
    return d
