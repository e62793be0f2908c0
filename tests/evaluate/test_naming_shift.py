"""benchmarks/naming_shift.py: which way are the names of unanchored chains off?"""

import csv

from helpers import benchmark_script


def test_table_groups_unanchored_samples_by_their_middle_level(tmp_path, capsys):
    m = benchmark_script("benchmarks/naming_shift.py")
    unanchored = "S1 not detected (out of view, or missed by the S1 head)"
    rows = [  # subset, in view, names_off, warnings
        ("VB3", "L1 L2", "1", unanchored),  # middle L1, +1
        ("VB3", "L1 L2 L3", "0", unanchored),  # middle L2, right
        ("VB3", "L3 L4", "-1", unanchored),  # middle L3, -1
        ("VB3", "L3 L4 L5", "3", unanchored),  # middle L4, three levels: other
        ("VB3", "L3 L4 L5", "", unanchored),  # middle L4, no shift right: other
        ("VB3", "L4 L5 S1", "1", ""),  # anchored (no warning): not counted
    ]
    path = tmp_path / "fov_results.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["subset", "true_levels", "labelled_levels", "names_off", "warnings", "error"])
        w.writeheader()
        for subset, view, off, warn in rows:
            w.writerow({"subset": subset, "true_levels": view, "labelled_levels": "L1 L2 L3 L4 L5", "names_off": off,
                        "warnings": warn, "error": ""})
    assert m.read(path) == [("VB3", "L1", 1), ("VB3", "L2", 0), ("VB3", "L3", -1), ("VB3", "L4", 3),
                            ("VB3", "L4", None)]
    assert m.main([str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("5 samples without an S1 anchor")
    assert "| VB3 | L1 | 1 | 0 | 0 | 0 | 1 | 0 | 0 |" in out
    assert "| VB3 | L3 | 1 | 0 | 1 | 0 | 0 | 0 | 0 |" in out
    assert "| VB3 | L4 | 2 | 0 | 0 | 0 | 0 | 0 | 2 |" in out
