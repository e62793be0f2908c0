"""The training workflow on a user's data and its failure modes: defaults, unusable cases, half-written runs,
config values, Ctrl-C and weights paths."""

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from conftest import write_tiny_case

pytest.importorskip("torch")

from spinemark.cli import main  # noqa: E402
from spinemark.errors import InputError  # noqa: E402
from spinemark.train import TrainConfig, train  # noqa: E402
from spinemark.train.loop import TrainingInterrupted, _split_cases  # noqa: E402

TINY = dict(tuning_cases=1, levels=("L3", "L4", "L5", "S1"), width=4, patch_size=(8, 8, 16), batch_size=1,
            iterations=1, eval_every=1)
TINY_SET = ["--set", "tuning_cases=1", "--set", 'levels=["L3","L4","L5","S1"]', "--set", "width=4", "--set",
            "patch_size=[8,8,16]", "--set", "batch_size=1", "--set", "iterations=1", "--set", "eval_every=1", "--quiet"]


def user_case(folder: Path, stem: str, levels=(22, 23, 24), label_shape=None, label_shift_mm=0.0) -> None:
    """``<stem>.nii.gz`` with ``<stem>_seg.nii.gz`` (the documented user layout), optionally off the image's grid."""
    folder.mkdir(parents=True, exist_ok=True)
    write_tiny_case(folder, stem, np.random.default_rng(0), levels=levels)
    (folder / f"{stem}_img.nii.gz").rename(folder / f"{stem}.nii.gz")
    seg = folder / f"{stem}_seg-vert_msk.nii.gz"
    lab = nib.load(seg)
    data, aff = np.asarray(lab.dataobj), lab.affine.copy()
    if label_shape is not None:
        data = data[tuple(slice(0, n) for n in label_shape)]
    aff[0, 3] += label_shift_mm
    nib.save(nib.Nifti1Image(data, aff), folder / f"{stem}_seg.nii.gz")
    seg.unlink()


def test_defaults_train_on_every_case_of_a_user_folder(tmp_path):
    for stem in ("pat02", "pat03"):
        user_case(tmp_path / "u1", stem)
    cfg = TrainConfig(output=str(tmp_path / "run"), data=(str(tmp_path / "u1"),))
    assert cfg.subsets == () and cfg.split is None
    train_refs, tune_refs, val_refs, excluded = _split_cases(cfg, np.random.default_rng(0))
    assert sorted(r.case_id for r in train_refs + tune_refs) == ["pat02", "pat03"] and not val_refs and not excluded


def test_committed_training_configs_name_their_subsets_and_split():
    configs = sorted((Path(__file__).parents[2] / "benchmarks" / "training").glob("*.json"))
    assert configs
    for path in configs:  # they reproduce the project's models: no reliance on the (user-neutral) defaults
        d = json.loads(path.read_text())
        assert "subsets" in d and "split" in d, path.name
        assert TrainConfig.from_dict({**d, "output": "x"}).subsets == tuple(d["subsets"])


def test_no_cases_error_says_how_many_were_found_and_what_dropped_them(tmp_path):
    for stem in ("pat02", "pat03", "pat04"):
        user_case(tmp_path / "u1", stem)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"validation": ["pat04"]}))
    cfg = TrainConfig(output=str(tmp_path / "run"), data=(str(tmp_path / "u1"),), subsets=("pat04", "VB3"),
                      split=str(split))
    with pytest.raises(ValueError, match=r"3 annotated case\(s\) found .*dropped 2 by subsets .*1 as validation "
                                         r"cases of split"):
        _split_cases(cfg, np.random.default_rng(0))


def test_cases_with_unknown_ids_or_under_two_levels_are_left_out_and_listed(tmp_path, caplog):
    data = tmp_path / "data"
    user_case(data, "good1")
    user_case(data, "good2")
    user_case(data, "other_ids", levels=(50, 51, 52))
    user_case(data, "one_level", levels=(22,))
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="spinemark.train"):
        train(TrainConfig(output=str(run), data=(str(data),), **TINY))
    assert "other_ids_seg.nii.gz: label ids [50, 51, 52] are not in the label table" in caplog.text
    assert "one_level_seg.nii.gz: labels 1 level(s) ['L3']: the labelled span needs two levels" in caplog.text
    listed = json.loads((run / "data.json").read_text())
    assert sorted(t["case"] for t in listed["train"] + listed["tuning"]) == ["good1", "good2"]
    reasons = {e["case"]: e["reason"] for e in listed["excluded"]}
    assert sorted(reasons) == ["one_level", "other_ids"] and "two levels" in reasons["one_level"]
    # nothing usable left and no phantoms: the clear error, and no run folder
    bad = tmp_path / "bad"
    user_case(bad, "one_level", levels=(22,))
    with pytest.raises(ValueError, match=r"1 annotated case\(s\) found .*dropped 1 as unusable"):
        train(TrainConfig(output=str(tmp_path / "run2"), data=(str(bad),), **TINY))
    assert not (tmp_path / "run2").exists()


def test_label_maps_off_their_image_grid_are_left_out(tmp_path, caplog):
    from spinemark.train.data import UnusableCase, check_case, discover

    user_case(tmp_path, "shape", label_shape=(40, 20, 10))
    user_case(tmp_path, "shifted", label_shift_mm=5.0)
    user_case(tmp_path, "tiny_shift", label_shift_mm=0.005)  # within the tolerance
    refs = {r.case_id: r for r in discover([tmp_path])}
    with pytest.raises(UnusableCase, match=r"shape_seg.nii.gz: label map of shape \(40, 20, 10\) does not match its "
                                           r"image .*shape.nii.gz of shape \(40, 20, 12\)"):
        check_case(refs["shape"])
    with pytest.raises(UnusableCase, match="shifted_seg.nii.gz: label map affine differs from that of its image "
                                           ".*shifted.nii.gz .*largest entry difference 5"):
        check_case(refs["shifted"])
    check_case(refs["tiny_shift"])
    # a landmarks file is in world mm: no grid to match, but a landmark far outside the image is worth a warning
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4)), tmp_path / "lm.nii.gz")
    (tmp_path / "lm.landmarks.json").write_text(json.dumps({"landmarks": [
        {"name": "L4", "position_mm": [4, 4, 4]}, {"name": "L5", "position_mm": [4, 4, 30]}]}))
    with caplog.at_level(logging.WARNING, logger="spinemark.train"):
        check_case(next(r for r in discover([tmp_path]) if r.case_id == "lm"))
    assert "lm.landmarks.json: landmark L5 at [4.0, 4.0, 30.0] mm lies outside its image" in caplog.text
    assert "L4" not in caplog.text


def test_failed_run_leaves_no_half_written_folder_and_replaces_an_earlier_run(tiny_data, tmp_path, monkeypatch):
    from spinemark.train import loop

    run = tmp_path / "run"
    with pytest.raises(InputError, match="training data folder not found"):
        train(TrainConfig(output=str(run), data=(str(tmp_path / "nope"),), **TINY))
    assert not run.exists()
    # an earlier run's files are removed before the new run writes; other files stay
    run.mkdir()
    for name in ("weights.pt", "weights.json", "loss.png", "notes.txt"):
        (run / name).write_text("old")

    def crash(*args):
        raise RuntimeError("crash in the loop")

    monkeypatch.setattr(loop, "_optimise", crash)
    with pytest.raises(RuntimeError):
        train(TrainConfig(output=str(run), data=(str(tiny_data),), **TINY))
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "data.json", "git_commit.txt", "notes.txt"]
    assert json.loads((run / "config.json").read_text())["width"] == 4


def test_train_command_refuses_then_overwrites_without_stale_files(tiny_data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "loss.png").write_text("old")
    assert main(["train", "--data", str(tiny_data), "-o", str(run), *TINY_SET]) == 1
    assert main(["train", "--data", str(tmp_path / "nope"), "-o", str(run), "--overwrite", *TINY_SET]) == 1
    assert (run / "loss.png").read_text() == "old"  # a run that fails on its data writes and removes nothing
    assert main(["train", "--data", str(tiny_data), "-o", str(run), "--overwrite", *TINY_SET]) == 0
    assert (run / "loss.png").read_bytes().startswith(b"\x89PNG")


def test_save_weights_never_pairs_new_weights_with_old_metadata(tmp_path):
    from spinemark.nets.io import load_model, save_weights
    from spinemark.nets.unet3d import DualHeadUNet3D, NetConfig

    model = DualHeadUNet3D(NetConfig(levels=("L5", "S1"), width=4))
    path = save_weights(model, tmp_path / "w.pt", {"iteration": 1})
    before = path.read_bytes()
    with pytest.raises(TypeError):  # the metadata fails to serialise after the weights were
        save_weights(DualHeadUNet3D(NetConfig(levels=("L5", "S1"), width=4)), path, {"iteration": object()})
    assert path.read_bytes() == before and load_model(path)[1]["iteration"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.json", "w.pt"]  # no temporary files left


@pytest.mark.parametrize("field, value, expected", [
    ("iterations", "abc", "iterations: expected a whole number >= 1, got 'abc'"),
    ("iterations", -1, "iterations: expected a whole number >= 1, got -1"),
    ("lr", "fast", "lr: expected a number > 0, got 'fast'"),
    ("batch_size", 0, "batch_size: expected a whole number >= 1, got 0"),
    ("spacing_mm", 0, "spacing_mm: expected a number > 0"),
    ("device", "gpu", "device: expected a torch device"),
    ("levels", ["L1", "XX"], "levels: expected vertebra names"),
    ("augment", "False", "augment: expected true or false"),
    ("data", "u1", "data: expected a list, got 'u1'"),
])
def test_config_values_are_type_and_range_checked(field, value, expected):
    with pytest.raises(ValueError, match=expected.replace("(", r"\(")):
        TrainConfig(output="x", **{field: value})


def test_config_levels_take_the_network_channel_order():
    assert TrainConfig(output="x", levels=["S1", "l5"]).levels == ("L5", "S1")


def test_train_command_usage_errors_exit_2_and_name_the_file(tmp_path, capsys):
    out = ["-o", str(tmp_path / "run")]
    assert main(["train", *out, "--set", "iterations=abc"]) == 2
    assert "iterations: expected a whole number" in capsys.readouterr().err
    assert main(["train", *out, "--set", "itrations=3"]) == 2
    assert "--set: unknown training config fields: ['itrations'] (did you mean 'iterations'" in capsys.readouterr().err
    for text, problem in (("{bad", "not a valid JSON training config file"), ("[1]", "expected a JSON object"),
                          ('{"itrations": 3}', "unknown training config fields: ['itrations']")):
        cfg = tmp_path / "cfg.json"
        cfg.write_text(text)
        assert main(["train", "--config", str(cfg), *out]) == 2
        err = capsys.readouterr().err
        assert f"{cfg}: " in err and problem in err, err
    assert not (tmp_path / "run").exists()


def test_ctrl_c_keeps_curves_and_best_weights_and_says_where_it_stopped(tiny_data, tmp_path):
    from spinemark.nets.io import read_metadata

    def ctrl_c(row):
        if row["iteration"] == 2:
            raise KeyboardInterrupt

    run = tmp_path / "run"
    cfg = TrainConfig(output=str(run), data=(str(tiny_data),), **{**TINY, "iterations": 5})
    with pytest.raises(TrainingInterrupted, match="interrupted at iteration 2 of 5"):
        train(cfg, callback=ctrl_c)
    assert read_metadata(run / "weights.pt")["interrupted_at_iteration"] == 2
    assert (run / "loss.png").is_file() and len((run / "loss.csv").read_text().splitlines()) == 3


def test_train_command_exits_130_on_ctrl_c(tmp_path, monkeypatch, capsys):
    import spinemark.train

    def interrupted(cfg, callback=None):
        raise TrainingInterrupted("training interrupted at iteration 7 of 10; the best weights so far are in w.pt")

    monkeypatch.setattr(spinemark.train, "train", interrupted)
    assert main(["train", "-o", str(tmp_path / "run"), "--set", "phantoms=1", "--quiet"]) == 130
    assert capsys.readouterr().err.strip() == ("error: training interrupted at iteration 7 of 10; the best weights so "
                                               "far are in w.pt")


def test_weights_path_that_is_metadata_or_a_folder_is_a_clear_error(tmp_path):
    from spinemark.nets.io import load_model, read_metadata

    run = tmp_path / "run"
    run.mkdir()
    (run / "weights.json").write_text("{}")
    with pytest.raises(InputError, match=r"weights.json: not a weights file .*give the .pt next to it: .*weights.pt"):
        load_model(run / "weights.json")
    with pytest.raises(InputError, match="is a folder, not a weights file$"):
        read_metadata(run)
    (run / "weights.pt").write_text("not torch")
    with pytest.raises(InputError, match=r"is a folder, not a weights file; give the weights file in it: .*weights.pt"):
        read_metadata(run)


def test_curve_of_one_evaluation_shows_a_point(tmp_path):
    from matplotlib.image import imread

    from spinemark.train.loop import _plot

    _plot([{"iteration": 1, "train_loss": 0.2, "tune_loss": 0.3}], tmp_path / "loss.png", tuning=None)
    rgb = imread(tmp_path / "loss.png")[:, :, :3]
    blue = np.all(np.abs(rgb - np.array([0.12, 0.47, 0.71])) < 0.08, axis=-1)
    assert blue[int(0.3 * rgb.shape[0]):].sum() > 10  # the marker, below the legend


def test_case_ids_are_unique_paths_where_file_names_repeat(tmp_path):
    from spinemark.train.data import discover, load_case

    data = tmp_path / "data"
    for patient in ("patient01", "patient02"):
        user_case(data / patient, "t2")
    user_case(data, "solo")
    refs = discover([data, data / "patient01"])  # overlapping folders: each file once
    assert [r.case_id for r in refs] == ["patient01/t2", "patient02/t2", "solo"]
    assert load_case(refs[0], 2.0, cache_dir=str(tmp_path / "cache")).case_id == "patient01/t2"
    assert len(list((tmp_path / "cache").glob("patient01__t2_*.npz"))) == 1
    user_case(tmp_path / "other", "solo")  # the same name in a second data folder: which scan is which?
    with pytest.raises(InputError, match=r"case id 'solo' also names .*data/solo.nii.gz"):
        discover([data, tmp_path / "other"])


def test_annotations_named_as_predict_and_nii_masks_are_found(tmp_path):
    from spinemark.train.data import discover

    user_case(tmp_path, "plain")
    for name in ("plain.nii.gz", "plain_seg.nii.gz"):  # uncompressed
        img = nib.load(tmp_path / name)
        nib.save(img, tmp_path / name.replace("plain", "unzipped").replace(".nii.gz", ".nii"))
    nib.save(nib.load(tmp_path / "plain.nii.gz"), tmp_path / "pred_img.nii.gz")
    (tmp_path / "pred_img.landmarks.json").write_text(json.dumps({"landmarks": [  # as `spinemark predict` names it
        {"name": "L4", "position_mm": [4, 4, 4]}, {"name": "L5", "position_mm": [4, 4, -30]}]}))
    refs = {r.case_id: r for r in discover([tmp_path])}
    assert sorted(refs) == ["plain", "pred", "unzipped"]
    assert refs["pred"].landmarks.endswith("pred_img.landmarks.json")
    assert refs["unzipped"].labels.endswith("unzipped_seg.nii")


@pytest.mark.parametrize("content, message", [
    ('{"landmarks": [{"name": "L3"', "not a readable JSON file"),
    ('{"landmarks": {"L3": [1, 2, 3]}}', "malformed landmark entry"),
    ('{"landmarks": [{"name": "L3", "position_mm": [1, 2]}, {"name": "L4", "position_mm": [1, 2, 3]}]}',
     "malformed landmark entry"),
    ('[{"name": "L3", "position_mm": [1, 2, 3]}]', "not a spinemark.landmarks/1 document"),
    ('{"landmarks": [{"name": "L7", "position_mm": [1, 2, 3]}]}', "malformed landmark entry"),
    ('{"landmarks": [{"name": "L3", "position_mm": [4, 4, 40]}, {"name": "L5", "position_mm": [4, 4, -30]}]}',
     "labels L3, L5 but not L4 between them"),
])
def test_bad_landmark_files_and_gaps_leave_the_case_out_naming_the_file(tmp_path, content, message):
    from spinemark.train.data import UnusableCase, check_case, discover

    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4)), tmp_path / "case.nii.gz")
    (tmp_path / "case.landmarks.json").write_text(content)
    with pytest.raises(UnusableCase, match="case.landmarks.json: " + message):
        check_case(discover([tmp_path])[0])


def test_a_four_lumbar_spine_is_no_gap():
    from spinemark.train.data import skipped_levels

    assert skipped_levels(["L3", "L4", "S1", "S2"]) == []  # L4 -> S1: sacralized L5
    assert skipped_levels(["T11", "L1"]) == []  # eleven thoracic vertebrae
    assert skipped_levels(["T12", "L2", "L3", "S1"]) == ["L1", "L4", "L5"]
    assert skipped_levels(["L5", "L6", "S1"]) == [] and skipped_levels(["L4", "L6"]) == ["L5"]


def test_a_vertebra_cut_by_the_image_edge_is_no_training_centre(tmp_path):
    from spinemark.train.data import discover, world_landmarks

    user_case(tmp_path, "cut", levels=(21, 22, 23, 24))  # bodies of 6 rows from row 6 on, L5's last 2 beyond the grid
    seg = tmp_path / "cut_seg.nii.gz"
    lab = nib.load(seg)
    data = np.asarray(lab.dataobj).copy()
    data[0:2, 6:14, 3:9] = 20  # ... and a sliver of L1 at the image's edge: its centroid is not its centre
    nib.save(nib.Nifti1Image(data, lab.affine), seg)
    assert sorted(world_landmarks(discover([tmp_path])[0])) == ["L2", "L3", "L4", "L5"]  # L5 keeps 4 rows of 6
