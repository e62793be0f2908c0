"""Preprocessing shared by training and inference (pure numpy): canonical grid and intensities.

Example:
    >>> import numpy as np
    >>> from spinemark.nets.preprocess import normalise_intensity
    >>> x = normalise_intensity(np.arange(1000, dtype=np.float32).reshape(10, 10, 10))
    >>> float(x.min()), float(x.max())
    (0.0, 1.0)
"""

from __future__ import annotations

import numpy as np

from spinemark.volume import Volume, resample, to_canonical

PERCENTILES = (1.0, 99.0)
"""Default robust intensity window (percentiles of the non-zero voxels)."""


def normalise_intensity(data: np.ndarray, low: float = PERCENTILES[0], high: float = PERCENTILES[1]) -> np.ndarray:
    """Map the ``[low, high]`` percentile window of the non-zero voxels to [0, 1], clipping outside.

    Robust to a few very bright voxels and to zero padding around the field of view.
    """
    x = np.asarray(data, dtype=np.float32)
    nz = x[x != 0]
    ref = nz if nz.size > 100 else x.ravel()
    lo, hi = np.percentile(ref, [low, high]) if ref.size else (0.0, 1.0)
    if hi - lo < 1e-6:
        hi = lo + 1.0
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def canonical_input(volume: Volume, spacing_mm: float, percentiles=PERCENTILES) -> Volume:
    """Reorient to RAS, resample isotropically to ``spacing_mm`` and normalise intensities.

    The returned volume keeps ``volume.source``, so points found on it map back to the input grid.
    """
    iso = resample(to_canonical(volume), float(spacing_mm), order=1, antialias=True)
    return iso.with_data(normalise_intensity(iso.data, *percentiles))


def pad_to_multiple(data: np.ndarray, multiple: int = 4, minimum: int = 8) -> tuple[np.ndarray, tuple[int, ...]]:
    """Zero-pad a 3D array at the far end of each axis to a multiple of ``multiple`` (at least ``minimum``).

    Returns:
        The padded array and the original shape (crop the outputs back to it).
    """
    shape = data.shape
    target = [max(minimum, int(np.ceil(s / multiple)) * multiple) for s in shape]
    padded = np.zeros(target, dtype=data.dtype)
    padded[: shape[0], : shape[1], : shape[2]] = data
    return padded, shape
