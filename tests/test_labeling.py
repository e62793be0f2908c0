from dataclasses import replace

import numpy as np
import pytest

from spinemark import anatomy
from spinemark.labeling import DecodeConfig, build_chain, decode, find_peaks, map_confidence, name_chain, parabola_peak

LEVELS = ["T11", "T12", "L1", "L2", "L3", "L4", "L5", "L6", "S1", "S2", "S3"]
SP = 3.0


def _maps(centres, names, shape=(20, 30, 90), sigma=1.3, levels=LEVELS):
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1)
    maps = np.zeros((len(levels), *shape), np.float32)
    for c, n in zip(centres, names):
        if n in levels:
            maps[levels.index(n)] += np.exp(-((grid - np.array(c)) ** 2).sum(-1) / (2 * sigma**2))
    return maps


def _chain(n, top=82, step=11):
    return [(10, 15, top - step * i) for i in range(n)]


def test_find_peaks_nms_and_subvoxel():
    h = _maps([(10, 15, 40.4)], ["L1"], sigma=2.0)[2]
    pos, val = find_peaks(h, 0.3, 3)
    assert len(pos) == 1 and tuple(pos[0]) == (10, 15, 40) and val[0] > 0.8
    # a Gaussian as wide as the network's peaks: the parabola of the logarithms finds the offset, the centroid not
    assert np.allclose(parabola_peak(h, pos[0]), (10, 15, 40.4), atol=1e-3)
    decoded = decode(_maps([(10, 15, 40.4)], ["L1"], sigma=2.0), LEVELS, SP)
    assert np.allclose(decoded.points[0].voxel, (10, 15, 40.4), atol=1e-3)


def test_parabola_peak_keeps_the_centroid_on_the_grid_edge():
    h = _maps([(10, 15, -0.3)], ["L1"], sigma=2.0)[2]
    pos, _ = find_peaks(h, 0.3, 3)
    assert tuple(pos[0]) == (10, 15, 0)
    refined = parabola_peak(h, pos[0])
    # along z the peak is on the first slice: the centroid of the slices 0 and 1 (inwards), not an extrapolation
    assert 0.0 < refined[2] < 0.5 and np.allclose(refined[:2], (10, 15), atol=1e-3)


def test_find_peaks_suppresses_within_the_radius_along_every_axis():
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in (20, 20, 30)], indexing="ij"), -1).astype(np.float32)

    def peaks(offset, keep_ratio=None, keep_radius=None):
        centres = np.add((10, 8, 10), [(0, 0, 0), offset])
        blobs = [h * np.exp(-((grid - c) ** 2).sum(-1) / 1.28) for h, c in zip((1.0, 0.9), centres)]
        return len(find_peaks(np.maximum(*blobs), 0.25, 4.0, keep_ratio, keep_radius)[0])

    assert peaks((0, 0, 5)) == 2  # beyond the radius along one axis
    assert peaks((0, 2, 4)) == 1  # 4.5 voxels apart, but within 4 along every axis: the cube (see find_peaks)
    assert peaks((0, 2, 3)) == 1  # within the radius
    # keep_ratio: the weaker peak (0.9 of the stronger) beside the stronger one along the axes is kept
    assert peaks((0, 2, 4), keep_ratio=0.8) == 2
    assert peaks((0, 2, 4), keep_ratio=0.95) == 1
    assert peaks((0, 2, 3), keep_ratio=0.8) == 1  # within the radius by distance: not kept
    assert peaks((0, 2, 3), keep_ratio=0.8, keep_radius=3.0) == 2  # 3.6 voxels apart: kept beyond its own radius
    assert peaks((0, 1, 2), keep_ratio=0.8, keep_radius=3.0) == 1  # 2.2 voxels apart


def test_build_chain_drops_offchain_outlier():
    pts = np.array(_chain(5), float) * SP
    pts = np.vstack([pts, [[10 * SP, 70 * SP, 50 * SP]]])  # far anterior stray detection
    chain = build_chain(pts, np.ones(len(pts)))
    assert chain == [0, 1, 2, 3, 4]


def test_s1_anchor_propagates_both_ways():
    cents = _chain(6)
    names = ["L2", "L3", "L4", "L5", "S1", "S2"]
    maps = _maps(cents, names) * 0.05  # weak, uninformative level maps
    s1 = _maps([cents[4]], ["L1"], levels=["L1"])[0]
    any_map = _maps(cents, ["L1"] * 6, levels=["L1"])[0]
    dec = decode(maps, LEVELS, SP, any_map, s1)
    assert dec.anchored
    assert [p.name for p in dec.points] == names


def test_the_confidence_map_maps_every_confidence_and_nothing_else():
    cents = _chain(5)
    maps = _maps(cents, ["T12", "L1", "L2", "L3", "L4"])
    plain = decode(maps, LEVELS, SP, maps.max(0))
    mapped = decode(maps, LEVELS, SP, maps.max(0), config=DecodeConfig(confidence_map=(2.0, 0.5)))
    assert [p.name for p in mapped.points] == [p.name for p in plain.points] and mapped.warnings == plain.warnings
    assert [p.confidence for p in mapped.points] == pytest.approx(
        list(map_confidence([p.confidence for p in plain.points], (2.0, 0.5))))


def test_s1_head_switched_off_names_from_level_maps():
    cents = _chain(5)
    names = ["T12", "L1", "L2", "L3", "L4"]
    maps = _maps(cents, names)
    s1 = _maps([cents[-1]], ["L1"], levels=["L1"])[0]  # a confident S1 detection on the lowest body
    anchored = decode(maps, LEVELS, SP, maps.max(0), s1)
    assert anchored.anchored and anchored.points[-1].name == "S1"
    free = decode(maps, LEVELS, SP, maps.max(0), s1, DecodeConfig(use_s1_head=False))
    assert not free.anchored and [p.name for p in free.points] == names
    assert not any("S1" in w for w in free.warnings)


def test_a_weak_anchor_is_trusted_only_as_far_as_the_s1_head_is_sure():
    cents = _chain(5)
    maps = _maps(cents, ["T12", "L1", "L2", "L3", "L4"])  # level maps that disagree with an anchor on the last body
    sure = decode(maps, LEVELS, SP, maps.max(0), _maps([cents[-1]], ["L1"], levels=["L1"])[0])
    weak = decode(maps, LEVELS, SP, maps.max(0), 0.15 * _maps([cents[-1]], ["L1"], levels=["L1"])[0],
                  DecodeConfig(s1_threshold=0.1))
    assert sure.anchored and weak.anchored
    assert [p.name for p in weak.points] == [p.name for p in sure.points] == ["L2", "L3", "L4", "L5", "S1"]
    for a, b in zip(sure.points, weak.points):
        assert b.confidence < 0.5 * a.confidence  # 0.15 of the anchored odds, the heatmaps' odds of L2..S1 small
    free = name_chain(np.eye(len(LEVELS))[[LEVELS.index(n) for n in ("L1", "L2", "L3")]], LEVELS, [30.0, 30.0])
    assert abs(sum(free.alternatives.values()) - 1) < 1e-9
    assert free.alternatives[tuple(free.names)] == max(free.alternatives.values()) == free.probability


@pytest.mark.parametrize("top,anchored", [(45, True), (82, False)])
def test_a_weak_s1_anchors_only_at_the_lower_edge_of_the_image(top, anchored):
    cents = _chain(5, top=top)  # top 45: the lowest body at z = 1, cut by the image's lower edge; 82: at z = 38
    maps = _maps(cents, ["T12", "L1", "L2", "L3", "L4"])
    weak_s1 = 0.15 * _maps([cents[-1]], ["L1"], levels=["L1"])[0]
    cfg = DecodeConfig(s1_threshold=0.5, s1_edge_threshold=0.1, edge_mm=6.0)
    dec = decode(maps, LEVELS, SP, maps.max(0), weak_s1, cfg)
    assert dec.anchored == anchored
    assert dec.points[-1].name == ("S1" if anchored else "L4")
    assert not decode(maps, LEVELS, SP, maps.max(0), weak_s1, DecodeConfig(s1_threshold=0.5)).anchored
    # the top of S1 cut by the image can have no body below it: s1_needs_caudal leaves it alone
    caudal = decode(maps, LEVELS, SP, maps.max(0), weak_s1, replace(cfg, s1_needs_caudal=True))
    assert caudal.anchored == anchored


@pytest.mark.parametrize("ratio,extended", [(0.5, True), (0.9, False), (None, False)])
def test_a_weak_s1_peak_at_the_lower_edge_below_the_chain_extends_it(ratio, extended):
    cents = [(10, 15, 6 + 11 * i) for i in (3, 2, 1, 0)]  # L2..L5, 33 mm apart; L5 15 mm above the lower edge
    # level evidence leaning one level high, as without the sacrum
    maps = _maps(cents, ["L1", "L2", "L3", "L4"]) + 0.7 * _maps(cents, ["L2", "L3", "L4", "L5"])
    top_of_s1 = (10, 10, 1)  # 15 mm posterior and 15 mm caudal of L5: a 21 mm link, 0.64 of the others
    s1 = 0.15 * _maps([top_of_s1], ["L1"], levels=["L1"])[0]  # too weak to pay for its short link in the chain
    cfg = DecodeConfig(s1_threshold=0.5, s1_edge_threshold=0.1, s1_edge_link_ratio=ratio)
    dec = decode(maps, LEVELS, SP, maps.max(0), s1, cfg)
    assert dec.anchored == extended
    assert [p.name for p in dec.points] == (["L2", "L3", "L4", "L5", "S1"] if extended else ["L1", "L2", "L3", "L4"])
    assert any("off the spine chain" in w for w in dec.warnings) != extended


def test_s1_on_the_lowest_body_is_no_anchor_when_a_caudal_body_is_required():
    cents = _chain(5)
    names = ["T12", "L1", "L2", "L3", "L4"]
    maps = _maps(cents, names)
    s1 = _maps([cents[-1]], ["L1"], levels=["L1"])[0]  # the S1 head fires on the lowest body (L4 here)
    dec = decode(maps, LEVELS, SP, maps.max(0), s1, DecodeConfig(s1_needs_caudal=True))
    assert not dec.anchored and [p.name for p in dec.points] == names
    assert any("lowest vertebra" in w for w in dec.warnings)
    # with a body below it the same detection anchors
    cents, names = _chain(6), ["L2", "L3", "L4", "L5", "S1", "S2"]
    s1 = _maps([cents[4]], ["L1"], levels=["L1"])[0]
    dec = decode(_maps(cents, names) * 0.05, LEVELS, SP, _maps(cents, ["L1"] * 6, levels=["L1"])[0], s1,
                 DecodeConfig(s1_needs_caudal=True))
    assert dec.anchored and [p.name for p in dec.points] == names


@pytest.mark.parametrize("names,anchored,warned", [
    (["S2", "S3"], False, True),  # sacral names from the level maps alone
    (["S1", "S2", "S3"], True, False),  # S1 in view
    (["L4", "L5", "S1"], False, False),  # the lowest body S1, named by the level maps
])
def test_a_chain_named_below_s1_without_s1_is_flagged(names, anchored, warned):
    cents = _chain(len(names))
    maps = _maps(cents, names)
    s1 = _maps([cents[0]], ["L1"], levels=["L1"])[0] if anchored else None
    dec = decode(maps, LEVELS, SP, maps.max(0), s1)
    assert [p.name for p in dec.points] == names and dec.anchored == anchored
    assert sum("named below S1 (" in w for w in dec.warnings) == int(warned)
    capped = all(p.confidence <= 0.1 for p in dec.points)
    assert capped == warned  # a flagged chain's confidences are capped (DecodeConfig.uncovered_confidence)
    if warned:
        free = decode(maps, LEVELS, SP, maps.max(0), s1, DecodeConfig(uncovered_confidence=None))
        assert min(p.confidence for p in free.points) > 0.1


def test_names_counted_beyond_the_channels_are_flagged():
    levels = ["L3", "L4", "L5", "S1"]
    cents = _chain(4)
    maps = _maps(cents, ["L2", "L3", "L4", "L5"], levels=levels)  # the top body has no channel of its own
    any_map = _maps(cents, ["L1"] * 4, levels=["L1"])[0]
    dec = decode(maps, levels, SP, any_map, None)
    assert [p.name for p in dec.points] == ["L2", "L3", "L4", "L5"]
    assert [w for w in dec.warnings if "beyond the levels this model recognises (L3..S1): L2 (1 of 4 vertebrae)" in w]
    dec = decode(maps[:, :, :, :60], levels, SP, any_map[:, :, :60], None)  # without the top body
    assert not any("beyond the levels" in w for w in dec.warnings)


@pytest.mark.parametrize("step,ratio,warned", [(11, 0.7, False), (6, 0.7, True), (6, None, False)])
def test_a_chain_shorter_than_its_names_is_flagged(step, ratio, warned):
    names = ["L1", "L2", "L3", "L4"]
    cents = _chain(4, step=step)  # 33 mm apart (lumbar-like) or 18 mm (cervical-like)
    maps = _maps(cents, names)
    dec = decode(maps, LEVELS, SP, maps.max(0), None, DecodeConfig(min_size_ratio=ratio))
    assert [p.name for p in dec.points] == names
    flagged = [w for w in dec.warnings if "closer together than the levels named" in w]
    assert len(flagged) == int(warned)
    if warned:
        assert "L1..L4 span 54 mm here, 108 mm in the reference adult spine (ratio 0.50)" in flagged[0]
    assert all(p.confidence <= 0.1 for p in dec.points) == warned
    two = _maps(cents[:2], names[:2])  # one link is one disc: not checked
    dec = decode(two, LEVELS, SP, two.max(0), None, DecodeConfig(min_size_ratio=ratio))
    assert [p.name for p in dec.points] == names[:2] and not any("closer together" in w for w in dec.warnings)
    sacral = _maps(cents[:2], ["S2", "S3"])  # checked beside the other coverage warnings
    dec = decode(sacral, LEVELS, SP, sacral.max(0), None, DecodeConfig(min_size_ratio=ratio))
    assert [p.name for p in dec.points] == ["S2", "S3"] and any("named below S1 (S2..S3)" in w for w in dec.warnings)


def test_a_link_to_a_body_cut_by_the_image_edge_is_left_out_of_the_size_check():
    names = ["L1", "L2", "L3", "L4"]
    cents = [(10, 15, 30), (10, 15, 19), (10, 15, 8), (10, 15, 2)]  # L4 at the lower edge, 18 mm below L3
    maps = _maps(cents, names)
    dec = decode(maps, LEVELS, SP, maps.max(0), None, DecodeConfig(min_size_ratio=0.85))
    assert [p.name for p in dec.points] == names  # all links: 84 / 108 mm = 0.78; without the last: 66 / 71 = 0.93
    assert not any("closer together" in w for w in dec.warnings)
    dec = decode(maps, LEVELS, SP, maps.max(0), None, DecodeConfig(min_size_ratio=0.95))
    assert any("L1..L3 span 66 mm here, 71 mm in the reference adult spine (ratio 0.93)" in w for w in dec.warnings)


@pytest.mark.parametrize("reference_gaps,last", [(False, "S3"), (True, "S4")])
def test_a_missed_sacral_segment_is_a_gap_in_reference_spacings(reference_gaps, last):
    levels = LEVELS + ["S4", "S5"]
    names = ["L4", "L5", "S1", "S2", "S4"]  # S3 missed: S2..S4 36.5 mm, no longer than L5..S1 (39 mm)
    cents = [(10, 15, z) for z in (82, 69.4, 56.4, 47.9, 35.7)]  # 3 mm voxels: the reference spacings
    maps = _maps(cents, names, levels=levels) * 0.05
    s1 = _maps([cents[2]], ["L1"], levels=["L1"])[0]
    dec = decode(maps, levels, SP, _maps(cents, ["L1"] * 5, levels=["L1"])[0], s1,
                 DecodeConfig(reference_gaps=reference_gaps))
    assert dec.anchored and [p.name for p in dec.points] == names[:4] + [last]


def test_off_chain_s1_detection_is_reported_once():
    cents = _chain(5)
    names = ["T12", "L1", "L2", "L3", "L4"]
    maps = _maps(cents, names)
    s1 = _maps([(10, 28, 20)], ["L1"], levels=["L1"])[0]  # confident, but 40 mm anterior of the chain
    dec = decode(maps, LEVELS, SP, maps.max(0), s1)
    assert [p.name for p in dec.points] == names and not dec.anchored
    assert any("off the spine chain" in w for w in dec.warnings)
    assert not any("S1 not detected" in w for w in dec.warnings)


def test_sequence_decoder_without_s1():
    cents = _chain(5)
    names = ["T12", "L1", "L2", "L3", "L4"]
    maps = _maps(cents, names)
    any_map = maps.max(0)
    dec = decode(maps, LEVELS, SP, any_map, None)
    assert [p.name for p in dec.points] == names and not dec.anchored
    assert all(0 < p.confidence <= 1 for p in dec.points)


def _consecutive(names):
    seqs = [anatomy.standard_sequence(n_thoracic=t, n_lumbar=lum) for t in (11, 12, 13) for lum in (4, 5, 6)]
    for seq in seqs:
        if all(n in seq for n in names):
            idx = [seq.index(n) for n in names]
            if idx == list(range(idx[0], idx[0] + len(idx))):
                return True
    return False


def test_never_duplicates_and_never_skips_inside_chain():
    cents = _chain(5)
    # evidence says L3 twice and skips L4: the decoder must still give consecutive unique names
    maps = _maps(cents, ["L1", "L2", "L3", "L3", "L5"])
    dec = decode(maps, LEVELS, SP, maps.max(0), None)
    names = [p.name for p in dec.points]
    assert len(set(names)) == len(names) == 5
    assert _consecutive(names)


def test_gap_allows_jump_only_across_missing_vertebra():
    ev = np.full((4, len(LEVELS)), 0.01)
    for m, n in enumerate(["L1", "L2", "L4", "L5"]):
        ev[m, LEVELS.index(n)] = 0.9
    assert name_chain(ev, LEVELS, links_mm=[33.0, 66.0, 33.0]).names == ["L1", "L2", "L4", "L5"]
    res = name_chain(ev, LEVELS, links_mm=[33.0, 33.0, 33.0])  # no gap: consecutive names
    assert _consecutive(res.names) and len(set(res.names)) == 4


@pytest.mark.parametrize("lift,names", [(0, ["L4", "L5", "S1"]), (40, ["L3", "L5", "S1"])])
def test_a_short_link_to_a_body_cut_by_the_image_edge_is_no_reference_spacing(lift, names):
    # L4, L5 and the top of S1 at the lower edge (z = 1): the S1 peak sits 21 mm below L5, not 36. Lifted 40 voxels
    # off the edge, the same short link counts, and the L4-L5 link (1.6 times it) becomes a gap.
    cents = [(10, 15, 20 + lift), (10, 15, 8 + lift), (10, 15, 1 + lift)]
    maps = _maps(cents, ["L3", "L5", "S1"]) + 0.7 * _maps(cents[:1], ["L4"])  # L4 leans one level cranial
    s1 = _maps(cents[2:], ["L1"], levels=["L1"])[0]
    dec = decode(maps, LEVELS, SP, maps.max(0), s1)
    assert dec.anchored and [p.name for p in dec.points] == names
    ev = np.full((3, len(LEVELS)), 0.01)
    ev[0, LEVELS.index("L3")], ev[0, LEVELS.index("L4")], ev[1, LEVELS.index("L5")] = 0.9, 0.6, 0.9
    assert name_chain(ev, LEVELS, [36.0, 21.0], anchor=2, edge_nodes=[False, False, True]).names == ["L4", "L5", "S1"]
    assert name_chain(ev, LEVELS, [36.0, 21.0], anchor=2).names == ["L3", "L5", "S1"]


def test_lumbarization_warning():
    cents = _chain(7)
    names = ["L1", "L2", "L3", "L4", "L5", "L6", "S1"]
    maps = _maps(cents, names)
    s1 = _maps([cents[6]], ["L1"], levels=["L1"])[0]
    dec = decode(maps, LEVELS, SP, maps.max(0), s1)
    assert [p.name for p in dec.points] == names
    assert dec.variant == (12, 6)
    assert any("transitional" in w for w in dec.warnings)


def test_standard_anatomy_has_no_variant_warning():
    cents = _chain(6)
    names = ["L1", "L2", "L3", "L4", "L5", "S1"]
    maps = _maps(cents, names)
    s1 = _maps([cents[5]], ["L1"], levels=["L1"])[0]
    dec = decode(maps, LEVELS, SP, maps.max(0), s1)
    assert not any("transitional" in w for w in dec.warnings)


def test_empty_heatmaps():
    maps = np.zeros((len(LEVELS), 10, 10, 10), np.float32)
    dec = decode(maps, LEVELS, SP, None, np.zeros((10, 10, 10), np.float32))
    assert dec.points == [] and dec.warnings


@pytest.mark.parametrize("min_detection, found", [(None, 4), (0.5, 4), (0.7, 0)])
def test_weak_detections_alone_are_no_vertebrae_below_min_detection(min_detection, found):
    cents, names = _chain(4), ["L2", "L3", "L4", "L5"]
    maps = 0.6 * _maps(cents, names)  # every detection peaks at 0.6, as on noise
    dec = decode(maps, LEVELS, SP, maps.max(0), None, DecodeConfig(min_detection=min_detection))
    assert len(dec.points) == found
    if not found:
        assert dec.warnings == ["the detection heatmap peaks at 0.600, below min_detection 0.7; min_detection=null "
                                "(`--decode min_detection=null`) turns this check off"]


@pytest.mark.parametrize("anchor", [0, 3])
def test_anchor_forces_s1(anchor):
    ev = np.full((5, len(LEVELS)), 0.2)
    res = name_chain(ev, LEVELS, links_mm=[30.0] * 4, anchor=anchor, config=DecodeConfig())
    assert res.names[anchor] == "S1" and res.anchored


def test_a_known_level_names_a_chain_the_level_maps_place_one_level_off():
    cents = _chain(4)
    maps = _maps(cents, ["L1", "L2", "L3", "L4"])  # the heatmaps' reading, one level too high
    any_map = maps.max(0)
    assert [p.name for p in decode(maps, LEVELS, SP, any_map).points] == ["L1", "L2", "L3", "L4"]
    dec = decode(maps, LEVELS, SP, any_map, known=[("l3", np.array(cents[1]) + [0.0, 2.0, 1.0])])  # a rough click
    assert dec.anchored and [p.name for p in dec.points] == ["L2", "L3", "L4", "L5"]
    assert not any("S1 not detected" in w for w in dec.warnings)


def test_a_known_level_missed_by_the_peaks_joins_the_chain():
    cents = _chain(4)
    maps = _maps(cents[:3], ["L2", "L3", "L4"])  # the lowest body gives no peak
    dec = decode(maps, LEVELS, SP, maps.max(0), known=[("L5", np.array(cents[3], float))])
    assert [p.name for p in dec.points] == ["L2", "L3", "L4", "L5"]
    assert np.allclose(dec.points[-1].voxel, cents[3])


def test_known_levels_overrule_the_s1_head_and_say_so():
    cents = _chain(5)
    maps = _maps(cents, ["L1", "L2", "L3", "L4", "L5"]) * 0.05
    s1 = _maps([cents[-1]], ["L1"], levels=["L1"])[0]  # S1 head on the lowest body
    dec = decode(maps, LEVELS, SP, _maps(cents, ["L1"] * 5, levels=["L1"])[0], s1,
                 known=[("L5", np.array(cents[-1], float))])
    assert [p.name for p in dec.points] == ["L1", "L2", "L3", "L4", "L5"]
    assert any("known levels were followed" in w for w in dec.warnings)


@pytest.mark.parametrize("known, problem", [
    ([("L2", (10, 15, 82)), ("L4", (10, 15, 71))], "agrees with the known levels"),  # neighbours two levels apart
    ([("L4", (10, 15, 82)), ("L2", (10, 15, 71))], "agrees with the known levels"),  # upside down
    ([("L2", (10, 15, 82)), ("L3", (10, 15, 83))], "same vertebra"),
    ([("L2", (10, 28, 60))], "mm from the nearest vertebra"),  # far off the spine
])
def test_known_levels_the_chain_cannot_carry_are_an_error(known, problem):
    from spinemark.labeling import KnownLevelError

    cents = _chain(4)
    maps = _maps(cents, ["L1", "L2", "L3", "L4"])
    with pytest.raises(KnownLevelError, match=problem):
        decode(maps, LEVELS, SP, maps.max(0), known=[(n, np.array(v, float)) for n, v in known])


def test_a_known_name_fixes_its_node_and_the_variant():
    ev = np.full((3, len(LEVELS)), 0.01)
    for i, n in enumerate(["L3", "L4", "L5"]):
        ev[i, LEVELS.index(n)] = 0.9
    assert name_chain(ev, LEVELS, [35.0, 35.0], known={2: "L6"}).names == ["L4", "L5", "L6"]
    with pytest.raises(ValueError):
        name_chain(ev, LEVELS, [35.0, 35.0], known={0: "S1", 2: "L5"})


def test_an_unanchored_chain_names_its_runner_up_and_an_anchored_one_does_not():
    cents = _chain(3)
    maps = _maps(cents, ["L2", "L3", "L4"]) + 0.6 * _maps(cents, ["L1", "L2", "L3"])  # L1..L3 a close second
    free = decode(maps, LEVELS, SP, maps.max(0))
    assert [p.name for p in free.points] == ["L2", "L3", "L4"]
    runner = [w for w in free.warnings if w.startswith("next most likely names")]
    assert len(runner) == 1 and runner[0].startswith("next most likely names: L1..L3 (probability 0.")
    s1 = _maps([cents[-1]], ["L1"], levels=["L1"])[0]
    assert not any(w.startswith("next most likely") for w in decode(maps, LEVELS, SP, maps.max(0), s1).warnings)


def test_a_body_below_s5_is_left_out_not_the_anchor():
    """An anchored chain one or two bodies longer than S1..S5 allows (the coccyx found below S5) keeps its S1 anchor
    and leaves those bodies out; before, the anchor was dropped and weak level maps named the whole chain."""
    levels = ["L3", "L4", "L5", "S1", "S2", "S3", "S4", "S5"]
    z_mm = [240, 201, 162, 138, 117, 102, 87, 72]  # L4, L5, S1..S5 about their reference spacings, the coccyx
    cents = [(10, 15, z / SP) for z in z_mm]
    maps = _maps(cents, levels[1:] + ["Co"], levels=levels) * 0.05  # weak, uninformative level maps
    any_map = _maps(cents, ["L3"] * len(cents), levels=["L3"])[0]
    s1 = _maps([cents[2]], ["L3"], levels=["L3"])[0]
    dec = decode(maps, levels, SP, any_map, s1)
    assert dec.anchored
    assert [p.name for p in dec.points] == ["L4", "L5", "S1", "S2", "S3", "S4", "S5"]
    assert np.allclose(dec.points[-1].voxel, cents[-2], atol=0.3)
    assert any("below S5" in w for w in dec.warnings)
    # two coccygeal bodies are left out together; with three the anchor gives way, as before
    for extra, n_points, said in ((1, 7, "2 bodies found below S5"), (2, 10, "S1 anchor could not be reconciled")):
        more = cents + [(10, 15, (72 - 14 * k) / SP) for k in range(1, extra + 1)]
        dec = decode(maps, levels, SP, _maps(more, ["L3"] * len(more), levels=["L3"])[0], s1)
        assert len(dec.points) == n_points and any(said in w for w in dec.warnings)
    # one body fewer: nothing is left out and nothing is said
    short = decode(maps, levels, SP, _maps(cents[:-1], ["L3"] * 7, levels=["L3"])[0], s1)
    assert len(short.points) == 7 and not any("below S5" in w for w in short.warnings)


def test_bodies_below_s1_that_turn_into_the_pelvis_are_left_out():
    """Below S1 the sacrum turns posteriorly (the lumbosacral angle); a chain that runs on from S1 turning anteriorly
    beyond ``sacral_turn_deg`` has left the sacrum for the pelvis in front of it, and its bodies there are dropped."""
    levels = ["L3", "L4", "L5", "S1", "S2", "S3", "S4", "S5"]
    top = [(10, 16, 80), (10, 15, 67), (10, 12, 55)]  # L4, L5, S1: the link L5 -> S1 14 degrees posterior of down

    def run(turn_deg, cfg=None):
        angle = np.deg2rad(14 + turn_deg)
        s2 = (10, 12 - 8 * np.sin(angle), 55 - 8 * np.cos(angle))
        cents = top + [s2]
        maps = _maps(cents, levels[1:5], levels=levels) * 0.05
        s1 = _maps([top[2]], ["L3"], levels=["L3"])[0]
        return decode(maps, levels, SP, _maps(cents, ["L3"] * 4, levels=["L3"])[0], s1, cfg)

    for turn in (30, -8):  # posterior as on real scans; slightly anterior as the phantoms' sacrum
        dec = run(turn)
        assert [p.name for p in dec.points] == ["L4", "L5", "S1", "S2"] and not any("pelvis" in w for w in dec.warnings)
    dec = run(-30)
    assert [p.name for p in dec.points] == ["L4", "L5", "S1"] and dec.anchored
    assert any(w.startswith("1 body found below S1 left out: the chain turns 29 degrees") for w in dec.warnings)
    assert [p.name for p in run(-30, DecodeConfig(sacral_turn_deg=None)).points] == ["L4", "L5", "S1", "S2"]
    assert [p.name for p in run(-30, DecodeConfig(sacral_turn_deg=40)).points] == ["L4", "L5", "S1", "S2"]


def test_a_body_hidden_beside_stronger_ones_fills_the_link_across_it():
    """A weak sacral body between two strong ones is no peak (the cube of its stronger neighbour hides it, and it is
    below ``nms_keep_ratio`` of it); ``fill_radius`` puts it in the chain's long link across it, below S1 only."""
    levels = ["L3", "L4", "L5", "S1", "S2", "S3", "S4", "S5"]
    cents = [(10, 14, 80), (10, 14, 67), (10, 12, 55), (10, 8, 51), (10, 4, 47)]  # L4 L5 S1 S2 S3, 3 mm voxels
    amplitude = np.array([1.0, 1.0, 1.0, 0.6, 1.0])[:, None, None, None]
    maps = _maps(cents, levels[1:6], levels=levels) * 0.05
    any_map = (_maps(cents, levels[:5], levels=levels[:5]) * amplitude).max(axis=0)
    s1 = _maps([cents[2]], ["L3"], levels=["L3"])[0]
    assert len(find_peaks(any_map, 0.25, 4.0, 0.8, 8 / SP)[0]) == 4  # S2 hidden

    def run(cfg):
        return decode(maps, levels, SP, any_map, s1, cfg)

    names = [p.name for p in run(DecodeConfig(fill_radius=None)).points]
    assert "S2" not in names or len(names) == 4
    dec = run(DecodeConfig(fill_radius=0.25))
    assert [p.name for p in dec.points] == ["L4", "L5", "S1", "S2", "S3"]
    assert np.allclose(dec.points[3].voxel, cents[3], atol=0.5)
    # a link shorter than twice link_min_mm takes no body
    assert len(run(DecodeConfig(fill_radius=0.25, link_min_mm=18)).points) == 4
    # nor does a link above the S1 anchor (here the lowest body)
    low_s1 = _maps([cents[4]], ["L3"], levels=["L3"])[0]
    assert len(decode(maps, levels, SP, any_map, low_s1, DecodeConfig(fill_radius=0.25)).points) == 4
    with pytest.raises(ValueError, match="fill_radius"):
        DecodeConfig(fill_radius=0.6)
