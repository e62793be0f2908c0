import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parent / "evaluate"))  # eval_fakes, also used by tests outside evaluate/

from helpers import SHARED_DATA  # noqa: E402


@pytest.fixture
def shared_data():
    """The real data folder; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _restore_logging_levels():
    """A CLI call sets the logging levels (``--quiet``: errors only); restore them, so that later tests see warnings."""
    import logging

    root, pkg = logging.getLogger(), logging.getLogger("spinemark")
    levels = root.level, pkg.level
    yield
    root.setLevel(levels[0])
    pkg.setLevel(levels[1])


class BrightestBlobMethod:
    """Test-only method: the centroid of the above-median voxels, named L5. Exercises the plumbing, not a model."""

    name = "test-blob"
    model_info = {"name": "test-blob", "version": "0", "sha256": ""}

    def predict(self, volume, known=None):
        import numpy as np

        from spinemark.landmarks import Landmark, Landmarks
        from spinemark.methods.base import Prediction

        idx = np.argwhere(volume.data > np.median(volume.data))
        if not len(idx):  # a featureless image: nothing found
            return Prediction(Landmarks([], volume.source))
        centre = volume.voxel_to_world(idx.mean(axis=0))
        return Prediction(Landmarks([Landmark("L5", centre, 0.5)], volume.source), timings={"network": 0.0})


@pytest.fixture(scope="session", autouse=True)
def _register_test_method():
    from spinemark.methods.base import register_method

    register_method("test-blob", "test only")(lambda weights=None, **kw: BrightestBlobMethod())
