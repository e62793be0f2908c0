"""benchmarks/calibration.py and the confidence map: do confidences say which predictions are right?"""

import csv

import numpy as np
import pytest

from helpers import benchmark_script
from spinemark.evaluate.metrics import fit_confidence_map, ranking_auc
from spinemark.labeling import DecodeConfig, map_confidence


def test_the_confidence_map_is_monotone_and_checked():
    c = np.array([0.05, 0.3, 0.5, 0.9])
    assert np.array_equal(map_confidence(c, None), c)
    assert np.allclose(map_confidence(c, (1.0, 0.0)), c)
    up = map_confidence(c, (2.0, 1.0))
    assert np.all(np.diff(up) > 0) and up[2] == pytest.approx(1 / (1 + np.exp(-1)))
    assert DecodeConfig(confidence_map=[2, 1]).confidence_map == (2.0, 1.0)  # as JSON gives it
    for bad in ([0, 1], [1], [1, float("nan")]):
        with pytest.raises(ValueError, match="confidence_map"):
            DecodeConfig(confidence_map=bad)


def test_fitting_the_map_recovers_under_confidence_and_keeps_the_ranking():
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.1, 0.6, 4000)
    truth = map_confidence(raw, (1.5, 1.2))  # how often such predictions are right
    outcome = (rng.uniform(size=raw.size) < truth).astype(float)
    a, b = fit_confidence_map(raw, outcome)
    assert a == pytest.approx(1.5, abs=0.3) and b == pytest.approx(1.2, abs=0.2)
    right = outcome > 0
    assert ranking_auc(map_confidence(raw, (a, b)), right) == ranking_auc(raw, right)
    assert ranking_auc([0.9, 0.2, 0.5], [True, False, True]) == 1.0
    assert ranking_auc([0.2, 0.2], [True, False]) == 0.5 and ranking_auc([0.3], [True]) is None


def test_script_scores_and_fits_saved_results(tmp_path, capsys):
    m = benchmark_script("benchmarks/calibration.py")
    path = tmp_path / "fov_results.csv"
    rows = [("VB3", "0.3", 5, 5), ("VB3", "0.3", 5, 4), ("VB1", "0.9", 4, 4), ("VB1", "", 4, 0), ("VB1", "0.5", 0, 0)]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["subset", "confidence", "n_true", "n_identified"])
        w.writeheader()
        w.writerows({"subset": s, "confidence": c, "n_true": n, "n_identified": i} for s, c, n, i in rows)
    got = m.read_results(path)
    assert got == [("VB3", 0.3, 1.0, True), ("VB3", 0.3, 0.8, False), ("VB1", 0.9, 1.0, True), ("VB1", 0.0, 0.0, False)]
    assert m.main([str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    # VB3: (0.7^2 + 0.5^2) / 2 = 0.37; two crops of equal confidence, one right: AUC 0.5
    assert "  VB3: 2 crops, Brier 0.3700, ECE 0.600, AUC 0.500, all identified 1" in out
    assert m.main([str(path), "--fit"]) == 0
    assert capsys.readouterr().out.startswith(f"fitted on {path}: confidence_map [")
    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    assert m.main([str(bad)]) == 2
    assert m.main([str(path), "--map", "0,1"]) == 2
