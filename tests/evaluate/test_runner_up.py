"""benchmarks/runner_up.py: is the second most likely naming of an unanchored chain the right one?"""

import csv

from helpers import benchmark_script


def test_tally_reads_the_benchmarks_names_off(tmp_path, capsys):
    m = benchmark_script("benchmarks/runner_up.py")
    assert m.runner_up_step(["L1", "L2"], "T12") == -1 and m.runner_up_step(["L5", "S1"], "S1") == 1
    assert m.runner_up_step(["L6", "S1"], "L5") is None
    warn = "S1 not detected (out of view) | next most likely names: {} (probability 0.30, against 0.50)"
    rows = [  # variant, predicted, runner-up, names_off of the benchmark
        ("random_k2", "L2 L3", "L1..L2", "0"),  # right as given
        ("random_k2", "L3 L4", "L2..L3", "1"),  # one level low, the runner-up right
        ("random_k2", "L4 L5", "L3..L4", "2"),  # two levels low: neither
        ("random_k3", "L1 L2 L3 L4", "T12..L3", ""),  # no shift right (a cut body named): the runner-up is not
        ("full", "T12 L1 L2 L3 L4 L5", "", "0"),  # anchored: no runner-up warning, not counted
    ]
    path = tmp_path / "fov_results.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["variant", "predicted", "warnings", "names_off"])
        w.writeheader()
        for variant, pred, runner, off in rows:
            w.writerow({"variant": variant, "predicted": pred, "warnings": warn.format(runner) if runner else "",
                        "names_off": off})
    t = m.tally(list(csv.DictReader(open(path))))
    assert t["random_k2"] == {"samples": 3, "given": 1, "runner_up": 1, "either": 2}
    assert t["all"] == {"samples": 4, "given": 1, "runner_up": 1, "either": 2}
    assert m.main([str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "| all | 4 | 1 (25%) | 1 (25%) | 2 (50%) |"
    assert not any(line.startswith("| full |") for line in out)  # the anchored sample is no unanchored one


def test_a_results_file_without_names_off_is_refused(tmp_path, capsys):
    m = benchmark_script("benchmarks/runner_up.py")
    path = tmp_path / "old.csv"
    path.write_text("variant,predicted,warnings\nfull,L1,\n")
    assert m.main([str(path)]) == 2
    assert "names_off" in capsys.readouterr().err
