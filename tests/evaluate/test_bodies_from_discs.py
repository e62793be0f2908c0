"""benchmarks/bodies_from_discs.py and discs.py: bodies derived from discs, and discs from bodies."""

import numpy as np

from helpers import benchmark_script, write_mask


def test_uneven_gaps_move_the_midpoint_by_a_quarter_of_their_difference(tmp_path):  # a straight spine
    m = benchmark_script("benchmarks/bodies_from_discs.py")
    labels = np.zeros((40, 12, 12), np.uint8)  # 1 mm voxels, axis 0 along the spine
    for lid, rows in ((21, slice(0, 10)), (22, slice(12, 22)), (23, slice(26, 36))):  # L2, L3, L4: gaps of 2 and 4 mm
        labels[rows, 3:9, 3:9] = lid
    write_mask(tmp_path / "s_seg.nii.gz", labels, np.eye(4))
    rows = m.mask_errors(tmp_path / "s_seg.nii.gz", m.midpoints)
    assert np.allclose(rows[0][1], m.mask_errors(tmp_path / "s_seg.nii.gz")[0][1])  # two discs only: the curve's too
    assert [name for name, _, _ in rows] == ["L3"]  # L2 and L4 lack a disc on one side
    _, offset, span = rows[0]
    # discs at the gaps' middles, 10.5 and 23.5 mm: the midpoint 17.0 against the centroid 16.5
    assert abs(np.linalg.norm(offset) - 0.5) < 0.2 and abs(span - 13.0) < 0.3


def test_on_a_lordotic_phantom_the_curve_beats_the_midpoint():
    m = benchmark_script("benchmarks/bodies_from_discs.py")
    curve, mid = (np.mean([np.linalg.norm(o) for _, o, _ in m.errors("lumbar", 0, d)]) for d in (None, m.midpoints))
    assert curve < mid < 3.0


def test_discs_benchmark_counts_missed_discs_and_summarises_per_level():
    m = benchmark_script("benchmarks/discs.py")
    truth = {"L3/L4": np.zeros(3), "L4/L5": np.array([0.0, 0.0, -36.0])}
    names, errors = m.scan({"L3/L4": np.array([3.0, 4.0, 0.0]), "T1/T2": np.zeros(3)}, truth)
    assert names == ["L3/L4", "L4/L5"] and errors == {"L3/L4": 5.0}
    lines = m.discs_table({"real": m.disc_summary([(names, errors)])}).splitlines()
    assert lines[2] == "| real | all | 2 | 1 | 5.00 | 5.00 | 5.00 | 50.0% | 50.0% |"
    assert lines[4] == "|  | L4/L5 | 1 | 0 | n/a | n/a | n/a | 0.0% | 0.0% |"
