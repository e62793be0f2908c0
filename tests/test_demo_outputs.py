"""``spinemark demo`` refuses an existing output before it writes anything."""

import pytest

from spinemark.cli import main


@pytest.mark.parametrize("existing", ["demo_pelvic.csv", "demo_pelvic_qc.png", "demo_pelvic.truth.landmarks.json"])
def test_demo_refuses_any_existing_output_before_writing(tmp_path, capsys, existing):
    (tmp_path / existing).write_bytes(b"kept")
    assert main(["demo", "-o", str(tmp_path), "--quiet"]) == 1
    assert f"{existing}: output exists; use --overwrite" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == [existing] and (tmp_path / existing).read_bytes() == b"kept"


def test_demo_refuses_a_folder_in_the_way_even_with_overwrite(tmp_path):
    from spinemark.demo import run_demo
    from spinemark.errors import OutputError

    (tmp_path / "demo_pelvic_labels.nii.gz").mkdir()
    with pytest.raises(OutputError, match="demo_pelvic_labels.nii.gz: is a folder"):
        run_demo(tmp_path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["demo_pelvic_labels.nii.gz"]

