"""benchmarks/compare_models.py: the shipping metric and its paired bootstrap over subjects."""

import csv
import json

import pytest

from helpers import benchmark_script

FIELDS = ("case", "subset", "variant", "true_levels", "crop_box", "n_identified", "n_true", "mean_error_mm", "error")


def _results(path, rows, error_mm=2.0):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        for case, variant, levels, box, ident, true in rows:
            w.writerow({"case": case, "subset": case.split("_")[0], "variant": variant, "true_levels": levels,
                        "crop_box": box, "n_identified": ident, "n_true": true,
                        "mean_error_mm": error_mm if ident else "", "error": ""})
    return path


# two VB1 series of one patient, two VB3 subjects; two variants
ROWS_A = [("VB1_06", "full", "L1 L2", "", 2, 2), ("VB1_07", "full", "L1 L2", "", 2, 2),
          ("VB3_01", "full", "L1 L2", "", 2, 2), ("VB3_02", "full", "L1 L2", "", 2, 2),
          ("VB1_06", "random_k2", "L1 L2", "[0]-[1]", 0, 2), ("VB1_07", "random_k2", "L1 L2", "[0]-[1]", 0, 2),
          ("VB3_01", "random_k2", "L1 L2", "[0]-[1]", 2, 2), ("VB3_02", "random_k2", "L1 L2", "[0]-[1]", 0, 2)]


def test_metric_groups_series_by_patient_and_bootstraps(tmp_path, capsys):
    mod = benchmark_script("benchmarks/compare_models.py")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"vb1_patients": {"P06": ["06", "07"]}}))
    # B identifies one more VB3_02 window: k2 rate 2/8 -> 4/8, mean over the two variants 62.5% -> 75%
    rows_b = [r if r[:2] != ("VB3_02", "random_k2") else (*r[:4], 2, 2) for r in ROWS_A]
    a, b = _results(tmp_path / "a.csv", ROWS_A), _results(tmp_path / "b.csv", rows_b, error_mm=3.0)
    assert mod.main([str(a), str(b), "--split", str(split), "--variants", "full,random_k2", "--draws", "200"]) == 0
    out = capsys.readouterr().out
    assert "3 subjects, 8 samples" in out          # VB1_06 and VB1_07 are one patient
    assert "A 62.5%  B 75.0%  B - A +12.5 points" in out
    assert "mean error of identified vertebrae: A 2.00 mm  B 3.00 mm" in out  # pooled over vertebrae identified
    # B is never worse in any draw; it is not better in the draws that leave VB3_02 out
    res = mod.compare(mod.read_samples(a, ("full", "random_k2")), mod.read_samples(b, ("full", "random_k2")),
                      {"VB1_06": "P06", "VB1_07": "P06", "VB3_01": "VB3_01", "VB3_02": "VB3_02"},
                      ("full", "random_k2"), draws=400)
    assert res["interval"][0] >= 0.0
    assert 0.2 < res["p_not_better"] < 0.4          # P(VB3_02 not drawn in 3 draws) = (2/3)^3 = 0.30


def test_identical_runs_differ_by_nothing_and_mismatched_runs_are_refused(tmp_path, capsys):
    mod = benchmark_script("benchmarks/compare_models.py")
    a = _results(tmp_path / "a.csv", ROWS_A)
    assert mod.main([str(a), str(a), "--variants", "full,random_k2", "--draws", "50"]) == 0
    assert "B - A +0.0 points; 95% bootstrap interval over subjects +0.0 .. +0.0" in capsys.readouterr().out
    b = _results(tmp_path / "b.csv", ROWS_A[:-1])
    assert mod.main([str(a), str(b), "--variants", "full,random_k2"]) == 2
    assert "same cases, variants and windows" in capsys.readouterr().err


def test_failed_sample_is_an_error(tmp_path):
    mod = benchmark_script("benchmarks/compare_models.py")
    path = _results(tmp_path / "a.csv", ROWS_A)
    text = path.read_text().replace("VB3_01,VB3,full,L1 L2,,2,2,2.0,", "VB3_01,VB3,full,L1 L2,,2,2,2.0,boom")
    path.write_text(text)
    with pytest.raises(SystemExit, match="VB3_01 full failed"):
        mod.read_samples(path, ("full",))
