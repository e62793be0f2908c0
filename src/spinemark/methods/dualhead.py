"""The default method: S1-anchored dual-head 3D U-Net.

Pipeline: reorient to RAS -> resample to the model spacing -> percentile intensity
normalisation -> network (whole volume, or overlapping tiles for large volumes) -> decoding
in the canonical grid (:mod:`spinemark.labeling`) -> positions in world mm, referred to
the input grid. torch is imported only when a model is built, so importing this module is cheap.

Example:
    >>> from spinemark.methods import get_method   # doctest: +SKIP
    >>> m = get_method("dualhead")                  # doctest: +SKIP
    >>> pred = m.predict(volume)                    # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from importlib import resources
from pathlib import Path

import numpy as np

from spinemark import labeling
from spinemark.errors import InputError
from spinemark.landmarks import Landmark, Landmarks
from spinemark.methods.base import Prediction, register_method
from spinemark.nets.io import read_metadata, sha256_of
from spinemark.nets.preprocess import PERCENTILES, canonical_input
from spinemark.volume import Volume, check_volume

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "dualhead_v13.pt"
"""File name of the shipped default weights in ``spinemark/weights/``."""


def default_weights_path() -> Path:
    """Path of the shipped default weights.

    Raises:
        FileNotFoundError: No default weights are shipped with this installation.
    """
    path = Path(str(resources.files("spinemark") / "weights" / DEFAULT_WEIGHTS))
    if not path.is_file():
        raise FileNotFoundError(
            f"no shipped weights for method 'dualhead' ({path} is missing); train a model with "
            "`spinemark train` and pass its weights file"
        )
    return path


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class DualHeadMethod:
    """S1-anchored dual-head 3D U-Net; see the module docstring.

    Args:
        weights: Path of a ``.pt`` weights file with its ``.json`` metadata beside it.
        decode: Decoding parameters (:class:`spinemark.labeling.DecodeConfig`).
        threads: torch CPU threads; None: the CPUs this process may use.
        context: Weights of a context model: a dual-head model at a coarser spacing whose level
            channels, read at the chain's centres, are a second level evidence for the naming
            (``DecodeConfig.context_weight``). None: the one named in the metadata
            (``"context"``, a file beside the weights), if any.
        flip_lr: Also run the network on the input mirrored left-right and average the two outputs
            (test-time augmentation; training mirrors patches at random). Doubles the network time.
        pad_mm: Zero input added above and below the image along the superior axis before the network (and cut
            from its outputs), as training shows a field-of-view crop: zeros beyond the cut, not the end of the
            array. 0: none (measured worse; see ``benchmarks/README.md``).
        ensemble: Weights of further models whose heatmaps are averaged with this one's (each must share its
            spacing, normalisation and channels). Each adds one network's time.
    """

    name = "dualhead"

    def __init__(self, weights: str | Path, decode: labeling.DecodeConfig | None = None, threads: int | None = None,
                 context: str | Path | None = None, flip_lr: bool = False, pad_mm: float = 0.0,
                 ensemble: list[str | Path] | tuple[str | Path, ...] = ()):
        self.weights = Path(weights)
        self.metadata = read_metadata(self.weights)
        # decoding defaults shipped with the weights (chosen on tuning cases), then the caller's
        shipped = labeling.DecodeConfig(**self.metadata.get("decode", {}))
        self.decode_config = decode or shipped
        # decoding parameters that differ from the weights' own, named in the outputs' provenance
        self.decode_overrides = {k: v for k, v in dataclasses.asdict(self.decode_config).items()
                                 if v != getattr(shipped, k)}
        self.threads = threads
        self.flip_lr = bool(flip_lr)
        self.pad_mm = float(pad_mm)
        if context is None and self.metadata.get("context"):
            context = self.weights.parent / self.metadata["context"]
        self.context = DualHeadMethod(context, threads=threads) if context else None
        self.members = [DualHeadMethod(w, threads=threads) for w in ensemble]
        for member in self.members:
            for key in ("spacing_mm", "normalisation", "channels"):
                if member.metadata.get(key) != self.metadata.get(key):
                    raise ValueError(f"{member.weights}: ensemble member's {key} {member.metadata.get(key)!r} differs "
                                     f"from {self.weights}'s {self.metadata.get(key)!r}")
        self._model = None
        self._sha256 = None

    @property
    def model_info(self) -> dict:
        if self._sha256 is None:
            self._sha256 = sha256_of(self.weights)
        info = {"name": self.metadata.get("name", self.weights.stem), "version": str(self.metadata.get("version", "")),
                "sha256": self._sha256}
        if self.decode_overrides:
            info["decode"] = dict(self.decode_overrides)
        if self.flip_lr:
            info["flip_lr"] = True
        if self.pad_mm:
            info["pad_mm"] = self.pad_mm
        if self.context is not None:
            info["context"] = self.context.model_info
        if self.members:
            info["ensemble"] = [m.model_info for m in self.members]
        return info

    @property
    def levels(self) -> tuple[str, ...]:
        """The levels the model can name, cranial to caudal."""
        return tuple(self.metadata["levels"])

    @property
    def spacing_mm(self) -> float:
        return float(self.metadata["spacing_mm"])

    def model(self):
        """The network (built and loaded on first use)."""
        if self._model is None:
            import torch

            from spinemark.nets.fast import FastDualHead, reuse_freed_memory
            from spinemark.nets.io import load_model

            torch.set_num_threads(self.threads or min(_threads(), torch.get_num_threads()))
            reuse_freed_memory()
            self._model = FastDualHead(load_model(self.weights)[0])
        return self._model

    def canonical(self, volume: Volume) -> Volume:
        """The network input: canonical (RAS), resampled to the model spacing, normalised."""
        norm = self.metadata.get("normalisation", {})
        return canonical_input(volume, self.spacing_mm, (norm.get("low", PERCENTILES[0]), norm.get("high", PERCENTILES[1])))

    def heatmaps(self, canon: Volume) -> tuple[np.ndarray, np.ndarray]:
        """Raw network output on a canonical input: ``(level channels, s1)``; with :attr:`flip_lr`, the mean of
        the outputs on the input and on its left-right mirror (canonical axis 0), mirrored back; with
        :attr:`pad_mm`, run on the input with zeros above and below it (canonical axis 2); with ensemble
        members, the mean over this model and theirs."""
        from spinemark.nets.inference import predict_heatmaps

        pad = int(round(self.pad_mm / self.spacing_mm))
        data = np.pad(canon.data, ((0, 0), (0, 0), (pad, pad))) if pad else canon.data
        maps, s1 = predict_heatmaps(self.model(), data)
        if self.flip_lr:
            mirrored_maps, mirrored_s1 = predict_heatmaps(self.model(), data[::-1])
            maps = (maps + mirrored_maps[:, ::-1]) / 2
            s1 = (s1 + mirrored_s1[::-1]) / 2
        for member in self.members:
            member_maps, member_s1 = predict_heatmaps(member.model(), data)
            maps, s1 = maps + member_maps, s1 + member_s1
        if self.members:
            maps, s1 = maps / (1 + len(self.members)), s1 / (1 + len(self.members))
        if pad:
            maps, s1 = maps[..., pad:-pad], s1[..., pad:-pad]
        return maps, s1

    def level_maps(self, maps: np.ndarray) -> np.ndarray:
        """The channels of head 1 that are levels, in the order of :attr:`levels`."""
        channels = list(self.metadata["channels"])
        index = [channels.index(n) for n in self.levels]
        if index == list(range(index[0], index[0] + len(index))):
            return maps[index[0]: index[0] + len(index)]  # a view: no copy of the maps
        return maps[index]

    def context_maps(self, volume: Volume) -> tuple[Volume, np.ndarray] | None:
        """The context model's canonical input and level channels for ``volume`` (None without a context model)."""
        if self.context is None:
            return None
        canon = self.context.canonical(volume)
        return canon, self.context.level_maps(self.context.heatmaps(canon)[0])

    def context_evidence(self, canon: Volume, context: tuple[Volume, np.ndarray]):
        """Function from (M, 3) voxels of ``canon`` to the context model's (M, C) level values there,
        in the order of :attr:`levels` (0 for a level the context model does not cover)."""
        ctx_canon, ctx_maps = context
        cols = [self.context.levels.index(n) if n in self.context.levels else None for n in self.levels]

        def evidence(voxels: np.ndarray) -> np.ndarray:
            out = np.zeros((len(voxels), len(cols)))
            for i, v in enumerate(ctx_canon.world_to_voxel(canon.voxel_to_world(voxels))):
                out[i] = [labeling.sample_max(ctx_maps[c], v) if c is not None else 0.0 for c in cols]
            return out

        return evidence

    def decode(self, canon: Volume, maps: np.ndarray, s1: np.ndarray, config: labeling.DecodeConfig | None = None,
               context: tuple[Volume, np.ndarray] | None = None, known: Landmarks | None = None) -> labeling.Decoding:
        """Named centres (voxels of ``canon``) from its heatmaps and the :meth:`context_maps`, if any;
        ``config`` overrides the decoding defaults; ``known``: vertebrae whose names a person knows (world mm).

        Raises:
            InputError: Known levels that are no vertebrae, or that the vertebrae found cannot carry.
        """
        channels = list(self.metadata["channels"])
        any_map = maps[channels.index("any")] if "any" in channels else None
        evidence = self.context_evidence(canon, context) if context is not None else None
        given = []
        for p in known or ():
            if p.is_disc:
                raise InputError(canon.path, f"known level {p.name!r} is a disc; give vertebral body centres")
            given.append((p.name, canon.world_to_voxel(p.position_mm)))
        try:
            return labeling.decode(self.level_maps(maps), list(self.levels), self.spacing_mm, any_map, s1,
                                   config or self.decode_config, evidence, given)
        except labeling.KnownLevelError as exc:
            raise InputError(canon.path, f"known levels: {exc}") from exc

    @staticmethod
    def landmarks(volume: Volume, canon: Volume, dec: labeling.Decoding) -> Landmarks:
        """A decoding's named centres in world mm, referred to the input ``volume``."""
        points = [Landmark(p.name, canon.voxel_to_world(p.voxel), p.confidence) for p in dec.points]
        return Landmarks(points, geometry=volume.source, warnings=list(dec.warnings))

    def predict(self, volume: Volume, known: Landmarks | None = None) -> Prediction:
        """Find and name the vertebral body centres of ``volume``; ``known``: vertebrae whose names a person knows
        (world mm of ``volume``), which then fix the names instead of the S1 head (see :func:`labeling.decode`)."""
        check_volume(volume)
        timings = {}
        nets = [self, *self.members, *([self.context] if self.context is not None else [])]
        if any(m._model is None for m in nets):
            t0 = time.perf_counter()  # first call: importing torch and loading weights, not the network's time
            for m in nets:
                m.model()
            timings["load"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        canon = self.canonical(volume)
        timings["resample"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        maps, s1 = self.heatmaps(canon)
        context = self.context_maps(volume)
        timings["network"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        dec = self.decode(canon, maps, s1, context=context, known=known)
        landmarks = self.landmarks(volume, canon, dec)
        timings["decode"] = time.perf_counter() - t0
        return Prediction(landmarks, warnings=list(dec.warnings), timings=timings)


@register_method("dualhead", "S1-anchored dual-head 3D U-Net (default)")
def make(weights: str | Path | None = None, **options) -> DualHeadMethod:
    """Build the dual-head method.

    Args:
        weights: Weights file; None: the shipped default (``spinemark/weights/dualhead_v13.pt``).
        **options: ``threads`` (int), ``context`` (weights of a context model), ``flip_lr`` (bool), ``pad_mm``
            (float), ``ensemble`` (list of weights; all see :class:`DualHeadMethod`) and decoding parameters (fields of
            :class:`spinemark.labeling.DecodeConfig`, e.g. ``peak_threshold=0.3``); they override
            the ``decode`` defaults stored in the weights metadata.

    Raises:
        FileNotFoundError: No weights given and none shipped.
    """
    threads = options.pop("threads", None)
    context = options.pop("context", None)
    flip_lr = options.pop("flip_lr", False)
    pad_mm = options.pop("pad_mm", 0.0)
    ensemble = options.pop("ensemble", ())
    if isinstance(ensemble, str | Path):
        ensemble = [ensemble]
    path = weights or default_weights_path()
    decode = None
    if options:
        decode = labeling.DecodeConfig(**{**read_metadata(path).get("decode", {}), **options})
    return DualHeadMethod(path, decode=decode, threads=threads, context=context, flip_lr=flip_lr, pad_mm=pad_mm,
                          ensemble=ensemble)
