import json

import pytest

pytest.importorskip("torch")

from helpers import benchmark_script  # noqa: E402
from spinemark.train import TrainConfig, train  # noqa: E402

decode_grid = benchmark_script("benchmarks/decode_grid.py")


def test_grid_values_are_json():
    assert decode_grid.parse_grid(["s1_threshold=0.5,0.1", "s1_edge_threshold=null,0.1"]) == {
        "s1_threshold": (0.5, 0.1), "s1_edge_threshold": (None, 0.1)}
    with pytest.raises(ValueError):
        decode_grid.parse_grid(["s1_threshold"])


def test_scores_a_grid_on_the_cases_a_run_trained_on(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    train(TrainConfig(output=str(run), data=(str(tiny_data),), subsets=(), split=None, tuning_cases=1,
                      levels=("L3", "L4", "L5", "S1"), width=4, patch_size=(8, 8, 16), batch_size=2, iterations=1,
                      eval_every=1))
    out = tmp_path / "grid.txt"
    args = [str(run), "--side", "train", "--set", "s1_threshold=0.5,0.1", "--set", "s1_edge_threshold=null,0.1",
            "--variants", "full,pelvic", "--out", str(out)]
    assert decode_grid.main(args) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 2 * 2 + 1 and lines[-1].startswith("chosen: ") and "2 tuning cases" in lines[-1]
    assert "'s1_edge_threshold': None" in lines[0] and "full " in lines[0] and lines[0] in capsys.readouterr().out
    # the tuning cases, which older runs recorded without their label files, are found beside their images
    data = json.loads((run / "data.json").read_text())
    assert all(c["labels"] for c in data["tuning"])
    (run / "data.json").write_text(json.dumps({**data, "tuning": [{"case": c["case"], "image": c["image"]}
                                                                    for c in data["tuning"]]}))
    assert decode_grid.main([str(run), "--side", "tuning", "--set", "s1_threshold=0.5", "--variants", "full"]) == 0
    assert "1 tuning cases" in capsys.readouterr().out
    # nothing to score, or no run there: a clear error and exit status 2
    assert decode_grid.main([str(run)]) == 2
    assert decode_grid.main([str(tmp_path / "nowhere"), "--set", "s1_threshold=0.5"]) == 2
    assert decode_grid.main([str(run), "--subsets", "VB3", "--set", "s1_threshold=0.5"]) == 2
    assert "nothing to score" in capsys.readouterr().err
