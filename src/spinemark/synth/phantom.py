"""``make_phantom``: one synthetic spine MRI with its label map and landmarks, from a seed.

Landmark rule: vertebral body centres (the exact centroid of each body's shape) and disc
centres (discs of the mobile spine down to the lumbosacral disc) are reported only when the
centre lies inside the field of view (its voxel index within ``[-0.5, n - 0.5]`` on every
axis). A vertebra cut by the slab edge is reported if its centre is inside, not otherwise.
The sacral segments S1..S5 and the coccyx are reported as vertebrae.

Example:
    >>> from spinemark.synth import make_phantom
    >>> ph = make_phantom("lumbar", seed=0, shape=(64, 64, 12), spacing_mm=(4.0, 4.0, 4.0))
    >>> ph.image.shape, "L3" in ph.landmarks
    ((64, 64, 12), True)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from spinemark import anatomy
from spinemark.landmarks import Landmark, Landmarks
from spinemark.synth import acquisition as acq_mod
from spinemark.synth.config import PhantomConfig
from spinemark.synth.presets import PRESETS, resolve_levels
from spinemark.synth.raster import body_centroid, rasterize
from spinemark.synth.render import finish, tissue_intensities
from spinemark.synth.spine_model import Spine, sample_spine
from spinemark.volume import Volume

log = logging.getLogger(__name__)


@dataclass
class Phantom:
    """One phantom.

    Attributes:
        image: MRI-like intensities (float32) on the acquisition grid.
        labels: Label map (uint16) on the same grid.
        landmarks: Body and disc centres in view, world mm, geometry = the image grid.
        config: The resolved configuration (every random choice filled in).
        info: Extra facts drawn for this phantom (sequence, promised levels, curves, ...).
    """

    image: Volume
    labels: Volume
    landmarks: Landmarks
    config: PhantomConfig
    info: dict


def _resolve(cfg: PhantomConfig, spine: Spine, rng: np.random.Generator):
    preset = PRESETS[cfg.preset]
    seq = spine.sequence
    if cfg.preset == "random":
        k = cfg.k_visible or int(rng.integers(3, 11))
        k = int(np.clip(k, 1, len(seq) - 1))
        start = int(rng.integers(1, len(seq) - k + 1))  # C1 is never promised (no real body)
        return list(seq[start : start + k])
    return resolve_levels(preset.levels, seq)


def make_phantom(preset: str = "pelvic", seed: int | None = 0, **overrides) -> Phantom:
    """Generate one phantom.

    Args:
        preset: Field-of-view preset (a key of :data:`~spinemark.synth.PRESETS`).
        seed: Random seed; the same seed and config give the same phantom.
        **overrides: Any :class:`PhantomConfig` field (``contrast``, ``orientation``, ``shape``,
            ``spacing_mm``, ``n_lumbar``, ``p_l6``, ``k_visible``, ``oblique_deg``...).

    Returns:
        A :class:`Phantom`.

    Example:
        >>> ph = make_phantom("pelvic", seed=1, shape=(64, 64, 16), spacing_mm=(4.0, 4.0, 8.0), contrast="T2")
        >>> "S1" in ph.landmarks and ph.labels.data.dtype.name
        'uint16'
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    cfg = PhantomConfig.from_dict({**overrides, "preset": preset})  # unknown options raise TypeError
    rng = np.random.default_rng(seed)
    r_anat, r_acq, r_ren = (np.random.default_rng(s) for s in rng.integers(0, 2**63, 3))
    spine = sample_spine(cfg, r_anat)
    p = PRESETS[preset]
    promised = _resolve(cfg, spine, r_acq)
    centres = {e.name: body_centroid(spine, e) for e in spine.elements}
    prom_pts = np.array([centres[n] for n in promised]) if promised else np.zeros((1, 3))
    acq = acq_mod.plan(
        prom_pts, cfg.orientation, cfg.shape or p.shape, cfg.spacing_mm or p.spacing_mm, r_acq,
        shape_fixed=cfg.shape is not None, spacing_fixed=cfg.spacing_mm is not None,
        oblique_deg=cfg.oblique_deg, rotation_deg=cfg.rotation_deg, jitter=cfg.fov_jitter, margin=p.margin_mm,
    )
    zmin, zmax = spine.points[:, 2].min() - 250, spine.points[:, 2].max() + 200
    grid = acq_mod.patient_grid(acq, np.array([-260.0, -250.0, zmin]), np.array([260.0, 300.0, zmax]), cfg.raster_mm)
    sex = cfg.sex or ("female" if r_anat.random() < 0.5 else "male")
    fat = float(r_anat.uniform(8, 35)) * spine.scale
    lab_p, cls_p = rasterize(spine, grid, r_anat, sex=sex, fat_mm=fat)
    m = acq_mod.output_to_grid(acq, grid)
    labels = acq_mod.resample(lab_p, m, acq.shape, order=0)
    lut = tissue_intensities(cfg.contrast, r_ren)
    inten = acq_mod.slice_blur(lut[cls_p], acq, grid)
    img = acq_mod.resample(inten, m, acq.shape, order=1)
    noise = cfg.noise if cfg.noise is not None else float(r_ren.uniform(0.01, 0.05))
    bias = cfg.bias if cfg.bias is not None else float(r_ren.uniform(0.0, 0.3))
    gamma = cfg.gamma if cfg.gamma is not None else float(r_ren.uniform(0.8, 1.25))
    img = finish(img, r_ren, noise, bias, gamma)
    # landmarks in view
    pts = []
    last_mobile_disc = spine.sequence[spine.sequence.index("S1") - 1]
    for e in spine.elements:
        if e.kind == "disc" and anatomy.order(e.name.split("/")[0]) > anatomy.order(last_mobile_disc):
            continue
        w = acq.patient_to_world(centres[e.name])
        if acq.in_view(w):
            pts.append(Landmark(e.name, w, 1.0))
    image = Volume(img, acq.affine)
    lms = Landmarks(pts, image.geometry, list(acq.warnings))
    resolved = cfg.replace(
        shape=acq.shape, spacing_mm=tuple(float(s) for s in np.sqrt((acq.affine[:3, :3] ** 2).sum(0))),
        body_scale=spine.scale, sacral_slope_deg=spine.params["sacral_slope_deg"],
        lumbar_lordosis_deg=spine.params["lumbar_lordosis_deg"],
        thoracic_kyphosis_deg=spine.params["thoracic_kyphosis_deg"],
        cervical_lordosis_deg=spine.params["cervical_lordosis_deg"], scoliosis_deg=spine.params["scoliosis_deg"],
        n_thoracic=spine.params["n_thoracic"], n_lumbar=spine.params["n_lumbar"], sex=sex, noise=noise, bias=bias,
        gamma=gamma,
    )
    info = {"seed": seed, "sequence": list(spine.sequence), "promised": promised,
            "raster_mm": [float(s) for s in grid.spacing], "raster_shape": list(grid.shape)}
    log.debug("phantom %s seed %s: %d landmarks", preset, seed, len(lms))
    return Phantom(image, Volume(labels.astype(np.uint16), acq.affine), lms, resolved, info)
