"""Pairing, folder evaluation, report files and error handling."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from eval_fakes import LUMBAR, column, labelled_volume

from helpers import write_landmarks, write_mask
from spinemark.errors import InputError, OutputError
from spinemark.evaluate import evaluate_dirs, evaluate_pair, find_pairs, pair_key
from spinemark.evaluate.report import DISC_NOTE, REPORT_FILES, load_truth
from spinemark.io.writers import landmarks_to_slicer_markups
from spinemark.landmarks import Landmark, Landmarks


@pytest.mark.parametrize("name,key", [
    ("VB3_01_seg-vert_msk.nii.gz", "VB3_01"), ("VB3_01_img.landmarks.json", "VB3_01"), ("scan.nii.gz", "scan"),
    ("scan.landmarks.json", "scan"), ("scan_seg.nii", "scan"), ("scan_msk.mrk.json", "scan"), ("a_b.nrrd", "a_b"),
])
def test_pair_key(name, key):
    assert pair_key(name) == key


def test_find_pairs_prefers_masks_and_reports_unpaired(tmp_path):
    vol, labels, truth = labelled_volume()
    pred, tru = tmp_path / "pred", tmp_path / "truth"
    write_landmarks(pred / "A_img.landmarks.json", truth)
    (pred / "A_img.csv").parent.mkdir(exist_ok=True)
    (pred / "A_img.csv").write_text("ignored")
    write_landmarks(pred / "B.landmarks.json", truth)  # no truth
    write_mask(tru / "A_seg-vert_msk.nii.gz", labels, vol.affine)
    write_mask(tru / "A_img.nii.gz", vol.data, vol.affine)  # the image beside its mask: not used
    (tru / "A_ctd.json").write_text("{}")
    write_mask(tru / "C_msk.nii.gz", labels, vol.affine)  # no prediction
    pairs, errors = find_pairs(pred, tru)
    assert [(p.key, p.pred and p.pred.name, p.truth.name) for p in pairs] == [
        ("A", "A_img.landmarks.json", "A_seg-vert_msk.nii.gz"), ("C", None, "C_msk.nii.gz")]  # C: all missed
    assert any("B.landmarks.json" in e and "no truth" in e for e in errors)
    assert any("C_msk.nii.gz" in e and "no prediction" in e and "counted as missed" in e for e in errors)
    with pytest.raises(InputError, match="does not exist"):
        find_pairs(tmp_path / "nope", tru)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no prediction files"):
        find_pairs(tmp_path / "empty", tru)


def test_ambiguous_key_is_reported(tmp_path):
    write_landmarks(tmp_path / "p" / "X.landmarks.json", column())
    write_landmarks(tmp_path / "p" / "sub" / "X_img.landmarks.json", column())
    write_landmarks(tmp_path / "t" / "X.landmarks.json", column())
    pairs, errors = find_pairs(tmp_path / "p", tmp_path / "t")
    assert pairs == [] and any("shared by" in e and "X_img.landmarks.json" in e for e in errors)


def test_truth_from_mask_and_markups(tmp_path):
    vol, labels, truth = labelled_volume()
    write_mask(tmp_path / "m_seg.nii.gz", labels, vol.affine)
    got = load_truth(tmp_path / "m_seg.nii.gz")
    assert got.names == list(LUMBAR)
    assert np.allclose(got.positions_mm, truth.positions_mm)
    (tmp_path / "m.mrk.json").write_text(json.dumps(landmarks_to_slicer_markups(truth)))
    assert np.allclose(load_truth(tmp_path / "m.mrk.json").positions_mm, truth.positions_mm, atol=1e-3)
    write_mask(tmp_path / "f_seg.nii.gz", labels.astype(np.float32) + 0.5, vol.affine)
    with pytest.raises(InputError, match="f_seg.nii.gz.*not integers"):
        load_truth(tmp_path / "f_seg.nii.gz")
    # an intensity image given as truth, and a label no vertebra or disc has (127: below the coccyx), name the truth
    scan = np.random.default_rng(0).integers(0, 255, labels.shape).astype(np.uint8)
    write_mask(tmp_path / "scan.nii.gz", scan, vol.affine)
    with pytest.raises(InputError, match="scan.nii.gz.*not a label image: 25[0-9] different"):
        load_truth(tmp_path / "scan.nii.gz")
    write_mask(tmp_path / "co_seg.nii.gz", np.where(labels > 0, 127, 0).astype(np.uint8), vol.affine)
    with pytest.raises(InputError, match="co_seg.nii.gz.*no vertebra or disc label"):
        load_truth(tmp_path / "co_seg.nii.gz")


def test_evaluate_pair_oracle_and_shift(tmp_path):
    vol, labels, truth = labelled_volume()
    write_mask(tmp_path / "t_seg.nii.gz", labels, vol.affine)
    write_landmarks(tmp_path / "o.landmarks.json", truth)
    assert evaluate_pair(tmp_path / "o.landmarks.json", tmp_path / "t_seg.nii.gz").score.identification_rate == 1.0
    names = truth.names
    shifted = Landmarks([Landmark(n, truth.points[i + 1].position_mm) for i, n in enumerate(names[:-1])])
    write_landmarks(tmp_path / "s.landmarks.json", shifted)
    s = evaluate_pair(tmp_path / "s.landmarks.json", tmp_path / "t_seg.nii.gz").score
    assert s.identification_rate == 0.0 and s.n_fp == 4
    with pytest.raises(InputError, match="o.landmarks.json: the truth is the prediction file itself"):
        evaluate_pair(tmp_path / "o.landmarks.json", tmp_path / "." / "o.landmarks.json")


def test_evaluate_dirs_end_to_end(tmp_path):
    vol, labels, truth = labelled_volume()
    pred, tru, out = tmp_path / "pred", tmp_path / "truth", tmp_path / "out"
    for k in ("A", "B"):
        write_mask(tru / f"{k}_seg-vert_msk.nii.gz", labels, vol.affine)
    write_landmarks(pred / "A_img.landmarks.json", Landmarks([*truth.points, Landmark("S1", (0, 0, -200))], truth.geometry))
    (pred / "B_img.landmarks.json").write_text("{not json")  # unreadable: reported, every vertebra of B missed
    write_landmarks(pred / "Z.landmarks.json", truth)  # unpaired
    seen = []
    summary = evaluate_dirs(pred, tru, out, progress=lambda it: (seen.append(1), it)[1])
    assert seen and summary.n_scored == 2 and len(summary.scans) == 2  # a broken file cannot raise the figures
    assert summary.metrics["identification_rate"] == 0.5 and summary.metrics["n_unverifiable"] == 1
    assert any("B_img.landmarks.json" in e and "counted as missed" in e for e in summary.errors)
    assert any("Z.landmarks.json" in e for e in summary.errors)
    assert sorted(p.name for p in summary.outputs) == sorted(REPORT_FILES)
    report = (out / "report.md").read_text()
    assert "unverifiable" in report and "B_img.landmarks.json" in report and "5-6 vertebrae" in report
    doc = json.loads((out / "summary.json").read_text())
    assert doc["n_scored"] == 2 and doc["metrics"]["per_level"]["L1"]["identification_rate"] == 0.5
    assert "prediction unreadable" in (out / "per_scan.csv").read_text()
    # five right vertebrae at confidence 1, the unverifiable S1 left out
    assert doc["metrics"]["vertebra_confidence"]["n"] == 5 and doc["metrics"]["vertebra_confidence"]["brier"] == 0.0
    assert "Per vertebra (5 predictions the truth can judge" in report and "curve n/a (all right or all wrong)" in report
    assert "n_unverifiable" in (out / "per_scan.csv").read_text().splitlines()[0]
    # A right (its unlabelled S1 is no error), B with nothing read: no shift of names makes it right
    assert [s.names_off for s in summary.scans] == [0, None]
    assert "| 5-6 vertebrae | 2 | 1 (50%) | 0 (0%) | 0 (0%) | 0 (0%) | 1 (50%) |" in report
    assert ", 0 named one level off as a whole;" in summary.headline()
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(OutputError, match="report.md|per_scan.csv"):
        evaluate_dirs(pred, tru, out)
    assert evaluate_dirs(pred, tru, out, overwrite=True).n_scored == 2
    # a truth whose prediction is missing (a failed prediction writes nothing) counts every vertebra missed
    write_mask(tru / "C_seg-vert_msk.nii.gz", labels, vol.affine)
    summary = evaluate_dirs(pred, tru, out, overwrite=True)
    assert summary.n_scored == 3 and summary.metrics["identification_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert any("C_seg-vert_msk.nii.gz" in e and "counted as missed" in e for e in summary.errors)
    assert "no prediction: every vertebra counted as missed" in (out / "per_scan.csv").read_text()
    # every name one level too cranial (each body given the name of the one above it): the headline says so
    shifted = Landmarks([Landmark(n, p.position_mm) for n, p in zip(("T12", "L1", "L2", "L3", "L4"), truth)])
    write_landmarks(pred / "A_img.landmarks.json", shifted)
    again = evaluate_dirs(pred, tru, tmp_path / "out2")
    assert again.scans[0].names_off == -1 and ", 1 named one level off as a whole;" in again.headline()


def test_a_vertebra_cut_by_the_image_edge_is_left_out_of_a_label_image_truth(tmp_path):
    from spinemark.evaluate.report import cut_vertebrae

    vol, labels, truth = labelled_volume(spacing_vox=30, shape=(170, 12, 8), top=30)  # centres 30 mm apart
    labels = labels.copy()
    labels[0, 3:9, 2:6] = 19  # a sliver of T12 in the first row: its centroid is not its centre
    assert cut_vertebrae(labels) == ["T12"]
    labels[166:170, 3:9, 2:6] = 25  # four of the seven rows of a body (L6) at the other edge: kept
    assert cut_vertebrae(labels) == ["T12"]
    write_mask(tmp_path / "t_seg.nii.gz", labels, vol.affine)
    assert load_truth(tmp_path / "t_seg.nii.gz").names == ["T12", *LUMBAR, "L6"]
    cut = load_truth(tmp_path / "t_seg.nii.gz", drop_cut=True)
    assert cut.names == [*LUMBAR, "L6"] and cut.warnings == ["left out of the truth, cut by the image edge: T12"]
    t12 = vol.voxel_to_world((0, 5.5, 3.5))
    write_landmarks(tmp_path / "p.landmarks.json", Landmarks([*truth.points, Landmark("T12", t12)], truth.geometry))
    result = evaluate_pair(tmp_path / "p.landmarks.json", tmp_path / "t_seg.nii.gz")
    assert result.score.n_fp == 0 and result.score.n_unverifiable == 1 and result.notes == cut.warnings


def test_a_label_image_of_discs_alone_gives_the_bodies_between_them(tmp_path):
    from spinemark import anatomy

    vol, labels, truth = labelled_volume(names=("L2", "L3", "L4", "L5"))  # used as disc labels: L2/L3 .. L5/S1
    discs = np.where(labels > 0, labels.astype(np.int32) + anatomy.DISC_OFFSET, 0).astype(np.uint8)
    write_mask(tmp_path / "d_seg.nii.gz", discs, vol.affine)
    got = load_truth(tmp_path / "d_seg.nii.gz")
    assert got.discs().names == ["L2/L3", "L3/L4", "L4/L5", "L5/S1"]
    assert got.vertebrae().names == ["L3", "L4", "L5"]  # S1 would need the S1/S2 disc
    midway = (np.asarray(truth["L3"].position_mm) + truth["L4"].position_mm) / 2  # L3/L4 and L4/L5
    assert np.allclose(got["L4"].position_mm, midway, atol=1e-6)
    assert got.warnings == [f"{DISC_NOTE}: L3, L4, L5"]
    pred = Landmarks([Landmark(n, got[n].position_mm) for n in ("L3", "L4", "L5")], got.geometry)
    write_landmarks(tmp_path / "d.landmarks.json", pred)
    assert evaluate_pair(tmp_path / "d.landmarks.json", tmp_path / "d_seg.nii.gz").notes == got.warnings


def test_discs_are_scored_where_truth_and_prediction_both_hold_them(tmp_path):
    vol, _, truth = labelled_volume()
    disc = {"L1/L2": (0.0, 0.0, 0.0), "L2/L3": (0.0, 0.0, -30.0)}
    truth = Landmarks([*truth.points, *(Landmark(n, p) for n, p in disc.items())], truth.geometry)
    pred = Landmarks([*truth.vertebrae().points, Landmark("L1/L2", (3.0, 4.0, 0.0))], truth.geometry)
    for folder, lms in (("pred", pred), ("truth", truth)):
        write_landmarks(tmp_path / folder / "a.landmarks.json", lms)
    write_landmarks(tmp_path / "pred" / "b.landmarks.json", truth.vertebrae())  # no discs predicted: not scored
    write_landmarks(tmp_path / "truth" / "b.landmarks.json", truth)
    summary = evaluate_dirs(tmp_path / "pred", tmp_path / "truth", tmp_path / "out")
    a, b = summary.scans
    assert a.true_discs == ["L1/L2", "L2/L3"] and a.disc_errors == {"L1/L2": 5.0} and not b.true_discs
    assert summary.discs["all"]["n_total"] == 2 and summary.discs["all"]["n"] == 1
    assert summary.discs["L1/L2"]["mean_mm"] == 5.0 and summary.discs["L2/L3"]["n"] == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Discs" in report and "| all | all | 2 | 1 | 5.00 |" in report
    assert summary.scans[0].score.n_identified == len(truth.vertebrae())  # the vertebrae's figures stay as they were
    with open(tmp_path / "out" / "per_scan.csv") as f:
        rows = list(csv.DictReader(f))
    assert (rows[0]["discs"], rows[0]["discs_found"], rows[0]["disc_mean_error_mm"]) == ("2", "1", "5.0")
    assert rows[1]["discs"] == ""
