"""Patches for training: biased/uniform centres, augmentation, Gaussian targets and loss masks.

A patch is drawn from a :class:`~spinemark.train.data.Case` through a random similarity
transform (rotation, isotropic scale, left-right flip) around its centre; the landmarks
follow the same transform, so targets are exact Gaussians in the patch grid.

Loss mask (per voxel and per channel; DESIGN.md, "Training on partially labelled data"):

* a labelled level's channel counts everywhere (Gaussian at its centre, zero elsewhere);
* an unlabelled level's channel counts only where that level is known to be absent: for a
  level cranial of the labelled ones, caudally of the upper disc plane of the labelled span;
  for a caudal level (S1, L6, ...), cranially of the lower disc plane;
* the "any vertebra" channel counts inside the labelled span only; the S1 head, like any
  caudal level, wherever S1 cannot be (cranially of the lower plane);
* phantoms (everything labelled: ``Case.source == "phantom"``) count everywhere; so does any voxel
  outside the field of view (image padding or a simulated field-of-view crop), where no vertebra can be seen.
  A real case always has a labelled span (cases with fewer than two labelled levels are left out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from spinemark import anatomy
from spinemark.train.data import Case

SPAN_MARGIN_MM = 6.0
"""Safety margin around the disc planes of a labelled span (the planes are extrapolated)."""


@dataclass(frozen=True)
class PatchConfig:
    """How patches are drawn (a view of the training config)."""

    levels: tuple[str, ...]
    patch_size: tuple[int, int, int]
    spacing_mm: float
    sigma_mm: float
    biased_fraction: float = 0.7
    augment: bool = True
    fov_crop_prob: float = 0.3
    fov_disc_fraction: float = 0.0
    fov_edge_targets: bool = False
    rotate_deg: float = 15.0
    scale_range: tuple[float, float] = (0.85, 1.15)


PATCH_KEYS = ("image", "target", "mask", "s1_target", "s1_mask")
"""Fields of a :class:`Patch`, the keys of a batch."""


@dataclass
class Patch:
    """One training sample: image (1, X, Y, Z), targets and masks (C+1 level channels + S1)."""

    image: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    s1_target: np.ndarray
    s1_mask: np.ndarray


def _transform(rng: np.random.Generator, cfg: PatchConfig) -> np.ndarray:
    """3x3 matrix taking patch voxel offsets to case voxel offsets."""
    if not cfg.augment:
        return np.eye(3)
    rot = Rotation.from_euler("xyz", rng.uniform(-cfg.rotate_deg, cfg.rotate_deg, 3), degrees=True).as_matrix()
    scale = rng.uniform(*cfg.scale_range)
    flip = np.diag([-1.0 if rng.random() < 0.5 else 1.0, 1.0, 1.0])
    return rot @ (scale * flip)


def _centre(case: Case, rng: np.random.Generator, cfg: PatchConfig) -> np.ndarray:
    shape = np.array(case.image.shape, dtype=np.float64)
    if case.landmarks and rng.random() < cfg.biased_fraction:
        names = sorted(case.landmarks)
        p = case.landmarks[names[rng.integers(len(names))]]
        jitter = rng.normal(0, 1, 3) * np.array(cfg.patch_size) / 6.0
        return np.clip(p + jitter, 0, shape - 1)
    return rng.uniform(0, 1, 3) * (shape - 1)


def _intensity(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Contrast randomization, bias field, thick slices and noise on a [0, 1] patch."""
    fg = x > 0
    if rng.random() < 0.3:  # random smooth (possibly non-monotone) intensity curve, background kept at 0
        knots = np.concatenate([[0.0], np.sort(rng.uniform(0, 1, 3)), [1.0]])
        vals = np.concatenate([[0.0], rng.uniform(0, 1, 4)])
        x = np.interp(x, knots, vals).astype(np.float32)
    else:
        x = x ** np.float32(np.exp(rng.uniform(-0.4, 0.4)))
    if rng.random() < 0.5:  # multiplicative smooth bias field
        coarse = rng.normal(0, 0.25, (3, 3, 3))
        field = ndimage.zoom(coarse, np.array(x.shape) / 3.0, order=3, mode="nearest")[: x.shape[0], : x.shape[1],
                                                                                        : x.shape[2]]
        x = x * np.exp(field).astype(np.float32)
    if rng.random() < 0.3:  # thick-slice simulation along a random axis (mostly left-right: sagittal slices)
        axis = 0 if rng.random() < 0.7 else int(rng.integers(1, 3))
        f = rng.uniform(1.3, 2.5)
        zoom = np.ones(3)
        zoom[axis] = 1.0 / f
        small = ndimage.zoom(x, zoom, order=1)
        x = ndimage.zoom(small, np.array(x.shape) / np.array(small.shape), order=1)[: x.shape[0], : x.shape[1],
                                                                                    : x.shape[2]]
    if rng.random() < 0.7:
        x = x + rng.normal(0, rng.uniform(0, 0.06), x.shape).astype(np.float32)
    x = np.where(fg | (x > 0.05), x, 0).astype(np.float32)
    hi = np.percentile(x, 99.5)
    return np.clip(x / max(hi, 1e-3), 0, 1.2).astype(np.float32)


def _side(points: np.ndarray, plane_point: np.ndarray, normal: np.ndarray, spacing: float) -> np.ndarray:
    """Signed distance (mm) of (N, 3) voxel points from a plane, positive along ``normal``."""
    return ((points - plane_point) @ normal) * spacing


def _disc_heights(lm: dict[str, np.ndarray]) -> list[float]:
    """Superior positions of the discs between the vertebrae of ``lm`` that are next to each other in the spine,
    cranial to caudal: halfway between them, variants included (L5/L6 and L6/S1 with an L6, L4/S1 in a four-lumbar
    spine; :data:`~spinemark.anatomy.REFERENCE_SPACING_MM`, and S5/Co)."""
    names = anatomy.sort_names(lm)
    return [(lm[a][2] + lm[b][2]) / 2.0 for a, b in zip(names, names[1:])
            if (a, b) in anatomy.REFERENCE_SPACING_MM or anatomy.order(b) - anatomy.order(a) == 1]


def _fov_bounds(lm: dict[str, np.ndarray], rng: np.random.Generator, cfg: PatchConfig,
                n_sup: int) -> tuple[float, float]:
    """Superior-axis bounds (patch voxels) of a field-of-view crop that keeps 60-160 mm.

    With probability ``cfg.fov_disc_fraction`` one edge lies at a disc (:func:`_disc_heights`, 1.5 mm jitter), as
    when a scan ends between L5 and S1, so that the bottom vertebra of a crop is not taken for S1.
    Only discs inside the patch with at least 60 mm of patch on the kept side are chosen.
    Otherwise the crop sits at random.
    """
    keep = rng.uniform(60.0, 160.0) / cfg.spacing_mm
    if cfg.fov_disc_fraction > 0 and rng.random() < cfg.fov_disc_fraction:
        room = 60.0 / cfg.spacing_mm
        cuts = [(z, above) for z in _disc_heights(lm) if 0 <= z <= n_sup - 1 for above in (True, False)
                if (n_sup - 1 - z if above else z) >= room]
        if cuts:
            z, above = cuts[int(rng.integers(len(cuts)))]
            edge = z + rng.normal(0.0, 1.5 / cfg.spacing_mm)
            return (edge, edge + keep) if above else (edge - keep, edge)
    mid = rng.uniform(0, n_sup - 1)
    return mid - keep / 2.0, mid + keep / 2.0


def draw_patch(case: Case, rng: np.random.Generator, cfg: PatchConfig, centre: np.ndarray | None = None) -> Patch:
    """Draw one augmented patch with its targets and loss masks."""
    size = np.array(cfg.patch_size)
    mat = _transform(rng, cfg)
    c_case = _centre(case, rng, cfg) if centre is None else np.asarray(centre, dtype=np.float64)
    c_patch = (size - 1) / 2.0
    offset = c_case - mat @ c_patch
    img = ndimage.affine_transform(case.image, mat, offset=offset, output_shape=tuple(size), order=1, mode="constant",
                                   cval=0.0).astype(np.float32)
    inside = ndimage.affine_transform(np.ones(case.image.shape, np.float32), mat, offset=offset,
                                      output_shape=tuple(size), order=0, mode="constant", cval=0.0) > 0.5
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float32) for n in size], indexing="ij"), -1)
    inv = np.linalg.inv(mat)
    lm = {n: inv @ (p - offset) for n, p in case.landmarks.items()}  # patch voxel positions
    cut, fov = {}, None
    # field-of-view crop along the superior axis, keeping a few vertebrae
    if cfg.augment and rng.random() < cfg.fov_crop_prob:
        lo, hi = _fov_bounds(lm, rng, cfg, size[2])
        fov = (grid[..., 2] >= lo) & (grid[..., 2] <= hi)
        inside &= fov
        img[~fov] = 0.0
        cut = {n: p for n, p in lm.items() if not lo <= p[2] <= hi} if cfg.fov_edge_targets else {}
        lm = {n: p for n, p in lm.items() if lo <= p[2] <= hi}
    if cfg.augment:
        img = _intensity(img, rng)
    sig = cfg.sigma_mm / cfg.spacing_mm

    def gaussian(p: np.ndarray) -> np.ndarray:
        return np.exp(-((grid - p.astype(np.float32)) ** 2).sum(-1) / np.float32(2 * sig * sig))

    gauss = {n: gaussian(p) for n, p in lm.items()}
    # a body cut away by the crop keeps the tail of its Gaussian inside it: the part of it still in view
    # (such as the top of S1 at the lower edge of a lumbar scan) is where it is, not "no vertebra"
    gauss.update({n: gaussian(p) * fov for n, p in cut.items()})
    zeros = np.zeros(tuple(size), np.float32)
    n_ch = len(cfg.levels) + 1
    target = np.zeros((n_ch, *size), np.float32)
    mask = np.ones((n_ch, *size), np.float32)
    for c, name in enumerate(cfg.levels):
        target[c] = gauss.get(name, zeros)
    target[-1] = np.max(np.stack([g for n, g in gauss.items()]), 0) if gauss else zeros
    s1_target = gauss.get("S1", zeros)[None].copy()
    s1_mask = np.ones((1, *size), np.float32)
    if case.source != "phantom":  # partially labelled: supervised inside its labelled span only
        if case.span is None:
            raise ValueError(f"case {case.case_id}: a real case needs a labelled span (two labelled levels) to be "
                             "trained on; without it every level in view would be taught as background")
        up_p, up_n, lo_p, lo_n = case.span
        pts = grid.reshape(-1, 3) @ mat.T + offset  # case voxel coordinates of patch voxels
        above_upper = (_side(pts, up_p, up_n, cfg.spacing_mm) > -SPAN_MARGIN_MM).reshape(tuple(size))
        below_lower = (_side(pts, lo_p, lo_n, cfg.spacing_mm) > -SPAN_MARGIN_MM).reshape(tuple(size))
        labelled = [anatomy.order(n) for n in case.landmarks]
        top, bottom = min(labelled), max(labelled)
        outside = ~inside
        for c, name in enumerate(cfg.levels):
            if name in case.landmarks:
                continue
            o = anatomy.order(name)
            unknown = above_upper if o < top else below_lower if o > bottom else np.zeros_like(above_upper)
            mask[c] = (~unknown | outside).astype(np.float32)
        mask[-1] = (~(above_upper | below_lower) | outside).astype(np.float32)
        if "S1" not in case.landmarks:
            s1_mask[0] = (~below_lower | outside).astype(np.float32)
    return Patch(img[None], target, mask, s1_target, s1_mask)


def draw_batch(cases: list[Case], rng: np.random.Generator, cfg: PatchConfig, n: int,
               weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``n`` patches from randomly chosen cases (with probabilities ``weights``, summing to 1; None: uniform),
    stacked into arrays."""
    def pick() -> int:
        return int(rng.integers(len(cases))) if weights is None else int(rng.choice(len(cases), p=weights))

    patches = [draw_patch(cases[pick()], rng, cfg) for _ in range(n)]
    return {k: np.stack([getattr(p, k) for p in patches]) for k in PATCH_KEYS}
