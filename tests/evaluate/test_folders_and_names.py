"""Evaluation inputs: nested folders, markups confidence, SCT names, cut vertebrae in a thin slab,
Dice with tissue ids, a file given for a folder."""

from __future__ import annotations

import numpy as np
import pytest
from eval_fakes import column, labelled_volume

from helpers import SHARED_DATA, write_landmarks, write_mask
from spinemark.errors import InputError
from spinemark.evaluate import dice_per_level, find_pairs, pair_key
from spinemark.evaluate.report import cut_vertebrae
from spinemark.io.writers import (
    landmarks_to_slicer_markups,
    slicer_markups_to_landmarks,
)
from spinemark.landmarks import Landmark, Landmarks


def test_a_prediction_folder_inside_the_truth_folder_is_not_searched_for_truths(tmp_path):
    vol, labels, _ = labelled_volume()
    data = tmp_path / "data"
    write_mask(data / "A_seg-vert_msk.nii.gz", labels, vol.affine)
    write_landmarks(data / "preds" / "A_img.landmarks.json", column())
    pairs, errors = find_pairs(data / "preds", data)
    assert [(p.key, p.pred.name, p.truth.name) for p in pairs] == [
        ("A", "A_img.landmarks.json", "A_seg-vert_msk.nii.gz")] and errors == []
    # and a truth folder inside the prediction folder is not searched for predictions
    write_landmarks(tmp_path / "p" / "B.landmarks.json", column())
    write_landmarks(tmp_path / "p" / "truth" / "B.landmarks.json", column())
    pairs, errors = find_pairs(tmp_path / "p", tmp_path / "p" / "truth")
    assert [(p.key, p.pred.parent.name, p.truth.parent.name) for p in pairs] == [("B", "p", "truth")] and errors == []


def test_a_file_given_for_a_folder_is_named_a_file(tmp_path):
    write_landmarks(tmp_path / "p" / "A.landmarks.json", column())
    write_landmarks(tmp_path / "t" / "A.landmarks.json", column())
    with pytest.raises(InputError, match="is a file: give the prediction folder that holds it"):
        find_pairs(tmp_path / "p" / "A.landmarks.json", tmp_path / "t")
    with pytest.raises(InputError, match="is a file: give the truth folder that holds it"):
        find_pairs(tmp_path / "p", tmp_path / "t" / "A.landmarks.json")


def test_markups_keep_the_confidence_spinemark_wrote():
    lms = Landmarks([Landmark("L4", (1.0, 2.0, 3.0), 0.887), Landmark("L5", (1.0, 2.0, -27.0), 0.25)])
    doc = landmarks_to_slicer_markups(lms)
    assert [p.confidence for p in slicer_markups_to_landmarks(doc)] == [0.887, 0.25]
    for cp, text in zip(doc["markups"][0]["controlPoints"], ("placed by hand", None)):
        cp["description"] = text  # not spinemark's: a confidence of 1
    assert [p.confidence for p in slicer_markups_to_landmarks(doc)] == [1.0, 1.0]


@pytest.mark.parametrize("name,key", [
    ("t2_seg-manual.nii.gz", "t2"), ("t2_seg-manual_labeled.nii.gz", "t2"), ("t2_labeled_center_manual.nii.gz", "t2"),
    ("t2_centerline-manual.nii.gz", "t2"), ("sub-01_T2w_dseg.nii.gz", "sub-01_T2w"), ("labels.nii.gz", "labels"),
    ("scan_manual.nii.gz", "scan_manual"), ("VB3_01_img_seg.nii.gz", "VB3_01"), ("MSK_Spine_001.nii.gz", "MSK_Spine_001"),
])
def test_pair_key_strips_every_label_map_name(name, key):
    assert pair_key(name) == key


def test_an_sct_label_map_pairs_with_its_images_prediction_not_the_image(tmp_path):
    vol, labels, truth = labelled_volume()
    write_landmarks(tmp_path / "p" / "t2.landmarks.json", truth)
    write_mask(tmp_path / "t" / "t2.nii.gz", vol.data, vol.affine)  # the image: never the truth beside a mask
    write_mask(tmp_path / "t" / "t2_seg-manual_labeled.nii.gz", labels, vol.affine)
    pairs, errors = find_pairs(tmp_path / "p", tmp_path / "t")
    assert [(p.key, p.truth.name) for p in pairs] == [("t2", "t2_seg-manual_labeled.nii.gz")] and errors == []
    write_mask(tmp_path / "t" / "t2_seg-manual.nii.gz", labels, vol.affine)  # two masks of t2: which one?
    pairs, errors = find_pairs(tmp_path / "p", tmp_path / "t")
    assert pairs == [] and len(errors) == 1 and "shared by" in errors[0]


@pytest.mark.skipif(not (SHARED_DATA / "sct_testing_data").is_dir(), reason="shared data absent")
def test_sct_t1_mask_pairs_with_the_t1_prediction(tmp_path):
    write_landmarks(tmp_path / "t1w.landmarks.json", column(("C3",)))
    pairs, errors = find_pairs(tmp_path, SHARED_DATA / "sct_testing_data" / "t1")
    assert [(p.key, p.truth.name) for p in pairs] == [("t1w", "t1w_seg-manual.nii.gz")] and errors == []


def _slab(top: int, lr: slice = slice(None)) -> np.ndarray:
    """L1..L5 bodies 25 rows tall every 38 rows along axis 0 of a 12-slice sagittal slab; L1 starts at ``top``."""
    d = np.zeros((200, 120, 12), np.uint8)
    for k, lid in enumerate(range(20, 25)):
        d[max(top + 38 * k, 0):top + 38 * k + 25, 40:75, lr] = lid
    return d


def test_a_cut_vertebra_is_found_in_a_thin_slab_whose_bodies_touch_the_side_faces():
    assert cut_vertebrae(_slab(-15)) == ["L1"]  # 10 of 25 rows in view, every body touching the left and right faces
    assert cut_vertebrae(_slab(-15, slice(1, -1))) == ["L1"]
    assert cut_vertebrae(_slab(-8)) == []  # 17 of 25 rows: kept
    assert cut_vertebrae(_slab(5)) == []


def test_the_spine_axis_of_cut_vertebrae_is_measured_in_mm():
    d = np.zeros((40, 40, 40), np.uint8)  # bodies 4 voxels apart along axis 0 (1 mm), 2 along axis 2 (4 mm)
    for k, lid in enumerate(range(20, 24)):
        d[10 + 4 * k:14 + 4 * k, 10:20, 2 * k:2 * k + 2] = lid
    d[10:14, 10:20, 1] = 0
    d[13, 10:20, 0] = 0  # L1 cut to 30 voxels of 80, touching the first axis-2 face
    assert cut_vertebrae(d) == []  # in voxels the spine runs along axis 0, whose faces L1 does not touch
    assert cut_vertebrae(d, (1.0, 1.0, 4.0)) == ["L1"]


def test_dice_per_level_leaves_out_tissue_ids():
    t = np.zeros((10, 10, 10), int)
    t[1:4], t[5:7], t[8:] = 24, 201, 124
    assert dice_per_level(t, t) == {"L5": 1.0, "L5/S1": 1.0}
    assert dice_per_level(t, t, ids=[24]) == {"L5": 1.0}
