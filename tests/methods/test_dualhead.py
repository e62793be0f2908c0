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

    m = get_method("dualhead", weights=tiny_weights, peak_threshold=0.0, min_detection=None)
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
    assert names and len(names) == len(set(names))  # the untrained network's maps peak above 0 somewhere
    for p in pred.landmarks:  # world positions lie inside the input image
        ijk = pred.landmarks.voxel_ijk(p.name)
        assert np.all(ijk > -2) and np.all(ijk < np.array(vol.shape) + 2)


def test_missing_default_weights_message(monkeypatch, tmp_path):
    import spinemark.methods.dualhead as dh

    monkeypatch.setattr(dh, "DEFAULT_WEIGHTS", "does_not_exist.pt")
    with pytest.raises(FileNotFoundError, match="no shipped weights"):
        dh.make()


def test_inputs_refused_before_any_work(tiny_weights, monkeypatch):
    import spinemark
    import spinemark.volume as volume_module
    from spinemark.errors import InputError
    from spinemark.methods import get_method

    m = get_method("dualhead", weights=tiny_weights)
    # a coarse image that the model's 3 mm grid would blow up to 1024 x 1024 x 256 voxels
    with pytest.raises(InputError, match="too large for the model's 3 mm grid: 268,435,456 voxels"):
        m.predict(Volume(np.ones((256, 256, 64), np.float32), np.diag([12.0, 12.0, 12.0, 1.0])))
    # finite float64 values that are infinite in the float32 the network computes in
    with pytest.raises(InputError, match="overflow 32-bit floats"):
        spinemark.predict(Volume(np.full((16, 16, 16), 1e300), np.eye(4)), method=m)
    # the reader applies the caller's voxel limit (predict_file's max_voxels); the method does not apply the
    # default one again
    limits = []
    check = volume_module.check_geometry
    monkeypatch.setattr(volume_module, "check_geometry", lambda *a: (limits.append(a[-1]), check(*a))[1])
    vol = Volume(np.random.default_rng(0).random((20, 16, 12)).astype(np.float32), np.diag([3.0, 3.0, 3.0, 1.0]))
    assert m.predict(vol).landmarks is not None and limits == [None]
    with pytest.raises(ValueError, match="a method object has its own"):
        spinemark.predict(vol, method=m, weights="/nonexistent/other.pt")


def test_broken_weights_are_an_error_not_an_empty_answer():
    from spinemark.labeling import decode

    maps = np.full((3, 8, 8, 8), np.nan, np.float32)
    with pytest.raises(ValueError, match="heatmaps are not finite"):
        decode(maps, ["L4", "L5", "S1"], 3.0)
