import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from helpers import benchmark_script  # noqa: E402
from spinemark.nets.io import load_model, read_metadata, save_weights  # noqa: E402
from spinemark.nets.unet3d import DualHeadUNet3D, NetConfig  # noqa: E402


def _run(folder: Path, seed: int, width: int = 4, tuning=("A_01",)) -> Path:
    torch.manual_seed(seed)
    net = DualHeadUNet3D(NetConfig(levels=("L4", "L5", "S1"), width=width))
    with torch.no_grad():  # BatchNorm statistics of their own, as after training
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.num_batches_tracked.fill_(seed + 10)
    save_weights(net.eval(), folder / "weights.pt", {"spacing_mm": 3.0, "version": str(seed), "iteration": seed})
    (folder / "data.json").write_text(json.dumps({"tuning": [{"case": c} for c in tuning]}))
    return folder


def test_average_of_two_runs(tmp_path):
    a, b = _run(tmp_path / "a", 1), _run(tmp_path / "b", 2)
    mod = benchmark_script("benchmarks/training/average_runs.py")
    assert mod.main([str(a), str(b), "-o", str(tmp_path / "soup"), "--version", "9.0.0"]) == 0
    soup, meta = load_model(tmp_path / "soup" / "weights.pt")
    sa, sb = load_model(a / "weights.pt")[0].state_dict(), load_model(b / "weights.pt")[0].state_dict()
    for key, value in soup.state_dict().items():
        expected = (sa[key] + sb[key]) / 2 if value.is_floating_point() else sa[key]
        assert torch.allclose(value, expected), key
    assert meta["version"] == "9.0.0" and "iteration" not in meta
    assert [r["version"] for r in read_metadata(tmp_path / "soup" / "weights.pt")["averaged_from"]] == ["1", "2"]
    assert (tmp_path / "soup" / "data.json").read_bytes() == (a / "data.json").read_bytes()
    assert mod.main([str(a), str(b), "-o", str(tmp_path / "soup")]) == 1  # never over an existing folder


def test_runs_that_differ_are_refused(tmp_path, capsys):
    mod = benchmark_script("benchmarks/training/average_runs.py")
    a = _run(tmp_path / "a", 1)
    assert mod.main([str(a), str(_run(tmp_path / "w", 2, width=6)), "-o", str(tmp_path / "o1")]) == 1
    assert "width" in capsys.readouterr().err
    assert mod.main([str(a), str(_run(tmp_path / "t", 2, tuning=("B_01",))), "-o", str(tmp_path / "o2")]) == 1
    assert "other tuning cases" in capsys.readouterr().err
    assert mod.main([str(a), "-o", str(tmp_path / "o3")]) == 1
    assert not any((tmp_path / f"o{i}").exists() for i in (1, 2, 3))
