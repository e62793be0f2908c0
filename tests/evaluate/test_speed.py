"""Speed benchmark on two tiny synthetic volumes with a fake method."""

from __future__ import annotations

import json

from eval_fakes import OracleMethod, column

from helpers import benchmark_script
from spinemark.evaluate.speed import machine_info, run_speed, speed_markdown, synthetic_volumes


def test_run_speed_stages_and_memory(tmp_path):
    files = synthetic_volumes(tmp_path / "in", n=2, shape=(24, 30, 8))
    assert len(files) == 2 and all(f.exists() for f in files)
    res = run_speed(OracleMethod(column(), crop_aware=False), files, tmp_path / "pred", warmup=0)
    assert res["n_scans"] == 2 and {"read", "network", "decode", "write"} <= set(res["stages"])
    assert res["peak_rss_mb"] > 0 and res["total_s"]["max"] >= res["total_s"]["median"]
    md = speed_markdown(res, {"method": "oracle-test"})
    assert "Machine" in md and "network" in md and "cores_logical" in md
    assert machine_info()["cores_logical"] >= 1


def test_speed_script(tmp_path):
    mod = benchmark_script("benchmarks/speed.py")
    args = mod._get_parser().parse_args(["--n", "2", "--shape", "20,20,8", "--out", str(tmp_path / "o"), "--warmup", "0"])
    assert mod.run(args, method=OracleMethod(column(), crop_aware=False)) == 0
    doc = json.loads((tmp_path / "o" / "speed.json").read_text())
    assert doc["n_scans"] == 2 and "machine" in doc and (tmp_path / "o" / "speed.md").exists()
    assert mod.main(["--n", "1", "--out", str(tmp_path / "o")]) == 1  # outputs exist: refused before work
