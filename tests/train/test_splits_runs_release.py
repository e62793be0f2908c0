"""Training inputs and runs: split files, divergence, fallback checkpoints, --overwrite, release data folders,
starting weights, unlabelled levels, extra landmarks, disc cuts of variant spines and per-subset rows."""

import json
import logging

import numpy as np
import pytest

from conftest import write_tiny_case

pytest.importorskip("torch")

from spinemark.cli import main  # noqa: E402
from spinemark.errors import InputError  # noqa: E402
from spinemark.nets.io import read_metadata, save_weights  # noqa: E402
from spinemark.nets.unet3d import DualHeadUNet3D, NetConfig  # noqa: E402
from spinemark.train import TrainConfig, train  # noqa: E402
from spinemark.train.loop import _split_cases  # noqa: E402

LEVELS = ("L3", "L4", "L5", "S1")
TINY = dict(tuning_cases=1, levels=LEVELS, width=4, patch_size=(8, 8, 16), batch_size=1, iterations=1, eval_every=1)


def tiny_weights(path, **net) -> str:
    """Weights of an untrained tiny network, with the metadata a training run writes."""
    model = DualHeadUNet3D(NetConfig(levels=LEVELS, **{"width": 4, **net}))
    save_weights(model, path, {"spacing_mm": 3.0, "sigma_mm": 6.0, "patch_size": [8, 8, 16]})
    return str(path)


@pytest.mark.parametrize("content", [["TINY_00"], {"validation": "TINY_00"}, {"train": ["TINY_00"]},
                                     {"validation": ["TINY_00", 3]}, "not json"])
def test_a_split_that_is_no_object_with_a_list_of_validation_ids_is_an_error(tiny_data, tmp_path, content, capsys):
    split = tmp_path / "split.json"
    split.write_text(content if isinstance(content, str) else json.dumps(content))
    cfg = TrainConfig(output=str(tmp_path / "run"), data=(str(tiny_data),), split=str(split))
    with pytest.raises(ValueError, match="split .*split.json"):
        _split_cases(cfg, np.random.default_rng(0))
    assert main(["train", "--data", str(tiny_data), "-o", str(tmp_path / "run"), "--set", f"split={split}",
                 "--quiet"]) == 1
    assert "split.json" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_split_val_key_is_read_and_unknown_validation_ids_are_named(tiny_data, tmp_path, caplog):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"val": ["TINY_02", "TINY_2", "OTHER_01"]}))
    cfg = TrainConfig(output=str(tmp_path / "run"), data=(str(tiny_data),), split=str(split))
    with caplog.at_level(logging.WARNING, logger="spinemark.train"):
        train_refs, tune_refs, val_refs, _ = _split_cases(cfg, np.random.default_rng(0))
    assert [r.case_id for r in val_refs] == ["TINY_02"]
    assert "TINY_02" not in {r.case_id for r in train_refs + tune_refs}
    assert "found in no data folder" in caplog.text and "OTHER_01, TINY_2" in caplog.text


@pytest.mark.parametrize("eval_every, what", [(1, "tuning loss"), (5, "loss")])
def test_a_diverging_run_stops_with_an_error_and_saves_no_weights(tiny_data, tmp_path, eval_every, what):
    run = tmp_path / "run"
    cfg = TrainConfig(output=str(run), data=(str(tiny_data),), **{**TINY, "iterations": 5, "eval_every": eval_every,
                                                                     "lr": 1e30})
    with pytest.raises(ValueError, match=rf"training diverged at iteration \d \({what} (nan|inf)\); lower lr"):
        train(cfg)
    assert not (run / "weights.pt").exists()


def test_release_refuses_weights_that_are_not_finite(tiny_data, tmp_path):
    import torch

    from spinemark.nets.io import load_model
    from spinemark.train.release import release

    run = tmp_path / "run"
    train(TrainConfig(output=str(run), data=(str(tiny_data),), **TINY))
    model, meta = load_model(run / "weights.pt")
    with torch.no_grad():
        next(model.parameters())[...] = float("nan")
    save_weights(model, run / "weights.pt", meta)
    with pytest.raises(ValueError, match="NaN or infinite values .*lower lr"):
        release(run, tiny_data, "tiny_v1", "1.0.0", tmp_path / "weights")
    assert not (tmp_path / "weights").exists()


def test_last_weights_record_their_iteration_and_say_what_they_are(tiny_data, tmp_path, monkeypatch):
    from spinemark.train import loop
    from spinemark.train.release import model_card

    draws = loop._BatchStream.next

    def ctrl_c_at_three(self):
        if self._next == 3:
            raise KeyboardInterrupt
        return draws(self)

    monkeypatch.setattr(loop._BatchStream, "next", ctrl_c_at_three)
    run = tmp_path / "run"
    with pytest.raises(loop.TrainingInterrupted):
        train(TrainConfig(output=str(run), data=(str(tiny_data),), **{**TINY, "iterations": 8, "eval_every": 4}))
    meta = read_metadata(run / "weights.pt")
    assert meta["iteration"] == 2 and meta["interrupted_at_iteration"] == 3 and "tune_loss" not in meta
    assert "last weights" in meta["checkpoint"]
    card = model_card(meta, json.loads((run / "data.json").read_text()), [], "0" * 64, "release")
    assert ("weights of iteration 2 (the last weights: no tuning evaluation before the run stopped); interrupted at "
            "iteration 3.") in card


def test_overwrite_checks_the_starting_weights_before_removing_a_run(tiny_data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("weights.pt", "weights.json", "loss.png", "tune_decode.txt"):
        (run / name).write_text("old")
    start = tiny_weights(tmp_path / "start.pt", bottleneck_dilations=(2,))
    bad = TrainConfig(output=str(run), data=(str(tiny_data),), init_weights=start, bottleneck_dilations=(4,), **{
        k: v for k, v in TINY.items() if k != "width"})
    with pytest.raises(ValueError, match="wide blocks"):
        train(bad)
    assert sorted(p.name for p in run.iterdir()) == ["loss.png", "tune_decode.txt", "weights.json", "weights.pt"]
    train(TrainConfig(output=str(run), data=(str(tiny_data),), **TINY))
    assert not (run / "tune_decode.txt").exists() and (run / "weights.pt").read_bytes() != b"old"


def test_release_finds_the_tuning_cases_in_several_data_folders(tmp_path):
    from spinemark.train.release import main as release_main

    rng = np.random.default_rng(0)
    for folder, ids in (("dA", ("A_00", "A_01")), ("dB", ("B_00", "B_01"))):
        (tmp_path / folder).mkdir()
        for case_id in ids:
            write_tiny_case(tmp_path / folder, case_id, rng)
    run = tmp_path / "run"
    data = (str(tmp_path / "dA"), str(tmp_path / "dB"))
    train(TrainConfig(output=str(run), data=data, tuning_ids=("A_01", "B_00"), **TINY))
    out = tmp_path / "weights"
    assert release_main([str(run), *data, "--name", "m", "--version", "1", "--out", str(out)]) == 0
    assert f"release {run} {data[0]} {data[1]} --name m" in (out / "m.md").read_text()
    assert release_main([str(run), "--name", "m", "--version", "1", "--out", str(out), "--overwrite"]) == 0  # its config's
    assert release_main([str(run), data[0], "--name", "m", "--version", "1", "--out", str(out), "--overwrite"]) == 1


def test_config_of_a_run_from_starting_weights_holds_their_architecture(tiny_data, tmp_path, caplog):
    start = tiny_weights(tmp_path / "start.pt", bottleneck_dilations=(2,))
    run = tmp_path / "run"
    cfg = TrainConfig(output=str(run), data=(str(tiny_data),), init_weights=start, width=17, sigma_mm=4.0,
                      **{k: v for k, v in TINY.items() if k != "width"})
    with caplog.at_level(logging.WARNING, logger="spinemark.train"):
        train(cfg)
    saved = json.loads((run / "config.json").read_text())
    assert saved["width"] == 4 and saved["bottleneck_dilations"] == [2]
    assert read_metadata(run / "weights.pt")["config"] == saved
    assert "sigma_mm 4.0 differs from the sigma_mm 6.0" in caplog.text
    assert "spacing_mm" not in caplog.text and "patch_size" not in caplog.text


def test_levels_that_no_training_case_labels(tiny_data, tmp_path, caplog):
    cfg = TrainConfig(output=str(tmp_path / "run"), data=(str(tiny_data),), **{**TINY, "levels": ("C2", "C3")})
    with pytest.raises(ValueError, match=r"no training case labels any of the levels \['C2', 'C3'\]"):
        train(cfg)
    assert not (tmp_path / "run").exists()
    with caplog.at_level(logging.WARNING, logger="spinemark.train"):
        train(TrainConfig(output=str(tmp_path / "run"), data=(str(tiny_data),), **TINY))
    assert "levels labelled by no training case: S1" in caplog.text


@pytest.mark.parametrize("content", [[1], {"landmarks": [1]}, {"landmarks": {"TINY_00": [1, 2, 3]}},
                                     {"landmarks": {"TINY_00": {"S1": 5}}}, {"landmarks": {"TINY_00": {"X9": [1, 2, 3]}}},
                                     "{"])
def test_extra_landmarks_file_of_the_wrong_form_is_a_clear_error(tiny_data, tmp_path, content):
    extra = tmp_path / "extra.json"
    extra.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(InputError, match="extra.json"):
        train(TrainConfig(output=str(tmp_path / "run"), data=(str(tiny_data),), extra_landmarks=str(extra), **TINY))
    assert not (tmp_path / "run").exists()


def test_extra_landmarks_of_cases_that_are_not_training_cases_are_named(tiny_data, tmp_path, caplog):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"validation": ["TINY_00"]}))
    extra = tmp_path / "extra.json"
    points = {"S1": [0.0, 0.0, -10.0]}
    extra.write_text(json.dumps({"landmarks": {c: points for c in ("TINY_00", "TINY_01", "TINY_02", "tiny_02")}}))
    with caplog.at_level(logging.WARNING, logger="spinemark.train"):
        train(TrainConfig(output=str(tmp_path / "run"), data=(str(tiny_data),), split=str(split),
                          extra_landmarks=str(extra), tuning_ids=("TINY_01",), **TINY))
    assert ("landmarks of cases that are not training cases are not used: TINY_00 (a validation case), TINY_01 (a "
            "tuning case), tiny_02 (no such training case)") in caplog.text


def test_fov_disc_cuts_pair_neighbouring_vertebrae_of_variant_spines():
    from spinemark.train.sampling import _disc_heights

    def spine(*names):
        return {n: np.array([8.0, 8.0, 90.0 - 10.0 * i]) for i, n in enumerate(names)}

    assert _disc_heights(spine("L4", "L5", "L6", "S1")) == [85.0, 75.0, 65.0]  # L5/L6 and L6/S1, not the L6 centre
    assert _disc_heights(spine("L2", "L3", "L4", "S1")) == [85.0, 75.0, 65.0]  # four lumbar: L4/S1 too
    assert _disc_heights(spine("T11", "T12", "T13", "L1")) == [85.0, 75.0, 65.0]
    assert _disc_heights(spine("L3", "L4", "L5", "S1")) == [85.0, 75.0, 65.0]


def test_fov_disc_cuts_of_a_standard_spine_are_unchanged():
    from spinemark.train.sampling import PatchConfig, _fov_bounds

    names = ["L1", "L2", "L3", "L4", "L5", "S1"]
    lm = {n: np.array([8.0, 8.0, 90.0 - 11.0 * i]) for i, n in enumerate(names)}
    cfg = PatchConfig(tuple(names), (16, 16, 100), 3.0, 4.0, 0.7, True, 1.0, 1.0)
    got = [_fov_bounds(lm, np.random.default_rng(s), cfg, 100) for s in range(6)]
    before = [(32.3204, 73.5525), (46.7877, 83.8484), (61.2793, 89.9997), (73.2161, 96.0711), (-10.6056, 40.8296),
              (15.8768, 62.7102)]  # the rule before variants were paired
    assert np.allclose(got, before, atol=1e-4)


def test_per_subset_rows_count_cases_of_every_id_form(tmp_path):
    from spinemark.io.readers import load_volume
    from spinemark.landmarks import Landmark, Landmarks
    from spinemark.methods.base import Prediction
    from spinemark.train.data import discover, world_landmarks
    from spinemark.train.validate import evaluate

    rng = np.random.default_rng(0)
    for sub in ("p1", "p2"):
        (tmp_path / sub).mkdir()
        write_tiny_case(tmp_path / sub, "t2", rng)
    write_tiny_case(tmp_path, "plain", rng)
    write_tiny_case(tmp_path, "VB3_01", rng)
    refs = discover([tmp_path])
    volumes = {r.image: load_volume(r.image) for r in refs}
    truth = {id(volumes[r.image]): world_landmarks(r) for r in refs}

    class Oracle:
        def predict(self, volume):
            points = truth[id(volume)].items()
            return Prediction(Landmarks([Landmark(n, tuple(float(c) for c in p)) for n, p in points]))

    result = evaluate(Oracle(), refs, volumes)
    assert {k: v["n"] for k, v in result["per_subset"].items()} == {"VB3": 3, "p1/t2": 3, "p2/t2": 3, "plain": 3}
    assert all(v["id_rate"] == 1.0 for v in result["per_subset"].values())
