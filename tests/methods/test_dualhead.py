import subprocess
import sys

import numpy as np
import pytest

from spinemark.volume import Volume

torch = pytest.importorskip("torch")


def test_import_is_cheap():
    code = "import sys, spinemark.methods.dualhead; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def tiny_weights(tmp_path):
    from spinemark.nets.io import save_weights
    from spinemark.nets.unet3d import DualHeadUNet3D, NetConfig

    torch.manual_seed(0)
    net = DualHeadUNet3D(NetConfig(levels=("L4", "L5", "S1"), width=4)).eval()
    return save_weights(net, tmp_path / "tiny.pt", {"name": "tiny", "version": "0", "spacing_mm": 3.0})


def test_predict_end_to_end(tiny_weights):
    from spinemark.methods import get_method

    m = get_method("dualhead", weights=tiny_weights, peak_threshold=-10.0)
    assert m.name == "dualhead"
    info = m.model_info
    assert info["name"] == "tiny" and len(info["sha256"]) == 64
    aff = np.array([[0, 0, -1.5, 10], [0, -1.0, 0, 5], [-2.0, 0, 0, 30], [0, 0, 0, 1]])
    vol = Volume(np.random.default_rng(0).random((30, 20, 16)).astype(np.float32), aff)
    pred = m.predict(vol)
    assert set(pred.timings) == {"load", "resample", "network", "decode"}  # loading only on the first call
    assert set(m.predict(vol).timings) == {"resample", "network", "decode"}
    assert pred.landmarks.geometry.shape == (30, 20, 16)
    names = pred.landmarks.names
    assert len(names) == len(set(names))
    for p in pred.landmarks:  # world positions lie inside the input image
        ijk = pred.landmarks.voxel_ijk(p.name)
        assert np.all(ijk > -2) and np.all(ijk < np.array(vol.shape) + 2)


def test_flip_lr_averages_the_mirrored_pass_and_is_mirror_equivariant(tiny_weights):
    from spinemark.methods import get_method

    plain = get_method("dualhead", weights=tiny_weights)
    flip = get_method("dualhead", weights=tiny_weights, flip_lr=True)
    assert flip.model_info["flip_lr"] is True and "flip_lr" not in plain.model_info
    vol = Volume(np.random.default_rng(2).random((20, 24, 28)).astype(np.float32), np.diag([3.0, 3.0, 3.0, 1.0]))
    canon = plain.canonical(vol)
    maps, s1 = plain.heatmaps(canon)
    mirrored = Volume(np.ascontiguousarray(canon.data[::-1]), canon.affine)
    m_maps, m_s1 = plain.heatmaps(mirrored)
    assert not np.allclose(maps, m_maps[:, ::-1], atol=1e-4)  # the network itself is not mirror-symmetric
    f_maps, f_s1 = flip.heatmaps(canon)
    np.testing.assert_allclose(f_maps, (maps + m_maps[:, ::-1]) / 2, atol=1e-6)
    np.testing.assert_allclose(f_s1, (s1 + m_s1[::-1]) / 2, atol=1e-6)
    fm_maps, fm_s1 = flip.heatmaps(mirrored)  # the averaged output mirrors with its input
    np.testing.assert_allclose(fm_maps, f_maps[:, ::-1], atol=1e-6)
    np.testing.assert_allclose(fm_s1, f_s1[::-1], atol=1e-6)


def test_pad_mm_runs_the_network_with_zeros_above_and_below_and_cuts_them_off(tiny_weights):
    from spinemark.methods import get_method
    from spinemark.nets.inference import predict_heatmaps

    plain = get_method("dualhead", weights=tiny_weights)
    padded = get_method("dualhead", weights=tiny_weights, pad_mm=12.0)  # 4 voxels at the tiny model's spacing
    assert padded.model_info["pad_mm"] == 12.0 and "pad_mm" not in plain.model_info
    vol = Volume(np.random.default_rng(3).random((20, 24, 28)).astype(np.float32), np.diag([3.0, 3.0, 3.0, 1.0]))
    canon = plain.canonical(vol)
    maps, s1 = padded.heatmaps(canon)
    assert maps.shape[1:] == s1.shape == canon.shape
    pad = round(12.0 / plain.spacing_mm)
    ref_maps, ref_s1 = predict_heatmaps(plain.model(), np.pad(canon.data, ((0, 0), (0, 0), (pad, pad))))
    np.testing.assert_allclose(maps, ref_maps[..., pad:-pad], atol=1e-6)
    np.testing.assert_allclose(s1, ref_s1[..., pad:-pad], atol=1e-6)
    assert not np.allclose(maps, plain.heatmaps(canon)[0], atol=1e-4)  # the zeros change what the border sees


def test_ensemble_averages_its_members_heatmaps_and_refuses_a_mismatched_member(tiny_weights, tmp_path):
    from spinemark.methods import get_method
    from spinemark.nets.io import save_weights
    from spinemark.nets.unet3d import DualHeadUNet3D, NetConfig

    torch.manual_seed(1)
    other = save_weights(DualHeadUNet3D(NetConfig(levels=("L4", "L5", "S1"), width=4)).eval(), tmp_path / "other.pt",
                         {"name": "other", "version": "1", "spacing_mm": 3.0})
    plain, second = get_method("dualhead", weights=tiny_weights), get_method("dualhead", weights=other)
    both = get_method("dualhead", weights=tiny_weights, ensemble=str(other))
    assert [m["name"] for m in both.model_info["ensemble"]] == ["other"] and "ensemble" not in plain.model_info
    canon = plain.canonical(Volume(np.random.default_rng(4).random((20, 24, 28)).astype(np.float32),
                                   np.diag([3.0, 3.0, 3.0, 1.0])))
    (a_maps, a_s1), (b_maps, b_s1) = plain.heatmaps(canon), second.heatmaps(canon)
    assert not np.allclose(a_maps, b_maps, atol=1e-4)
    maps, s1 = both.heatmaps(canon)
    np.testing.assert_allclose(maps, (a_maps + b_maps) / 2, atol=1e-6)
    np.testing.assert_allclose(s1, (a_s1 + b_s1) / 2, atol=1e-6)
    coarse = save_weights(DualHeadUNet3D(NetConfig(levels=("L4", "L5", "S1"), width=4)).eval(), tmp_path / "coarse.pt",
                          {"name": "coarse", "version": "1", "spacing_mm": 6.0})
    with pytest.raises(ValueError, match="coarse.pt: ensemble member's spacing_mm 6.0 differs"):
        get_method("dualhead", weights=tiny_weights, ensemble=[coarse])


def test_context_model_names_from_its_level_channels(tiny_weights, tmp_path):
    from spinemark.methods import get_method
    from spinemark.nets.io import save_weights
    from spinemark.nets.unet3d import DualHeadUNet3D, NetConfig

    torch.manual_seed(1)
    ctx_net = DualHeadUNet3D(NetConfig(levels=("L5", "S1"), width=4)).eval()
    ctx = save_weights(ctx_net, tmp_path / "ctx.pt", {"name": "ctx", "version": "0", "spacing_mm": 6.0})
    m = get_method("dualhead", weights=tiny_weights, context=ctx, peak_threshold=-10.0)
    assert m.model_info["context"]["name"] == "ctx"
    vol = Volume(np.random.default_rng(0).random((24, 24, 40)).astype(np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    canon = m.canonical(vol)
    context = m.context_maps(vol)
    evidence = m.context_evidence(canon, context)
    pts = np.array([[2.0, 3.0, 4.0], [5.0, 5.0, 20.0]])
    values = evidence(pts)
    assert values.shape == (2, 3) and np.all(values[:, 0] == 0)  # L4: not a level of the context model
    ctx_canon, ctx_maps = context
    from spinemark.labeling import sample_max

    vox = ctx_canon.world_to_voxel(canon.voxel_to_world(pts[1]))
    assert values[1, 2] == pytest.approx(sample_max(ctx_maps[1], vox))  # S1 of the context model
    assert len(m.predict(vol).landmarks) >= 1


def test_missing_default_weights_message(monkeypatch, tmp_path):
    import spinemark.methods.dualhead as dh

    monkeypatch.setattr(dh, "DEFAULT_WEIGHTS", "does_not_exist.pt")
    with pytest.raises(FileNotFoundError, match="no shipped weights"):
        dh.make()
