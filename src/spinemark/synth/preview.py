"""Overview picture of phantoms: mid-sagittal slices of every preset in several contrasts.

Example:
    >>> from spinemark.synth.preview import overview_png
    >>> png = overview_png(presets=("lumbar",), contrasts=("T2",), small=True)  # doctest: +SKIP
"""

from __future__ import annotations

import io

import numpy as np

from spinemark.synth.presets import PRESETS


def mid_sagittal(ph) -> tuple[np.ndarray, tuple[float, float]]:
    """The slice through the spine midline of a sagittal phantom, anterior left, superior up."""
    k = 0
    if len(ph.landmarks):
        k = int(round(float(np.median(ph.landmarks.voxel_ijk()[:, 2]))))
    k = int(np.clip(k, 0, ph.image.shape[2] - 1))
    sl = ph.image.data[::-1, :, k].T  # rows: superior->inferior after flip below
    sp = ph.image.spacing_mm
    return sl[::-1], (float(sp[0]), float(sp[1]))


def overview_png(presets=None, contrasts=("T1", "T2", "STIR", "dixon_water", "dixon_fat", "random"), seed: int = 0,
                 small: bool = False) -> bytes:
    """PNG bytes of a grid of mid-sagittal slices (rows: presets, columns: contrasts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spinemark.synth.phantom import make_phantom

    presets = presets or tuple(PRESETS)
    fig, axes = plt.subplots(len(presets), len(contrasts), figsize=(2.6 * len(contrasts), 2.9 * len(presets)),
                             squeeze=False)
    for r, name in enumerate(presets):
        for c, contrast in enumerate(contrasts):
            kw = {"shape": (64, 64, 12)} if small else {}
            ph = make_phantom(name, seed=seed + 7 * r + c, contrast=contrast, **kw)
            sl, (sy, sz) = mid_sagittal(ph)
            ax = axes[r, c]
            h, w = sl.shape
            ax.imshow(sl, cmap="gray", extent=(0, w * sy, 0, h * sz), vmin=0, vmax=np.percentile(sl, 99.5))
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name)
            if r == 0:
                ax.set_title(contrast)
            vis = [n for n in ph.landmarks.names if "/" not in n]
            if vis:
                ax.text(2, 2, f"{vis[0]}..{vis[-1]}", color="yellow", fontsize=7, va="bottom")
    fig.suptitle("spinemark synthetic phantoms (mid-sagittal, anterior left)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))  # room for the title above the column names
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=55)
    plt.close(fig)
    return buf.getvalue()
