import json
import shutil

import numpy as np
import pytest

from helpers import layout_volume, save_nifti
from spinemark.cli import main


def _good(path):
    data, affine = layout_volume("sagittal")
    return save_nifti(data.astype(np.float32) * 100 + 5, affine, path)


@pytest.fixture(scope="module")
def golden_phantom():
    """The golden phantom (T12..S3, named right by the shipped model without help), made once for the module."""
    from spinemark.synth import make_phantom

    return make_phantom(preset="lumbosacral", seed=7)


@pytest.fixture
def batch(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _good(folder / "good.nii.gz")
    raw = (folder / "good.nii.gz").read_bytes()
    (folder / "corrupt.nii.gz").write_bytes(raw[: len(raw) // 3])
    return folder


def test_folder_with_good_and_corrupt_file(batch, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["predict", str(batch), "-o", str(out), "--method", "test-blob"])
    assert code == 1
    err = capsys.readouterr().err
    assert "corrupt.nii.gz" in err and "truncated or corrupt" in err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["good.csv", "good.landmarks.json", "good.mrk.json", "good_qc.png"]
    doc = json.loads((out / "good.landmarks.json").read_text())
    assert doc["method"] == "test-blob" and doc["landmarks"][0]["name"] == "L5"


def test_batch_summary_has_a_row_per_input_and_is_never_overwritten_silently(batch, tmp_path, capsys):
    import csv

    out, summary = tmp_path / "out", tmp_path / "summary.csv"
    argv = ["predict", str(batch), "-o", str(out), "--method", "test-blob", "--formats", "json", "--summary", str(summary)]
    assert main(argv) == 1  # the corrupt file fails, the good one is written, and both are in the summary
    rows = {r["input"].rsplit("/", 1)[-1]: r for r in csv.DictReader(summary.open())}
    assert set(rows) == {"good.nii.gz", "corrupt.nii.gz"}
    good, bad = rows["good.nii.gz"], rows["corrupt.nii.gz"]
    doc = json.loads((out / "good.landmarks.json").read_text())
    assert good["status"] == "ok" and good["error"] == "" and float(good["seconds"]) > 0
    assert good["names"].split() == [p["name"] for p in doc["landmarks"]] and good["vertebrae"] == "1"
    assert float(good["lowest_confidence"]) == pytest.approx(doc["landmarks"][0]["confidence"], abs=1e-4)
    assert bad["status"] == "failed" and "truncated or corrupt" in bad["error"] and bad["names"] == ""
    before = summary.read_text()
    capsys.readouterr()
    assert main(argv[:3] + [str(tmp_path / "out2")] + argv[4:]) == 1  # the summary exists: refused before any work
    assert "summary.csv: output exists; use --overwrite" in capsys.readouterr().err
    assert summary.read_text() == before and not (tmp_path / "out2").exists()


def test_exists_without_overwrite_then_with(batch, tmp_path, capsys):
    out = tmp_path / "out"
    good = batch / "good.nii.gz"
    assert main(["predict", str(good), "-o", str(out), "--method", "test-blob", "--formats", "json"]) == 0
    before = (out / "good.landmarks.json").read_text()
    assert main(["predict", str(good), "-o", str(out), "--method", "test-blob", "--formats", "json"]) == 1
    assert "use --overwrite" in capsys.readouterr().err
    assert (out / "good.landmarks.json").read_text() == before
    assert main(["predict", str(good), "-o", str(out), "--method", "test-blob", "--formats", "json", "--overwrite"]) == 0


def test_an_overwrite_leaves_no_output_that_contradicts_it(batch, tmp_path, capsys):
    out = tmp_path / "out"
    good = batch / "good.nii.gz"
    blob = ["--method", "test-blob", "--quiet"]
    assert main(["predict", str(good), "-o", str(out), "--formats", "all", *blob]) == 0
    assert len(list(out.iterdir())) == 6
    assert main(["predict", str(good), "-o", str(out), "--formats", "json,csv", "--overwrite", *blob]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["good.csv", "good.landmarks.json"]  # the others were the old run's
    save_nifti(np.full((20, 20, 10), 7.0, np.float32), np.eye(4), good)  # now it shows nothing: the rerun fails
    assert main(["predict", str(good), "-o", str(out), "--overwrite", *blob]) == 1
    err = capsys.readouterr().err
    assert "no vertebra found" in err and "its earlier outputs were removed (good.landmarks.json, good.csv)" in err
    assert not list(out.iterdir())


def test_same_stem_twice_in_one_batch(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _good(tmp_path / "a" / "scan.nii.gz")
    _good(tmp_path / "b" / "scan.nii.gz")
    _good(tmp_path / "b" / "other.nii.gz")
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out), "--method", "test-blob",
                 "--formats", "json"]) == 1
    assert "same output name 'scan'" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["other.landmarks.json"]


def test_unwritable_output_folder(batch, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    assert main(["predict", str(batch / "good.nii.gz"), "-o", str(blocker / "out"), "--method", "test-blob"]) == 1
    assert "cannot create output folder" in capsys.readouterr().err


def test_missing_input_and_unknown_method(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nope.nii.gz"), "-o", str(tmp_path / "o"), "--method", "test-blob"]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), "-o", str(tmp_path / "o"), "--method", "no-such-method"]) == 2
    assert "unknown method" in capsys.readouterr().err


def test_all_formats(batch, tmp_path):
    out = tmp_path / "out"
    assert main(["predict", str(batch / "good.nii.gz"), "-o", str(out), "--method", "test-blob", "--formats", "ALL",
                 "--quiet"]) == 0
    assert len(list(out.iterdir())) == 6
    assert not list(out.glob("*.part")) and not list(out.glob(".*"))


def test_info_labels_json(capsys):
    assert main(["info", "--labels", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert by_name["S1"]["id"] == 26 and by_name["L5"]["disc_below"] == {"id": 124, "name": "L5/S1"}
    assert len(rows) == 32 and by_name["Co"]["disc_below"] is None  # no disc below the coccyx
    assert main(["info", "--labels"]) == 0 and capsys.readouterr().out.splitlines()[-1].split() == ["Co", "27",
                                                                                                   "coccygeal", "-"]


def test_verbose_shows_spinemark_debug_messages_and_no_other_librarys(tmp_path):
    import logging

    main(["predict", str(tmp_path / "nope.nii.gz"), "-o", str(tmp_path / "o"), "--method", "test-blob", "-v"])
    assert logging.getLogger("spinemark").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("matplotlib").getEffectiveLevel() == logging.WARNING
    main(["predict", str(tmp_path / "nope.nii.gz"), "-o", str(tmp_path / "o"), "--method", "test-blob", "-q"])
    assert logging.getLogger("spinemark").getEffectiveLevel() == logging.ERROR


def test_help_and_no_command(capsys):
    assert main([]) == 2
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0


def test_no_spine_in_view_is_an_error_without_output(tmp_path, capsys):
    flat = save_nifti(np.full((20, 20, 10), 7.0, np.float32), np.eye(4), tmp_path / "flat.nii.gz")
    out = tmp_path / "out"
    assert main(["predict", str(flat), "-o", str(out), "--method", "test-blob"]) == 1
    err = capsys.readouterr().err
    assert "flat.nii.gz" in err and "no vertebra found" in err
    assert not out.exists()  # the output folder made for this run is not left behind empty


def test_no_vertebra_error_names_the_models_levels(tmp_path, capsys):
    pytest.importorskip("torch")
    flat = save_nifti(np.full((40, 40, 30), 7.0, np.float32), np.eye(4), tmp_path / "flat.nii.gz")
    assert main(["predict", str(flat), "-o", str(tmp_path / "out")]) == 1
    assert "its model names T8..S5 only" in capsys.readouterr().err


def test_synth_command_writes_reproducible_phantoms(tmp_path, capsys):
    out = tmp_path / "ph"
    args = ["synth", "--preset", "lumbar", "--n", "2", "--seed", "3", "-o", str(out), "--quiet"]
    assert main(args) == 0
    stems = sorted(p.name for p in out.glob("*.landmarks.json"))
    assert stems == ["synth_lumbar_0000.landmarks.json", "synth_lumbar_0001.landmarks.json"]
    first = (out / "synth_lumbar_0000.nii.gz").read_bytes()
    assert main(args) == 1  # exists without --overwrite
    assert "use --overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert (out / "synth_lumbar_0000.nii.gz").read_bytes() == first
    assert main(["synth", "--preset", "nope", "-o", str(out)]) == 2


def test_synth_command_refuses_unknown_values_as_usage_errors(tmp_path, capsys):
    for args in (["--contrast", "foo"], ["--orientation", "oblique"], ["--preset", "knee"], ["--seed", "-5"]):
        assert main(["synth", *args, "-o", str(tmp_path / "ph")]) == 2
        assert args[0] in capsys.readouterr().err
    assert not (tmp_path / "ph").exists()


def test_evaluate_command_on_phantom_truth(tmp_path, capsys):
    phantoms = tmp_path / "phantoms"
    assert main(["synth", "--preset", "lumbar", "--n", "2", "-o", str(phantoms), "--quiet"]) == 0
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    for f in phantoms.glob("*.landmarks.json"):  # the truth as prediction: a perfect score
        (pred / f.name).write_bytes(f.read_bytes())
        (truth / f.name).write_bytes(f.read_bytes())
    report = tmp_path / "report"
    assert main(["evaluate", "--pred", str(pred), "--truth", str(truth), "-o", str(report)]) == 0
    line = capsys.readouterr().out
    assert "2 of 2 scans scored: identification 100.0%, mean error 0.00 mm, subset accuracy 100.0%" in line
    assert (report / "report.md").is_file() and (report / "summary.json").is_file()
    (pred / "extra.landmarks.json").write_bytes(next(pred.glob("*.json")).read_bytes())
    assert main(["evaluate", "--pred", str(pred), "--truth", str(truth), "-o", str(report), "--overwrite"]) == 1
    assert "extra" in capsys.readouterr().err


def test_predict_decode_options_reach_the_method_and_its_provenance(tmp_path, capsys, golden_phantom):
    from spinemark.io.writers import save_volume

    img = save_volume(golden_phantom.image, tmp_path / "scan.nii.gz")
    out = tmp_path / "out"
    assert main(["predict", str(img), "-o", str(out), "--formats", "json", "--decode", "s1_needs_caudal=true",
                 "--decode", "peak_threshold=0.3"]) == 0
    doc = json.loads((out / "scan.landmarks.json").read_text())
    assert doc["model"]["decode"] == {"s1_needs_caudal": True, "peak_threshold": 0.3}
    assert main(["predict", str(img), "-o", str(tmp_path / "o2"), "--formats", "json"]) == 0
    assert "decode" not in json.loads((tmp_path / "o2" / "scan.landmarks.json").read_text())["model"]
    # an unknown option is a usage error, named, before any output
    assert main(["predict", str(img), "-o", str(tmp_path / "o3"), "--decode", "no_such_field=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown option(s) of the dualhead method: no_such_field" in err and "peak_threshold" in err
    assert not (tmp_path / "o3").exists()
    assert main(["predict", str(img), "-o", str(tmp_path / "o3"), "--decode", "s1_needs_caudal"]) == 2
    # values of the wrong type or out of range, and empty formats or a folder as summary: usage errors too
    for option in ("peak_threshold=abc", 'use_s1_head="false"', "nms_radius_mm=NaN", "link_max_mm=0", "threads=abc"):
        assert main(["predict", str(img), "-o", str(tmp_path / "o3"), "--decode", option]) == 2
        assert option.split("=")[0] in capsys.readouterr().err
    assert main(["predict", str(img), "-o", str(tmp_path / "o3"), "--formats", ","]) == 2
    assert main(["predict", str(img), "-o", str(tmp_path / "o3"), "--summary", str(tmp_path)]) == 2
    assert not (tmp_path / "o3").exists()


def test_predict_with_other_weights(tmp_path, golden_phantom):
    """``--weights`` (a model a user trained) predicts with those weights, and the output names them by SHA-256."""
    pytest.importorskip("torch")
    import hashlib

    from spinemark.io.writers import save_volume
    from spinemark.methods.dualhead import default_weights_path

    shipped = default_weights_path()
    mine = tmp_path / "mine.pt"
    shutil.copy(shipped, mine)
    meta = json.loads(shipped.with_suffix(".json").read_text())
    (tmp_path / "mine.json").write_text(json.dumps({**meta, "version": "mine"}))
    img = save_volume(golden_phantom.image, tmp_path / "scan.nii.gz")
    assert main(["predict", str(img), "-o", str(tmp_path / "out"), "--formats", "json", "--weights", str(mine)]) == 0
    model = json.loads((tmp_path / "out" / "scan.landmarks.json").read_text())["model"]
    assert model["version"] == "mine" and model["sha256"] == hashlib.sha256(mine.read_bytes()).hexdigest()


def test_discs_between_the_vertebrae_found_on_request(tmp_path, golden_phantom):
    from spinemark.io.writers import read_landmarks, save_volume

    img = save_volume(golden_phantom.image, tmp_path / "scan.nii.gz")
    assert main(["predict", str(img), "-o", str(tmp_path / "out"), "--discs", "--formats", "json,csv", "--quiet"]) == 0
    got = read_landmarks(tmp_path / "out" / "scan.landmarks.json")
    bodies = [p.name for p in got.vertebrae()]
    assert got.discs().names == [f"{a}/{b}" for a, b in zip(bodies, bodies[1:]) if a[0] != "S"]  # T12/L1..L5/S1
    truth = {p.name: np.asarray(p.position_mm) for p in golden_phantom.landmarks if p.is_disc}
    assert all(np.linalg.norm(np.subtract(p.position_mm, truth[p.name])) < 3.0 for p in got.discs())
    assert "L4/L5,123," in (tmp_path / "out" / "scan.csv").read_text()
    assert main(["predict", str(img), "-o", str(tmp_path / "o2"), "--formats", "json", "--quiet"]) == 0
    assert not read_landmarks(tmp_path / "o2" / "scan.landmarks.json").discs().names  # off by default


def test_known_levels_fix_the_names_and_are_checked(tmp_path, capsys, golden_phantom):
    pytest.importorskip("torch")
    from spinemark.io.writers import save_volume

    ph = golden_phantom
    img = save_volume(ph.image, tmp_path / "scan.nii.gz")
    x, y, z = ph.landmarks["L3"].position_mm

    def names(out):
        return [p["name"] for p in json.loads((out / "scan.landmarks.json").read_text())["landmarks"]]

    # a person who counts one level differently (L3 read as L4) is followed, and told that the vertebrae then need
    # another explanation: with S1..S5 all found below, the names cannot move down, and an L6 reconciles them
    assert main(["predict", str(img), "-o", str(tmp_path / "a"), "--formats", "json", "--known",
                 f"L4:{x:.1f},{y + 5:.1f},{z - 3:.1f}"]) == 0
    doc = json.loads((tmp_path / "a" / "scan.landmarks.json").read_text())
    named = {p["name"]: np.array(p["position_mm"]) for p in doc["landmarks"]}
    assert np.linalg.norm(named["L4"] - ph.landmarks["L3"].position_mm) < 5.0
    assert names(tmp_path / "a")[:3] == ["L1", "L2", "L3"] and "S2" in names(tmp_path / "a")
    assert any("known levels were followed" in w or "transitional anatomy" in w for w in doc["warnings"])
    assert [k["name"] for k in doc["known_levels"]] == ["L4"]  # what the person gave is kept with the result
    # the same from a Slicer markups file, agreeing with the S1 head: no warning about it
    from spinemark.io.writers import landmarks_to_slicer_markups
    from spinemark.landmarks import Landmark, Landmarks

    mrk = tmp_path / "known.mrk.json"
    mrk.write_text(json.dumps(landmarks_to_slicer_markups(Landmarks([Landmark("L3", (x, y, z))]))))
    assert main(["predict", str(img), "-o", str(tmp_path / "b"), "--formats", "json", "--known", str(mrk)]) == 0
    assert names(tmp_path / "b")[:2] == ["T12", "L1"]
    assert not json.loads((tmp_path / "b" / "scan.landmarks.json").read_text())["warnings"]
    capsys.readouterr()
    # known levels the vertebrae cannot carry: an error naming the file, and no output
    assert main(["predict", str(img), "-o", str(tmp_path / "c"), "--known", f"L3:{x},{y},{z}",
                 "--known", f"L1:{x},{y},{z - 35}"]) == 1
    err = capsys.readouterr().err
    assert "scan.nii.gz" in err and "known levels" in err and not (tmp_path / "c").exists()
    # a spec that is neither a point nor a file, and known levels for a batch: usage errors before any work
    for spec in (["L3:1,2"], ["L3:nan,0,0"], [f"L3:{x},{y},{z}", f"L3:{x},{y},{z + 30}"]):
        assert main(["predict", str(img), "-o", str(tmp_path / "d"), *[a for s in spec for a in ("--known", s)]]) == 2
    other = shutil.copy(img, tmp_path / "other.nii.gz")
    assert main(["predict", str(img), str(other), "-o", str(tmp_path / "d"), "--known", f"L3:{x},{y},{z}"]) == 2
    assert "one image" in capsys.readouterr().err and not (tmp_path / "d").exists()


def test_a_folder_of_known_levels_serves_a_batch(tmp_path, capsys, golden_phantom):
    pytest.importorskip("torch")
    from spinemark.io.writers import landmarks_to_slicer_markups, save_volume
    from spinemark.landmarks import Landmark, Landmarks

    ph = golden_phantom
    inputs = tmp_path / "in"
    for stem in ("a", "b", "c"):
        save_volume(ph.image, inputs / f"{stem}.nii.gz")
    known = tmp_path / "known"
    known.mkdir()
    relabelled = Landmarks([Landmark("L4", ph.landmarks["L3"].position_mm)])  # a shifted count, to see it followed
    (known / "a.mrk.json").write_text(json.dumps(landmarks_to_slicer_markups(relabelled)))
    (known / "c.landmarks.json").write_text("{not json")
    out = tmp_path / "out"
    assert main(["predict", str(inputs), "-o", str(out), "--formats", "json", "--known", str(known)]) == 1
    assert "c.landmarks.json" in capsys.readouterr().err and not (out / "c.landmarks.json").exists()
    a = json.loads((out / "a.landmarks.json").read_text())
    b = json.loads((out / "b.landmarks.json").read_text())
    assert [p["name"] for p in a["landmarks"]][:2] == ["L1", "L2"] and a["known_levels"][0]["name"] == "L4"
    assert [p["name"] for p in b["landmarks"]][:2] == ["T12", "L1"] and "known_levels" not in b


def test_known_levels_are_never_replaced_by_the_outputs(batch, tmp_path, capsys):
    from spinemark.io.writers import landmarks_to_slicer_markups
    from spinemark.landmarks import Landmark, Landmarks

    good = batch / "good.nii.gz"
    out = tmp_path / "out"
    out.mkdir()
    point = json.dumps(landmarks_to_slicer_markups(Landmarks([Landmark("L4", (0.0, 0.0, 0.0))])))
    (out / "good.mrk.json").write_text(point)  # placed in Slicer on the earlier output
    blob = ["--method", "test-blob", "--overwrite"]
    assert main(["predict", str(good), "-o", str(out), "--known", str(out), *blob]) == 2  # the output folder itself
    assert "is the output folder" in capsys.readouterr().err
    assert main(["predict", str(good), "-o", str(out), "--known", str(out / "good.mrk.json"), *blob]) == 2
    assert "an output of this run would replace it" in capsys.readouterr().err
    assert (out / "good.mrk.json").read_text() == point
    # a known file for no input of the batch is named, not silently passed over
    known = tmp_path / "known"
    known.mkdir()
    (known / "other.mrk.json").write_text(point)
    assert main(["predict", str(good), "-o", str(tmp_path / "out2"), "--known", str(known), "--method", "test-blob"]) == 0
    assert "known-level files that name no input of the batch, not used: other.mrk.json" in capsys.readouterr().err


def test_a_known_file_naming_one_level_twice_is_a_clear_error(tmp_path):
    from spinemark.errors import InputError
    from spinemark.io.writers import landmarks_to_slicer_markups, read_landmarks
    from spinemark.landmarks import Landmark, Landmarks

    doc = landmarks_to_slicer_markups(Landmarks([Landmark("L3", (0.0, 0.0, 0.0)), Landmark("L4", (0.0, 0.0, 30.0))]))
    doc["markups"][0]["controlPoints"][1]["label"] = "L3"
    (tmp_path / "k.mrk.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"k.mrk.json: landmark names must be unique; repeated: \['L3'\]"):
        read_landmarks(tmp_path / "k.mrk.json")
