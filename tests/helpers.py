"""Builders of tiny test images: analytic blobs on any storage grid, and files in every format."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "spine-mri"


def rotation(axis: int, degrees: float) -> np.ndarray:
    """3x3 rotation about world axis 0, 1 or 2."""
    t = np.deg2rad(degrees)
    c, s = np.cos(t), np.sin(t)
    i, j = [a for a in range(3) if a != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def storage_affine(directions: np.ndarray, spacing, centre_mm, shape) -> np.ndarray:
    """Affine whose array axes run along ``directions`` columns (unit vectors, RAS), grid centred on ``centre_mm``."""
    a = np.eye(4)
    a[:3, :3] = np.asarray(directions, float) * np.asarray(spacing, float)[None, :]
    a[:3, 3] = np.asarray(centre_mm, float) - a[:3, :3] @ ((np.asarray(shape) - 1) / 2.0)
    return a


# Storage layouts of the same patient: array axis directions (matrix columns, RAS unit vectors) and spacing.
LAYOUTS = {
    # sagittal slices as scanners often store them: axis0 -> P, axis1 -> I, axis2 -> R (slice axis)
    "sagittal": (np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], float).T, (0.5, 0.5, 4.0)),
    "axial": (np.eye(3), (0.8, 0.8, 3.0)),
    "lps_axial": (np.diag([-1.0, -1.0, 1.0]), (1.0, 1.0, 2.5)),
    "coronal": (np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float).T, (1.0, 1.0, 3.0)),
    "oblique": (rotation(0, 20) @ rotation(2, 10) @ np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], float).T, (0.7, 0.7, 3.5)),
}


def blob_label_map(affine: np.ndarray, shape, centre_mm, radii_mm=(12.0, 14.0, 11.0), label=24) -> np.ndarray:
    """A label map on the grid (affine, shape) with an ellipsoid of ``label`` around ``centre_mm`` (world RAS)."""
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).reshape(-1, 3)
    world = idx @ affine[:3, :3].T + affine[:3, 3]
    d = ((world - np.asarray(centre_mm)) / np.asarray(radii_mm)) ** 2
    return np.where(d.sum(axis=1) <= 1.0, label, 0).astype(np.uint8).reshape(shape)


def layout_volume(name: str, centre_mm=(3.0, -20.0, 40.0), fov_mm=100.0):
    """(data, affine) of a labelled ellipsoid stored in layout ``name``."""
    directions, spacing = LAYOUTS[name]
    shape = tuple(int(round(fov_mm / s)) for s in spacing)
    affine = storage_affine(directions, spacing, (0.0, -15.0, 35.0), shape)
    return blob_label_map(affine, shape, centre_mm), affine


def save_nifti(data, affine, path) -> Path:
    nib.save(nib.Nifti1Image(np.asarray(data), affine), str(path))
    return Path(path)


def to_itk(data, affine):
    """SimpleITK image (LPS) of an array + RAS affine."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(data).transpose(2, 1, 0)))
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    spacing = np.sqrt((lps[:3, :3] ** 2).sum(axis=0))
    img.SetSpacing(spacing.tolist())
    img.SetDirection((lps[:3, :3] / spacing[None, :]).ravel().tolist())
    img.SetOrigin(lps[:3, 3].tolist())
    return img


def write_dicom_series(data, affine, folder: Path) -> Path:
    """Write ``data`` as a DICOM series (one file per slice along array axis 2) into ``folder``."""
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    img = sitk.Cast(to_itk(np.asarray(data, dtype=np.int16), affine), sitk.sitkInt16)
    direction = img.GetDirection()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series_uid = "1.2.826.0.1.3680043.2.1125.1.12345"
    for k in range(img.GetDepth()):
        sl = img[:, :, k]
        for tag, value in {
            "0008|0060": "MR",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1.1",
            "0020|000e": series_uid,
            "0020|0037": "\\".join(f"{v:.6f}" for v in (direction[0], direction[3], direction[6],
                                                         direction[1], direction[4], direction[7])),
            "0020|0032": "\\".join(f"{v:.6f}" for v in img.TransformIndexToPhysicalPoint((0, 0, k))),
            "0020|0013": str(k + 1),
            "0018|0050": f"{img.GetSpacing()[2]:.6f}",
            "0008|0018": f"{series_uid}.{k + 1}",
        }.items():
            sl.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(sl)
    return folder


def trained_looking_net(**config):
    """A tiny dual-head network (levels L4, L5, S1; width 4) in eval mode whose BatchNorm statistics, weights and
    biases are far from their initial values, so that rearrangements of it (BatchNorm folding, the fast CPU
    network) are tested on numbers like a trained model's. ``config``: more :class:`NetConfig` fields."""
    import torch

    from spinemark.nets.unet3d import DualHeadUNet3D, NetConfig

    torch.manual_seed(0)
    net = DualHeadUNet3D(NetConfig(levels=("L4", "L5", "S1"), width=4, **config))
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.weight.data.uniform_(0.5, 2)
            m.bias.data.uniform_(-1, 1)
        if isinstance(m, torch.nn.Conv3d) and m.bias is not None:
            m.bias.data.uniform_(-0.5, 0.5)  # the wide blocks' last convolutions start at zero
            m.weight.data.normal_(0, 0.3)
    return net.eval()


def benchmark_script(relpath: str):
    """A script of the repository (``benchmarks/<name>.py``, ``benchmarks/training/<name>.py``) imported as a module."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_landmarks(path: Path, lms) -> None:
    """Write landmarks as a spinemark ``.landmarks.json`` file, creating its folder."""
    import json

    from spinemark.io.writers import landmarks_to_dict

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(landmarks_to_dict(lms)))


def write_mask(path: Path, labels, affine) -> None:
    """Write a label map as NIfTI bytes (spinemark's writer), creating its folder."""
    from spinemark.io.writers import nifti_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(nifti_bytes(labels, affine))
