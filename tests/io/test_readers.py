import gzip
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from helpers import layout_volume, save_nifti
from spinemark.errors import InputError
from spinemark.io.readers import find_inputs, image_stem, load_volume


def _good(tmp_path, name="good.nii.gz"):
    data, affine = layout_volume("sagittal")
    return save_nifti(data.astype(np.float32) * 50, affine, tmp_path / name)


def _expect(path, words):
    with pytest.raises(InputError) as info:
        load_volume(path)
    msg = str(info.value)
    assert str(path) in msg
    for w in words:
        assert w in msg.lower()
    return msg


def test_good_file_loads(tmp_path):
    vol = load_volume(_good(tmp_path))
    assert vol.path.endswith("good.nii.gz")
    assert vol.source.shape == vol.shape


def test_gzip_in_several_members_reads_whole(tmp_path):
    """Some tools write a .nii.gz as several concatenated gzip members; all of them are data."""
    good = _good(tmp_path)
    raw = gzip.decompress(good.read_bytes())
    multi = tmp_path / "multi.nii.gz"
    multi.write_bytes(b"".join(gzip.compress(raw[i : i + 5000]) for i in range(0, len(raw), 5000)))
    vol, ref = load_volume(multi), nib.load(str(good))
    assert np.array_equal(vol.data, np.asanyarray(ref.dataobj)) and np.allclose(vol.affine, ref.affine)


def test_missing_path(tmp_path):
    _expect(tmp_path / "nope.nii.gz", ["no such file"])


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    _expect(p, ["not a known image format"])


def test_not_an_image_with_image_suffix(tmp_path):
    p = tmp_path / "fake.nii.gz"
    p.write_bytes(b"this is not gzip at all")
    _expect(p, ["cannot read"])


def test_truncated_nii_gz(tmp_path):
    good = _good(tmp_path)
    raw = good.read_bytes()
    bad = tmp_path / "truncated.nii.gz"
    bad.write_bytes(raw[: len(raw) // 2])
    _expect(bad, ["truncated or corrupt"])


def test_2d_image(tmp_path):
    p = save_nifti(np.ones((30, 40), np.float32), np.eye(4), tmp_path / "flat.nii.gz")
    _expect(p, ["2d", "3d volume is needed"])


def test_single_slice_3d_is_2d(tmp_path):
    p = save_nifti(np.ones((30, 40, 1), np.float32), np.eye(4), tmp_path / "oneslice.nii.gz")
    _expect(p, ["2d"])


def test_4d_image(tmp_path):
    p = save_nifti(np.ones((10, 10, 10, 3), np.float32), np.eye(4), tmp_path / "series.nii.gz")
    _expect(p, ["4d"])


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_inf(tmp_path, value):
    data = np.ones((10, 10, 10), np.float32)
    data[2, 3, 4] = value
    p = save_nifti(data, np.eye(4), tmp_path / "nan.nii.gz")
    _expect(p, ["nan or infinite"])


@pytest.mark.parametrize("spacing", [0.0, -1.0, 1e-4, 500.0])
def test_zero_negative_or_absurd_spacing(tmp_path, spacing):
    p = save_nifti(np.ones((10, 10, 10), np.float32), np.eye(4), tmp_path / "spacing.nii")
    raw = bytearray(p.read_bytes())
    raw[84:88] = struct.pack("<f", spacing)  # pixdim[2]; nibabel itself would never write a bad one
    raw[252:256] = struct.pack("<hh", 0, 0)  # no qform/sform: the affine comes from pixdim
    p.write_bytes(bytes(raw))
    _expect(p, ["spacing"])


def test_non_invertible_affine(tmp_path):
    affine = np.array([[1.0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    p = save_nifti(np.ones((10, 10, 10), np.float32), affine, tmp_path / "singular.nii.gz")
    _expect(p, ["not invertible"])


def test_all_zero(tmp_path):
    p = save_nifti(np.zeros((10, 10, 10), np.float32), np.eye(4), tmp_path / "zero.nii.gz")
    _expect(p, ["all zero"])


def test_too_large_refused_before_reading_data(tmp_path):
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((4096, 4096, 4096))
    hdr.set_data_dtype(np.float32)
    p = tmp_path / "huge.nii"
    p.write_bytes(hdr.binaryblock + b"\x00" * 4)  # header only: the data would be 256 GB
    _expect(p, ["too large"])


def test_corrupt_nrrd(tmp_path):
    p = tmp_path / "broken.nrrd"
    p.write_text("NRRD0004\ntype: float\ndimension: 3\nsizes: 10 10 10\nencoding: raw\n\n")
    _expect(p, ["cannot read"])


def test_find_inputs_recurses_and_finds_dicom(tmp_path):
    from helpers import write_dicom_series

    (tmp_path / "a").mkdir()
    _good(tmp_path / "a", "x.nii.gz")
    data, affine = layout_volume("axial")
    write_dicom_series(data * 10, affine, tmp_path / "b" / "series1")
    (tmp_path / "b" / "readme.txt").write_text("not an image")
    # label maps beside their scan (ours, VerSe's, SCT's names): not inputs
    for name in ("x_seg.nii.gz", "x_seg-vert_msk.nii.gz", "x_seg-manual.nii.gz", "x_seg-manual_labeled.nii.gz",
                 "labels.nii.gz", "x_labeled_center_manual.nii.gz", "x_centerline-manual.nii.gz"):
        _good(tmp_path / "a", name)
    (tmp_path / "c").mkdir()
    _good(tmp_path / "c", "segmental_T2w.nii.gz")  # "seg" inside a word is no label map
    found = find_inputs([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/x.nii.gz", "b/series1", "c/segmental_T2w.nii.gz"]
    assert image_stem(found[0]) == "x" and image_stem(found[1]) == "series1"
    assert find_inputs([tmp_path / "a" / "x_seg.nii.gz"]) == [tmp_path / "a" / "x_seg.nii.gz"]  # named: kept


def test_gzip_helper_detects_bad_stream(tmp_path):
    # A valid gzip wrapper around a too-short NIfTI is a corrupt header, not a crash.
    p = tmp_path / "short.nii.gz"
    p.write_bytes(gzip.compress(b"\x00" * 100))
    _expect(p, ["cannot read"])


def test_image_stem_of_a_folder_given_as_dot_is_its_name(tmp_path, monkeypatch):
    """``cd series && spinemark predict . -o out`` names the outputs after the folder, not ``.landmarks.json``."""
    from helpers import write_dicom_series
    from spinemark.api import predict_batch

    data, affine = layout_volume("axial")
    series = write_dicom_series(data * 10, affine, tmp_path / "series1")
    monkeypatch.chdir(series)
    assert image_stem(".") == "series1" and image_stem("..") == tmp_path.name and image_stem(Path("sub/..")) == "series1"
    [result] = predict_batch(["."], tmp_path / "out", method="test-blob", formats=["json"])
    assert result.error is None and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["series1.landmarks.json"]


def test_find_inputs_lists_each_path_once(tmp_path):
    (tmp_path / "in").mkdir()
    x = _good(tmp_path / "in", "x.nii.gz")
    y = _good(tmp_path / "in", "y.nii.gz")
    missing = tmp_path / "in" / "missing.nii.gz"
    assert find_inputs([x, x]) == [x]
    assert find_inputs([x, tmp_path / "in"]) == [x, y]  # a file, then its folder: first occurrence kept
    assert find_inputs([tmp_path / "in" / ".." / "in" / "x.nii.gz", x, missing, missing]) == [
        tmp_path / "in" / ".." / "in" / "x.nii.gz", missing]  # missing paths stay, so that reading reports them


def test_a_folder_with_no_image_is_a_failed_input_of_the_batch(tmp_path):
    """A folder where nothing is found (a typo, the wrong export) is reported, not silently left out of a batch."""
    from spinemark.api import predict_batch

    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not an image")
    x = _good(tmp_path, "x.nii.gz")
    assert find_inputs([tmp_path / "empty", x, tmp_path / "notes"]) == [tmp_path / "empty", x, tmp_path / "notes"]
    results = predict_batch([tmp_path / "empty", x, tmp_path / "notes"], tmp_path / "out", method="test-blob",
                            formats=["json"])
    assert [r.ok for r in results] == [False, True, False]
    assert "empty: folder holds no image" in results[0].error and "notes: folder holds no image" in results[2].error


def test_label_map_words_count_only_at_the_end_of_the_name(tmp_path, caplog):
    """MSK (musculoskeletal), SEG or a label word at the start or middle of a scan's name is no label-map tag."""
    import logging

    from spinemark.io.readers import is_label_map_name

    for name in ("MSK_Spine_001.nii.gz", "seg_patient_T2.nii.gz", "sub-01_label-L4_T2w.nii.gz", "mask_study.nrrd"):
        assert not is_label_map_name(name), name
    for name in ("MSK_Spine_001_msk.nii.gz", "sub-01_T2w_dseg.nii.gz", "scan_Labels.mha", "seg.nii.gz"):
        assert is_label_map_name(name), name
    _good(tmp_path, "MSK_Spine_001.nii.gz")
    _good(tmp_path, "MSK_Spine_001_seg.nii.gz")
    with caplog.at_level(logging.INFO, logger="spinemark.io.readers"):
        assert find_inputs([tmp_path]) == [tmp_path / "MSK_Spine_001.nii.gz"]
    assert any("MSK_Spine_001_seg.nii.gz" in r.getMessage() and "label map" in r.getMessage() for r in caplog.records)


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name == "spinemark.io.readers"]


def test_sform_and_qform_that_disagree_warn_which_is_used(tmp_path, caplog):
    data, affine = layout_volume("sagittal")
    img = nib.Nifti1Image(data.astype(np.float32), affine)
    img.set_sform(affine, code=2)
    img.set_qform(affine, code=1)
    nib.save(img, tmp_path / "agree.nii.gz")
    qform = affine.copy()
    qform[:3, 3] += 3.0  # 5.2 mm off
    img.set_qform(qform, code=1)
    nib.save(img, tmp_path / "disagree.nii.gz")
    load_volume(tmp_path / "agree.nii.gz")
    assert not _warnings(caplog)
    vol = load_volume(tmp_path / "disagree.nii.gz")
    assert np.allclose(vol.affine, affine)  # the sform, as nibabel reads it
    [msg] = _warnings(caplog)
    assert "disagree.nii.gz" in msg and "disagree" in msg and "using the sform" in msg and "qform" in msg


def test_nifti_without_sform_or_qform_warns_that_geometry_is_undefined(tmp_path, caplog):
    img = nib.Nifti1Image(np.ones((10, 10, 10), np.float32), np.diag([2.0, 2.0, 3.0, 1.0]))
    img.set_sform(None, code=0)
    img.set_qform(None, code=0)
    nib.save(img, tmp_path / "noform.nii")
    vol = load_volume(tmp_path / "noform.nii")
    assert np.allclose(vol.spacing_mm, [2.0, 2.0, 3.0])
    [msg] = _warnings(caplog)
    assert "noform.nii" in msg and "undefined" in msg and "pixdim" in msg


def test_negative_pixdim_does_not_matter_when_the_sform_defines_the_geometry(tmp_path):
    affine = np.diag([-0.5, 0.5, 4.0, 1.0])
    img = nib.Nifti1Image(np.ones((10, 10, 10), np.float32), affine)
    img.set_sform(affine, code=2)
    img.set_qform(None, code=0)
    p = tmp_path / "negpix.nii"
    nib.save(img, p)
    raw = bytearray(p.read_bytes())
    raw[80:84] = struct.pack("<f", -0.5)  # pixdim[1] negative, as some converters write it
    p.write_bytes(bytes(raw))
    assert np.allclose(load_volume(p).affine, affine)
    raw[252:256] = struct.pack("<hh", 0, 0)  # without the sform the pixdim is the geometry: refused
    p.write_bytes(bytes(raw))
    _expect(p, ["negative", "spacing"])


def test_scaled_values_that_overflow_float32_are_an_input_error(tmp_path):
    img = nib.Nifti1Image(np.full((10, 10, 10), 1000, np.int16), np.eye(4))
    img.header.set_slope_inter(1e38, 0.0)
    p = tmp_path / "slope.nii"
    nib.save(img, p)
    _expect(p, ["values overflow"])


def test_find_inputs_follows_linked_folders_once(tmp_path):
    import os

    (tmp_path / "data").mkdir()
    scan = _good(tmp_path / "data", "a.nii.gz")
    (tmp_path / "in").mkdir()
    os.symlink(scan.parent, tmp_path / "in" / "linked")
    os.symlink(tmp_path / "in", tmp_path / "in" / "loop")  # a link back up: searched once, no endless walk
    assert find_inputs([tmp_path / "in"]) == [tmp_path / "in" / "linked" / "a.nii.gz"]
