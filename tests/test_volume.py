import numpy as np
import pytest
from scipy import ndimage

from helpers import LAYOUTS, layout_volume, save_nifti, storage_affine, to_itk, write_dicom_series
from spinemark.io.readers import load_volume
from spinemark.landmarks import Landmarks
from spinemark.volume import (
    Geometry,
    Volume,
    crop,
    isotropic_geometry,
    resample,
    resample_to,
    to_canonical,
    to_source_grid,
)

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


@pytest.mark.parametrize("shape,spacing,iso", [((60, 57, 11), (-0.6, 0.6, 4.0), 3.0),
                                                ((12, 13, 9), (3.0, 3.0, 3.0), 2.0),
                                                ((20, 25, 9), (0.9, 2.2, 5.0), 1.0)])
def test_axis_aligned_fast_path_equals_general_resampling(shape, spacing, iso):
    """Smoothing + linear resampling between axis-aligned grids (one matrix per axis) gives what ndimage's
    gaussian_filter + affine_transform give, edges included (zero outside the input, reflect for the filter)."""
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = (-10, 5, 3)
    vol = Volume((np.random.default_rng(0).random(shape) * 1000).astype(np.float32), affine)
    target = isotropic_geometry(vol.geometry, iso)
    factor = iso / np.abs(spacing)
    sigma = np.where(factor > 1.2, 0.4 * factor, 0.0)
    m = np.linalg.inv(affine) @ target.affine
    expected = ndimage.affine_transform(ndimage.gaussian_filter(vol.data, sigma), m[:3, :3], offset=m[:3, 3],
                                        output_shape=target.shape, order=1, mode="constant", prefilter=False)
    got = resample(vol, iso, antialias=True)
    assert got.shape == expected.shape and got.data.dtype == np.float32
    assert np.abs(got.data - expected).max() < 1e-3  # float rounding on values up to 1000
    # a shifted one-slice target (the QC picture's) takes the same path
    shift = np.eye(4)
    shift[0, 3] = 2
    plane = Geometry((1, *target.shape[1:]), target.affine @ shift)
    m = np.linalg.inv(affine) @ plane.affine
    expected = ndimage.affine_transform(vol.data, m[:3, :3], offset=m[:3, 3], output_shape=plane.shape, order=1,
                                        mode="constant", prefilter=False)
    assert np.abs(resample_to(vol, plane).data - expected).max() < 1e-3


def test_crop_moves_affine():
    data, affine = layout_volume("axial", CENTRE)
    vol = Volume(data, affine)
    c = crop(vol, (10, 20, 5), (60, 90, 30))
    assert c.shape == (50, 70, 25)
    assert np.allclose(c.voxel_to_world([0, 0, 0]), vol.voxel_to_world([10, 20, 5]))
    assert c.data[3, 4, 5] == vol.data[13, 24, 10]
    assert c.source.shape == vol.shape
