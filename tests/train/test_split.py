from spinemark.train.data import read_split


def test_packaged_split_is_patient_level():
    split = read_split("spine_mri_v1")
    val = set(split["validation"])
    assert sum(c.startswith("VB3_") for c in val) == 10
    patients = split["vb1_patients"]
    inside = [p for p, series in patients.items() if any(f"VB1_{s}" in val for s in series)]
    assert len(inside) == 2
    for p in inside:  # all series of a validation patient are on the validation side
        assert all(f"VB1_{s}" in val for s in patients[p])


def test_validation_cases_never_trained(tmp_path):
    from pathlib import Path

    from spinemark.train.config import DEFAULT_DATA
    from spinemark.train.data import discover

    if not Path(DEFAULT_DATA).is_dir():
        import pytest

        pytest.skip("shared data absent")
    ids = {r.case_id for r in discover([DEFAULT_DATA], ("VB3", "VB1"))}
    assert set(read_split("spine_mri_v1")["validation"]) <= ids
