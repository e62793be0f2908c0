import pytest

torch = pytest.importorskip("torch")

from helpers import trained_looking_net  # noqa: E402
from spinemark.nets import fast  # noqa: E402
from spinemark.nets.fast import DirectConv3d, FastDualHead, reuse_freed_memory  # noqa: E402
from spinemark.nets.inference import predict_heatmaps  # noqa: E402


@pytest.mark.parametrize("dilations", [(), (2, 4)])
def test_fast_network_computes_what_the_plain_one_does(dilations, monkeypatch):
    net = trained_looking_net(bottleneck_dilations=dilations)
    monkeypatch.setattr(fast, "VOXEL_BLOCK", 100)  # several blocks and a ragged last one
    quick = FastDualHead(net)
    x = torch.rand(1, 1, 12, 16, 20)
    with torch.no_grad():
        want = net(x)
    got = quick(x.contiguous(memory_format=torch.channels_last_3d))  # no gradients to refuse
    for a, b in zip(want, got):
        assert a.shape == b.shape and b.is_contiguous()
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5), float((a - b).abs().max())
    assert any(isinstance(m, torch.nn.BatchNorm3d) for m in net.modules())  # the model itself is not changed
    assert not any(isinstance(m, (torch.nn.BatchNorm3d, torch.nn.Conv3d)) for m in quick.modules())


def test_fast_network_through_predict_heatmaps_matches_on_an_odd_volume():
    net = trained_looking_net()
    x = torch.rand(13, 10, 7).numpy()
    for a, b in zip(predict_heatmaps(net, x), predict_heatmaps(FastDualHead(net), x)):
        assert a.shape == b.shape
        assert abs(a - b).max() < 1e-5


def test_fast_network_refuses_training_mode_and_batches():
    net = trained_looking_net()
    with pytest.raises(ValueError, match="eval"):
        FastDualHead(net.train())
    with pytest.raises(ValueError, match="one volume"):
        FastDualHead(net.eval())(torch.zeros(2, 1, 8, 8, 8))


def test_direct_convolution_matches_conv3d_on_both_paths():
    torch.manual_seed(1)
    conv = torch.nn.Conv3d(3, 5, 3, padding=(1, 2, 2), dilation=(1, 2, 2))
    direct = DirectConv3d(conv)
    x = torch.randn(1, 3, 6, 9, 11)
    with torch.no_grad():
        assert torch.allclose(direct(x), conv(x), atol=1e-5)  # oneDNN
        assert torch.allclose(direct.double()(x.double()), conv.double()(x.double()), atol=1e-10)  # the fallback
    with pytest.raises(ValueError, match="padding"):
        DirectConv3d(torch.nn.Conv3d(1, 1, 3, padding="same"))


def test_reuse_freed_memory_applies_exactly_on_glibc():
    import platform
    import sys

    assert reuse_freed_memory() is (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc")
