import hashlib
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from spinemark.nets.io import read_metadata  # noqa: E402
from spinemark.train import TrainConfig, train  # noqa: E402


def test_config_json_roundtrip(tmp_path):
    cfg = TrainConfig(output=str(tmp_path / "run"), iterations=3, patch_size=(8, 8, 16))
    p = cfg.to_json(tmp_path / "c.json")
    assert TrainConfig.from_json(p) == cfg
    assert TrainConfig.from_json(p, iterations=5).iterations == 5
    with pytest.raises(ValueError):
        TrainConfig.from_dict({"output": "x", "nope": 1})
    with pytest.raises(ValueError):
        TrainConfig(output="x", patch_size=(8, 8, 15))


def test_two_iteration_training_run(tiny_data, tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(output=str(out), data=(str(tiny_data),), subsets=(), split=None, tuning_cases=1,
                      levels=("L3", "L4", "L5", "S1"), width=4, patch_size=(8, 8, 16), batch_size=2,
                      iterations=2, eval_every=1, spacing_mm=3.0, level_ce_weight=1e-3)  # every loss term runs
    seen = []
    weights = train(cfg, callback=seen.append)
    assert weights.is_file() and len(seen) == 2
    for name in ("config.json", "data.json", "git_commit.txt", "loss.csv", "loss.png", "weights.json"):
        assert (out / name).is_file(), name
    data = json.loads((out / "data.json").read_text())
    assert len(data["train"]) == 2 and len(data["tuning"]) == 1
    assert data["levels_labelled"]["TINY_00"] == ["L3", "L4", "L5"]
    assert data["label_notes"] == {}  # centroids of whole bodies: nothing derived, nothing cut
    meta = read_metadata(weights)
    assert meta["levels"] == ["L3", "L4", "L5", "S1"] and meta["spacing_mm"] == 3.0


def test_training_without_s1_head_leaves_it_untrained(tiny_data, tmp_path):
    import torch

    from spinemark.methods.dualhead import DualHeadMethod

    cfg = TrainConfig(output=str(tmp_path / "run"), data=(str(tiny_data),), subsets=(), split=None, tuning_cases=1,
                      levels=("L3", "L4", "L5", "S1"), width=4, patch_size=(8, 8, 16), batch_size=2, iterations=2,
                      eval_every=1, s1_head=False, seed=3)
    weights = train(cfg)
    trained = torch.load(weights, weights_only=True)
    torch.manual_seed(3)
    from spinemark.nets.unet3d import DualHeadUNet3D, NetConfig

    fresh = DualHeadUNet3D(NetConfig(levels=cfg.levels, width=4)).state_dict()
    s1_keys = [k for k in fresh if k.startswith("head_s1.")]
    assert s1_keys and all(torch.equal(trained[k], fresh[k]) for k in s1_keys)
    assert not torch.equal(trained["head_levels.0.weight"], fresh["head_levels.0.weight"])
    assert read_metadata(weights)["decode"] == {"use_s1_head": False}
    assert DualHeadMethod(weights).decode_config.use_s1_head is False


def test_release_tunes_decoding_on_tuning_cases(tiny_data, tmp_path):
    from spinemark.errors import OutputError
    from spinemark.train.release import release

    run = tmp_path / "run"
    train(TrainConfig(output=str(run), data=(str(tiny_data),), subsets=(), split=None, tuning_cases=1,
                      levels=("L3", "L4", "L5", "S1"), width=4, patch_size=(8, 8, 16), batch_size=2, iterations=1,
                      eval_every=1))
    dst = release(run, tiny_data, "tiny_v1", "1.2.3", tmp_path / "weights")
    meta = read_metadata(dst)
    assert dst.name == "tiny_v1.pt" and meta["name"] == "tiny_v1" and meta["version"] == "1.2.3"
    assert set(meta["decode"]) == {"peak_threshold", "s1_threshold", "s1_needs_caudal", "s1_edge_threshold"}
    lines = (run / "tune_decode.txt").read_text().splitlines()
    assert len(lines) == 3 * 5 * 2 * 2 + 1 and lines[-1].startswith("chosen: ") and "full " in lines[0]
    card = dst.with_suffix(".md").read_text()  # the model card: hash, data, commands, the decoding chosen
    assert card.startswith("# tiny_v1 (version 1.2.3)") and hashlib.sha256(dst.read_bytes()).hexdigest() in card
    assert f"Training cases: {len(json.loads((run / 'data.json').read_text())['train'])} (" in card
    assert f"spinemark train --config {run}/config.json -o {run}_repeat" in card and lines[-1] in card
    assert json.loads(card.split("```json")[1].split("```")[0]) == json.loads((run / "config.json").read_text())
    with pytest.raises(OutputError, match="exists"):
        release(run, tiny_data, "tiny_v1", "1.2.3", tmp_path / "weights")
    # one tiny tuning case: too few samples to fit the confidences on, and the release says so
    meta = read_metadata(release(run, tiny_data, "tiny_v1", "1.2.3", tmp_path / "weights", overwrite=True,
                                 calibrate=True))
    assert "confidence_map" not in meta["decode"]
    assert (run / "tune_decode.txt").read_text().splitlines()[-1].startswith("confidence map not fitted: ")
    elsewhere = tmp_path / "other_data"
    elsewhere.mkdir()
    with pytest.raises(ValueError, match="tuning cases .* not found: TINY_"):
        release(run, elsewhere, "tiny_v1", "1.2.4", tmp_path / "weights", overwrite=True)


def test_tuning_samples_every_window(tmp_path):
    from eval_fakes import labelled_volume

    from spinemark.evaluate.fov import Case
    from spinemark.io.writers import nifti_bytes
    from spinemark.train.release import tuning_samples

    vol, labels, _ = labelled_volume()  # L1..L5
    (tmp_path / "img.nii.gz").write_bytes(nifti_bytes(vol.data, vol.affine))
    (tmp_path / "seg.nii.gz").write_bytes(nifti_bytes(labels, vol.affine))
    cases = [Case("X_01", "X", tmp_path / "img.nii.gz", tmp_path / "seg.nii.gz")]
    variants = ("full", "random_k2", "random_k4")
    assert [s.variant for s in tuning_samples(cases, variants)] == list(variants)
    every = tuning_samples(cases, variants, all_windows=True)
    assert [s.variant for s in every] == ["full"] + ["random_k2"] * 4 + ["random_k4"] * 2
    assert [s.truth.names[0] for s in every if s.variant == "random_k2"] == ["L1", "L2", "L3", "L4"]


def test_discover_landmarks_json_folder(tmp_path):
    import nibabel as nib
    import numpy as np

    from spinemark.train.data import discover, world_landmarks

    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4)), tmp_path / "scan.nii.gz")
    (tmp_path / "scan.landmarks.json").write_text(json.dumps({"landmarks": [
        {"name": "L5", "position_mm": [1, 2, 3]}, {"name": "L5/S1", "position_mm": [1, 2, 1]}]}))
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4)), tmp_path / "other.nii.gz")  # no labels
    refs = discover([tmp_path])
    assert [r.case_id for r in refs] == ["scan"]
    lm = world_landmarks(refs[0])
    assert list(lm) == ["L5"] and np.allclose(lm["L5"], [1, 2, 3])


def test_train_command_end_to_end_and_errors(tiny_data, tmp_path, capsys):
    from spinemark.cli import main

    tiny = ["--set", "subsets=[]", "--set", "split=null", "--set", "tuning_cases=1", "--set", 'levels=["L4","L5","S1"]',
            "--set", "width=4", "--set", "patch_size=[8,8,16]", "--set", "batch_size=1", "--set", "iterations=1",
            "--set", "eval_every=1", "--quiet"]
    run = tmp_path / "run"
    assert main(["train", "--data", str(tiny_data), "-o", str(run), *tiny]) == 0
    assert (run / "weights.pt").is_file() and json.loads((run / "config.json").read_text())["width"] == 4
    assert main(["train", "--data", str(tiny_data), "-o", str(run), *tiny]) == 1  # run folder exists
    assert "use --overwrite" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "nope"), "-o", str(tmp_path / "r2"), *tiny]) == 1
    assert "training data folder not found" in capsys.readouterr().err
    assert main(["train", "-o", str(tmp_path / "r3"), *tiny]) == 2  # usage
    assert "nothing to train on" in capsys.readouterr().err


def test_a_case_of_discs_alone_says_its_bodies_are_derived_also_from_the_cache(tmp_path):
    from conftest import write_tiny_case
    from spinemark.evaluate.report import DISC_NOTE
    from spinemark.train.data import discover, load_case

    discs = (121, 122, 123, 124)  # L2/L3 .. L5/S1
    write_tiny_case(tmp_path, "IVD_01", np.random.default_rng(0), shape=(50, 20, 12), levels=discs)
    ref = discover([tmp_path])[0]
    cases = [load_case(ref, 2.0, str(tmp_path / "cache")) for _ in range(2)]  # the second from the cache
    assert len(list((tmp_path / "cache").iterdir())) == 1
    for case in cases:
        assert sorted(case.landmarks) == ["L3", "L4", "L5"] and case.notes == (f"{DISC_NOTE}: L3, L4, L5",)
    assert np.allclose(cases[0].landmarks["L3"], cases[1].landmarks["L3"], atol=0.01)


def test_tuning_ids_fix_the_tuning_cases(tiny_data, tmp_path):
    cfg = TrainConfig(output=str(tmp_path / "run"), data=(str(tiny_data),), subsets=(), split=None,
                      tuning_ids=("TINY_02",), levels=("L3", "L4", "L5", "S1"), width=4, patch_size=(8, 8, 16),
                      batch_size=2, iterations=1, eval_every=1)
    train(cfg)
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    assert [t["case"] for t in data["tuning"]] == ["TINY_02"]
    with pytest.raises(ValueError, match="TINY_99"):
        train(TrainConfig(**{**cfg.to_dict(), "output": str(tmp_path / "run2"), "tuning_ids": ["TINY_99"]}))


def test_batches_do_not_depend_on_the_number_of_worker_processes(tiny_data):
    import numpy as np

    from spinemark.train.data import discover, load_case
    from spinemark.train.loop import _BatchStream
    from spinemark.train.sampling import PatchConfig

    cfg = TrainConfig(output="unused", batch_size=2, seed=5)
    cases = [load_case(r, 3.0) for r in discover([tiny_data])]
    pcfg = PatchConfig(("L3", "L4", "L5", "S1"), (8, 8, 16), 3.0, 6.0, 0.7, True, 0.5, 0.5)
    streams = [_BatchStream((cases, [], pcfg, cfg), workers) for workers in (0, 2)]
    try:
        for _ in range(4):
            here, forked = (s.next() for s in streams)
            assert set(here) == set(forked)
            for k in here:  # a worker sends targets as float16 and masks as uint8
                assert forked[k].shape == here[k].shape
                np.testing.assert_allclose(forked[k].astype(np.float32), here[k], atol=1e-3, err_msg=k)
        assert any(not np.array_equal(a, b) for a, b in zip(streams[0].next()["image"], streams[0].next()["image"]))
    finally:
        for s in streams:
            s.close()


def test_training_with_worker_processes(tiny_data, tmp_path):
    cfg = TrainConfig(output=str(tmp_path / "run"), data=(str(tiny_data),), subsets=(), split=None, tuning_cases=1,
                      levels=("L3", "L4", "L5", "S1"), width=4, patch_size=(8, 8, 16), batch_size=2, iterations=3,
                      eval_every=3, workers=2)
    assert train(cfg).is_file()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["workers"] == 2


def test_fine_tuning_adds_wide_blocks_and_levels(tiny_data, tmp_path):
    import torch

    base = dict(data=(str(tiny_data),), subsets=(), split=None, tuning_cases=1, width=4, patch_size=(8, 16, 16),
                batch_size=2, iterations=2, eval_every=2)
    plain = train(TrainConfig(output=str(tmp_path / "plain"), levels=("L4", "L5", "S1"), **base))
    wide = train(TrainConfig(output=str(tmp_path / "wide"), init_weights=str(plain), bottleneck_dilations=(2,),
                             levels=("L3", "L4", "L5", "S1"), **base))
    assert read_metadata(plain)["bottleneck_dilations"] == [] and read_metadata(wide)["bottleneck_dilations"] == [2]
    assert read_metadata(wide)["levels"] == ["L3", "L4", "L5", "S1"]
    state = torch.load(wide, weights_only=True)
    assert any(k.startswith("wide.0.") for k in state)
    assert state["wide.0.body.6.weight"].abs().sum() > 0  # the zero-initialised expansion was trained
    assert state["head_levels.2.weight"][0].abs().sum() > 0  # so was the new L3 channel


def test_subset_weights_set_how_often_each_subset_is_drawn(monkeypatch):
    import types

    import numpy as np

    from spinemark.train import loop, sampling

    cases = [types.SimpleNamespace(case_id=c) for c in ("VB3_01", "VB3_02", "VB1_02", "IVD_11")]
    assert loop.case_weights(cases, {}) is None
    np.testing.assert_allclose(loop.case_weights(cases, {"VB1": 2.0, "IVD": 0.0}), [0.25, 0.25, 0.5, 0.0])
    with pytest.raises(ValueError, match="weighs 0"):
        loop.case_weights(cases, {"VB3": 0, "VB1": 0, "IVD": 0})
    with pytest.raises(ValueError, match="negative"):
        TrainConfig(output="x", subset_weights={"VB1": -1})

    drawn = []

    def fake_patch(case, rng, cfg):
        drawn.append(case.case_id)
        return types.SimpleNamespace(**{k: np.zeros(1) for k in sampling.PATCH_KEYS})

    monkeypatch.setattr(sampling, "draw_patch", fake_patch)
    cfg = TrainConfig(output="unused", batch_size=50, subset_weights={"VB1": 3.0, "IVD": 0.0})
    for i in range(20):
        loop._make_batch(i, (cases, [], None, cfg))
    counts = {c: drawn.count(c) for c in ("VB3_01", "VB3_02", "VB1_02", "IVD_11")}
    assert counts["IVD_11"] == 0
    assert 0.5 < counts["VB1_02"] / 1000 < 0.7          # expected 3/5 of 1000 draws
    assert abs(counts["VB3_01"] - counts["VB3_02"]) < 100  # 200 each expected


def test_moving_average_of_the_weights_is_what_is_saved(tiny_data, tmp_path):
    import torch

    base = dict(data=(str(tiny_data),), subsets=(), split=None, tuning_cases=1, levels=("L3", "L4", "L5", "S1"),
                width=4, patch_size=(8, 8, 16), batch_size=2, seed=2)
    one_step = torch.load(train(TrainConfig(output=str(tmp_path / "one"), iterations=1, eval_every=1, **base)),
                          weights_only=True)
    two_steps = torch.load(train(TrainConfig(output=str(tmp_path / "two"), iterations=2, eval_every=2, **base)),
                           weights_only=True)
    # an average that barely moves after its first step keeps the weights of step 1, not those of step 2
    slow = torch.load(train(TrainConfig(output=str(tmp_path / "ema"), iterations=2, eval_every=2, ema_decay=0.999999,
                                        **base)), weights_only=True)
    floats = [k for k, v in one_step.items() if v.is_floating_point()]
    assert all(torch.allclose(slow[k], one_step[k], atol=1e-5) for k in floats)
    assert not all(torch.allclose(slow[k], two_steps[k], atol=1e-5) for k in floats)
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(output="x", ema_decay=1.0)


def test_confidence_map_for_tuning_results_composes_with_the_current_map():
    from spinemark.evaluate.fov import VariantResult
    from spinemark.evaluate.metrics import ScanScore
    from spinemark.labeling import map_confidence
    from spinemark.train.release import MIN_CALIBRATION_SAMPLES, confidence_map_for

    def result(conf, right):  # a two-vertebra crop named all right, or neither
        names = ["L1", "L2"]
        return VariantResult("X", "X", "random_k2", ScanScore(names, names, names, {}, {n: right for n in names}),
                             confidence=conf)

    rng = np.random.default_rng(1)
    raw = rng.uniform(0.2, 0.5, 60)
    results = [result(c, rng.uniform() < map_confidence(c, (2.0, 2.0))) for c in raw]  # under-confident
    mapped, line = confidence_map_for(results)
    assert mapped[0] > 1 and mapped[1] > 0 and line.startswith("confidence map fitted on 60 tuning samples: [")
    brier = [float(v) for v in line.split("Brier score ")[1].split(" -> ")]
    assert brier[1] < brier[0]
    # decoded with a map already: the new one is the fitted map after it
    mapped_first = [result(float(map_confidence(r.confidence, (0.5, -1.0))), r.score.identification_rate == 1)
                    for r in results]
    again, _ = confidence_map_for(mapped_first, (0.5, -1.0))
    assert np.allclose(map_confidence(raw, again), map_confidence(raw, mapped), atol=0.02)
    few = confidence_map_for(results[:MIN_CALIBRATION_SAMPLES - 1], (1.5, 0.5))
    assert few[0] == (1.5, 0.5) and few[1].startswith("confidence map not fitted: 19 tuning samples")
    assert confidence_map_for([result(0.3, True)] * 30)[0] is None  # all right: nothing to fit on
