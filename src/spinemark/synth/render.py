"""MRI-like rendering of a class map: per-tissue intensities (presets or random), bias field,
texture, Rician noise and gamma.

Intensities of the presets are relative (brightest tissue about 1) and are scaled to a
typical scanner range (a few hundred to a few thousand) at the end.

Example:
    >>> import numpy as np
    >>> from spinemark.synth.render import tissue_intensities
    >>> lut = tissue_intensities("T2", np.random.default_rng(0))
    >>> bool(lut[7] > lut[4])  # CSF is bright, cortical bone dark, in T2
    True
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from spinemark.synth.raster import CLASSES

# air fat muscle marrow cortex nucleus annulus csf cord roots soft urine rectum uterus lung cartilage
# epidural_fat brain iliac_marrow nucleus_degenerated vessel (flow void)
_TABLE = {
    "T1": [0.0, 0.95, 0.32, 0.62, 0.04, 0.36, 0.28, 0.12, 0.42, 0.3, 0.38, 0.1, 0.3, 0.38, 0.03, 0.3, 0.9, 0.45,
           0.75, 0.3, 0.06],
    "T2": [0.0, 0.78, 0.2, 0.45, 0.04, 0.88, 0.18, 1.0, 0.4, 0.45, 0.32, 1.0, 0.3, 0.6, 0.03, 0.35, 0.72, 0.5,
           0.55, 0.35, 0.06],
    "STIR": [0.0, 0.05, 0.2, 0.14, 0.03, 0.82, 0.18, 1.0, 0.4, 0.5, 0.3, 1.0, 0.28, 0.55, 0.03, 0.35, 0.05, 0.45,
             0.12, 0.35, 0.06],
    "dixon_water": [0.0, 0.1, 0.42, 0.32, 0.04, 0.7, 0.3, 0.95, 0.5, 0.55, 0.45, 1.0, 0.4, 0.55, 0.04, 0.4, 0.08,
                    0.5, 0.25, 0.4, 0.06],
    "dixon_fat": [0.0, 1.0, 0.08, 0.6, 0.03, 0.04, 0.04, 0.03, 0.04, 0.04, 0.1, 0.02, 0.1, 0.05, 0.02, 0.05, 0.95,
                  0.05, 0.75, 0.05, 0.06],
}
assert all(len(v) == len(CLASSES) for v in _TABLE.values())


def tissue_intensities(contrast: str, rng: np.random.Generator, jitter: float = 0.08) -> np.ndarray:
    """Relative intensity of every render class for ``contrast`` (a little jittered per phantom).

    ``"random"`` draws every tissue uniformly in 0..1 (domain randomization); air stays dark.
    """
    if contrast == "random":
        lut = rng.uniform(0.0, 1.0, len(CLASSES))
        lut[0] = rng.uniform(0, 0.05)
        # structures that must stay distinguishable keep a minimum contrast to their neighbours
        if abs(lut[3] - lut[5]) < 0.1:
            lut[5] = (lut[3] + 0.5) % 1.0
        return lut.astype(np.float32)
    lut = np.array(_TABLE[contrast], np.float32)
    lut *= rng.uniform(1 - jitter, 1 + jitter, len(lut)).astype(np.float32)
    return np.clip(lut, 0, 1.2)


def smooth_field(shape, rng: np.random.Generator, strength: float, cells: int = 4) -> np.ndarray:
    """A smooth multiplicative field (mean about 1) on ``shape``, from a tiny random grid."""
    coarse = rng.normal(0, 1, (cells, cells, cells)).astype(np.float32)
    zoom = [s / cells for s in shape]
    f = ndimage.zoom(coarse, zoom, order=1, mode="nearest", grid_mode=True)
    f = f[: shape[0], : shape[1], : shape[2]]
    return np.exp(strength * f / max(float(np.abs(f).max()), 1e-6)).astype(np.float32)


def texture_bias(shape, rng: np.random.Generator, bias: float, texture: float = 0.06) -> np.ndarray:
    """Bias field times a fine texture, made coarse and interpolated (cheap on big grids)."""
    small = tuple(max(2, s // 4) for s in shape)
    b = smooth_field(small, rng, bias, cells=3)
    b *= np.exp(texture * rng.normal(0, 1, small)).astype(np.float32)
    zoom = [s / c for s, c in zip(shape, small)]
    return ndimage.zoom(b, zoom, order=1, mode="nearest", grid_mode=True)[: shape[0], : shape[1], : shape[2]]


def finish(image: np.ndarray, rng: np.random.Generator, noise: float, bias: float, gamma: float) -> np.ndarray:
    """Bias field and texture, Rician noise, gamma, and scaling to a scanner-like range (float32)."""
    img = image * texture_bias(image.shape, rng, bias)
    top = float(np.percentile(img[:: 4, :: 4, :: 2], 99.5)) or 1.0
    img /= top
    if noise > 0:
        n1 = rng.standard_normal(img.shape, dtype=np.float32)
        n2 = rng.standard_normal(img.shape, dtype=np.float32)
        img = np.sqrt((img + noise * n1) ** 2 + (noise * n2) ** 2)
    img = np.power(img, np.float32(gamma))
    scale = float(rng.uniform(400, 3000))
    return (img * scale).astype(np.float32)
