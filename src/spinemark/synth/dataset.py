"""``generate_dataset``: write many phantoms (image, label map, landmarks, config) to a folder.

Example:
    >>> from spinemark.synth import generate_dataset
    >>> paths = generate_dataset("/tmp/ph", n=2, shape=(64, 64, 16), spacing_mm=(4.0, 4.0, 8.0))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from spinemark.io.writers import OutputInfo, check_targets, nifti_bytes, render_outputs, write_files

log = logging.getLogger(__name__)


PHANTOM_SUFFIXES = (".nii.gz", "_seg.nii.gz", ".landmarks.json", ".config.json")
"""The files of one phantom: ``<stem>`` + each of these (image, label map, landmarks, config)."""


def phantom_paths(outdir: str | Path, stem: str) -> list[Path]:
    """Where the files of the phantom ``stem`` go, in the order of :data:`PHANTOM_SUFFIXES`."""
    return [Path(outdir) / f"{stem}{suffix}" for suffix in PHANTOM_SUFFIXES]


def phantom_files(ph, outdir: str | Path, stem: str) -> dict[Path, bytes]:
    """In-memory files of one phantom: ``<stem>.nii.gz``, ``<stem>_seg.nii.gz``,
    ``<stem>.landmarks.json`` and ``<stem>.config.json``."""
    img_path, seg_path, lms_path, cfg_path = phantom_paths(outdir, stem)
    lms = ph.landmarks.on_geometry(ph.image.geometry)
    doc = render_outputs(lms, ["json"], image=ph.image, info=OutputInfo(method="synth", image_path=str(img_path)))
    cfg = {"config": ph.config.to_dict(), "info": ph.info}
    return {
        img_path: nifti_bytes(ph.image.data, ph.image.affine),
        seg_path: nifti_bytes(ph.labels.data, ph.labels.affine),
        lms_path: doc["json"],
        cfg_path: json.dumps(cfg, indent=1).encode(),
    }


def generate_dataset(outdir: str | Path, preset: str = "pelvic", n: int = 10, seed: int = 0, overwrite: bool = False,
                     progress: Callable[[Iterable], Iterable] | None = None, **overrides) -> list[Path]:
    """Generate ``n`` phantoms and write them to ``outdir``.

    Phantom ``i`` uses seed ``seed + i``, so any one of them can be regenerated alone with
    ``make_phantom(preset, seed=seed + i, **overrides)``. Stems are ``synth_<preset>_<iiii>``.

    Args:
        outdir: Output folder (created).
        preset: Field-of-view preset.
        n: Number of phantoms.
        seed: Seed of the first phantom.
        overwrite: Replace existing files (otherwise an existing file of any phantom raises ``OutputError``
            before anything is generated or written).
        progress: Optional wrapper for the loop (e.g. ``tqdm``), owned by the caller.
        **overrides: :class:`~spinemark.synth.PhantomConfig` fields.

    Returns:
        Paths of all files written.
    """
    from spinemark.synth.phantom import make_phantom

    stems = [f"synth_{preset}_{i:04d}" for i in range(n)]
    check_targets((p for stem in stems for p in phantom_paths(outdir, stem)), overwrite)
    written: list[Path] = []
    for i in progress(range(n)) if progress else range(n):
        stem = stems[i]
        ph = make_phantom(preset, seed=seed + i, **overrides)
        written += write_files(phantom_files(ph, outdir, stem), overwrite=overwrite)
        log.info("wrote %s (%d landmarks)", stem, len(ph.landmarks))
    return written
