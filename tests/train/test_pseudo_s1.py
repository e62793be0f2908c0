import json

import numpy as np
import pytest

from spinemark.errors import InputError
from spinemark.io.readers import load_volume
from spinemark.train.data import discover, load_case, read_extra_landmarks, world_landmarks
from spinemark.train.pseudo_s1 import picture, place


class _FakeMethod:
    """Stands in for a model: S1 evidence = Gaussian blobs at given voxels of the (unchanged) input grid;
    ``any`` channel = the blobs of ``any_blobs``."""

    metadata = {"channels": ["L3", "L4", "L5", "S1", "any"]}

    def __init__(self, blobs, any_blobs=()):
        self.blobs = blobs  # [(voxel, height)]
        self.any_blobs = any_blobs

    def canonical(self, volume):
        return volume

    def heatmaps(self, canon):
        grid = np.stack(np.meshgrid(*[np.arange(n) for n in canon.shape], indexing="ij"), -1)

        def blobs(spec):
            out = np.zeros(canon.shape, np.float32)
            for voxel, height in spec:
                out = np.maximum(out, height * np.exp(-((grid - np.asarray(voxel)) ** 2).sum(-1) / 2.0))
            return out

        s1 = blobs(self.blobs)
        maps = np.zeros((5, *canon.shape), np.float32)
        maps[3], maps[4] = s1, blobs(self.any_blobs)
        return maps, s1


def _ref(tiny_data):
    return discover([tiny_data])[0]


def test_place_s1_takes_the_peak_below_l5_not_a_stronger_one_elsewhere(tiny_data):
    ref = _ref(tiny_data)
    # tiny case: L3, L4, L5 boxes centred at axis-0 voxels 8.5, 18.5, 28.5 (10 voxels apart)
    below_l5, decoy = (38, 10, 6), (8, 10, 6)
    pos, info = place(_FakeMethod([(below_l5, 0.6), (decoy, 1.0)]), ref)
    vol = load_volume(ref.image)
    assert np.allclose(vol.world_to_voxel(pos), below_l5, atol=0.3)
    assert info["evidence"] == pytest.approx(0.6, abs=1e-3)
    assert 0.6 <= info["distance_ratio"] <= 1.5 and info["turn_deg"] < 10


def test_place_t12_searches_above_l1_in_the_any_channel(tiny_data, tmp_path):
    from spinemark.train.data import CaseRef

    ref = _ref(tiny_data)
    vol = load_volume(ref.image)
    world = world_landmarks(ref)
    # call the tiny case's L5 and L4 "L2" and "L1": T12 is then expected one step above, at voxel 8.5
    lm = tmp_path / "X.landmarks.json"
    lm.write_text(json.dumps({"landmarks": [{"name": "L2", "position_mm": world["L5"].tolist()},
                                            {"name": "L1", "position_mm": world["L4"].tolist()}]}))
    ref_t = CaseRef("X", ref.image, landmarks=str(lm))
    above_l1, decoy = (8, 10, 6), (38, 10, 6)
    # evidence for T12 is the any channel (the S1 head is ignored); a stronger peak below L2 is no candidate
    pos, info = place(_FakeMethod([(above_l1, 1.0)], any_blobs=[(above_l1, 0.5), (decoy, 1.0)]), ref_t, "T12")
    assert np.allclose(vol.world_to_voxel(pos), above_l1, atol=0.3)
    assert info["level"] == "T12" and info["evidence"] == pytest.approx(0.5, abs=1e-3)
    assert picture([("X", info)], tmp_path / "t12.png").stat().st_size > 1000
    pos, info = place(_FakeMethod([], any_blobs=[(above_l1, 0.5)]), ref_t, "T12", min_ratio=1.1)
    assert pos is None and "nearer than 1.1" in info["reason"]  # the peak is 1.05 steps above L1
    pos, info = place(_FakeMethod([]), ref, "T12")
    assert pos is None and info["reason"] == "L2 and L1 not both labelled"


def test_place_t11_above_an_earlier_t12_pseudo_label(tiny_data, tmp_path):
    from spinemark.train.data import CaseRef

    ref = _ref(tiny_data)
    vol = load_volume(ref.image)
    world = world_landmarks(ref)
    # the tiny case's L5 labelled "L1"; its L4 is a T12 pseudo-label (known); T11 is expected at voxel 8.5
    lm = tmp_path / "X.landmarks.json"
    lm.write_text(json.dumps({"landmarks": [{"name": "L1", "position_mm": world["L5"].tolist()}]}))
    ref_t = CaseRef("X", ref.image, landmarks=str(lm))
    above_t12 = (8, 10, 6)
    pos, info = place(_FakeMethod([], any_blobs=[(above_t12, 0.5), ((38, 10, 6), 1.0)]), ref_t, "T11")
    assert pos is None and info["reason"] == "L1 and T12 not both labelled"
    pos, info = place(_FakeMethod([], any_blobs=[(above_t12, 0.5), ((38, 10, 6), 1.0)]), ref_t, "T11",
                      known={"T12": world["L4"].tolist()})
    assert np.allclose(vol.world_to_voxel(pos), above_t12, atol=0.3) and info["level"] == "T11"
    _, info = place(_FakeMethod([]), ref_t, "T12", known={"T12": world["L4"].tolist()})
    assert info["reason"] == "T12 already labelled"

def test_place_s1_gives_no_label_on_weak_evidence_or_missing_levels(tiny_data, tmp_path):
    ref = _ref(tiny_data)
    pos, info = place(_FakeMethod([((38, 10, 6), 0.05)]), ref, min_evidence=0.1)
    assert pos is None and "below 0.1" in info["reason"]
    from spinemark.train.data import CaseRef

    lm = tmp_path / "X.landmarks.json"
    lm.write_text(json.dumps({"landmarks": [{"name": "L5", "position_mm": [0, 0, 0]}]}))
    pos, info = place(_FakeMethod([]), CaseRef("X", ref.image, landmarks=str(lm)))
    assert pos is None and info["reason"] == "L4 and L5 not both labelled"
    # a picture of the placements is written
    _, info = place(_FakeMethod([((38, 10, 6), 0.6)]), ref)
    assert picture([("TINY_00", info)], tmp_path / "p.png").stat().st_size > 1000


def test_extra_landmarks_join_the_labels_and_widen_the_span(tiny_data, tmp_path):
    ref = _ref(tiny_data)
    l5 = world_landmarks(ref)["L5"]
    s1 = (l5 + np.array([0.0, 0.0, 20.0])).tolist()
    f = tmp_path / "extra.json"
    f.write_text(json.dumps({"landmarks": {ref.case_id: {"S1": s1}}}))
    extra = read_extra_landmarks(str(f))
    plain = load_case(ref, 2.0, str(tmp_path / "cache"))
    more = load_case(ref, 2.0, str(tmp_path / "cache"), extra[ref.case_id])
    assert "S1" not in plain.landmarks and "S1" in more.landmarks
    assert np.allclose(more.landmarks["S1"], more.landmarks["L5"] + [0, 0, 10])  # 20 mm at 2 mm
    assert not np.allclose(plain.span[2], more.span[2])  # the lower disc plane moved below S1
    assert "S1" in load_case(ref, 2.0, str(tmp_path / "cache"), extra[ref.case_id]).landmarks  # from the cache
    assert read_extra_landmarks(None) == {}


@pytest.mark.parametrize("points, match", [({"S1": [1, 2]}, "three coordinates"), ({"Q9": [1, 2, 3]}, "Q9")])
def test_bad_extra_landmarks_are_refused(tmp_path, points, match):
    f = tmp_path / "extra.json"
    f.write_text(json.dumps({"landmarks": {"A": points}}))
    with pytest.raises(InputError, match=match):
        read_extra_landmarks(str(f))
    with pytest.raises(FileNotFoundError):
        read_extra_landmarks(str(tmp_path / "missing.json"))


def test_training_uses_extra_landmarks_on_training_cases_only(tiny_data, tmp_path):
    pytest.importorskip("torch")
    from spinemark.train import TrainConfig, train

    refs = discover([tiny_data])
    f = tmp_path / "extra.json"
    f.write_text(json.dumps({"landmarks": {r.case_id: {"S1": (world_landmarks(r)["L5"] + [0, 0, 20]).tolist()}
                                           for r in refs}}))
    out = tmp_path / "run"
    train(TrainConfig(output=str(out), data=(str(tiny_data),), subsets=(), split=None, tuning_cases=1,
                      extra_landmarks=str(f), levels=("L3", "L4", "L5", "S1"), width=4, patch_size=(8, 8, 16),
                      batch_size=2, iterations=1, eval_every=1))
    data = json.loads((out / "data.json").read_text())
    trained = [c["case"] for c in data["train"]]
    assert sorted(data["extra_landmarks"]) == sorted(trained) and len(trained) == 2
    assert all(data["levels_labelled"][c] == ["L3", "L4", "L5", "S1"] for c in trained)
    assert data["levels_labelled"][data["tuning"][0]["case"]] == ["L3", "L4", "L5"]


def test_command_survives_a_bad_scan_and_refuses_to_overwrite(tiny_data, tmp_path):
    pytest.importorskip("torch")
    from spinemark.methods.dualhead import default_weights_path
    from spinemark.train.pseudo_s1 import main

    (tiny_data / "TINY_01_img.nii.gz").write_bytes(b"not a nifti")
    out = tmp_path / "s1.json"
    assert main([str(default_weights_path()), str(tiny_data), "--split", str(_empty_split(tmp_path)),
                 "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["skipped"]["TINY_01"].startswith("error:") and "TINY_01_img.nii.gz" in doc["skipped"]["TINY_01"]
    assert set(doc["landmarks"]) | set(doc["skipped"]) == {"TINY_00", "TINY_01", "TINY_02"}
    before = out.read_text()
    assert main([str(default_weights_path()), str(tiny_data), "--split", str(_empty_split(tmp_path)),
                 "-o", str(out)]) == 1
    assert out.read_text() == before
    # a second level merged into the first file's labels: the earlier labels are kept
    merged = tmp_path / "both.json"
    assert main([str(default_weights_path()), str(tiny_data), "--split", str(_empty_split(tmp_path)),
                 "--level", "T12", "--merge", str(out), "-o", str(merged)]) == 0
    both = json.loads(merged.read_text())
    assert both["level"] == "T12" and both["merged"] == str(out)
    assert all(both["landmarks"][c]["S1"] == p["S1"] for c, p in doc["landmarks"].items())
    assert both["skipped"]["TINY_00"] == "L2 and L1 not both labelled"  # the tiny cases label L3..L5
    assert main([str(default_weights_path()), str(tiny_data), "--merge", str(tmp_path / "none.json"),
                 "-o", str(tmp_path / "x.json")]) == 1
    assert not (tmp_path / "x.json").exists()


def _empty_split(tmp_path):
    p = tmp_path / "split.json"
    p.write_text(json.dumps({"validation": []}))
    return p
