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


def test_validation_cases_never_trained(shared_data):
    import numpy as np

    from spinemark.train.config import TrainConfig
    from spinemark.train.loop import _split_cases

    cfg = TrainConfig(output="unused", data=(str(shared_data),), subsets=("VB3", "VB1"), split="spine_mri_v1")
    train, tune, val, excluded = _split_cases(cfg, np.random.default_rng(0))
    assert excluded == []
    val_ids = set(read_split("spine_mri_v1")["validation"])
    assert {r.case_id for r in val} == val_ids
    assert not ({r.case_id for r in train} | {r.case_id for r in tune}) & val_ids
    assert len(train) + len(tune) == 61 - 15 and len(tune) == 4
