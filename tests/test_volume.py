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


def _box_reference(data, m, shape, order=1):
    """ndimage's resampling with edge values extended, then zero outside the input's box (half a voxel beyond the
    outer centres), each voxel's input coordinate computed directly."""
    out = ndimage.affine_transform(data, m[:3, :3], offset=m[:3, 3], output_shape=shape, order=order, mode="nearest",
                                   prefilter=False)
    c = np.tensordot(m[:3, :3], np.indices(shape).astype(float), axes=1) + m[:3, 3].reshape(3, 1, 1, 1)
    inside = np.all((c >= -0.5 - 1e-6) & (c <= np.reshape(data.shape, (3, 1, 1, 1)) - 0.5 + 1e-6), axis=0)
    return np.where(inside, out, 0.0)


@pytest.mark.parametrize("shape,spacing,iso", [((60, 57, 11), (-0.6, 0.6, 4.0), 3.0),
                                                ((12, 13, 9), (3.0, 3.0, 3.0), 2.0),
                                                ((20, 25, 9), (0.9, 2.2, 5.0), 1.0)])
def test_axis_aligned_fast_path_equals_general_resampling(shape, spacing, iso):
    """Smoothing + linear resampling between axis-aligned grids (one matrix per axis) gives what ndimage's
    gaussian_filter + affine_transform give, edges included (edge values within the image's box, zero outside it,
    reflect for the filter)."""
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = (-10, 5, 3)
    vol = Volume((np.random.default_rng(0).random(shape) * 1000).astype(np.float32), affine)
    target = isotropic_geometry(vol.geometry, iso)
    factor = iso / np.abs(spacing)
    sigma = np.where(factor > 1.2, 0.4 * factor, 0.0)
    m = np.linalg.inv(affine) @ target.affine
    expected = _box_reference(ndimage.gaussian_filter(vol.data, sigma), m, target.shape)
    got = resample(vol, iso, antialias=True)
    assert got.shape == expected.shape and got.data.dtype == np.float32
    assert np.abs(got.data - expected).max() < 1e-3  # float rounding on values up to 1000
    # a shifted one-slice target (the QC picture's) takes the same path
    shift = np.eye(4)
    shift[0, 3] = 2
    plane = Geometry((1, *target.shape[1:]), target.affine @ shift)
    m = np.linalg.inv(affine) @ plane.affine
    assert np.abs(resample_to(vol, plane).data - _box_reference(vol.data, m, plane.shape)).max() < 1e-3


def test_thick_slices_resampled_finer_keep_their_outer_slices():
    """4 mm slices on a 3 mm grid: the first and last 3 mm slices lie between the outer slice centres and the image's
    edge; they take the edge slices' values, not zero (ndimage's 'constant' mode gave zero there)."""
    affine = np.diag([4.0, 1.0, 1.0, 1.0])
    vol = Volume(np.full((12, 6, 6), 7.0, np.float32), affine)  # 48 x 6 x 6 mm: 16 x 2 x 2 voxels of 3 mm
    iso = resample(vol, 3.0)
    assert iso.shape == (16, 2, 2) and np.allclose(iso.data, 7.0, atol=1e-5)
    # the general path (a grid turned by 90 degrees about z, the same voxel centres) agrees
    turned = np.array([[0.0, 3, 0, -0.5], [3, 0, 0, 1], [0, 0, 3, 1], [0, 0, 0, 1]])
    assert np.allclose(resample_to(vol, Geometry((2, 16, 2), turned)).data, 7.0, atol=1e-5)
    # a grid beyond the box is zero on either path
    outside = np.diag([3.0, 3, 3, 1])
    outside[0, 3] = 60.0
    assert not resample_to(vol, Geometry((2, 2, 2), outside)).data.any()
    outside[:2, :2] = [[0, 3], [3, 0]]
    assert not resample_to(vol, Geometry((2, 2, 2), outside)).data.any()


def test_crop_moves_affine():
    data, affine = layout_volume("axial", CENTRE)
    vol = Volume(data, affine)
    c = crop(vol, (10, 20, 5), (60, 90, 30))
    assert c.shape == (50, 70, 25)
    assert np.allclose(c.voxel_to_world([0, 0, 0]), vol.voxel_to_world([10, 20, 5]))
    assert c.data[3, 4, 5] == vol.data[13, 24, 10]
    assert c.source.shape == vol.shape
