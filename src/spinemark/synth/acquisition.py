"""Acquisition geometry: slice orientation, obliquity, patient position, field of view, and
the resampling of the patient-space phantom onto the acquisition grid.

World space is the scanner's RAS mm frame. The patient (the anatomy built in patient space)
sits in it through a rigid transform ``world = R @ patient + t``; the acquisition grid is
``world = A @ [i, j, k, 1]``. Array axis 2 is always the slice axis.

Example:
    >>> import numpy as np
    >>> from spinemark.synth.acquisition import direction_matrix
    >>> direction_matrix("sagittal").round(3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from spinemark.synth.raster import PatientGrid

log = logging.getLogger(__name__)

_AXES = {  # world direction of array axes 0, 1, 2 (the slice axis)
    "sagittal": ([0, 1, 0], [0, 0, 1], [1, 0, 0]),
    "axial": ([1, 0, 0], [0, 1, 0], [0, 0, 1]),
    "coronal": ([1, 0, 0], [0, 0, 1], [0, 1, 0]),
}


def direction_matrix(orientation: str, oblique_deg=(0.0, 0.0, 0.0)) -> np.ndarray:
    """3x3 matrix whose columns are the world directions of the array axes."""
    d = np.array(_AXES[orientation], float).T
    if np.any(np.asarray(oblique_deg) != 0):
        d = Rotation.from_euler("xyz", oblique_deg, degrees=True).as_matrix() @ d
    return d


@dataclass(frozen=True)
class Acquisition:
    """A resolved acquisition: grid affine and shape, and the patient pose in the scanner."""

    affine: np.ndarray  # 4x4 voxel -> world
    shape: tuple[int, int, int]
    patient_rotation: np.ndarray  # 3x3, world = R @ patient + t
    patient_translation: np.ndarray
    warnings: tuple[str, ...] = ()

    def patient_to_world(self, p) -> np.ndarray:
        return np.asarray(p) @ self.patient_rotation.T + self.patient_translation

    def world_to_patient(self, w) -> np.ndarray:
        return (np.asarray(w) - self.patient_translation) @ self.patient_rotation

    def in_view(self, world) -> np.ndarray:
        """True where a world point's voxel index lies inside the grid (centre-inside rule)."""
        ijk = (np.asarray(world) - self.affine[:3, 3]) @ np.linalg.inv(self.affine[:3, :3]).T
        n = np.asarray(self.shape)
        return np.all((ijk >= -0.5) & (ijk <= n - 0.5), axis=-1)


def plan(promised_patient: np.ndarray, orientation: str, shape, spacing, rng, *, shape_fixed: bool,
         spacing_fixed: bool, oblique_deg: float, rotation_deg: float, jitter: float, margin: float) -> Acquisition:
    """Place the grid so that every promised point (patient mm) is in view with a margin.

    When the promised span does not fit, the grid grows: the spacing if only the shape was
    given, else the number of voxels; if both were given the promise may be broken (warning).
    """
    rot = Rotation.from_euler("xyz", rng.uniform(-1, 1, 3) * rotation_deg, degrees=True).as_matrix()
    trans = rng.normal(0, 20, 3)
    obl = rng.uniform(-1, 1, 3) * oblique_deg
    d = direction_matrix(orientation, obl)
    shape, spacing = np.array(shape, int), np.array(spacing, float)
    world = promised_patient @ rot.T + trans
    q = world @ d  # coordinates along the array axes
    lo, hi = q.min(0), q.max(0)
    warnings = []
    for i in range(3):
        m = min(margin, 0.25 * shape[i] * spacing[i])
        need = hi[i] - lo[i] + 2 * m
        if need > shape[i] * spacing[i]:
            if shape_fixed and not spacing_fixed:
                spacing[i] = need / shape[i]
            elif not shape_fixed:
                shape[i] = int(np.ceil(need / spacing[i]))
            else:
                warnings.append(f"field of view axis {i} ({shape[i] * spacing[i]:.0f} mm) is shorter than the promised "
                                f"levels need ({need:.0f} mm)")
    ext = shape * spacing
    centre_q = np.empty(3)
    for i in range(3):
        m = min(margin, 0.25 * ext[i])
        a, b = hi[i] - ext[i] / 2 + m, lo[i] + ext[i] / 2 - m
        mid, half = (a + b) / 2, max(b - a, 0) / 2
        centre_q[i] = mid + jitter * rng.uniform(-1, 1) * half
    centre_w = d @ centre_q
    aff = np.eye(4)
    aff[:3, :3] = d * spacing
    aff[:3, 3] = centre_w - aff[:3, :3] @ ((shape - 1) / 2)
    return Acquisition(aff, tuple(int(s) for s in shape), rot, trans, tuple(warnings))


def patient_grid(acq: Acquisition, bounds_lo, bounds_hi, raster_mm: float | None, max_voxels: int = 7_000_000):
    """The axis-aligned patient-space grid that covers the acquisition's field of view."""
    n = np.asarray(acq.shape)
    corners = np.array([[i, j, k] for i in (-0.5, n[0] - 0.5) for j in (-0.5, n[1] - 0.5) for k in (-0.5, n[2] - 0.5)])
    wc = corners @ acq.affine[:3, :3].T + acq.affine[:3, 3]
    pc = acq.world_to_patient(wc)
    lo = np.maximum(pc.min(0), bounds_lo)
    hi = np.minimum(pc.max(0), bounds_hi)
    hi = np.maximum(hi, lo + 1)
    if raster_mm:
        sp = np.full(3, float(raster_mm))
    else:
        m = acq.patient_rotation.T @ acq.affine[:3, :3]  # patient-axis components of the voxel edges
        samp = np.sqrt((acq.affine[:3, :3] ** 2).sum(0)) * np.array([1.0, 1.0, 0.5])
        cols = m / np.linalg.norm(m, axis=0)
        sp = np.array([min(samp[j] / max(abs(cols[i, j]), 1e-6) for j in range(3)) for i in range(3)])
        sp = np.clip(sp, 1.0, 2.0)
    shape = np.ceil((hi - lo) / sp).astype(int) + 1
    while np.prod(shape) > max_voxels:
        sp *= 1.15
        shape = np.ceil((hi - lo) / sp).astype(int) + 1
    return PatientGrid(lo.astype(float), sp, tuple(int(s) for s in shape))


def output_to_grid(acq: Acquisition, grid: PatientGrid) -> np.ndarray:
    """4x4 map from output voxel indices to fractional indices of the patient grid."""
    w2p = np.eye(4)
    w2p[:3, :3] = acq.patient_rotation.T
    w2p[:3, 3] = -acq.patient_rotation.T @ acq.patient_translation
    p2g = np.eye(4)
    p2g[:3, :3] = np.diag(1 / grid.spacing)
    p2g[:3, 3] = -grid.origin / grid.spacing
    return p2g @ w2p @ acq.affine


def resample(data: np.ndarray, m: np.ndarray, shape, order: int) -> np.ndarray:
    """Sample ``data`` (patient grid) at every output voxel (nearest for labels, linear for images)."""
    return ndimage.affine_transform(data, m[:3, :3], offset=m[:3, 3], output_shape=tuple(shape), order=order,
                                    mode="constant", cval=0, prefilter=False)


def slice_blur(image: np.ndarray, acq: Acquisition, grid: PatientGrid) -> np.ndarray:
    """Partial volume of thick slices: a Gaussian along the patient axis nearest the slice axis."""
    m = acq.patient_rotation.T @ acq.affine[:3, :3]
    thick = float(np.linalg.norm(m[:, 2]))
    axis = int(np.argmax(np.abs(m[:, 2])))
    sig_mm = np.sqrt(max(thick**2 - grid.spacing[axis] ** 2, 0)) / 2.355
    if sig_mm / grid.spacing[axis] < 0.3:
        return image
    return ndimage.gaussian_filter1d(image, sig_mm / grid.spacing[axis], axis=axis, mode="nearest", truncate=2.5)
