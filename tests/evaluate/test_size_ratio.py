"""benchmarks/size_ratio.py: the ratios of chain length to the reference length of its names."""

import csv
import json

from helpers import benchmark_script

WARN = ("S1 not detected | the vertebrae found lie closer together than the levels named: L1..L4 span {} mm here, "
        "108 mm in the reference adult spine (ratio {}); check them")


def test_ratios_from_results_and_prediction_folders(tmp_path, capsys):
    m = benchmark_script("benchmarks/size_ratio.py")
    path = tmp_path / "fov_results.csv"
    rows = [("a", 0.95, 4, 4), ("b", 0.62, 4, 4), ("c", 0.55, 1, 4), ("d", None, 1, 1)]  # d: one body, no ratio
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["case", "variant", "n_true", "n_identified", "warnings", "error"])
        w.writeheader()
        for case, ratio, ident, true in rows:
            w.writerow({"case": case, "variant": "full", "n_true": true, "n_identified": ident, "error": "",
                        "warnings": WARN.format(round(108 * ratio), ratio) if ratio else "S1 not detected"})
    line = m.summary(path, 0.7)
    assert "3 chains of 4 predictions" in line and "below 0.7: 2 (66.7%), of them 1 with every labelled" in line
    assert "b:full 0.62, c:full 0.55" in line and "median 0.62" in line
    folder = tmp_path / "pred"
    folder.mkdir()
    (folder / "x.landmarks.json").write_text(json.dumps({"warnings": [WARN.format(60, 0.56)]}))
    (folder / "y.landmarks.json").write_text(json.dumps({"warnings": []}))
    assert m.read(folder) == [("x", 0.56, None), ("y", None, None)]
    assert m.main([str(folder), "--threshold", "0.5"]) == 0
    assert "1 chains of 2 predictions" in capsys.readouterr().out and "below 0.5: 0 (0.0%)" in m.summary(folder, 0.5)
