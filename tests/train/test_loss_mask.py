import numpy as np
import pytest

torch = pytest.importorskip("torch")

from spinemark.train.data import Case, labelled_span  # noqa: E402
from spinemark.train.loop import masked_loss  # noqa: E402
from spinemark.train.sampling import PatchConfig, draw_patch  # noqa: E402

LEVELS = ("T12", "L1", "L2", "L3", "L4", "L5", "S1")


def _case(span=True, source="real"):
    lm = {n: np.array([8.0, 12.0, 40.0 - 10 * i]) for i, n in enumerate(["L1", "L2", "L3"])}
    return Case("c", source, np.random.default_rng(0).random((16, 24, 48)).astype(np.float32), lm,
                labelled_span(lm) if span else None)


def test_unlabelled_channel_gets_no_gradient():
    pred = torch.zeros(1, 2, 4, 4, 4, requires_grad=True)
    target = torch.zeros(1, 2, 4, 4, 4)
    mask = torch.ones(1, 2, 4, 4, 4)
    mask[:, 1] = 0  # channel 1: level in view but unlabelled
    loss = masked_loss(pred + 1.0, target, mask, pos_weight=10.0)
    loss.backward()
    assert torch.all(pred.grad[:, 1] == 0) and torch.all(pred.grad[:, 0] != 0)


def test_mask_of_partially_labelled_case():
    cfg = PatchConfig(LEVELS, (16, 24, 48), 3.0, 4.0, augment=False)
    p = draw_patch(_case(), np.random.default_rng(0), cfg, centre=np.array([7.5, 11.5, 23.5]))  # patch == case grid
    names = (*LEVELS, "any")
    m = {n: p.mask[i] for i, n in enumerate(names)}
    assert np.all(m["L1"] == 1) and np.all(m["L3"] == 1)  # labelled: supervised everywhere
    # S1 (unlabelled, caudal): supervised only cranially of the lower disc plane (plane at z=15)
    assert m["S1"][8, 12, 30] == 1 and m["S1"][8, 12, 5] == 0
    assert m["T12"][8, 12, 30] == 1 and m["T12"][8, 12, 47] == 0  # upper plane at z=45
    assert m["any"][8, 12, 30] == 1 and m["any"][8, 12, 5] == 0 and m["any"][8, 12, 47] == 0
    assert np.array_equal(p.s1_mask[0], m["S1"])
    assert p.target[names.index("L2")][8, 12, 30] == pytest.approx(1.0)
    assert p.s1_target.max() == 0


def test_phantom_case_is_fully_supervised():
    cfg = PatchConfig(LEVELS, (16, 24, 48), 3.0, 4.0, augment=False)
    p = draw_patch(_case(span=False, source="phantom"), np.random.default_rng(0), cfg,
                   centre=np.array([8.0, 12.0, 24.0]))
    assert np.all(p.mask == 1) and np.all(p.s1_mask == 1)


def test_real_case_without_labelled_span_is_refused_not_taken_for_a_phantom():
    cfg = PatchConfig(LEVELS, (16, 24, 48), 3.0, 4.0, augment=False)
    with pytest.raises(ValueError, match="labelled span"):
        draw_patch(_case(span=False), np.random.default_rng(0), cfg, centre=np.array([8.0, 12.0, 24.0]))


def test_augmented_patch_is_finite():
    cfg = PatchConfig(LEVELS, (16, 24, 48), 3.0, 4.0, augment=True, fov_crop_prob=1.0)
    for seed in range(5):
        p = draw_patch(_case(), np.random.default_rng(seed), cfg)
        assert np.all(np.isfinite(p.image)) and p.image.shape == (1, 16, 24, 48)
        assert set(np.unique(p.mask)) <= {0.0, 1.0}


@pytest.mark.parametrize("edge_targets", [False, True])
def test_a_vertebra_cut_away_by_the_crop_keeps_its_tail_inside_it(monkeypatch, edge_targets):
    from spinemark.train import sampling

    # no rotation or intensity change, and a crop that keeps z <= 37.5: L1 (z 40) is cut away, 7.5 mm beyond it
    monkeypatch.setattr(sampling, "_transform", lambda rng, cfg: np.eye(3))
    monkeypatch.setattr(sampling, "_intensity", lambda x, rng: x)
    monkeypatch.setattr(sampling, "_fov_bounds", lambda lm, rng, cfg, n: (0.0, 37.5))
    cfg = PatchConfig(LEVELS, (16, 24, 48), 3.0, 6.0, augment=True, fov_crop_prob=1.0, fov_edge_targets=edge_targets)
    p = draw_patch(_case(), np.random.default_rng(0), cfg, centre=np.array([7.5, 11.5, 23.5]))  # patch == case grid
    l1, l2, any_ = p.target[LEVELS.index("L1")], p.target[LEVELS.index("L2")], p.target[-1]
    assert np.all(p.image[:, :, :, 38:] == 0) and l2[8, 12, 30] == pytest.approx(1.0)
    assert np.all(l1[:, :, 38:] == 0)  # nothing beyond the crop's edge
    if edge_targets:
        assert l1[8, 12, 37] == pytest.approx(np.exp(-9.0 ** 2 / (2 * 6.0 ** 2)), rel=1e-5)  # 3 voxels = 9 mm away
        assert l1[8, 12, 37] > l1[8, 12, 33] > 0 and any_[8, 12, 37] == pytest.approx(l1[8, 12, 37])
    else:
        assert np.all(l1 == 0)
    assert np.all(p.mask[LEVELS.index("L1")] == 1)  # a labelled level: supervised everywhere either way


def test_disc_aligned_crop_ends_between_two_vertebrae():
    from spinemark.train.sampling import _fov_bounds

    cfg = PatchConfig(LEVELS, (16, 24, 48), 3.0, 4.0, fov_disc_fraction=1.0)
    names = ("L3", "L4", "L5", "S1")
    lm = {n: np.array([8.0, 12.0, z]) for n, z in zip(names, (70.0, 30.0, 20.0, 8.0))}
    # patch voxels 0..47; 20 voxels = 60 mm: L4/L5 (z 25) leaves room on either side, L5/S1 (z 14)
    # only above; L3/L4 (z 50) lies outside the patch
    allowed = {(25.0, True), (25.0, False), (14.0, True)}
    seen = set()
    for seed in range(60):
        lo, hi = _fov_bounds(lm, np.random.default_rng(seed), cfg, 48)
        assert 20.0 - 1e-6 <= hi - lo <= 160.0 / 3.0 + 1e-6
        cut = min(((z, above) for z, above in allowed), key=lambda c: abs((lo if c[1] else hi) - c[0]))
        assert abs((lo if cut[1] else hi) - cut[0]) < 2.5  # 1.5 mm jitter = 0.5 voxel; 5 sigma
        seen.add(cut)
    assert seen == allowed
    # without adjacent labelled levels the crop falls back to a random height
    lo, hi = _fov_bounds({"L1": np.array([8.0, 12.0, 30.0])}, np.random.default_rng(0), cfg, 48)
    assert hi > lo


@pytest.mark.parametrize("contrast", [False, True])
def test_level_contrast_makes_the_loss_minimiser_the_probability(contrast):
    # 4 patches see the same centre; it is this channel's level in 1 of them (p = 0.25)
    target = torch.zeros(4, 1, 1, 1, 1)
    target[0] = 1.0
    foreground = torch.ones(4, 1, 1, 1, 1) if contrast else None  # a centre in every patch
    ys = torch.linspace(0.0, 1.0, 1001)
    losses = [float(masked_loss(torch.full_like(target, float(y)), target, torch.ones_like(target), 50.0, foreground))
              for y in ys]
    best = float(ys[int(np.argmin(losses))])
    expected = 0.25 if contrast else 51 * 0.25 / (51 * 0.25 + 0.75)  # 0.944: see masked_loss
    assert best == pytest.approx(expected, abs=1e-3)


def test_level_cross_entropy_asks_which_level_a_labelled_centre_is():
    from spinemark.train.loop import level_ce_loss

    p = draw_patch(_case(), np.random.default_rng(0), PatchConfig(LEVELS, (16, 24, 48), 3.0, 4.0, augment=False),
                   centre=np.array([7.5, 11.5, 23.5]))
    target, mask = torch.from_numpy(p.target[None]), torch.from_numpy(p.mask[None])
    right = target.clone()  # each centre's own channel highest
    wrong = target.roll(1, dims=1)  # every level's heatmap in the channel of the next one
    lo, hi = (float(level_ce_loss(x, target, mask, 10.0)) for x in (right, wrong))
    assert lo < 0.1 < 3.0 < hi
    unsure = torch.zeros_like(target, requires_grad=True)
    level_ce_loss(unsure, target, mask, 10.0).backward()
    l2 = LEVELS.index("L2")
    assert float(unsure.grad[0, l2, 8, 12, 30]) < 0  # raise L2 at the L2 centre
    assert float(unsure.grad[0, LEVELS.index("L1"), 8, 12, 30]) > 0  # lower L1 there
    assert float(unsure.grad[0, LEVELS.index("T12"), 8, 12, 5]) == 0  # far from any centre: no say
    assert float(unsure.grad[0, -1].abs().sum()) == 0  # the "any vertebra" channel takes no part
    assert float(level_ce_loss(right, torch.zeros_like(target), mask, 10.0)) == 0.0  # no centre in the patch
