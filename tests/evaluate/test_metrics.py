"""Metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from eval_fakes import LUMBAR, SPACING, column

from spinemark.evaluate.metrics import (
    NONE,
    average_precision,
    box_iou,
    calibration,
    dice,
    dice_per_instance,
    dice_per_level,
    error_stats,
    localization_errors,
    names_off,
    score_scan,
    summarize,
)
from spinemark.landmarks import Landmark, Landmarks


def test_oracle_is_perfect():
    truth = column()
    s = score_scan(truth, truth)
    assert s.identification_rate == 1.0 and s.n_fp == 0 and s.n_missed == 0 and s.subset_correct
    assert all(e == 0.0 for e in s.errors_mm.values())
    m = summarize([s, s])
    assert m["identification_rate"] == 1.0 and m["error"]["mean_mm"] == 0.0 and m["subset_accuracy"] == 1.0
    assert m["error"]["within_5mm"] == 1.0
    assert m["per_level"]["L3"]["identification_rate"] == 1.0


def test_one_level_shift_identifies_nothing():
    truth = column()
    # every name moved to its caudal neighbour's position; L5 moves to where S1 would be
    pred = Landmarks([Landmark(n, (0, 0, -(i + 1) * SPACING)) for i, n in enumerate(LUMBAR)])
    s = score_scan(pred, truth)
    assert s.identification_rate == 0.0 and s.n_identified == 0
    assert s.n_fp == 5 and s.n_missed == 5 and not s.subset_correct
    assert s.errors_mm == pytest.approx({n: SPACING for n in LUMBAR})
    conf = set(s.confusion)
    assert {("L2", "L1"), ("L3", "L2"), ("L4", "L3"), ("L5", "L4")} <= conf  # off-by-one band
    assert ("L1", NONE) in conf  # nothing lies near L1 any more
    assert (NONE, "L5") in conf  # 30 mm from L5: near no truth
    m = summarize([s])
    assert m["error"]["within_20mm"] == 0.0 and m["error"]["mean_mm"] == pytest.approx(30.0)
    counts = dict(zip(m["confusion"]["rows"], m["confusion"]["counts"]))
    assert counts["L2"][m["confusion"]["cols"].index("L1")] == 1


def test_identification_needs_nearest_truth():
    # 12 mm from its own centre (within 20 mm), but 8 mm from L2's: not identified
    truth = Landmarks([Landmark("L1", (0, 0, 0)), Landmark("L2", (0, 0, -20))])
    pred = Landmarks([Landmark("L1", (0, 0, -12)), Landmark("L2", (0, 0, -21))])
    s = score_scan(pred, truth)
    assert s.identified == {"L1": False, "L2": True}
    assert s.errors_mm["L1"] == pytest.approx(12.0)
    assert s.outcome["L1"] == "fp" and ("L2", "L1") in s.confusion


def test_partially_labelled_rule():
    truth = column()  # L1..L5 labelled; T12 above (z=+30) and S1 below (z=-150) visible but unlabelled
    pred = Landmarks([
        *truth.points,
        Landmark("T12", (0, 0, 30)),   # true T12 position, unlabelled: unverifiable
        Landmark("S1", (0, 0, -150)),  # unlabelled, 30 mm from L5: unverifiable
    ])
    s = score_scan(pred, truth)
    assert s.n_unverifiable == 2 and s.n_fp == 0 and s.subset_correct and s.identification_rate == 1.0

    # an unlabelled name placed on a labelled vertebra is a mislabel: false positive
    pred2 = Landmarks([Landmark("L1", (0, 0, 0)), Landmark("S1", (0, 0, -121))])
    s2 = score_scan(pred2, truth)
    assert s2.outcome == {"L1": "tp", "S1": "fp"} and ("L5", "S1") in s2.confusion
    assert not s2.subset_correct and s2.n_missed == 4

    # a crop that cut L1 away still knows L1 is labelled: predicting L1 there is a false positive
    crop_truth = Landmarks(truth.points[3:])  # L4, L5 in view
    pred3 = Landmarks([Landmark("L1", (0, 0, 0)), *crop_truth.points, Landmark("T12", (0, 0, 30))])
    s3 = score_scan(pred3, crop_truth, labelled=LUMBAR)
    assert s3.outcome["L1"] == "fp" and s3.outcome["T12"] == "unverifiable" and s3.n_fp == 1
    assert s3.true_names == ["L4", "L5"] and s3.labelled == list(LUMBAR)
    # without the labelled set, L1 would be unverifiable
    assert score_scan(pred3, crop_truth).outcome["L1"] == "unverifiable"
    # a labelled body the crop shows in part (L3 just above it): named within the radius of its centre, no error
    part = Landmarks([truth["L3"]])
    pred4 = Landmarks([Landmark("L3", (0, 0, -70)), *crop_truth.points])
    s4 = score_scan(pred4, crop_truth, labelled=LUMBAR, partial=part)
    assert s4.outcome["L3"] == "unverifiable" and s4.subset_correct and s4.n_true == 2
    far = Landmarks([Landmark("L3", (0, 0, -85)), *crop_truth.points])  # 25 mm off its centre: still an error
    assert score_scan(far, crop_truth, labelled=LUMBAR, partial=part).outcome["L3"] == "fp"


def test_an_unlabelled_name_is_judged_by_its_place_among_the_true_vertebrae():
    # sparse truth (as SCT's C3 and C5 labels): a C4 between them, 17 mm from each, is unverifiable, not a mislabel
    sparse = Landmarks([Landmark("C3", (0, 0, 34)), Landmark("C5", (0, 0, 0))])
    s = score_scan(Landmarks([*sparse.points, Landmark("C4", (0, 0, 17)), Landmark("C2", (0, 0, 51))]), sparse)
    assert s.outcome == {"C3": "tp", "C5": "tp", "C4": "unverifiable", "C2": "unverifiable"} and s.subset_correct
    truth = column()  # L1..L5 at z = 0, -30, .., -120; T12 and S1 unlabelled
    for name, z in (("S1", -45),   # an S1 above a true L5, 15 mm from L2 and L3: a mislabel
                    ("T12", -75),  # a T12 between the true L3 and L4
                    ("S1", 60),    # beyond the wrong end of the chain
                    ("S1", -128)):  # 8 mm from an identified L5: a second detection of it
        s = score_scan(Landmarks([*truth.points, Landmark(name, (0, 0, z))]), truth)
        assert s.outcome[name] == "fp" and not s.subset_correct and s.identification_rate == 1.0, (name, z)
    s = score_scan(Landmarks([*truth.points, Landmark("S1", (0, 0, -138))]), truth)
    assert s.outcome["S1"] == "unverifiable"  # 18 mm below an identified L5, on the right side of it


def test_missing_prediction_counts_outside_every_radius():
    truth = column()
    pred = Landmarks([Landmark("L1", (0, 0, 3)), Landmark("L2", (0, 0, -30 - 8))])
    s = score_scan(pred, truth)
    assert localization_errors(pred, truth) == pytest.approx({"L1": 3.0, "L2": 8.0})
    m = summarize([s])
    e = m["error"]
    assert e["n"] == 2 and e["n_total"] == 5 and e["mean_mm"] == pytest.approx(5.5) and e["median_mm"] == pytest.approx(5.5)
    assert e["within_5mm"] == pytest.approx(0.2) and e["within_10mm"] == pytest.approx(0.4)
    assert m["identification_rate"] == pytest.approx(0.4) and m["n_missed"] == 3 and m["subset_accuracy"] == 0.0


def test_error_stats_hand_computed():
    st = error_stats([1.0, 4.0, 7.0, 30.0])
    assert st["mean_mm"] == 10.5 and st["median_mm"] == 5.5 and st["max_mm"] == 30.0
    assert (st["within_5mm"], st["within_10mm"], st["within_20mm"]) == (0.5, 0.75, 0.75)
    assert error_stats([])["mean_mm"] is None


def test_dice_per_level_and_instance():
    t = np.zeros((4, 4, 1), int)
    p = np.zeros((4, 4, 1), int)
    t[0:2, :, 0] = 24  # 8 voxels of L5
    p[0:1, :, 0] = 24  # 4 voxels, all inside
    t[2:4, 0:2, 0] = 26  # 4 voxels of S1
    p[2:4, 2:4, 0] = 26  # 4 voxels, no overlap
    d = dice_per_level(p, t)
    assert d["L5"] == pytest.approx(2 * 4 / 12) and d["S1"] == 0.0
    assert dice(np.zeros(3), np.zeros(3)) == 1.0
    # instances: ids are arbitrary, labels ignored
    inst = dice_per_instance(np.where(p == 24, 7, np.where(p == 26, 9, 0)), np.where(t == 24, 1, np.where(t == 26, 2, 0)))
    assert inst == pytest.approx({1: 2 * 4 / 12, 2: 0.0})


def test_box_iou_and_map():
    assert box_iou((0, 0, 2, 2), (1, 0, 3, 2)) == pytest.approx(2 / 6)
    truths = [[("L5", (0, 0, 10, 10)), ("L5", (20, 20, 30, 30))]]
    preds = [[("L5", 0.9, (0, 0, 10, 10)), ("L5", 0.8, (50, 50, 60, 60)), ("L5", 0.7, (20, 20, 30, 29))]]
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = 0.5*1 + 0.5*(2/3)
    assert average_precision(preds, truths, 0.5)["mAP"] == pytest.approx(0.5 + 1 / 3)
    # the third box has IoU 0.9 with its truth: still a hit at 0.75; shrink it to miss at 0.75
    preds[0][2] = ("L5", 0.7, (20, 20, 30, 26))  # IoU 0.6
    assert average_precision(preds, truths, 0.5)["mAP"] == pytest.approx(0.5 + 1 / 3)
    assert average_precision(preds, truths, 0.75)["mAP"] == pytest.approx(0.5)
    # a wrong label never matches; a class with no truth is left out of the mean
    two = average_precision([[("S1", 0.9, (0, 0, 10, 10)), ("L4", 0.5, (0, 0, 1, 1))]], [[("S1", (0, 0, 10, 10))]], 0.75)
    assert two == {"mAP": 1.0, "per_class": {"S1": 1.0}}
    # duplicate detections of one box: the second is a false positive
    dup = average_precision([[("S1", 0.9, (0, 0, 10, 10)), ("S1", 0.8, (0, 0, 10, 10))]], [[("S1", (0, 0, 10, 10))]])
    assert dup["mAP"] == pytest.approx(1.0)  # recall reached 1 at precision 1 before the duplicate


def test_calibration_of_confidences_against_outcomes():
    perfect = calibration([0.25, 0.25, 0.25, 0.25, 0.95], [0, 0, 0, 1, 1])
    assert perfect["ece"] == 0.01 and perfect["n"] == 5  # the 0.2 bin says 0.25 and is right 1 in 4; 0.9: 0.95 vs 1
    assert perfect["brier"] == pytest.approx((3 * 0.25 ** 2 + 0.75 ** 2 + 0.05 ** 2) / 5, abs=1e-4)
    shy = calibration([0.3] * 4, [1, 1, 1, 0])  # under-confident: right 3 in 4 at 0.3
    assert shy["ece"] == pytest.approx(0.45) and shy["bins"] == [
        {"low": 0.3, "high": 0.4, "n": 4, "confidence": 0.3, "outcome": 0.75}]
    assert calibration([0.75] * 4, [1, 1, 1, 0])["brier"] < shy["brier"]
    assert calibration([], [])["brier"] is None
    with pytest.raises(ValueError, match="2 confidences for 1 outcomes"):
        calibration([0.5, 0.5], [1])


def test_a_false_positive_named_outside_the_truth_has_its_own_per_level_row():
    truth = column()
    l5 = truth.points[-1].position_mm
    pred = Landmarks([*truth.points[:-1], Landmark("L6", (l5[0] + 2.0, l5[1], l5[2]))])  # L5 taken for L6
    m = summarize([score_scan(pred, truth)])
    assert m["n_fp"] == 1 and sum(r["n_fp"] for r in m["per_level"].values()) == 1
    assert m["per_level"]["L6"]["n_true"] == 0 and m["per_level"]["L6"]["identification_rate"] is None
    assert m["per_level"]["L5"]["identification_rate"] == 0.0


def test_names_off_is_judged_by_positions():
    truth = column(("L1", "L2", "L3"))  # in view; L4, L5 labelled but cut away, L4 30 mm below L3
    labelled = LUMBAR
    at = truth.positions_mm

    def pred(names, positions=at):
        return Landmarks([Landmark(n, p) for n, p in zip(names, positions)])

    assert names_off(pred(("L1", "L2", "L3")), truth, labelled) == 0
    assert names_off(pred(("L2", "L3", "L4")), truth, labelled) == 1  # one level too caudal
    assert names_off(pred(("T11", "T12", "L1")), truth, labelled) == -2  # two too cranial
    assert names_off(pred(("T12", "L1", "L2", "L3"), [(0, 0, 30), *at]), truth, labelled) == 0  # unlabelled T12
    # the names are right but the body cut at the crop's edge is named too (a labelled level cut away): no shift of
    # the names makes it right, though names alone (L1..L3 all named) would call it right
    assert names_off(pred(("L1", "L2", "L3", "L4"), [*at, (0, 0, -90)]), truth, labelled) is None
    assert names_off(pred(("L2", "L3"), at[:2] + 25), truth, labelled) is None  # 25 mm away: beyond the radius
    assert names_off(pred(("L1", "L6")), truth, labelled) is None  # outside the standard sequence
    assert names_off(pred(("S4", "S5", "Co")), truth, labelled) is None  # further off than any shift tried
    assert names_off(Landmarks([]), truth, labelled) is None
