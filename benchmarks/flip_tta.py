"""``fov_benchmark.py`` with left-right flip test-time augmentation in the dual-head method (an experiment).

The method's heatmaps become the mean of the network's output on the canonical input and, mirrored back, on the
input mirrored left-right (the first axis of the RAS grid). Every argument goes to ``fov_benchmark.py``::

    python benchmarks/flip_tta.py --data runs/spine-mri-vb1-s1 --method dualhead --subsets VB3,VB1 \\
        --cases VB3_10,VB3_26 --all-windows --variants upper_lumbar,mid_lumbar --out runs/fov_flip

Session 35 measured it and did not adopt it (``benchmarks/README.md``, "Left-right flip at test time").
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np

from spinemark.methods.dualhead import DualHeadMethod

_plain = DualHeadMethod.heatmaps


def _flip_averaged(self, canon):
    from spinemark.nets.inference import predict_heatmaps

    levels, s1 = _plain(self, canon)
    f_levels, f_s1 = predict_heatmaps(self.model(), np.ascontiguousarray(canon.data[::-1]))
    return 0.5 * (levels + f_levels[:, ::-1]), 0.5 * (s1 + f_s1[::-1])


if __name__ == "__main__":
    DualHeadMethod.heatmaps = _flip_averaged
    sys.argv = [str(Path(__file__).with_name("fov_benchmark.py")), *sys.argv[1:]]
    runpy.run_path(sys.argv[0], run_name="__main__")
