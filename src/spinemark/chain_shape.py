"""Sagittal shape of the vertebral chain as level evidence: where a centre sits in the lordosis.

Lying supine, the lumbar spine bends forward (lordosis): going caudally, the links between body
centres tilt more and more posteriorly, slowly at L1-L3 and fast at L4-S1. Two numbers per chain
node carry this, both in degrees in the sagittal (anterior, superior) plane of a RAS frame:

* ``tilt``: angle of the link to the next centre caudally, from the inferior axis towards anterior;
* ``bend``: change of tilt at the node (tilt of the link below minus tilt of the link above),
  which does not depend on how the patient lies.

:class:`ShapePrior` holds a Gaussian of each per level, fitted on labelled training scans
(:func:`fit_shape_prior`), and turns the two numbers of each node into log-likelihoods per level
name, a level evidence that needs no network and adds to the level heatmaps in the sequence
decoder (:func:`spinemark.labeling.name_chain`, ``DecodeConfig.shape_weight``). Links across a
missed vertebra carry no shape evidence. A level with fewer than ``min_count`` training examples
of a feature has no Gaussian for it and gets, at each node, the mean score of the levels that
have one (neither favoured nor penalised).

Example:
    >>> import numpy as np
    >>> prior = ShapePrior(tilt={"L2": (15.0, 4.0), "L4": (-7.0, 7.0)}, bend={})
    >>> pos = np.array([[0, 0, 100.0], [0, -4.3, 65.3], [0, -8.6, 30.6]])  # links tilted 7 degrees posteriorly
    >>> s = prior.scores(pos)
    >>> bool(s["L4"][0] > s["L2"][0])
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spinemark import anatomy

SD_FLOOR_DEG = 3.0
"""Smallest standard deviation of a fitted Gaussian (a few training scans can agree too well)."""

OTHER = "*"
"""Key of the score in :meth:`ShapePrior.scores` of a level without its own Gaussians."""


def link_tilts(positions_mm: np.ndarray) -> np.ndarray:
    """Tilt (degrees) of each link of a chain of RAS positions, cranial to caudal: from inferior towards anterior."""
    v = np.diff(np.asarray(positions_mm, dtype=np.float64).reshape(-1, 3), axis=0)
    return np.degrees(np.arctan2(v[:, 1], -v[:, 2]))


def node_features(positions_mm: np.ndarray, usable_links: Iterable[bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(tilt, bend)`` of each node of a chain (NaN where a node has no such link, or the link is unusable)."""
    tilts = link_tilts(positions_mm)
    ok = np.ones(len(tilts), bool) if usable_links is None else np.asarray(list(usable_links), bool)
    tilts = np.where(ok, tilts, np.nan)
    m = len(tilts) + 1
    tilt = np.full(m, np.nan)
    bend = np.full(m, np.nan)
    tilt[:-1] = tilts
    bend[1:-1] = tilts[1:] - tilts[:-1]
    return tilt, bend


def _log_gauss(x: np.ndarray, mu: float, sd: float) -> np.ndarray:
    out = -0.5 * ((x - mu) / sd) ** 2 - np.log(sd)
    return np.where(np.isnan(x), 0.0, out)


@dataclass(frozen=True)
class ShapePrior:
    """Gaussian ``(mean, sd)`` of tilt and of bend per level name."""

    tilt: Mapping[str, tuple[float, float]]
    bend: Mapping[str, tuple[float, float]]

    def scores(self, positions_mm: np.ndarray, usable_links: Iterable[bool] | None = None) -> dict[str, np.ndarray]:
        """Log-likelihood of each node's shape for every modelled level name, and :data:`OTHER`.

        Args:
            positions_mm: (M, 3) chain centres, cranial to caudal, in a RAS-aligned frame.
            usable_links: (M-1,) False for a link that spans a missed vertebra.

        Returns:
            Level name -> (M,) scores; ``scores[OTHER]`` for every other level.
        """
        feats = node_features(positions_mm, usable_links)
        names = sorted(set(self.tilt) | set(self.bend))
        out = {n: np.zeros(len(feats[0])) for n in [*names, OTHER]}
        for x, model in zip(feats, (self.tilt, self.bend)):
            per = {n: _log_gauss(x, *model[n]) for n in model}
            neutral = np.mean(list(per.values()), axis=0) if per else np.zeros(len(x))
            for n in out:
                out[n] += per.get(n, neutral)
        return out

    def to_dict(self) -> dict:
        return {"tilt": {k: list(v) for k, v in self.tilt.items()}, "bend": {k: list(v) for k, v in self.bend.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> ShapePrior:
        return cls(*({k: (float(v[0]), float(v[1])) for k, v in d[f].items()} for f in ("tilt", "bend")))


def read_shape_prior(path: str | Path) -> ShapePrior:
    """A prior from a JSON file: as written by ``spinemark.train.shape_prior`` (key ``"prior"``) or bare."""
    doc = json.loads(Path(path).read_text())
    return ShapePrior.from_dict(doc.get("prior", doc))


def _fit(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), max(float(np.std(values)), SD_FLOOR_DEG)


def fit_shape_prior(scans: Iterable[Mapping[str, np.ndarray]], min_count: int = 5) -> tuple[ShapePrior, dict]:
    """Fit a :class:`ShapePrior` on labelled scans.

    Args:
        scans: One mapping per scan of vertebra name -> RAS centre (mm); only runs of consecutive
            levels of the standard sequence count (a link between L1 and L3 is not a link).
        min_count: Fewest examples for a level's own Gaussian.

    Returns:
        The prior and the number of examples per level, ``{"tilt": {...}, "bend": {...}}``.
    """
    seq = anatomy.standard_sequence()
    tilts: dict[str, list[float]] = {}
    bends: dict[str, list[float]] = {}
    for scan in scans:
        names = [n for n in seq if n in scan]
        for a, b, c in zip(names, names[1:], [*names[2:], None]):
            if seq.index(b) != seq.index(a) + 1:
                continue
            t_ab = float(link_tilts(np.array([scan[a], scan[b]]))[0])
            tilts.setdefault(a, []).append(t_ab)
            if c is not None and seq.index(c) == seq.index(b) + 1:
                bends.setdefault(b, []).append(float(link_tilts(np.array([scan[b], scan[c]]))[0]) - t_ab)
    if not tilts:
        raise ValueError("no two consecutive labelled vertebrae in any scan: nothing to fit a shape prior on")
    prior = ShapePrior({k: _fit(v) for k, v in tilts.items() if len(v) >= min_count},
                       {k: _fit(v) for k, v in bends.items() if len(v) >= min_count})
    return prior, {"tilt": {k: len(v) for k, v in tilts.items()}, "bend": {k: len(v) for k, v in bends.items()}}
