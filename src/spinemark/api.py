"""The Python API, layered: pure prediction on a Volume -> one file -> a batch of files.

Example:
    >>> import spinemark
    >>> pred = spinemark.predict("scan.nii.gz")                     # doctest: +SKIP
    >>> spinemark.predict_file("scan.nii.gz", "out/", formats=["json", "mrk"])  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spinemark import anatomy
from spinemark.errors import InputError, OutputError, SpinemarkError
from spinemark.io.readers import find_inputs, image_stem, load_volume
from spinemark.io.writers import (
    DEFAULT_FORMATS,
    FORMATS,
    OutputInfo,
    check_targets,
    output_paths,
    render_outputs,
    write_files,
)
from spinemark.landmarks import Landmarks
from spinemark.methods.base import Method, Prediction, get_method
from spinemark.volume import MAX_VOXELS, Volume

log = logging.getLogger(__name__)

__all__ = ["load_volume", "predict", "predict_file", "predict_batch", "batch_summary_csv", "FileResult"]

SUMMARY_COLUMNS = ("input", "status", "vertebrae", "first", "last", "names", "median_confidence",
                   "lowest_confidence", "warnings", "seconds", "error")


def _method(method: str | Method, weights=None) -> Method:
    if isinstance(method, str):
        return get_method(method, weights=weights)
    if weights is not None:
        raise ValueError("weights name the weights of a method given by name; a method object has its own "
                         f"({type(method).__name__}): build it with those weights instead")
    return method


def predict(image: str | Path | Volume, method: str | Method = "dualhead", weights=None,
            known: Landmarks | None = None) -> Prediction:
    """Find and name the vertebrae of one image.

    Args:
        image: A path (NIfTI, NRRD, MHA/MHD, DICOM series folder) or a loaded :class:`Volume`.
        method: A registered method name (see ``spinemark info``) or a method object.
        weights: Optional path to other weights for a method given by name.
        known: Vertebrae whose names a person knows (world RAS mm of the image), such as one level counted on a
            localizer when the scan shows neither the sacrum nor C2; the names then agree with them.

    Returns:
        The :class:`~spinemark.methods.base.Prediction`; landmark positions in world RAS mm
        and voxel indices in the input grid.
    """
    vol = image if isinstance(image, Volume) else load_volume(image)
    m = _method(method, weights)
    t0 = time.perf_counter()
    pred = m.predict(vol, known)
    pred.timings.setdefault("total", time.perf_counter() - t0)
    return pred


@dataclass
class FileResult:
    """Outcome of one input of a batch: written outputs, or the error that stopped it."""

    input: Path
    outputs: list[Path] = field(default_factory=list)
    error: str | None = None
    n_landmarks: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    """The vertebrae found, cranial to caudal."""
    confidences: list[float] = field(default_factory=list)
    """Their confidences, in the order of ``names``."""
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def predict_file(
    path: str | Path,
    outdir: str | Path,
    method: str | Method = "dualhead",
    weights=None,
    formats: Iterable[str] = DEFAULT_FORMATS,
    overwrite: bool = False,
    stem: str | None = None,
    max_voxels: int = MAX_VOXELS,
    known: Landmarks | None = None,
    discs: bool = False,
) -> FileResult:
    """Predict one image and write the chosen formats into ``outdir``, all or nothing.

    Existing outputs are refused before any work unless ``overwrite``; with it, the input's outputs of an earlier run
    in formats not written now are removed, and all of them when this run fails (the error says so), so that no file
    in ``outdir`` contradicts the latest run. ``known``: as in :func:`predict`. ``discs``: also write the disc centre
    between each two neighbouring vertebrae found (:meth:`~spinemark.landmarks.Landmarks.with_discs`).

    Raises:
        SpinemarkError: :class:`InputError` for a bad image, :class:`OutputError` for an output problem.
    """
    path = Path(path)
    formats = list(formats)
    stem = stem or image_stem(path)
    targets = output_paths(outdir, stem, formats)
    check_targets(targets.values(), overwrite)
    # with overwrite, an earlier run's outputs of this stem in other formats go too, and all of them when this run
    # fails: no file is left that contradicts this run
    earlier = [p for p in output_paths(outdir, stem, FORMATS).values() if overwrite and p.is_file()]
    try:
        result = _predict_and_write(path, targets, method, weights, overwrite, max_voxels, known, discs)
    except Exception as exc:
        removed = _remove(p for p in earlier if p.is_file())
        if not removed:
            raise
        note = f"its earlier outputs were removed ({', '.join(removed)})"
        if not isinstance(exc, SpinemarkError):
            log.error("%s: %s", path, note)
            raise
        problem = exc.problem if isinstance(exc, InputError) and exc.path == str(path) else str(exc)
        raise InputError(path, f"{problem}; {note}") from exc
    removed = _remove(p for p in earlier if p not in targets.values())
    if removed:
        log.info("%s: earlier outputs in other formats removed: %s", path, ", ".join(removed))
    return result


def _remove(paths: Iterable[Path]) -> list[str]:
    """Delete the files ``paths``; their names."""
    names = []
    for p in paths:
        p.unlink()
        names.append(p.name)
    return names


def _predict_and_write(path: Path, targets: dict[str, Path], method, weights, overwrite: bool, max_voxels: int,
                       known: Landmarks | None, discs: bool) -> FileResult:
    """The prediction and the writing of :func:`predict_file`."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    vol = load_volume(path, max_voxels=max_voxels)
    timings["read"] = time.perf_counter() - t0
    m = _method(method, weights)
    pred = m.predict(vol, known)
    timings.update(pred.timings)
    if not len(pred.landmarks.vertebrae()):
        levels = getattr(m, "levels", None)
        cover = f" (its model names {levels[0]}..{levels[-1]} only)" if levels else ""
        why = f" ({'; '.join(pred.warnings)})" if pred.warnings else ""
        raise InputError(path, f"no vertebra found by method {m.name!r}{cover}: no spine in view, a part of the spine "
                               f"the model does not cover, or an image it cannot read{why}")
    t0 = time.perf_counter()
    lms = pred.landmarks.with_discs() if discs else pred.landmarks
    lms.warnings = list(dict.fromkeys([*lms.warnings, *pred.warnings]))
    info = OutputInfo(method=m.name, model=m.model_info, image_path=str(path), known=known)
    contents = render_outputs(lms, list(targets), image=vol, info=info)
    written = write_files({targets[f]: data for f, data in contents.items()}, overwrite=overwrite)
    timings["write"] = time.perf_counter() - t0
    vertebrae = sorted(lms.vertebrae(), key=lambda p: anatomy.order(p.name))
    return FileResult(path, written, None, len(lms), timings, [p.name for p in vertebrae],
                      [p.confidence for p in vertebrae], list(lms.warnings))


def predict_batch(
    inputs: Iterable[str | Path],
    outdir: str | Path,
    method: str | Method = "dualhead",
    weights=None,
    formats: Iterable[str] = DEFAULT_FORMATS,
    overwrite: bool = False,
    progress: Callable[[Iterable], Iterable] | None = None,
    max_voxels: int = MAX_VOXELS,
    known: Landmarks | str | Path | None = None,
    discs: bool = False,
) -> list[FileResult]:
    """Predict every image among ``inputs`` (files or folders, searched recursively).

    One bad input never stops the batch: its :class:`FileResult` carries the error.
    Two inputs with the same output stem are both refused (their outputs would collide).

    Args:
        progress: Optional wrapper for the loop (e.g. ``tqdm``), owned by the caller.
        known: As in :func:`predict`, for a single input; or a folder of known-level files, one per input that has
            any, named after its output stem (``<stem>.mrk.json`` or ``<stem>.landmarks.json``, see
            :func:`known_levels_for`).
        discs: As in :func:`predict_file`.

    Raises:
        InputError: ``known`` names no folder of known-level files.
        ValueError: Known levels (not a folder) with more than one input.
    """
    files = find_inputs(inputs)
    folder = Path(known) if isinstance(known, str | Path) else None
    if folder is not None and not folder.is_dir():
        raise InputError(folder, "not a folder of known-level files")
    if known and folder is None and len(files) > 1:
        raise ValueError(f"known levels name the vertebrae of one image, and {len(files)} inputs were given; "
                         "give a folder of <stem>.mrk.json files instead, or predict them one at a time")
    formats = list(formats)
    stems: dict[str, list[Path]] = {}
    for f in files:
        stems.setdefault(image_stem(f), []).append(f)
    if folder is not None:
        if folder.resolve() == Path(outdir).resolve():
            raise ValueError(f"the known-level folder {folder} is the output folder: the outputs would replace the "
                             "known-level files (and be read as known levels next time); keep them in a folder of "
                             "their own")
        named = {p.name: _known_stem(p.name) for p in folder.iterdir()}
        unused = sorted(name for name, stem in named.items() if stem is not None and stem not in stems)
        if unused:
            log.warning("%s: known-level files that name no input of the batch, not used: %s", folder,
                        ", ".join(unused))
    m = _method(method, weights)  # built once: a broken model fails here, for the whole batch
    results = []
    for f in progress(files) if progress else files:
        clash = [o for o in stems[image_stem(f)] if o != f]
        if clash:
            results.append(FileResult(f, error=str(OutputError(
                f, f"same output name {image_stem(f)!r} as {', '.join(map(str, clash))}; rename one or run them apart"))))
            continue
        try:
            given = known_levels_for(folder, image_stem(f)) if folder is not None else known
            results.append(predict_file(f, outdir, m, formats=formats, overwrite=overwrite, max_voxels=max_voxels,
                                        known=given, discs=discs))
        except SpinemarkError as exc:
            log.info("failed: %s", exc)
            results.append(FileResult(f, error=str(exc)))
        except (MemoryError, RuntimeError, ValueError, OSError) as exc:  # keep the batch going
            log.exception("unexpected failure on %s", f)
            results.append(FileResult(f, error=str(InputError(f, f"{exc.__class__.__name__}: {exc}"))))
    return results


KNOWN_SUFFIXES = (".mrk.json", ".landmarks.json")
"""Names of an input's known-level file in a folder given to :func:`predict_batch`: ``<stem>`` + one of these."""


def _known_stem(name: str) -> str | None:
    """The output stem a known-level file's name is for (:data:`KNOWN_SUFFIXES`); None for other files."""
    suffix = next((x for x in KNOWN_SUFFIXES if name.endswith(x)), None)
    return name[: -len(suffix)] if suffix else None


def known_levels_for(folder: str | Path, stem: str) -> Landmarks | None:
    """The known levels of the input with output stem ``stem`` in ``folder`` (the first of :data:`KNOWN_SUFFIXES`
    that exists), or None when it has none.

    Raises:
        InputError: The file exists but cannot be read as landmarks.
    """
    from spinemark.io.writers import read_landmarks

    for suffix in KNOWN_SUFFIXES:
        path = Path(folder) / f"{stem}{suffix}"
        if path.is_file():
            return read_landmarks(path)
    return None


def batch_summary_csv(results: Iterable[FileResult]) -> str:
    """One row per input of a batch: status, the vertebrae found (count, first, last, names cranial to caudal),
    their median and lowest confidence, the warnings (joined by `` | ``), seconds (reading to writing, the model's
    loading left out), and the error of a failed input.
    The table to sort a cohort by what needs checking first."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SUMMARY_COLUMNS)
    for r in results:
        conf = np.asarray(r.confidences, dtype=float)
        first, last = (r.names[0], r.names[-1]) if r.names else ("", "")
        median, lowest = (f"{np.median(conf):.4f}", f"{conf.min():.4f}") if conf.size else ("", "")
        seconds = f"{sum(v for k, v in r.timings.items() if k != 'load'):.3f}" if r.timings else ""
        w.writerow([r.input, "ok" if r.ok else "failed", len(r.names), first, last, " ".join(r.names), median, lowest,
                    " | ".join(r.warnings), seconds, r.error or ""])
    return buf.getvalue()
