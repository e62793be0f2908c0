import nibabel as nib
import numpy as np
import pytest


def write_tiny_case(folder, case_id, rng, shape=(40, 20, 12), levels=(22, 23, 24)):
    """A tiny 2 mm image with three labelled 'bodies' (boxes) along axis 0 and its label map."""
    img = rng.random(shape).astype(np.float32) * 0.2
    lab = np.zeros(shape, np.uint16)
    for k, lid in enumerate(levels):
        s = slice(6 + 10 * k, 12 + 10 * k)
        img[s, 6:14, 3:9] += 1.0
        lab[s, 6:14, 3:9] = lid
    aff = np.diag([2.0, 2.0, 2.0, 1.0])[[2, 1, 0, 3]]  # axis 0 -> superior, like a sagittal scan
    aff[3] = [0, 0, 0, 1]
    nib.save(nib.Nifti1Image(img, aff), folder / f"{case_id}_img.nii.gz")
    nib.save(nib.Nifti1Image(lab, aff), folder / f"{case_id}_seg-vert_msk.nii.gz")


@pytest.fixture
def tiny_data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        write_tiny_case(folder, f"TINY_{i:02d}", rng)
    return folder
