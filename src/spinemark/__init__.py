"""spinemark: find and name the vertebrae in spine and pelvic MRI of any field of view.

Example:
    >>> import spinemark
    >>> pred = spinemark.predict("scan.nii.gz")  # doctest: +SKIP
    >>> [(p.name, p.position_mm) for p in pred.landmarks]  # doctest: +SKIP
"""

import logging

from spinemark.api import load_volume, predict, predict_file
from spinemark.landmarks import Landmark, Landmarks
from spinemark.volume import Volume

__version__ = "0.1.0"
__all__ = ["Landmark", "Landmarks", "Volume", "load_volume", "predict", "predict_file", "__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
