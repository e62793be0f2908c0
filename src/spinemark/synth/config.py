"""Phantom configuration, the tissue table of phantom label maps and the contrast names.

Label maps of phantoms use the registry ids of :mod:`spinemark.anatomy` for vertebral
bodies (C1..S5, Co) and discs (100 + id of the vertebra above); every other structure
gets an id from :data:`TISSUES` (200 and up), so a label map is read the same way as the
real data (bodies only carry the vertebra id).

Example:
    >>> from spinemark.synth.config import PhantomConfig, TISSUES
    >>> cfg = PhantomConfig(preset="lumbar", contrast="T2")
    >>> cfg.to_dict()["contrast"], TISSUES["spinal_cord"]
    ('T2', 203)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

TISSUES: dict[str, int] = {
    "posterior_elements": 201,  # pedicles, laminae, spinous/transverse processes, sacral alae
    "spinal_canal_csf": 202,
    "spinal_cord": 203,
    "cauda_equina": 204,
    "iliac_bone": 205,
    "sacroiliac_joint": 206,
    "bladder": 207,
    "rectum": 208,
    "uterus": 209,
    "muscle": 210,  # paraspinal muscles and psoas
    "subcutaneous_fat": 211,
    "soft_tissue": 212,  # everything else inside the body (viscera, neck, head)
    "epidural_fat": 213,
    "lung": 214,
    "skull": 215,
    "vessel": 216,  # aorta and inferior vena cava
}
"""Label ids of the non-vertebral tissues of a phantom (air is 0)."""

CONTRASTS = ("T1", "T2", "STIR", "dixon_water", "dixon_fat", "random")
"""Contrast presets; ``"random"`` draws an arbitrary intensity per tissue (domain randomization)."""

ORIENTATIONS = ("sagittal", "axial", "coronal")


_RANGES = {
    "p_l6": (0.0, 1.0), "p_four_lumbar": (0.0, 1.0), "p_t13": (0.0, 1.0), "p_t11": (0.0, 1.0),
    "oblique_deg": (0.0, 90.0), "rotation_deg": (0.0, 90.0), "fov_jitter": (0.0, 1.0), "body_scale": (0.5, 2.0),
    "cervical_lordosis_deg": (-90.0, 90.0), "thoracic_kyphosis_deg": (-90.0, 90.0), "lumbar_lordosis_deg": (-90.0, 90.0),
    "sacral_slope_deg": (-90.0, 90.0), "scoliosis_deg": (-90.0, 90.0), "degeneration": (0.0, 1.0), "noise": (0.0, 1.0),
    "bias": (0.0, 1.0), "gamma": (0.25, 4.0), "raster_mm": (0.1, 20.0),
}
"""Allowed range of each number of :class:`PhantomConfig` (NaN and infinities fall outside)."""

_OPTIONAL = {"body_scale", "cervical_lordosis_deg", "thoracic_kyphosis_deg", "lumbar_lordosis_deg", "sacral_slope_deg",
             "scoliosis_deg", "noise", "bias", "gamma", "raster_mm"}
"""Fields of :class:`PhantomConfig` whose ``None`` means drawn from the seed."""


@dataclass(frozen=True)
class PhantomConfig:
    """Everything that defines one phantom; ``None`` fields are drawn at random from the seed.

    Attributes:
        preset: Field-of-view preset name (a key of :data:`spinemark.synth.PRESETS`).
        contrast: One of :data:`CONTRASTS`.
        orientation: ``"sagittal"``, ``"axial"`` or ``"coronal"`` (the slice axis is always array axis 2).
        shape: Output array shape (in-plane, in-plane, slices); ``None``: the preset's.
        spacing_mm: Voxel size (in-plane, in-plane, slice thickness); ``None``: the preset's.
        k_visible: For the ``"random"`` preset: how many consecutive vertebrae to show (``None``: 3..10).
        oblique_deg: Largest random tilt of the slice grid about each axis (degrees).
        rotation_deg: Largest random rotation of the patient about each axis (degrees).
        fov_jitter: 0..1, how far the field of view may wander while keeping the promised levels.
        body_scale: Overall size factor (``None``: drawn from 0.85..1.15).
        cervical_lordosis_deg, thoracic_kyphosis_deg, lumbar_lordosis_deg, sacral_slope_deg,
            scoliosis_deg: Spinal curves (``None``: drawn from population ranges).
        degeneration: 0..1 largest disc degeneration grade (lower lumbar discs most affected).
        n_thoracic, n_lumbar: Force the counts (11..13, 4..6); ``None``: drawn with the probabilities.
        p_l6, p_four_lumbar, p_t13, p_t11: Probabilities of lumbarization (L6), sacralization
            (four lumbar), T13 and eleven thoracic vertebrae.
        sex: ``"female"`` (uterus), ``"male"`` or ``None`` (random).
        noise: Rician noise level relative to the brightest tissue (``None``: 0.01..0.05).
        bias: Strength of the smooth bias field (``None``: 0..0.3).
        gamma: Intensity gamma (``None``: 0.8..1.25).
        raster_mm: Spacing of the intermediate patient-space grid (``None``: from the output spacing).
    """

    preset: str = "pelvic"
    contrast: str = "T1"
    orientation: str = "sagittal"
    shape: tuple[int, int, int] | None = None
    spacing_mm: tuple[float, float, float] | None = None
    k_visible: int | None = None
    oblique_deg: float = 0.0
    rotation_deg: float = 4.0
    fov_jitter: float = 0.7
    body_scale: float | None = None
    cervical_lordosis_deg: float | None = None
    thoracic_kyphosis_deg: float | None = None
    lumbar_lordosis_deg: float | None = None
    sacral_slope_deg: float | None = None
    scoliosis_deg: float | None = None
    degeneration: float = 0.5
    n_thoracic: int | None = None
    n_lumbar: int | None = None
    p_l6: float = 0.05
    p_four_lumbar: float = 0.05
    p_t13: float = 0.03
    p_t11: float = 0.03
    sex: str | None = None
    noise: float | None = None
    bias: float | None = None
    gamma: float | None = None
    raster_mm: float | None = None

    def __post_init__(self):
        if self.contrast not in CONTRASTS:
            raise ValueError(f"unknown contrast {self.contrast!r}; choose from {CONTRASTS}")
        if self.orientation not in ORIENTATIONS:
            raise ValueError(f"unknown orientation {self.orientation!r}; choose from {ORIENTATIONS}")
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
            if len(self.shape) != 3 or min(self.shape) < 1:
                raise ValueError(f"shape must be 3 positive integers, got {self.shape}")
        if self.spacing_mm is not None:
            object.__setattr__(self, "spacing_mm", tuple(float(s) for s in self.spacing_mm))
            if len(self.spacing_mm) != 3 or min(self.spacing_mm) <= 0:
                raise ValueError(f"spacing_mm must be 3 positive numbers, got {self.spacing_mm}")
        if self.n_thoracic is not None and self.n_thoracic not in (11, 12, 13):
            raise ValueError("n_thoracic must be 11, 12 or 13")
        if self.n_lumbar is not None and self.n_lumbar not in (4, 5, 6):
            raise ValueError("n_lumbar must be 4, 5 or 6")
        if self.sex not in (None, "female", "male"):
            raise ValueError("sex must be 'female', 'male' or None")
        for name, (lo, hi) in _RANGES.items():
            value = getattr(self, name)
            if value is None and name in _OPTIONAL:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
                raise ValueError(f"{name} must be a number from {lo} to {hi}, got {value!r}")
        if self.k_visible is not None and (isinstance(self.k_visible, bool) or not isinstance(self.k_visible, int)
                                           or not 1 <= self.k_visible <= 30):
            raise ValueError(f"k_visible must be a whole number from 1 to 30, got {self.k_visible!r}")
        if self.p_l6 + self.p_four_lumbar > 1 or self.p_t13 + self.p_t11 > 1:
            raise ValueError("variant probabilities of one region must sum to at most 1")

    def replace(self, **changes) -> PhantomConfig:
        """A copy with some fields changed (unknown names raise ``TypeError``)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain JSON-able dict."""
        d = asdict(self)
        for k in ("shape", "spacing_mm"):
            if d[k] is not None:
                d[k] = list(d[k])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, d: dict) -> PhantomConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError``."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise TypeError(f"unknown PhantomConfig field(s): {unknown}")
        return cls(**d)
