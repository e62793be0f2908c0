import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import trained_looking_net  # noqa: E402
from spinemark.nets.inference import _axis_tiles, _tile_shape, predict_heatmaps  # noqa: E402
from spinemark.nets.io import load_model, read_metadata, save_weights  # noqa: E402
from spinemark.nets.unet3d import (  # noqa: E402
    ANY_CHANNEL,
    DEFAULT_LEVELS,
    DualHeadUNet3D,
    NetConfig,
    count_parameters,
    fuse_batchnorm,
    with_levels,
    with_wide_blocks,
)


def test_default_parameter_count_about_400k():
    n = count_parameters(DualHeadUNet3D())
    assert 350_000 <= n <= 450_000


def test_shapes_and_channels():
    net = DualHeadUNet3D(NetConfig(levels=("S1", "L5", "L4"), width=4))
    assert net.config.levels == ("L4", "L5", "S1")  # sorted cranial to caudal
    assert net.config.channel_names[-1] == ANY_CHANNEL
    lv, s1 = net(torch.zeros(2, 1, 8, 12, 16))
    assert lv.shape == (2, 4, 8, 12, 16) and s1.shape == (2, 1, 8, 12, 16)


def test_duplicate_levels_refused():
    with pytest.raises(ValueError):
        NetConfig(levels=("L5", "L5"))


def test_save_load_roundtrip(tmp_path):
    net = DualHeadUNet3D(NetConfig(levels=DEFAULT_LEVELS[:3], width=4)).eval()
    p = save_weights(net, tmp_path / "w.pt", {"spacing_mm": 3.0})
    meta = read_metadata(p)
    assert meta["levels"] == list(DEFAULT_LEVELS[:3]) and meta["channels"][-1] == "any"
    again, _ = load_model(p)
    x = torch.rand(1, 1, 8, 8, 8)
    with torch.no_grad():
        assert torch.allclose(net(x)[0], again(x)[0])


def test_tiles_give_the_one_pass_output_when_the_margin_covers_the_receptive_field():
    torch.manual_seed(0)
    net = trained_looking_net()
    assert max(_reach(net, a, 128) for a in range(3)) <= 2 * 24  # margin 24 covers it
    data = np.random.default_rng(0).random((16, 110, 122)).astype(np.float32)
    whole = predict_heatmaps(net, data)
    limit = 16 * 96 * 100
    assert _tile_shape(data.shape, 24, limit) == [16, 100, 96]  # the longest axes cut first
    assert [len(_axis_tiles(n, t, 24)) for n, t in zip(data.shape, (16, 100, 96))] == [1, 2, 2]
    tiled = predict_heatmaps(net, data, margin=24, whole_volume_voxels=limit)
    for a, b in zip(whole, tiled):
        assert a.shape == b.shape and np.allclose(a, b, atol=1e-5)
    short = predict_heatmaps(net, data, margin=4, whole_volume_voxels=limit)  # context cut: the output moves
    assert not np.allclose(whole[0], short[0], atol=1e-3)


def test_axis_tiles_cores_partition_the_axis_inside_the_margins():
    for n, t, m in [(120, 96, 24), (301, 144, 48), (97, 96, 24), (50, 96, 24)]:
        tiles = _axis_tiles(n, t, m)
        assert tiles[0][2] == 0 and tiles[-1][3] == n and tiles[-1][1] == n
        for (a, b, c0, c1), nxt in zip(tiles, tiles[1:] + [None]):
            assert a % 4 == 0 and b - a <= t and c0 < c1
            assert (c0 - a >= m or a == 0) and (b - c1 >= m or b == n)
            assert nxt is None or nxt[2] == c1


def test_fused_batchnorm_gives_the_same_output():
    net = trained_looking_net()  # BatchNorm statistics far from identity
    x = torch.rand(1, 1, 8, 12, 16)
    with torch.no_grad():
        before = net(x)
        fused = fuse_batchnorm(net)
        after = fused(x)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in fused.modules())
    for a, b in zip(before, after):
        assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="eval"):
        fuse_batchnorm(DualHeadUNet3D(NetConfig(levels=("S1",), width=4)))  # still in training mode


def _reach(net, axis: int, size: int = 96) -> int:
    """Input voxels along ``axis`` that the centre output voxel depends on."""
    shape = [16, 16, 16]
    shape[axis] = size
    x = torch.randn(1, 1, *shape, generator=torch.Generator().manual_seed(1)).requires_grad_()
    centre = (0, slice(None), shape[0] // 2, shape[1] // 2, shape[2] // 2)
    sum(out[centre].sum() for out in net(x)).backward()  # every channel of both heads
    grad = x.grad.abs().sum(dim=tuple(d + 2 for d in range(3) if d != axis)).reshape(-1)
    hit = torch.nonzero(grad > 0).reshape(-1)
    return int(hit.max() - hit.min() + 1)


def test_wide_blocks_start_as_identity_and_widen_the_receptive_field():
    torch.manual_seed(0)
    plain = DualHeadUNet3D(NetConfig(levels=("L4", "L5", "S1"), width=4)).eval()
    wide = with_wide_blocks(plain, (2, 4)).eval()
    assert wide.config.bottleneck_dilations == (2, 4) and count_parameters(wide) > count_parameters(plain)
    x = torch.rand(1, 1, 8, 16, 32)
    with torch.no_grad():
        for a, b in zip(plain(x), wide(x)):
            assert torch.equal(a, b)  # new blocks are identities: the trained function is kept
    for conv in [m for m in wide.wide.modules() if isinstance(m, torch.nn.Conv3d)]:
        torch.nn.init.normal_(conv.weight, std=0.1)  # as after training
    # each block adds 2 * dilation bottleneck voxels (4 input voxels each) along A and S, 2 along R
    assert _reach(wide, 2) - _reach(plain, 2) == 8 * (2 + 4)
    assert _reach(wide, 1) - _reach(plain, 1) == 8 * (2 + 4)
    assert _reach(wide, 0) - _reach(plain, 0) == 8 * 2
    assert with_wide_blocks(wide, ()) is wide and with_wide_blocks(wide, (2, 4)) is wide
    with pytest.raises(ValueError, match="wide blocks"):
        with_wide_blocks(wide, (3,))


def test_with_levels_keeps_shared_channels_and_starts_new_ones_at_zero():
    net = trained_looking_net()
    grown = with_levels(net, ("S2", "L3", "L5", "S1"))  # L3, S2 new; L4 dropped
    assert grown.config.channel_names == ("L3", "L5", "S1", "S2", ANY_CHANNEL)
    x = torch.rand(1, 1, 8, 12, 16)
    with torch.no_grad():
        (lv_old, s1_old), (lv_new, s1_new) = net.eval()(x), grown.eval()(x)
    assert torch.equal(s1_old, s1_new)
    for name in ("L5", "S1", ANY_CHANNEL):  # equal up to the summation order of the head (seen: 2e-8)
        assert torch.allclose(lv_new[0, grown.config.channel_names.index(name)],
                              lv_old[0, net.config.channel_names.index(name)], rtol=0, atol=1e-6)
    for name in ("L3", "S2"):
        assert not lv_new[0, grown.config.channel_names.index(name)].any()
    assert with_levels(net, ("S1", "L4", "L5")) is net


def test_wide_blocks_survive_save_and_load(tmp_path):
    net = DualHeadUNet3D(NetConfig(levels=("L5", "S1"), width=4, bottleneck_dilations=(2,)))
    for conv in [m for m in net.wide.modules() if isinstance(m, torch.nn.Conv3d)]:
        torch.nn.init.normal_(conv.weight, std=0.1)
    net.eval()
    p = save_weights(net, tmp_path / "w.pt", {"spacing_mm": 3.0})
    assert read_metadata(p)["bottleneck_dilations"] == [2]
    again, _ = load_model(p)
    x = torch.rand(1, 1, 8, 16, 16)
    with torch.no_grad():
        assert again.config.bottleneck_dilations == (2,) and torch.allclose(net(x)[0], again(x)[0])
