import numpy as np
import pytest

torch = pytest.importorskip("torch")

from spinemark.nets.inference import predict_heatmaps  # noqa: E402
from spinemark.nets.io import load_model, read_metadata, save_weights  # noqa: E402
from spinemark.nets.unet3d import (  # noqa: E402
    ANY_CHANNEL,
    DEFAULT_LEVELS,
    DualHeadUNet3D,
    NetConfig,
    count_parameters,
    fuse_batchnorm,
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


def test_sliding_window_matches_shape():
    net = DualHeadUNet3D(NetConfig(levels=("L5",), width=4)).eval()
    data = np.random.default_rng(0).random((13, 18, 22)).astype(np.float32)
    lv, s1 = predict_heatmaps(net, data, tile=(8, 12, 16), overlap=4, whole_volume_voxels=100)
    assert lv.shape == (2, 13, 18, 22) and s1.shape == data.shape and np.all(np.isfinite(lv))


def test_fused_batchnorm_gives_the_same_output():
    torch.manual_seed(0)
    net = DualHeadUNet3D(NetConfig(levels=("L4", "L5", "S1"), width=4))
    for bn in [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm3d)]:  # statistics far from identity
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.data.uniform_(0.5, 2)
        bn.bias.data.uniform_(-1, 1)
    net.eval()
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
