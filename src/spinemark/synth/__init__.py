"""Synthetic spine phantoms: procedural anatomy, acquisition geometry and MRI-like rendering.

Unlimited, perfectly labelled data for tests, the demo, training and stress tests.

Example:
    >>> from spinemark.synth import make_phantom, PRESETS
    >>> ph = make_phantom("pelvic", seed=0, shape=(64, 64, 16), spacing_mm=(4.0, 4.0, 8.0))
    >>> [n for n in ph.landmarks.names if n in ("L5", "S1")]
    ['L5', 'S1']
"""

from spinemark.synth.config import CONTRASTS, ORIENTATIONS, TISSUES, PhantomConfig
from spinemark.synth.dataset import generate_dataset
from spinemark.synth.phantom import Phantom, make_phantom
from spinemark.synth.presets import PRESETS, Preset

__all__ = ["CONTRASTS", "ORIENTATIONS", "PRESETS", "TISSUES", "Phantom", "PhantomConfig", "Preset",
           "generate_dataset", "make_phantom"]
