"""Field-of-view variants on a tiny synthetic labelled volume, the benchmark run, and the script."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from eval_fakes import LUMBAR, FailingMethod, OracleMethod, labelled_volume

from helpers import benchmark_script
from spinemark.evaluate.fov import (
    DEFAULT_VARIANTS,
    Case,
    coil_shading,
    evaluate_sample,
    expand_variants,
    load_case,
    load_cases,
    make_variant,
    results_calibration,
    rician_noise,
    run_fov_benchmark,
    summarize_variants,
    thick_slices,
)
from spinemark.evaluate.fov_report import calibration_table, confidence_table, render_fov_report, warnings_table
from spinemark.evaluate.metrics import SUMMARY_COLUMNS
from spinemark.evaluate.report import names_off_table
from spinemark.io.writers import nifti_bytes
from spinemark.landmarks import Landmark, Landmarks
from spinemark.volume import Volume

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "spine-mri"


@pytest.mark.parametrize("variant,kept,box0", [
    ("full", LUMBAR, None),
    ("pelvic", ("L4", "L5"), (37, 70)),
    ("lumbosacral", ("L3", "L4", "L5"), (27, 70)),
    ("upper_lumbar", ("L1", "L2", "L3", "L4"), (7, 48)),
    ("mid_lumbar", ("L1", "L2", "L3"), (7, 38)),
])
def test_named_variants_keep_their_levels(variant, kept, box0):
    vol, labels, truth = labelled_volume()  # centres at axis-0 indices 12, 22, 32, 42, 52 (superior to inferior)
    s = make_variant(vol, truth, variant)
    assert tuple(s.truth.names) == kept and s.labelled == LUMBAR
    if box0 is None:
        assert s.box is None and s.volume is vol
    else:
        assert (s.box[0][0], s.box[1][0]) == box0 and s.volume.shape == (box0[1] - box0[0], 12, 8)
        # world positions stay valid: the crop's voxel of each kept centre is the source voxel minus the offset
        for p in s.truth:
            assert np.allclose(s.volume.world_to_voxel(p.position_mm), vol.world_to_voxel(p.position_mm) - [box0[0], 0, 0])
        # the crop's data is the source data at those voxels
        assert np.array_equal(s.volume.data, vol.data[box0[0]:box0[1]])


def test_random_crops_are_seeded_windows():
    vol, _, truth = labelled_volume()
    for k in (2, 3, 4, 5):
        s = make_variant(vol, truth, f"random_k{k}", key="X_01", seed=3)
        names = s.truth.names
        assert len(names) == k and " ".join(names) in " ".join(LUMBAR)  # consecutive
        again = make_variant(vol, truth, f"random_k{k}", key="X_01", seed=3)
        assert again.box == s.box
    assert make_variant(vol, truth, "random_k6", key="X_01") is None  # only 5 labelled
    boxes = {make_variant(vol, truth, "random_k2", key="X_01", seed=s).box for s in range(12)}
    assert len(boxes) > 1


def test_random_crop_at_a_given_window():
    vol, _, truth = labelled_volume()  # L1..L5
    got = [make_variant(vol, truth, "random_k3", window=w) for w in range(4)]
    assert [tuple(s.truth.names) for s in got[:3]] == [LUMBAR[0:3], LUMBAR[1:4], LUMBAR[2:5]]
    assert got[3] is None and make_variant(vol, truth, "random_k3", window=-1) is None


def test_s1_edge_ends_in_the_top_of_s1():
    vol, _, truth = labelled_volume()  # L4 at 42, L5 at 52: S1 extrapolated to 62, the crop ends at 59.5
    s = make_variant(vol, truth, "s1_edge")
    assert s.box == ((37, 0, 0), (60, 12, 8)) and tuple(s.truth.names) == ("L4", "L5")
    # a labelled S1 is used as it is (here 8 voxels below L5: the crop ends at 58)
    vol, _, truth = labelled_volume(names=("L3", "L4", "L5"), spacing_vox=10, top=32)
    moved = Landmarks([*truth, Landmark("S1", vol.voxel_to_world([60, 6, 4]))], truth.geometry)
    s = make_variant(vol, moved, "s1_edge")
    assert s.box[1][0] == 59 and tuple(s.truth.names) == ("L4", "L5")
    # the top of the labelled S1 shows (centre 1.5 mm below the crop, 8 from L5): naming it there is no false
    # positive, naming it far off is; a cut at a disc's midpoint leaves no body in part
    assert s.partial.names == ["S1"] and make_variant(vol, moved, "pelvic").partial.names == []
    at_edge = Landmarks([*s.truth, Landmark("S1", vol.voxel_to_world([58, 6, 4]))])
    r = evaluate_sample(OracleMethod(at_edge, crop_aware=False), s)
    assert r.score.outcome["S1"] == "unverifiable" and r.score.subset_correct and r.names_off == 0
    far = Landmarks([*s.truth, Landmark("S1", vol.voxel_to_world([58, 6, 4]) + [30, 0, 0])])
    assert evaluate_sample(OracleMethod(far, crop_aware=False), s).score.outcome["S1"] == "fp"
    # an image that ends before the cut has no such crop
    vol, _, truth = labelled_volume(shape=(58, 12, 8))
    assert make_variant(vol, truth, "s1_edge") is None


def test_variant_needs_its_levels():
    vol, _, truth = labelled_volume(names=("T11", "T12", "L1"))
    assert make_variant(vol, truth, "pelvic") is None
    s = make_variant(vol, truth, "mid_lumbar")
    assert s is None  # L3 not labelled


def test_thick_slices_average_4mm():
    vol, _, truth = labelled_volume()
    ramp = Volume(np.broadcast_to(np.arange(8, dtype=np.float32), (70, 12, 8)).copy(), vol.affine)
    t = thick_slices(ramp, 4.0)
    assert t.shape == (70, 12, 2) and np.allclose(t.spacing_mm, [1, 1, 4])
    assert np.allclose(t.data[0, 0], [1.5, 5.5])
    assert np.allclose(t.voxel_to_world([0, 0, 0]), ramp.voxel_to_world([0, 0, 1.5]))
    s = make_variant(vol, truth, "thick4mm")
    assert s.volume.shape == (70, 12, 2) and tuple(s.truth.names) == LUMBAR


def test_axial_variants_average_along_the_spine_axis():
    vol, _, truth = labelled_volume()
    s = make_variant(vol, truth, "axial5mm")
    assert s.volume.shape == (70 // 5, 12, 8) and np.allclose(s.volume.spacing_mm, [5, 1, 1])
    assert tuple(s.truth.names) == LUMBAR and s.box is None
    pelvic = make_variant(vol, truth, "pelvic")
    p = make_variant(vol, truth, "pelvic_axial5mm")
    assert p.box == pelvic.box and tuple(p.truth.names) == tuple(pelvic.truth.names)
    assert p.volume.shape == (pelvic.volume.shape[0] // 5, 12, 8)
    start = pelvic.volume.voxel_to_world([2.0, 0, 0])  # the first 5 mm slab is centred on the crop's voxel 2
    assert np.allclose(p.volume.voxel_to_world([0, 0, 0]), start)


def test_rician_noise_has_the_asked_sigma_and_is_drawn_from_the_seed_and_case():
    vol = Volume(np.full((40, 40, 40), 100.0, np.float32), np.eye(4))
    noisy = rician_noise(vol, 10.0, np.random.default_rng(0))
    assert noisy.shape == vol.shape and np.allclose(noisy.affine, vol.affine)
    assert abs(float(np.std(noisy.data)) - 10.0) < 0.3  # at SNR 10 Rician noise is nearly Gaussian, sigma 100 / 10
    img, _, truth = labelled_volume()
    a, b = (make_variant(img, truth, "snr10", key=k).volume.data for k in ("X_01", "X_01"))
    c = make_variant(img, truth, "snr10", key="X_02").volume.data
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert float(a[0, 0, 0]) > 0  # the background is noise too


def test_coil_shading_darkens_towards_anterior():
    vol, _, truth = labelled_volume()  # axis 1 runs anterior to posterior
    flat = vol.with_data(np.ones(vol.shape, np.float32))
    shaded = coil_shading(flat, 4.0).data
    assert shaded[0, 0, 0] == pytest.approx(0.25) and shaded[0, -1, 0] == pytest.approx(1.0)  # anterior end 4x darker
    assert np.all(np.diff(shaded[0, :, 0]) > 0)
    assert make_variant(vol, truth, "coil_shading").volume.shape == vol.shape


def test_benchmark_oracle_fp_and_failures():
    vol, _, truth = labelled_volume()
    cases = [Case("X_01", "X", Path("i"), Path("m")), Case("X_02", "X", Path("i"), Path("m"))]
    variants = expand_variants(["full", "pelvic", "mid_lumbar", "random", "thick4mm"])

    def loader(case):
        return vol, truth

    res = run_fov_benchmark(OracleMethod(truth), cases, variants, seed=1, loader=loader)
    table = summarize_variants(res)["X"]
    assert set(table) == {"full", "pelvic", "mid_lumbar", "random_k2", "random_k3", "random_k4", "random_k5", "thick4mm"}
    for m in table.values():
        assert m["identification_rate"] == 1.0 and m["n_fp"] == 0 and m["subset_accuracy"] == 1.0
    every = run_fov_benchmark(OracleMethod(truth), cases, ["full", "random_k2", "random_k4"], loader=loader,
                              all_windows=True)  # 5 labelled: 4 windows of 2, 2 of 4, per case
    assert [r.variant for r in every] == (["full"] + ["random_k2"] * 4 + ["random_k4"] * 2) * 2
    assert len({r.box for r in every if r.variant == "random_k2"}) == 4
    assert every[0].row()["predicted"] == " ".join(LUMBAR) and every[1].row()["predicted"] == "L1 L2"
    assert {r.row()["names_off"] for r in every} == {0}
    # a method that names every lumbar level whatever the crop: the cut-away ones are false positives
    res2 = run_fov_benchmark(OracleMethod(truth, crop_aware=False), cases, ["pelvic"], loader=loader)
    m = summarize_variants(res2)["X"]["pelvic"]
    assert m["identification_rate"] == 1.0 and m["n_fp"] == 6 and m["subset_accuracy"] == 0.0
    assert res2[0].row()["names_off"] == ""
    # shifted by one level (10 mm spacing here): only L5, 10 mm below its own centre and nearest to it, stays identified
    res3 = run_fov_benchmark(OracleMethod(truth, shift_mm=(0, 0, -10)), cases, ["full"], loader=loader)
    assert summarize_variants(res3)["X"]["full"]["per_level"]["L5"]["identification_rate"] == 1.0
    assert summarize_variants(res3)["X"]["full"]["identification_rate"] == pytest.approx(0.2)
    # a failing method scores as empty predictions, with the error kept
    res4 = run_fov_benchmark(FailingMethod(), cases, ["full"], loader=loader)
    m4 = summarize_variants(res4)["X"]["full"]
    assert m4["identification_rate"] == 0.0 and m4["n_failed"] == 2 and "boom" in res4[0].error
    files = render_fov_report(res + res4, {"method": "oracle-test"})
    md = files["fov_report.md"].decode()
    assert "pelvic" in md and "unverifiable" in md and "boom" in md


def test_confidence_table_splits_confident_from_flagged_predictions():
    vol, _, truth = labelled_volume()
    cases = [Case("X_01", "X", Path("i"), Path("m"))]

    def loader(case):
        return vol, truth

    sure = run_fov_benchmark(OracleMethod(truth, confidence=0.8), cases, ["full", "pelvic"], loader=loader)
    unsure = run_fov_benchmark(OracleMethod(truth, shift_mm=(0, 0, -10), confidence=0.3), cases, ["full"], loader=loader)
    failed = run_fov_benchmark(FailingMethod(), cases, ["full"], loader=loader)
    assert [r.confidence for r in sure + unsure + failed] == [pytest.approx(0.8)] * 2 + [pytest.approx(0.3), None]
    assert sure[0].row()["confidence"] == 0.8 and failed[0].row()["confidence"] == ""
    rows = {line.split(" | ")[0].strip("| *"): line.split(" | ")[1:] for line in
            confidence_table(sure + unsure + failed, threshold=0.6).splitlines()[2:]}
    # full: one confident (5 of 5 identified), two flagged (the shifted one identifies L5 only, the failed none: 1/10)
    assert rows["full"] == ["3", "1", "100.0%", "10.0% |"]
    assert rows["pelvic"] == ["1", "1", "100.0%", "- |"]
    assert rows["all"] == ["4", "2", "100.0%", "10.0% |"]
    # calibration: 0.8 and 0.8 against 1 and 1, 0.3 against 0.2 (L5 of L1..L5), the failed one 0 against 0
    cal = results_calibration(sure + unsure + failed)
    assert cal["n"] == 4 and cal["brier"] == pytest.approx((0.04 + 0.04 + 0.01) / 4, abs=1e-4)
    assert [(b["n"], b["confidence"], b["outcome"]) for b in cal["bins"]] == [(1, 0.0, 0.0), (1, 0.3, 0.2),
                                                                               (2, 0.8, 1.0)]
    table = calibration_table(sure + unsure + failed).splitlines()
    assert table[0].startswith("Brier score 0.0225, expected calibration error 0.125 (4 predictions)")
    assert table[-3] == "| 0.8..0.9 | 2 | 0.80 | 1.00 |"
    # per vertebra: 7 right at 0.8 (full and pelvic), at 0.3 the shifted L5 right and L1..L4 false positives
    assert table[-1].startswith("Per vertebra (12 predictions the truth can judge")
    assert "Brier score 0.0942, expected calibration error 0.158, area under the ROC curve 0.938" in table[-1]
    assert "Confidence calibration (X)" in render_fov_report(sure, {})["fov_report.md"].decode()


def test_warnings_are_kept_per_sample_and_counted_by_kind():
    vol, _, truth = labelled_volume()
    cases = [Case("X_01", "X", Path("i"), Path("m"))]

    def loader(case):
        return vol, truth

    clean = run_fov_benchmark(OracleMethod(truth), cases, ["full"], loader=loader)
    warned = run_fov_benchmark(OracleMethod(truth, shift_mm=(0, 0, -10), warnings=(
        "S1 not detected (out of view): check them", "the vertebrae look like none of the levels: largest 0.41")),
        cases, ["full", "pelvic"], loader=loader)
    assert clean[0].warnings == () and clean[0].row()["warnings"] == ""
    assert warned[0].row()["warnings"] == "S1 not detected (out of view): check them | " \
        "the vertebrae look like none of the levels: largest 0.41"
    lines = warnings_table(clean + warned).splitlines()
    # shifted one level, only L5 stays identified: full L5 of L1..L5, pelvic L5 of L4, L5; pooled 2 of 7
    assert lines[2:] == ["| S1 not detected | 2 of 3 | 28.6% |",
                         "| the vertebrae look like none of the levels | 2 of 3 | 28.6% |"]
    assert warnings_table(clean) == "No warnings on the 1 samples."
    md = render_fov_report(clean + warned, {})["fov_report.md"].decode()
    assert "| S1 not detected | 2 of 3 |" in md
    assert "| full | 2 | 1 (50%) | 0 (0%) | 0 (0%) | 0 (0%) | 1 (50%) |" in md  # shifted: L1 has nothing left on it


def test_names_off_table_counts_each_way_of_being_off():
    lines = names_off_table({"random_k2": [0, 1, -1, 2, -3, None], "full": [0]}, "variant").splitlines()
    assert lines[0].startswith("| variant | predictions | right |")
    assert lines[2] == "| random_k2 | 6 | 1 (17%) | 1 (17%) | 1 (17%) | 2 (33%) | 1 (17%) |"
    assert lines[3] == "| full | 1 | 1 (100%) | 0 (0%) | 0 (0%) | 0 (0%) | 0 (0%) |"
    assert lines[4].startswith("| **all** | 7 | 2 (29%) |")
    assert names_off_table({}, "variant") == "No scored predictions."


def _fake_dataset(root: Path):
    vol, labels, truth = labelled_volume()
    (root / "X").mkdir(parents=True)
    rows = ["subset,case,shape,n_labels,labels,label_status,duplicate_of"]
    for c in ("01", "02"):
        (root / "X" / f"X_{c}_img.nii.gz").write_bytes(nifti_bytes(vol.data, vol.affine))
        (root / "X" / f"X_{c}_seg-vert_msk.nii.gz").write_bytes(nifti_bytes(labels, vol.affine))
        rows.append(f"X,{c},70x12x8,5,L1 L2 L3 L4 L5,verified,")
    rows.append("X,03,70x12x8,5,L1 L2 L3 L4 L5,verified,X_01")  # duplicates are left out
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return truth


def test_load_cases(tmp_path):
    _fake_dataset(tmp_path)
    assert [c.key for c in load_cases(tmp_path)] == ["X_01", "X_02"]
    assert [c.key for c in load_cases(tmp_path, ["X"], ["X/02"])] == ["X_02"]
    with pytest.raises(Exception, match="X_09"):
        load_cases(tmp_path, keys=["X_09"])


def test_benchmark_script_end_to_end(tmp_path):
    truth = _fake_dataset(tmp_path / "data")
    mod = benchmark_script("benchmarks/fov_benchmark.py")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["X_01"], "val": ["X_02"]}))
    out = tmp_path / "out"
    args = mod._get_parser().parse_args(["--data", str(tmp_path / "data"), "--subsets", "X", "--cases", str(split),
                                         "--variants", "full,pelvic,random_k3", "--out", str(out), "--quiet"])
    assert mod.run(args, method=OracleMethod(truth)) == 0
    doc = json.loads((out / "fov_summary.json").read_text())
    assert set(doc["per_subset"]["X"]) == {"full", "pelvic", "random_k3"}
    assert doc["per_subset"]["X"]["pelvic"]["n_true"] == 2 and doc["meta"]["cases"].startswith("1 ")
    assert mod.main(["--data", str(tmp_path / "data"), "--subsets", "X", "--out", str(out), "--quiet"]) == 1  # exists


def test_a_split_key_not_in_the_file_is_an_error_and_an_unreadable_case_fails_the_run(tmp_path, capsys):
    truth = _fake_dataset(tmp_path / "data")
    mod = benchmark_script("benchmarks/fov_benchmark.py")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["X_01"], "validation": ["X_02"]}))
    assert mod.read_cases(str(split), None) == ["X_02"]  # the default key
    with pytest.raises(ValueError, match="no key 'test'"):
        mod.read_cases(str(split), "test")  # not the validation cases in its place
    (tmp_path / "data" / "X" / "X_01_seg-vert_msk.nii.gz").unlink()
    args = mod._get_parser().parse_args(["--data", str(tmp_path / "data"), "--subsets", "X", "--variants", "full",
                                         "--out", str(tmp_path / "out"), "--quiet"])
    assert mod.run(args, method=OracleMethod(truth)) == 1  # the report is written, but X_01 is not in its scores
    assert "case X_01 could not be read and is not in the scores" in capsys.readouterr().err
    for f in (tmp_path / "data" / "X").glob("X_02_seg*"):
        f.unlink()  # now no case can be read: the results file still has every score column, blank
    args.out = tmp_path / "out2"
    assert mod.run(args, method=OracleMethod(truth)) == 1
    with open(tmp_path / "out2" / "fov_results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["variant"] for r in rows] == ["load", "load"] and {r["identification_rate"] for r in rows} == {""}
    assert set(SUMMARY_COLUMNS) <= set(rows[0])


def test_a_comma_list_of_cases_longer_than_a_file_name_is_read_as_a_list():
    keys = [f"VB3_{i:02d}" for i in range(1, 53)]  # 363 characters: no file name can be that long
    assert benchmark_script("benchmarks/fov_benchmark.py").read_cases(",".join(keys), "validation") == keys


def test_default_variants_listed():
    assert expand_variants(DEFAULT_VARIANTS) == list(DEFAULT_VARIANTS)
    with pytest.raises(ValueError, match="unknown variant"):
        expand_variants(["sideways"])


@pytest.mark.skipif(not (DATA / "manifest.csv").is_file(), reason="shared spine-mri data not present")
def test_real_vb3_case_variants():
    from spinemark.evaluate.fov import load_case

    case = load_cases(DATA, ["VB3"], ["VB3_01"])[0]
    vol, truth = load_case(case)
    assert truth.names == list(LUMBAR)
    kept = {v: make_variant(vol, truth, v, key=case.key).truth.names for v in ("pelvic", "upper_lumbar", "mid_lumbar")}
    assert kept == {"pelvic": ["L4", "L5"], "upper_lumbar": ["L1", "L2", "L3", "L4"], "mid_lumbar": ["L1", "L2", "L3"]}
    res = run_fov_benchmark(OracleMethod(truth), [case], ["pelvic", "thick4mm"], loader=lambda c: (vol, truth))
    assert all(r.score.identification_rate == 1.0 for r in res)


def test_reread_moves_every_level_one_down(tmp_path):
    _fake_dataset(tmp_path / "data")
    (tmp_path / "data" / "Y").mkdir()
    (tmp_path / "data" / "Y" / "note.txt").write_text("other subset")
    mod = benchmark_script("benchmarks/reread_vb1.py")
    out = tmp_path / "reread"
    assert mod.reread(tmp_path / "data", out, subset="X") == ["X_01", "X_02"]
    _, truth = load_case(load_cases(out, ["X"], ["X_01"])[0])
    _, before = load_case(load_cases(tmp_path / "data", ["X"], ["X_01"])[0])
    assert list(truth.names) == ["L2", "L3", "L4", "L5", "S1"]
    np.testing.assert_allclose(truth.positions_mm, before.positions_mm)  # same bodies, new names
    assert "L2 L3 L4 L5 S1" in (out / "manifest.csv").read_text()
    assert (out / "Y" / "note.txt").read_text() == "other subset"
    with pytest.raises(Exception, match="exists"):
        mod.reread(tmp_path / "data", out, subset="X")


def test_level_evidence_summary():
    mod = benchmark_script("benchmarks/level_evidence.py")
    levels = ["L1", "L2", "L3"]
    rows = [("L1", np.array([0.9, 0.1, 0.0])), ("L2", np.array([0.8, 0.6, 0.0]))]  # right, then wrong
    s = mod.summarize(rows, levels, floor=0.0)
    assert s["centres"] == 2 and s["top1"] == 0.5
    assert s["right_mean"] == pytest.approx(0.75) and s["best_wrong_mean"] == pytest.approx(0.45)
    assert s["right_share"] == pytest.approx((0.9 + 0.6 / 1.4) / 2)
    assert s["lean"] == pytest.approx(-0.5)  # the L2 centre's largest channel is L1, one level cranial
    rows.append(("L2", np.array([0.4, 0.8, 0.2])))
    profile = mod.level_profile(rows, levels)
    assert list(profile) == ["L1", "L2"] and profile["L2"]["centres"] == 2
    assert profile["L2"]["mean"] == pytest.approx([0.6, 0.7, 0.1])


def test_level_probe_cross_validation_learns_separable_levels_and_not_noise():
    pytest.importorskip("torch")
    mod = benchmark_script("benchmarks/level_probe.py")
    rng = np.random.default_rng(1)
    y = np.tile(np.arange(3), 40)
    groups = np.repeat(np.arange(6), 20)
    separable = np.eye(3)[y] * 3 + rng.normal(0, 0.3, (len(y), 3))
    assert mod.cross_validated_top1(separable, y, groups, 1e-3, 3).mean() > 0.95
    noise = rng.normal(0, 1, (len(y), 3))
    assert mod.cross_validated_top1(noise, y, groups, 1e-3, 3).mean() < 0.6
    with pytest.raises(ValueError, match="two scans"):
        mod.cross_validated_top1(noise, y, np.zeros(len(y)), 1e-3, 3)


def test_level_probe_end_to_end(tmp_path):
    pytest.importorskip("torch")
    _fake_dataset(tmp_path / "data")
    out = tmp_path / "probe.md"
    argv = ["--data", str(tmp_path / "data"), "--subsets", "X", "--variants", "full", "--out", str(out)]
    mod = benchmark_script("benchmarks/level_probe.py")
    assert mod.main(argv) == 0
    text = out.read_text()
    assert "2 scans, 10 labelled centres" in text and "| level channels |" in text
    assert text.count("| probe, ") == len(mod.FEATURE_SETS) * len(mod.L2_WEIGHTS)
    assert mod.main(argv) == 1  # no overwrite without --overwrite


def test_level_evidence_end_to_end(tmp_path):
    pytest.importorskip("torch")
    _fake_dataset(tmp_path / "data")
    out = tmp_path / "ev.md"
    argv = ["--data", str(tmp_path / "data"), "--subsets", "X", "--cases", "X_01", "--variants", "full", "--out", str(out)]
    mod = benchmark_script("benchmarks/level_evidence.py")
    assert mod.main(argv) == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["summary"]["full"]["centres"] == 5 and doc["meta"]["cases"] == ["X_01"]
    assert sum(p["centres"] for p in doc["profile"].values()) == 5 and "| true level |" in out.read_text()
    where = {w: p["centres"] for w, p in doc["summary"]["full"]["by_position"].items()}
    assert where == {"top": 1, "middle": 3, "bottom": 1} and "By where the body lies" in out.read_text()
    assert mod.main(argv) == 1  # no overwrite without --overwrite
    assert mod.main(argv[:-4] + ["--variants", "random_k2", "--all-windows", "--out", str(out), "--overwrite"]) == 0
    doc = json.loads(out.with_suffix(".json").read_text())  # every window of two: four windows of the five bodies
    assert doc["summary"]["random_k2"]["centres"] == 8
    assert {w: p["centres"] for w, p in doc["summary"]["random_k2"]["by_position"].items()} == {
        "top": 4, "middle": 0, "bottom": 4}


def test_level_evidence_reads_whole_phantoms(tmp_path):
    pytest.importorskip("torch")
    from spinemark.io.writers import read_landmarks
    from spinemark.nets.unet3d import DEFAULT_LEVELS
    from spinemark.synth.dataset import generate_dataset

    generate_dataset(tmp_path / "ph", preset="lumbar", n=1, seed=3)
    truth = read_landmarks(next((tmp_path / "ph").glob("*.landmarks.json")))
    covered = [p.name for p in truth if p.name in DEFAULT_LEVELS]  # the shipped model's levels; no discs
    out = tmp_path / "ph.md"
    mod = benchmark_script("benchmarks/level_evidence.py")
    assert mod.main(["--phantoms", str(tmp_path / "ph"), "--out", str(out)]) == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["meta"]["cases"] == ["synth_lumbar_0000.nii.gz"]
    assert list(doc["summary"]) == ["phantom"] and doc["summary"]["phantom"]["centres"] == len(covered) >= 4


def test_known_middle_gives_the_method_the_middle_vertebra_in_view():
    from spinemark.evaluate.fov import middle_vertebra

    vol, _, truth = labelled_volume()
    given = []

    class Recording(OracleMethod):
        def predict(self, volume, known=None):
            given.append(None if known is None else (known.names, known.positions_mm))
            return super().predict(volume)

    loader = lambda case: (vol, truth)  # noqa: E731
    cases = [Case("X_01", "X", Path("i"), Path("m"))]
    run_fov_benchmark(Recording(truth), cases, ["full", "random_k2", "random_k3"], loader=loader, all_windows=True,
                      known_middle=True)
    assert [g[0] for g in given] == [["L3"], ["L1"], ["L2"], ["L3"], ["L4"], ["L2"], ["L3"], ["L4"]]
    assert np.allclose(given[0][1], truth["L3"].position_mm)
    run_fov_benchmark(Recording(truth), cases, ["full"], loader=loader)
    assert given[-1] is None and not len(middle_vertebra(truth.discs()))


def test_results_files_are_read_by_one_reader_that_names_a_bad_file(tmp_path):
    read = benchmark_script("benchmarks/fov_benchmark.py").read_results_rows
    good = tmp_path / "fov_results.csv"
    good.write_text("case,variant,n_true\nVB3_01,full,5\n")
    assert read(good, ("case", "n_true")) == [{"case": "VB3_01", "variant": "full", "n_true": "5"}]
    with pytest.raises(ValueError, match="fov_results.csv: not a fov_results.csv .*no column error"):
        read(good, ("case", "error"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty.csv: not a fov_results.csv"):
        read(tmp_path / "empty.csv", ("case",))
    with pytest.raises(ValueError, match="missing.csv: cannot read it"):
        read(tmp_path / "missing.csv")
