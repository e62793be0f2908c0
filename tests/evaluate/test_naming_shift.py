"""benchmarks/naming_shift.py: which way are the names of unanchored chains off?"""

import csv

from helpers import benchmark_script


def test_shift_of_names_given():
    m = benchmark_script("benchmarks/naming_shift.py")
    labelled = {"L1", "L2", "L3", "L4", "L5"}
    assert m.shift_of(["L1", "L2"], {"L1", "L2"}, labelled) == 0
    assert m.shift_of(["L2", "L3"], {"L1", "L2"}, labelled) == 1  # one level too caudal
    assert m.shift_of(["T11", "T12", "L1"], {"L1", "L2", "L3"}, labelled) == -2  # two too cranial
    assert m.shift_of(["T12", "L1", "L2"], {"L1", "L2"}, labelled) == 0  # an unlabelled T12 above is no error
    assert m.shift_of(["L1", "L6"], {"L1", "L2"}, labelled) is None  # outside the standard sequence
    assert m.shift_of(["S3", "S4"], {"L1", "L2"}, labelled) is None  # further off than two levels


def test_table_groups_unanchored_samples_by_their_middle_level(tmp_path, capsys):
    m = benchmark_script("benchmarks/naming_shift.py")
    unanchored = "S1 not detected (out of view, or missed by the S1 head)"
    rows = [  # subset, in view, predicted, warnings
        ("VB3", "L1 L2", "L2 L3", unanchored),  # middle L1, +1
        ("VB3", "L1 L2 L3", "L1 L2 L3", unanchored),  # middle L2, right
        ("VB3", "L3 L4", "L2 L3", unanchored),  # middle L3, -1
        ("VB3", "L4 L5 S1", "L3 L4 L5", ""),  # anchored (no warning): not counted
    ]
    path = tmp_path / "fov_results.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["subset", "true_levels", "labelled_levels", "predicted", "warnings", "error"])
        w.writeheader()
        for subset, view, pred, warn in rows:
            w.writerow({"subset": subset, "true_levels": view, "labelled_levels": "L1 L2 L3 L4 L5", "predicted": pred,
                        "warnings": warn, "error": ""})
    assert m.read(path) == [("VB3", "L1", 1), ("VB3", "L2", 0), ("VB3", "L3", -1)]
    assert m.main([str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("3 samples without an S1 anchor")
    assert "| VB3 | L1 | 1 | 0 | 0 | 0 | 1 | 0 | 0 |" in out
    assert "| VB3 | L3 | 1 | 0 | 1 | 0 | 0 | 0 | 0 |" in out
