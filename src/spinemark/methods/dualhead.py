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
from spinemark.volume import Volume, check_volume, isotropic_geometry

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "dualhead_v13.pt"
"""File name of the shipped default weights in ``spinemark/weights/``."""
MAX_GRID_VOXELS = 40_000_000
"""Largest model grid a scan may resample to (1200 x 600 x 500 mm at 3 mm is 13 million voxels): beyond it the
heatmaps alone would take gigabytes, so a scan upsampled from a coarse grid is refused before any work."""


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
    """

    name = "dualhead"

    def __init__(self, weights: str | Path, decode: labeling.DecodeConfig | None = None, threads: int | None = None):
        self.weights = Path(weights)
        self.metadata = read_metadata(self.weights)
        # decoding defaults shipped with the weights (chosen on tuning cases), then the caller's
        shipped = labeling.DecodeConfig(**self.metadata.get("decode", {}))
        self.decode_config = decode or shipped
        # decoding parameters that differ from the weights' own, named in the outputs' provenance
        self.decode_overrides = {k: v for k, v in dataclasses.asdict(self.decode_config).items()
                                 if v != getattr(shipped, k)}
        self.threads = threads
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
        """Raw network output on a canonical input: ``(level channels, s1)``."""
        from spinemark.nets.inference import predict_heatmaps

        return predict_heatmaps(self.model(), canon.data)

    def level_maps(self, maps: np.ndarray) -> np.ndarray:
        """The channels of head 1 that are levels, in the order of :attr:`levels`."""
        channels = list(self.metadata["channels"])
        index = [channels.index(n) for n in self.levels]
        if index == list(range(index[0], index[0] + len(index))):
            return maps[index[0]: index[0] + len(index)]  # a view: no copy of the maps
        return maps[index]

    def decode(self, canon: Volume, maps: np.ndarray, s1: np.ndarray, config: labeling.DecodeConfig | None = None,
               known: Landmarks | None = None) -> labeling.Decoding:
        """Named centres (voxels of ``canon``) from its heatmaps; ``config`` overrides the decoding defaults;
        ``known``: vertebrae whose names a person knows (world mm).

        Raises:
            InputError: Known levels that are no vertebrae, or that the vertebrae found cannot carry.
        """
        channels = list(self.metadata["channels"])
        any_map = maps[channels.index("any")] if "any" in channels else None
        given = []
        for p in known or ():
            if p.is_disc:
                raise InputError(canon.path, f"known level {p.name!r} is a disc; give vertebral body centres")
            given.append((p.name, canon.world_to_voxel(p.position_mm)))
        try:
            return labeling.decode(self.level_maps(maps), list(self.levels), self.spacing_mm, any_map, s1,
                                   config or self.decode_config, known=given)
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
        check_volume(volume, max_voxels=None)  # the reader applied the caller's limit to the file; this one counts
        grid = isotropic_geometry(volume.geometry, self.spacing_mm).shape
        if np.prod(grid, dtype=np.int64) > MAX_GRID_VOXELS:
            raise InputError(volume.path, f"image too large for the model's {self.spacing_mm:g} mm grid: "
                                          f"{np.prod(grid, dtype=np.int64):,} voxels (shape {grid}), limit "
                                          f"{MAX_GRID_VOXELS:,}; crop it to the spine or resample it")
        timings = {}
        if self._model is None:
            t0 = time.perf_counter()  # first call: importing torch and loading weights, not the network's time
            self.model()
            timings["load"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        canon = self.canonical(volume)
        timings["resample"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        maps, s1 = self.heatmaps(canon)
        timings["network"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        dec = self.decode(canon, maps, s1, known=known)
        landmarks = self.landmarks(volume, canon, dec)
        timings["decode"] = time.perf_counter() - t0
        return Prediction(landmarks, warnings=list(dec.warnings), timings=timings)


@register_method("dualhead", "S1-anchored dual-head 3D U-Net (default)")
def make(weights: str | Path | None = None, **options) -> DualHeadMethod:
    """Build the dual-head method.

    Args:
        weights: Weights file; None: the shipped default (``spinemark/weights/dualhead_v13.pt``).
        **options: ``threads`` (int) and decoding parameters (fields of :class:`spinemark.labeling.DecodeConfig`,
            e.g. ``peak_threshold=0.3``); they override the ``decode`` defaults stored in the weights metadata.

    Raises:
        FileNotFoundError: No weights given and none shipped.
        ValueError: An option that is no decoding parameter, or a value of the wrong type or range.
    """
    threads = options.pop("threads", None)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a whole number of at least 1, not {threads!r}")
    path = weights or default_weights_path()
    decode = None
    known = {f.name for f in dataclasses.fields(labeling.DecodeConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown option(s) of the dualhead method: {', '.join(unknown)}; known: threads, "
                         f"{', '.join(sorted(known))}")
    if options:
        decode = labeling.DecodeConfig(**{**read_metadata(path).get("decode", {}), **options})
    return DualHeadMethod(path, decode=decode, threads=threads)
