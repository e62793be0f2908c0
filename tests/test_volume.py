import numpy as np
import pytest

from helpers import LAYOUTS, layout_volume, save_nifti, storage_affine, to_itk, write_dicom_series
from spinemark.io.readers import load_volume
from spinemark.landmarks import Landmarks
from spinemark.volume import Volume, crop, resample, to_canonical, to_source_grid

CENTRE = np.array([3.0, -20.0, 40.0])


def _write(layout, kind, tmp_path):
    data, affine = layout_volume(layout, CENTRE)
    if kind == "nifti":
        return save_nifti(data, affine, tmp_path / f"{layout}.nii.gz")
    if kind == "dicom":
        return write_dicom_series(data * 100, affine, tmp_path / f"{layout}_dicom")
    import SimpleITK as sitk

    path = tmp_path / f"{layout}.{kind}"
    sitk.WriteImage(to_itk(data, affine), str(path))
    return path


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_point_round_trip_input_canonical_input(layout):
    data, affine = layout_volume(layout, CENTRE)
    vol = Volume(data, affine)
    iso = resample(to_canonical(vol), 1.7)
    rng = np.random.default_rng(0)
    ijk_in = rng.uniform(0, np.array(vol.shape) - 1, size=(20, 3))
    world = vol.voxel_to_world(ijk_in)
    ijk_canon = iso.world_to_voxel(world)
    back = vol.world_to_voxel(iso.voxel_to_world(ijk_canon))
    err_mm = np.linalg.norm(vol.voxel_to_world(back) - world, axis=1)
    assert err_mm.max() < 0.01


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("kind", ["nifti", "nrrd", "mha"])
def test_blob_centroid_same_world_position_whatever_storage(layout, kind, tmp_path):
    vol = load_volume(_write(layout, kind, tmp_path))
    lms = Landmarks.from_label_map(vol.data, vol.affine)
    assert lms.names == ["L5"]
    assert np.linalg.norm(lms["L5"].position_mm - CENTRE) < 0.5
    # and through the canonical, resampled grid a method works in
    iso = resample(to_canonical(vol.with_data(vol.data.astype(np.float32))), 2.0)
    lms_iso = Landmarks.from_label_map((iso.data > 12).astype(np.uint8) * 24, iso.affine)
    assert np.linalg.norm(lms_iso["L5"].position_mm - CENTRE) < 0.5


@pytest.mark.parametrize("layout", ["sagittal", "oblique", "lps_axial"])
def test_dicom_series_written_by_test_reads_back_in_world_mm(layout, tmp_path):
    folder = _write(layout, "dicom", tmp_path)
    vol = load_volume(folder)
    data, affine = layout_volume(layout, CENTRE)
    assert vol.shape == data.shape
    assert np.allclose(vol.affine, affine, atol=1e-3)
    lms = Landmarks.from_label_map((vol.data > 0).astype(np.uint8) * 24, vol.affine)
    assert np.linalg.norm(lms["L5"].position_mm - CENTRE) < 0.5


def test_lps_and_ras_stored_files_agree(tmp_path):
    a = load_volume(_write("axial", "nifti", tmp_path))
    b = load_volume(_write("lps_axial", "nifti", tmp_path))
    ca, cb = to_canonical(a), to_canonical(b)
    assert np.allclose(ca.affine[:3, :3], np.diag(ca.spacing_mm))
    assert np.allclose(cb.affine[:3, :3], np.diag(cb.spacing_mm))
    pa = Landmarks.from_label_map(a.data, a.affine)["L5"].position_mm
    pb = Landmarks.from_label_map(b.data, b.affine)["L5"].position_mm
    assert np.linalg.norm(np.subtract(pa, pb)) < 0.5


def test_canonical_is_exact_reorientation():
    data, affine = layout_volume("sagittal", CENTRE)
    vol = Volume(data, affine)
    canon = to_canonical(vol)
    assert sorted(canon.shape) == sorted(vol.shape)
    assert np.all(np.diag(canon.affine)[:3] > 0)
    assert canon.data.sum() == vol.data.sum()
    # a voxel keeps its world position and value
    ijk = np.argwhere(vol.data > 0)[7]
    w = vol.voxel_to_world(ijk)
    ijk_c = np.round(canon.world_to_voxel(w)).astype(int)
    assert canon.data[tuple(ijk_c)] == vol.data[tuple(ijk)]


def test_label_map_maps_back_to_source_grid_exactly():
    data, affine = layout_volume("sagittal", CENTRE)
    vol = Volume(data, affine)
    canon = to_canonical(vol)
    back = to_source_grid(canon, order=0)
    assert back.shape == vol.shape
    assert np.array_equal(back.data, vol.data)


def test_resample_isotropic_keeps_extent():
    vol = Volume(np.ones((20, 30, 10), np.float32), storage_affine(np.eye(3), (0.5, 0.5, 4.0), (0, 0, 0), (20, 30, 10)))
    iso = resample(vol, 2.0)
    assert iso.shape == (5, 8, 20)
    assert np.allclose(iso.spacing_mm, 2.0)
    # outer corners coincide
    corner_old = vol.voxel_to_world([-0.5, -0.5, -0.5])
    corner_new = iso.voxel_to_world([-0.5, -0.5, -0.5])
    assert np.allclose(corner_old, corner_new)


def test_crop_moves_affine():
    data, affine = layout_volume("axial", CENTRE)
    vol = Volume(data, affine)
    c = crop(vol, (10, 20, 5), (60, 90, 30))
    assert c.shape == (50, 70, 25)
    assert np.allclose(c.voxel_to_world([0, 0, 0]), vol.voxel_to_world([10, 20, 5]))
    assert c.data[3, 4, 5] == vol.data[13, 24, 10]
    assert c.source.shape == vol.shape
