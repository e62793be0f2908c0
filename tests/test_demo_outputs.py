"""``spinemark demo``: refuses an existing output before it writes anything; scores the levels its model names."""

import json

import pytest

from spinemark.cli import main


@pytest.mark.parametrize("existing", ["demo_pelvic.csv", "demo_pelvic_qc.png", "truth/demo_pelvic.landmarks.json"])
def test_demo_refuses_any_existing_output_before_writing(tmp_path, capsys, existing):
    (tmp_path / existing).parent.mkdir(exist_ok=True)
    (tmp_path / existing).write_bytes(b"kept")
    assert main(["demo", "-o", str(tmp_path), "--quiet"]) == 1
    assert f"{existing}: output exists; use --overwrite" in capsys.readouterr().err
    files = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [existing] and (tmp_path / existing).read_bytes() == b"kept"


def test_demo_refuses_a_folder_in_the_way_even_with_overwrite(tmp_path):
    from spinemark.demo import run_demo
    from spinemark.errors import OutputError

    (tmp_path / "demo_pelvic_labels.nii.gz").mkdir()
    with pytest.raises(OutputError, match="demo_pelvic_labels.nii.gz: is a folder"):
        run_demo(tmp_path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["demo_pelvic_labels.nii.gz"]



def test_compare_by_name_sets_apart_true_levels_the_model_cannot_name():
    from spinemark.demo import compare_by_name
    from spinemark.landmarks import Landmark, Landmarks

    truth = Landmarks([Landmark("L5", (0, 0, 0)), Landmark("S1", (0, 0, -30)), Landmark("Co", (0, 0, -120))])
    pred = Landmarks([Landmark("L5", (3, 4, 0)), Landmark("S2", (0, 0, -60))])
    rows, extra, outside = compare_by_name(pred, truth, levels=("L4", "L5", "S1", "S2"))
    assert rows == [("L5", 5.0), ("S1", None)] and extra == ["S2"] and outside == ["Co"]
    assert compare_by_name(pred, truth)[2] == []


def test_demo_writes_every_format_and_scores_only_the_models_levels(tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["demo", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Co     not a level of the model" in out
    found, total = (int(v) for v in out.split(" vertebrae of the model's levels found")[0].split()[-1].split("/"))
    assert total == 10 and found >= 9  # the shipped model: all 10 of L1..S5 since session 35 (S3 put in by fill_radius)
    discs = out.split("discs (--discs): ")[1].split("\n")[0].split(", ")
    # the phantom has 11 thoracic vertebrae; its T11/L1 disc is missed, as the model names T11 "T12"
    assert [d.split()[0] for d in discs] == ["T11/L1", "L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1"]
    assert discs[0].split()[1] == "missed"
    assert all(float(d.split()[1]) < 3.0 for d in discs[1:])  # the shipped model: 0.1..1.4 mm
    names = {p.name for p in tmp_path.iterdir()}
    assert {"demo_pelvic.landmarks.json", "demo_pelvic.mrk.json", "demo_pelvic.csv", "demo_pelvic_ctd.json",
            "demo_pelvic_labels.nii.gz", "demo_pelvic_qc.png", "truth"} <= names
    # the command it prints scores the prediction against the phantom's truth, the coccyx counted there too
    command = out.split("score it as a benchmark would: ")[1].split()
    assert command[:2] == ["spinemark", "evaluate"]
    assert main(command[1:]) == 0
    summary = json.loads((tmp_path / "evaluation" / "summary.json").read_text())
    assert summary["n_scored"] == 1 and summary["errors"] == []
    assert summary["metrics"]["n_identified"] == found and summary["metrics"]["n_true"] == total + 1  # + the coccyx
