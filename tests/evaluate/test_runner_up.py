"""benchmarks/runner_up.py: is the second most likely naming of an unanchored chain the right one?"""

import csv

from helpers import benchmark_script


def test_shift_and_tally(tmp_path, capsys):
    m = benchmark_script("benchmarks/runner_up.py")
    assert m.shifted(["L1", "L2"], "T12") == ["T12", "L1"]
    assert m.shifted(["L5", "S1"], "S5") == ["S5", "Co"]
    labelled = "L1 L2 L3 L4 L5"
    warn = "S1 not detected (out of view) | next most likely names: {} (probability 0.30, against 0.50)"
    rows = [  # variant, in view, predicted, runner-up, subset correct
        ("random_k2", "L2 L3", "L2 L3", "L1..L2", True),  # right as given
        ("random_k2", "L2 L3", "L3 L4", "L2..L3", False),  # one level low, the runner-up right
        ("random_k2", "L2 L3", "L4 L5", "L3..L4", False),  # two levels low: neither
        ("random_k3", "L1 L2 L3", "T12 L1 L2 L3", "L1..L4", True),  # an unlabelled T12 above is no error
        ("full", labelled, "T12 " + labelled, "", True),  # anchored: no runner-up warning, not counted
    ]
    path = tmp_path / "fov_results.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["variant", "true_levels", "labelled_levels", "predicted", "warnings", "subset_correct"])
        w.writeheader()
        for variant, view, pred, runner, ok in rows:
            w.writerow({"variant": variant, "true_levels": view, "labelled_levels": labelled, "predicted": pred,
                        "warnings": warn.format(runner) if runner else "", "subset_correct": str(ok)})
    t = m.tally(list(csv.DictReader(open(path))))
    assert t["random_k2"] == {"samples": 3, "given": 1, "runner_up": 1, "either": 2, "subset_correct": 1}
    assert t["all"] == {"samples": 4, "given": 2, "runner_up": 1, "either": 3, "subset_correct": 2}
    assert m.main([str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "| all | 4 | 2 (50%) | 1 (25%) | 3 (75%) | 2 |"
    assert not any(line.startswith("| full |") for line in out)  # the anchored sample is no unanchored one
