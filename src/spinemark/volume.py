"""Volume: a 3D array with its voxel-to-world affine (RAS mm) and the geometry of its source file.

Methods work on a canonical volume (reoriented to RAS, resampled isotropically); every
result is mapped back to the input grid through the affines, never reported in a
resampled grid. World coordinates are invariant under all of these operations, so a
point's ``position_mm`` is the same whatever grid it was found in.

Example:
    >>> import numpy as np
    >>> from spinemark.volume import Volume, to_canonical, resample
    >>> v = Volume(np.zeros((20, 30, 10), np.float32), np.diag([0.5, 0.5, 4.0, 1.0]))
    >>> iso = resample(to_canonical(v), 2.0)
    >>> iso.shape, iso.spacing_mm.tolist()
    ((5, 8, 20), [2.0, 2.0, 2.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from spinemark.errors import InputError

MAX_VOXELS = 400_000_000
"""Largest image accepted (voxels); larger ones are refused before their data is read."""

MIN_SPACING_MM, MAX_SPACING_MM = 0.05, 20.0
"""Voxel spacing outside this range is treated as corrupt geometry."""


@dataclass(frozen=True)
class Geometry:
    """A voxel grid: its shape and voxel-to-world affine (RAS mm), and the file it belongs to."""

    shape: tuple[int, int, int]
    affine: np.ndarray
    path: str | None = None

    @property
    def spacing_mm(self) -> np.ndarray:
        return spacing_of(self.affine)

    def voxel_to_world(self, voxel_ijk) -> np.ndarray:
        return voxel_to_world(self.affine, voxel_ijk)

    def world_to_voxel(self, position_mm) -> np.ndarray:
        return world_to_voxel(self.affine, position_mm)


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D image with its affine.

    Attributes:
        data: 3D array, indexed ``[i, j, k]``.
        affine: 4x4 voxel-to-world matrix, world in RAS millimetres.
        source: Geometry of the file the volume was read from; kept through
            reorientation, resampling and cropping so results map back to it.
    """

    data: np.ndarray
    affine: np.ndarray
    source: Geometry | None = field(default=None)

    def __post_init__(self):
        object.__setattr__(self, "affine", np.asarray(self.affine, dtype=np.float64))
        if self.source is None:
            object.__setattr__(self, "source", Geometry(tuple(self.data.shape), self.affine.copy()))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def spacing_mm(self) -> np.ndarray:
        return spacing_of(self.affine)

    @property
    def geometry(self) -> Geometry:
        """This volume's own grid."""
        return Geometry(tuple(self.data.shape), self.affine, self.source.path if self.source else None)

    @property
    def path(self) -> str | None:
        return self.source.path if self.source else None

    def with_data(self, data: np.ndarray) -> Volume:
        """A volume on the same grid with other voxel values (e.g. a label map)."""
        if data.shape != self.data.shape:
            raise ValueError(f"shape {data.shape} does not match {self.data.shape}")
        return replace(self, data=data)

    def voxel_to_world(self, voxel_ijk) -> np.ndarray:
        return voxel_to_world(self.affine, voxel_ijk)

    def world_to_voxel(self, position_mm) -> np.ndarray:
        return world_to_voxel(self.affine, position_mm)


def spacing_of(affine: np.ndarray) -> np.ndarray:
    """Voxel spacing (mm) along each array axis: the lengths of the affine's columns."""
    return np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))


def voxel_to_world(affine: np.ndarray, voxel_ijk) -> np.ndarray:
    """Map voxel indices (..., 3) to world mm (..., 3)."""
    p = np.asarray(voxel_ijk, dtype=np.float64)
    return p @ affine[:3, :3].T + affine[:3, 3]


def world_to_voxel(affine: np.ndarray, position_mm) -> np.ndarray:
    """Map world mm (..., 3) to fractional voxel indices (..., 3)."""
    inv = np.linalg.inv(affine)
    p = np.asarray(position_mm, dtype=np.float64)
    return p @ inv[:3, :3].T + inv[:3, 3]


def check_geometry(shape, affine, path=None, max_voxels: int | None = MAX_VOXELS) -> None:
    """Raise :class:`InputError` for a shape or affine spinemark cannot work with.

    Checked before the voxel data is read, so a huge image is refused without loading it.
    """
    shape = tuple(int(s) for s in shape)
    squeezed = [s for s in shape if s > 1]
    if len(shape) < 3 or len(squeezed) < 3:
        raise InputError(path, f"image is {len(squeezed)}D (shape {shape}); a 3D volume is needed")
    if len(shape) > 3 and any(s > 1 for s in shape[3:]):
        raise InputError(path, f"image is 4D or more (shape {shape}); give one 3D volume")
    n = int(np.prod(shape[:3], dtype=np.int64))
    if max_voxels is not None and n > max_voxels:
        raise InputError(path, f"image too large to process: {n:,} voxels (shape {shape[:3]}), limit {max_voxels:,}")
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise InputError(path, "affine is missing or not finite")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise InputError(path, "affine is not invertible (degenerate orientation or zero spacing)")
    sp = spacing_of(affine)
    if np.any(sp < MIN_SPACING_MM) or np.any(sp > MAX_SPACING_MM):
        raise InputError(
            path, f"absurd voxel spacing {np.round(sp, 4).tolist()} mm (allowed {MIN_SPACING_MM}..{MAX_SPACING_MM})"
        )


def check_volume(volume: Volume, path=None, max_voxels: int | None = MAX_VOXELS) -> None:
    """Raise :class:`InputError` for a volume that cannot be processed (bad geometry, more voxels than ``max_voxels``
    (None: no limit), NaN/Inf, values beyond 32-bit floats, all zero)."""
    path = path or volume.path
    check_geometry(volume.shape, volume.affine, path, max_voxels)
    data = volume.data
    if data.ndim != 3:
        raise InputError(path, f"image has {data.ndim} dimensions; a 3D volume is needed")
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
        raise InputError(path, f"voxel type {data.dtype} is not a real number type")
    if np.issubdtype(data.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        if bad:
            raise InputError(path, f"image has {bad:,} NaN or infinite voxels")
        largest = max(abs(float(data.max())), abs(float(data.min())))
        limit = float(np.finfo(np.float32).max)
        if largest > limit:  # finite (e.g. scaled by a NIfTI scl_slope into float64), but infinite in float32
            raise InputError(path, f"values overflow 32-bit floats (largest magnitude {largest:.3g}, limit "
                                   f"{limit:.3g}): check the intensity scaling (NIfTI scl_slope/scl_inter, DICOM "
                                   "rescale slope)")
    if not np.any(data):
        raise InputError(path, "image is all zero: nothing to find")


def to_canonical(volume: Volume) -> Volume:
    """Reorient (axis permutation and flips only, no interpolation) so axes point to R, A, S.

    Oblique images keep their rotation in the affine; the array axes become the ones
    closest to R, A and S.
    """
    import nibabel as nib

    ornt = nib.orientations.io_orientation(volume.affine)
    target = nib.orientations.axcodes2ornt(("R", "A", "S"))
    transform = nib.orientations.ornt_transform(ornt, target)
    if np.array_equal(transform, [[0, 1], [1, 1], [2, 1]]):
        return volume
    data = nib.orientations.apply_orientation(volume.data, transform)
    affine = volume.affine @ nib.orientations.inv_ornt_aff(transform, volume.shape)
    return Volume(np.ascontiguousarray(data), affine, volume.source)


def resample_to(volume: Volume, target: Geometry, order: int = 1, cval: float = 0.0,
                smooth_sigma=None) -> Volume:
    """Resample ``volume`` onto the grid ``target`` (world positions are preserved exactly).

    ``order=0`` (nearest) for label maps, 1 (linear) or 3 (cubic) for images. ``smooth_sigma`` (voxels of
    ``volume``, one per axis) applies a Gaussian filter first (ndimage's ``gaussian_filter``, 'reflect' edges):
    anti-aliasing before downsampling. A sample within the image's box (up to half a voxel beyond its outer voxel
    centres) takes the value of the nearest edge; one outside the box is ``cval``. (ndimage's 'constant' mode gives
    ``cval`` already beyond the outer centres: with slices thicker than the target spacing the first and last target
    slices along that axis came out black although the image covers them.) Linear resampling between axis-aligned
    grids (the usual case: isotropic resampling, QC slices) runs as one small matrix product per axis, several times
    faster than the general path and equal to it up to float rounding.
    """
    m = np.linalg.inv(volume.affine) @ np.asarray(target.affine)
    data = volume.data
    if order > 0 and not np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float32)
    sigma = np.zeros(3) if smooth_sigma is None else np.broadcast_to(np.asarray(smooth_sigma, float), (3,))
    lin = m[:3, :3]
    if order == 1 and cval == 0 and np.allclose(lin, np.diag(np.diag(lin)), rtol=0, atol=1e-9 * np.abs(lin).max()):
        out = _separable_linear(data, np.diag(lin), m[:3, 3], tuple(target.shape), sigma)
    else:
        if np.any(sigma > 0):
            data = ndimage.gaussian_filter(data, sigma)
        out = ndimage.affine_transform(
            data, m[:3, :3], offset=m[:3, 3], output_shape=tuple(target.shape), order=order, mode="nearest",
            prefilter=order > 1,
        )
        out[~_inside_box(m, tuple(target.shape), data.shape)] = cval
    return Volume(out, np.asarray(target.affine, dtype=np.float64), volume.source)


BOX_TOLERANCE = 1e-6
"""Voxels beyond the half-voxel border of an image's box that still count as inside (float rounding of affines)."""


def _inside_box(m: np.ndarray, shape: tuple[int, ...], in_shape: tuple[int, ...]) -> np.ndarray:
    """Which voxels of an output grid of ``shape`` fall within the box of an input grid of ``in_shape`` (index map
    ``m``, output index -> input index): up to half a voxel beyond the input's outer voxel centres."""
    lo = -0.5 - BOX_TOLERANCE
    hi = np.asarray(in_shape, dtype=np.float64)[:, None] - 0.5 + BOX_TOLERANCE
    yz = np.indices(shape[1:]).reshape(2, -1).astype(np.float64)
    inside = np.empty(shape, dtype=bool)
    for i in range(shape[0]):  # a slab at a time: the coordinates of every voxel at once would take gigabytes
        c = m[:3, :3] @ np.vstack([np.full(yz.shape[1], float(i)), yz]) + m[:3, 3:4]
        inside[i] = np.all((c >= lo) & (c <= hi), axis=0).reshape(shape[1:])
    return inside


def _axis_operator(n_in: int, n_out: int, scale: float, offset: float, sigma: float) -> np.ndarray:
    """The (n_out, n_in) matrix of Gaussian smoothing (``sigma`` voxels, ndimage's 'reflect' edges) then linear
    sampling at input index ``scale * i + offset``: the nearest edge value within half a voxel beyond the outer
    centres (the image's box), zero beyond it."""
    op = np.eye(n_in)
    if sigma > 0:
        op = ndimage.gaussian_filter1d(op, sigma, axis=0)
    x = scale * np.arange(n_out) + offset
    rows = np.nonzero((x >= -0.5 - BOX_TOLERANCE) & (x <= n_in - 0.5 + BOX_TOLERANCE))[0]
    x = np.clip(x[rows], 0.0, n_in - 1.0)
    lo = np.clip(np.floor(x).astype(int), 0, max(n_in - 2, 0))
    w = x - lo
    sample = np.zeros((n_out, n_in))
    np.add.at(sample, (rows, lo), 1.0 - w)
    if n_in > 1:
        np.add.at(sample, (rows, lo + 1), w)
    return sample @ op


def _separable_linear(data: np.ndarray, scale, offset, shape, sigma) -> np.ndarray:
    """Smoothing and linear resampling of an axis-aligned grid, one axis at a time (most shrinking axis first)."""
    for ax in sorted(range(3), key=lambda a: shape[a] / data.shape[a]):
        op = _axis_operator(data.shape[ax], shape[ax], scale[ax], offset[ax], sigma[ax]).astype(data.dtype)
        data = np.moveaxis(np.tensordot(op, data, axes=([1], [ax])), 0, ax)
    return np.ascontiguousarray(data)


def isotropic_geometry(geometry: Geometry, spacing_mm: float) -> Geometry:
    """A grid with the same axis directions and physical extent as ``geometry``, at ``spacing_mm``.

    The outer voxel corners are kept, so the new grid covers the same box in the world.
    """
    old = geometry.spacing_mm
    shape = tuple(max(1, int(np.ceil(n * s / spacing_mm - 1e-6))) for n, s in zip(geometry.shape, old))
    scale = spacing_mm / old
    # new index i -> old index (i + 0.5) * scale - 0.5
    index_map = np.eye(4)
    index_map[:3, :3] = np.diag(scale)
    index_map[:3, 3] = 0.5 * scale - 0.5
    return Geometry(shape, np.asarray(geometry.affine) @ index_map, geometry.path)


def resample(volume: Volume, spacing_mm: float, order: int = 1, antialias: bool = False) -> Volume:
    """Resample to isotropic ``spacing_mm``, keeping axis directions and physical extent.

    ``antialias``: smooth first along axes shrunk more than 1.2 times (Gaussian, sigma 0.4 x the shrink factor).
    """
    target = isotropic_geometry(volume.geometry, spacing_mm)
    if target.shape == volume.shape and np.allclose(target.affine, volume.affine):
        return volume
    factor = float(spacing_mm) / volume.spacing_mm
    sigma = np.where(factor > 1.2, 0.4 * factor, 0.0) if antialias else None
    return resample_to(volume, target, order=order, smooth_sigma=sigma)


def crop(volume: Volume, start, stop) -> Volume:
    """Crop to voxel box ``[start, stop)`` (clipped to the image); the affine moves with it."""
    start = np.clip(np.asarray(start, dtype=int), 0, volume.shape)
    stop = np.clip(np.asarray(stop, dtype=int), start, volume.shape)
    sl = tuple(slice(a, b) for a, b in zip(start, stop))
    affine = volume.affine.copy()
    affine[:3, 3] = voxel_to_world(volume.affine, start)
    return Volume(volume.data[sl].copy(), affine, volume.source)


def to_source_grid(volume: Volume, order: int = 0) -> Volume:
    """Map a volume on any derived grid (canonical, resampled, cropped) back onto its source grid."""
    if volume.source is None:
        return volume
    return resample_to(volume, volume.source, order=order)
