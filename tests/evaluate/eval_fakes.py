"""Helpers of the evaluation tests: hand-made truths, a tiny labelled volume, fake methods (test-only)."""

from __future__ import annotations

import numpy as np

from spinemark.landmarks import Landmark, Landmarks
from spinemark.methods.base import Prediction
from spinemark.volume import Volume

LUMBAR = ("L1", "L2", "L3", "L4", "L5")
SPACING = 30.0  # mm between vertebral centres in the hand-made truths


def column(names=LUMBAR, spacing=SPACING, z0=0.0) -> Landmarks:
    """Vertebrae on a vertical line, cranial at the top (RAS z up), ``spacing`` mm apart."""
    return Landmarks([Landmark(n, (0.0, 0.0, z0 - i * spacing)) for i, n in enumerate(names)])


class OracleMethod:
    """Returns the true centres that lie inside the given volume, optionally shifted or renamed."""

    name = "oracle-test"
    model_info: dict = {}

    def __init__(self, truth: Landmarks, shift_mm=(0.0, 0.0, 0.0), crop_aware: bool = True, confidence: float = 0.9,
                 warnings: tuple[str, ...] = ()):
        self.truth, self.shift, self.crop_aware = truth, np.asarray(shift_mm, float), crop_aware
        self.confidence, self.warnings = confidence, list(warnings)

    def predict(self, volume: Volume, known=None) -> Prediction:
        pts = []
        for p in self.truth:
            pos = np.asarray(p.position_mm) + self.shift
            ijk = volume.world_to_voxel(p.position_mm)
            if not self.crop_aware or (np.all(ijk >= -0.5) and np.all(ijk <= np.asarray(volume.shape) - 0.5)):
                pts.append(Landmark(p.name, pos, self.confidence))
        return Prediction(Landmarks(pts, volume.geometry), warnings=self.warnings,
                          timings={"network": 0.001, "decode": 0.0005})


class FailingMethod:
    name = "failing-test"
    model_info: dict = {}

    def predict(self, volume, known=None):
        raise RuntimeError("boom")


def labelled_volume(names=LUMBAR, spacing_vox=10, shape=(70, 12, 8), top=12):
    """A tiny scan shaped like the dataset (axis 0 superior to inferior, axis 1 A->P, axis 2 L-R).

    Returns the image volume, the label map (same grid) and the centres as landmarks.
    """
    affine = np.array([[0, 0, 1, 0], [0, -1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1]], float)
    labels = np.zeros(shape, np.uint8)
    from spinemark import anatomy

    for i, n in enumerate(names):
        c = top + i * spacing_vox
        labels[c - 3:c + 4, 3:9, 2:6] = anatomy.name_to_id(n)
    img = (labels > 0).astype(np.float32) * 100 + 10
    vol = Volume(img, affine)
    truth = Landmarks.from_label_map(labels, affine)
    return vol, labels, truth
