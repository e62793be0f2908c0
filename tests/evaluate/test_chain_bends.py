"""benchmarks/chain_bends.py: the sagittal bend at each labelled level, the table of the decoder's bend term."""

import numpy as np

from helpers import benchmark_script
from spinemark.landmarks import Landmark, Landmarks


def _truth(names, bends_deg, link=36.0):
    pts, heading = [np.zeros(3)], -90.0
    for k in range(len(names) - 1):
        heading += bends_deg[k - 1] if k else 0.0
        pts.append(pts[-1] + link * np.array([0.0, np.cos(np.radians(heading)), np.sin(np.radians(heading))]))
    return Landmarks([Landmark(n, p) for n, p in zip(names, pts)])


def test_level_bends_and_their_table():
    m = benchmark_script("benchmarks/chain_bends.py")
    truths = [_truth(["L1", "L2", "L3", "L4", "L5"], [-2.0, -8.0, -14.0]),
              _truth(["L1", "L2", "L3", "L4", "L5"], [-4.0, -10.0, -12.0]),
              _truth(["L2", "L4", "L5", "S1"], [-9.0, -30.0])]  # L3 unlabelled: no bend at L2 or L4
    bends = m.level_bends(truths)
    assert set(bends) == {"L2", "L3", "L4", "L5"}
    assert np.allclose(bends["L2"], [-2.0, -4.0]) and np.allclose(bends["L5"], [-30.0])
    text, stats, pooled = m.table(bends, min_samples=2)
    assert stats == {"L2": (-3.0, 1.0), "L3": (-9.0, 1.0), "L4": (-13.0, 1.0)}  # L5 has one bend: left out
    assert pooled[0] == round(float(np.mean([-2, -4, -8, -10, -14, -12, -30])), 1)
    assert "| L5 | 1 | -30.0 |" in text and text.splitlines()[-1].startswith("| all | 7 |")
