"""Landmarks: named points in world millimetres (RAS) with a confidence, tied to an image grid.

Example:
    >>> import numpy as np
    >>> from spinemark.landmarks import Landmark, Landmarks
    >>> from spinemark.volume import Geometry, voxel_to_world
    >>> grid = Geometry((10, 10, 10), np.diag([2.0, 2.0, 2.0, 1.0]))
    >>> lms = Landmarks([Landmark("S1", [4.0, 6.0, 8.0], 0.9)], grid)
    >>> lms["S1"].id, lms.voxel_ijk("S1").tolist()
    (26, [2.0, 3.0, 4.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spinemark import anatomy
from spinemark.volume import Geometry, voxel_to_world


@dataclass(frozen=True)
class Landmark:
    """One labelled point.

    Attributes:
        name: Vertebra name (``"L5"``) or disc name (``"L5/S1"``), from :mod:`spinemark.anatomy`.
        position_mm: World position, RAS millimetres.
        confidence: 0..1.
    """

    name: str
    position_mm: tuple[float, float, float]
    confidence: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "name", anatomy.canonical_name(self.name))
        p = tuple(float(v) for v in np.asarray(self.position_mm, dtype=np.float64).reshape(3))
        if not np.isfinite(p).all():
            raise ValueError(f"{self.name}: position {p} is not a finite point")
        object.__setattr__(self, "position_mm", p)
        object.__setattr__(self, "confidence", float(np.clip(self.confidence, 0.0, 1.0)))

    @property
    def id(self) -> int:
        return anatomy.name_to_id(self.name)

    @property
    def is_disc(self) -> bool:
        return anatomy.is_disc(self.id)

    @property
    def order(self) -> float:
        """Position along the spine (a disc sits halfway between its two vertebrae)."""
        if "/" in self.name:
            upper, lower = self.name.split("/")
            return (anatomy.order(upper) + anatomy.order(lower)) / 2
        return anatomy.order(self.name)


@dataclass
class Landmarks:
    """The landmarks of one image, sorted cranial to caudal, with the grid they refer to.

    Attributes:
        points: The landmarks; names are unique.
        geometry: The image grid the voxel indices refer to (the input image).
        warnings: Messages for a person (suspected transitional anatomy, low confidence, ...).
    """

    points: list[Landmark]
    geometry: Geometry | None = None
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self):
        names = [p.name for p in self.points]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"landmark names must be unique; repeated: {dup}")
        self.points = sorted(self.points, key=lambda p: p.order)

    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self):
        return iter(self.points)

    def __contains__(self, name: str) -> bool:
        return any(p.name == name for p in self.points)

    def __getitem__(self, name: str) -> Landmark:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.points]

    @property
    def positions_mm(self) -> np.ndarray:
        """(N, 3) world positions."""
        return np.array([p.position_mm for p in self.points], dtype=np.float64).reshape(-1, 3)

    def voxel_ijk(self, name: str | None = None) -> np.ndarray:
        """Fractional voxel indices in :attr:`geometry` of one landmark or (N, 3) of all."""
        if self.geometry is None:
            raise ValueError("these landmarks have no image geometry")
        pos = self[name].position_mm if name else self.positions_mm
        return self.geometry.world_to_voxel(pos)

    def vertebrae(self) -> Landmarks:
        """Only the vertebral body landmarks (no discs)."""
        return Landmarks([p for p in self.points if not p.is_disc], self.geometry, list(self.warnings))

    def discs(self) -> Landmarks:
        """Only the disc landmarks."""
        return Landmarks([p for p in self.points if p.is_disc], self.geometry, list(self.warnings))

    def with_discs(self) -> Landmarks:
        """These vertebrae and the disc between each two neighbours among them (:func:`discs_from_bodies`), with the
        lower confidence of the two; earlier discs are replaced."""
        vertebrae = self.vertebrae()
        conf = {p.name: p.confidence for p in vertebrae}
        discs = [Landmark(n, c, min(conf[a] for a in n.split("/")))
                 for n, c in discs_from_bodies({p.name: p.position_mm for p in vertebrae}).items()]
        return Landmarks([*vertebrae, *discs], self.geometry, list(self.warnings))

    def on_geometry(self, geometry: Geometry) -> Landmarks:
        """The same world points, referred to another grid."""
        return Landmarks(list(self.points), geometry, list(self.warnings))

    @classmethod
    def from_label_map(cls, labels: np.ndarray, affine: np.ndarray, geometry: Geometry | None = None) -> Landmarks:
        """Landmarks at the centroids of every registry label present in a label map."""
        where = np.nonzero(np.asarray(labels) > 0)
        values = np.asarray(labels)[where].astype(np.int64)
        counts = np.bincount(values) if values.size else np.zeros(1, np.int64)
        ids = [int(i) for i in np.flatnonzero(counts) if anatomy.is_vertebra(int(i)) or anatomy.is_disc(int(i))]
        sums = [np.bincount(values, weights=axis, minlength=len(counts)) for axis in where]  # per label, per axis
        centroids = [[s[i] / counts[i] for s in sums] for i in ids]
        pts = [Landmark(anatomy.id_to_name(i), voxel_to_world(np.asarray(affine), c)) for i, c in zip(ids, centroids)]
        if geometry is None:
            geometry = Geometry(tuple(labels.shape), np.asarray(affine, dtype=np.float64))
        return cls(pts, geometry)


def _halfway(points: dict[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
    """The point halfway between each two neighbours of the spine among ``points`` (keyed by vertebra names; the
    sequence is :func:`spinemark.anatomy.sequence_of` those names), on the curve of the spine: halfway along the
    parabola through the two and the next point beyond either (the mean of the two parabolas where both exist, the
    midpoint where neither does). Keyed by the two names."""
    d = {k: np.asarray(v, dtype=np.float64) for k, v in points.items()}
    seq = anatomy.sequence_of(d)
    out = {}
    for upper, a in d.items():
        lower = anatomy.neighbours(upper, seq)[1]
        if lower not in d:
            continue
        b = d[lower]
        further_up, further_down = d.get(anatomy.neighbours(upper, seq)[0]), d.get(anatomy.neighbours(lower, seq)[1])
        curves = [(6 * a + 3 * b - further_up) / 8] if further_up is not None else []  # the quadratic at t = 1/2
        curves += [(3 * a + 6 * b - further_down) / 8] if further_down is not None else []
        out[upper, lower] = np.mean(curves, axis=0) if curves else (a + b) / 2.0
    return out


def bodies_from_discs(discs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Vertebral body centres between the centres of the disc above and the disc below, on the curve of the spine.

    The midpoint of the two discs lies on the chord of the spine's curve, posterior of the body in the lordotic lumbar
    spine; the centre is taken instead halfway along the parabola through those two discs and the next labelled disc
    beyond either (the mean of the two parabolas where both are labelled, the midpoint where neither is). Against the
    midpoint: phantoms' lumbar bodies 0.3 instead of 1.0 mm off, VB3's L2..L4 masks 1.3 instead of 1.7 mm
    (``benchmarks/bodies_from_discs.py``).

    Args:
        discs: Disc centres keyed by the vertebra above the disc (``"L4"`` for L4/L5); a T13/L1 or L6/S1 disc puts
            its variant into the sequence (T12/T13 and T12/L1 share an id, as L5/L6 and L5/S1 do).

    Returns:
        Centres of the bodies that have a labelled disc on both sides (L2..L5 from L1/L2..L5/S1).
    """
    return {body: p for (_, body), p in _halfway(discs).items()}


def discs_from_bodies(bodies: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Disc centres between two neighbouring vertebral body centres, on the curve of the spine as in
    :func:`bodies_from_discs`; keyed by disc name (``"L4/L5"``). The discs of the mobile spine only, C2/C3 to the
    lumbosacral disc (none between C1 and C2, in the fused sacrum or at the coccyx; C1, a ring off the curve of the
    bodies, is left out of it); bodies that are no neighbours (a level missing between them) get none."""
    mobile = {n: p for n, p in bodies.items() if n != "C1"}
    return {f"{upper}/{lower}": p for (upper, lower), p in _halfway(mobile).items()
            if anatomy.region(upper) in ("cervical", "thoracic", "lumbar")}
