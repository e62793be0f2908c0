"""Body centres from discs and disc centres from bodies, on the curve of the spine; discs added to a prediction."""

import numpy as np

from spinemark.landmarks import Landmark, Landmarks, bodies_from_discs, discs_from_bodies


def test_bodies_from_discs_lie_on_the_curve_through_the_discs():
    # L3/L4, L4/L5, L5/S1 at t = 0, 1, 2 along the spine, y = t^2 + t: the bodies at t = 1/2 and 3/2
    discs = {"L3": np.array([0.0, 0.0, 30.0]), "L4": np.array([0.0, 2.0, 0.0]), "L5": np.array([0.0, 6.0, -30.0])}
    bodies = bodies_from_discs(discs)
    assert sorted(bodies) == ["L4", "L5"]  # L3 needs the L2/L3 disc, S1 the S1/S2 disc
    assert np.allclose(bodies["L4"], [0, 0.75, 15]) and np.allclose(bodies["L5"], [0, 3.75, -15])
    two = bodies_from_discs({"L3": discs["L3"], "L4": discs["L4"]})  # no third disc: the midpoint
    assert list(two) == ["L4"] and np.allclose(two["L4"], [0, 1, 15])
    t13 = {k: np.array([0.0, 0.0, -30.0 * i]) for i, k in enumerate(("T11", "T12", "T13", "L1"))}  # T13/L1 labelled
    assert {k: v[2] for k, v in bodies_from_discs(t13).items()} == {"T12": -15.0, "T13": -45.0, "L1": -75.0}


def test_discs_from_bodies_on_the_curve_and_only_in_the_mobile_spine():
    # L3, L4, L5, S1 at t = 0..3, y = t^2 + t: discs at t = 1/2, 3/2, 5/2 (each the mean of two parabolas where both
    # exist, which agree on a parabola)
    bodies = {n: np.array([0.0, t * t + t, -30.0 * t]) for t, n in enumerate(("L3", "L4", "L5", "S1"))}
    discs = discs_from_bodies(bodies)
    assert list(discs) == ["L3/L4", "L4/L5", "L5/S1"]
    for name, t in (("L3/L4", 0.5), ("L4/L5", 1.5), ("L5/S1", 2.5)):
        assert np.allclose(discs[name], [0, t * t + t, -30 * t])
    line = {n: np.array([0.0, 0.0, -20.0 * i]) for i, n in enumerate(("C1", "C2", "C3", "S1", "S2", "S3"))}
    assert list(discs_from_bodies(line)) == ["C2/C3"]  # none at C1/C2 nor in the sacrum; C3 and S1 no neighbours
    assert list(discs_from_bodies({"L4": bodies["L4"], "S1": bodies["S1"]})) == []  # L5 missing between them


def test_with_discs_adds_each_disc_with_the_lower_confidence_of_its_bodies():
    lms = Landmarks([Landmark("L4", (0, 0, 0), 0.9), Landmark("L5", (0, 0, -36), 0.7), Landmark("S1", (0, 0, -72), 0.8),
                     Landmark("L1/L2", (5, 5, 5))], warnings=["w"])
    got = lms.with_discs()
    assert got.names == ["L4", "L4/L5", "L5", "L5/S1", "S1"] and got.warnings == ["w"]  # the earlier disc replaced
    assert got["L4/L5"].confidence == 0.7 and got["L5/S1"].confidence == 0.7
    assert got["L4/L5"].position_mm == (0.0, 0.0, -18.0) and got["L4/L5"].id == 123
