import numpy as np

from helpers import benchmark_script
from spinemark.volume import Volume

presence = benchmark_script("benchmarks/spine_presence.py")


def test_the_anterior_crop_keeps_only_what_lies_in_front_of_the_spine():
    # LPS-like storage: the array's second axis runs posterior, so anterior is at its low indices
    affine = np.array([[-1.0, 0, 0, 0], [0, -2.0, 0, 100.0], [0, 0, 1.0, 0], [0, 0, 0, 1]])
    vol = Volume(np.zeros((8, 60, 10), np.float32), affine)
    centres = np.array([[0.0, 20.0, 3.0], [0.0, 30.0, 6.0]])  # the most anterior centre at y = 30
    part = presence.anterior_crop(vol, centres, anterior_mm=35.0, min_depth_mm=10.0)
    ys = [part.voxel_to_world((0, j, 0))[1] for j in range(part.shape[1])]
    assert min(ys) > 65.0 and max(ys) == 100.0 and part.shape == (8, 18, 10)
    assert presence.anterior_crop(vol, centres, anterior_mm=35.0, min_depth_mm=40.0) is None


def test_synthetic_images_are_seeded_finite_and_of_every_kind():
    a = dict(presence.synthetic(9, seed=3))
    b = dict(presence.synthetic(9, seed=3))
    assert len(a) == 9 and len({k.split("_", 2)[2] for k in a}) == 9
    for k, vol in a.items():
        assert vol.data.ndim == 3 and np.isfinite(vol.data).all() and vol.data.min() >= 0 and vol.data.max() > 0
        assert np.array_equal(vol.data, b[k].data)


def test_the_report_counts_each_group_below_each_threshold():
    rows = [("spine", "a", 0.95), ("spine", "b", 0.65), ("no_spine", "c", 0.3), ("no_spine", "d", 0.62)]
    text = presence.report(rows, [0.6, 0.7])
    assert "spine: 2 images" in text and "no_spine: 2 images" in text
    lines = text.splitlines()
    assert lines[1] == "  below 0.6: 0 (0.0%)"
    assert lines[2] == "  below 0.7: 1 (50.0%); b 0.650"
    assert lines[4] == "  below 0.6: 1 (50.0%); at or above: d 0.620"
