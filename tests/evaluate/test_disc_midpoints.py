"""benchmarks/disc_midpoints.py: how far a body midway between its two discs lies from its centroid."""

import numpy as np

from helpers import benchmark_script, write_mask


def test_uneven_gaps_move_the_midpoint_by_a_quarter_of_their_difference(tmp_path):
    m = benchmark_script("benchmarks/disc_midpoints.py")
    labels = np.zeros((40, 12, 12), np.uint8)  # 1 mm voxels, axis 0 along the spine
    for lid, rows in ((21, slice(0, 10)), (22, slice(12, 22)), (23, slice(26, 36))):  # L2, L3, L4: gaps of 2 and 4 mm
        labels[rows, 3:9, 3:9] = lid
    write_mask(tmp_path / "s_seg.nii.gz", labels, np.eye(4))
    rows = m.mask_errors(tmp_path / "s_seg.nii.gz")
    assert [name for name, _, _ in rows] == ["L3"]  # L2 and L4 lack a disc on one side
    _, offset, span = rows[0]
    # discs at the gaps' middles, 10.5 and 23.5 mm: the midpoint 17.0 against the centroid 16.5
    assert abs(np.linalg.norm(offset) - 0.5) < 0.2 and abs(span - 13.0) < 0.3


def test_phantom_bodies_lie_near_the_midpoint_of_their_discs():
    m = benchmark_script("benchmarks/disc_midpoints.py")
    rows = m.errors("lumbar", 0)
    assert len(rows) >= 4 and all(np.linalg.norm(offset) < 3.0 for _, offset, _ in rows)
