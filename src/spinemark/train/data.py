"""Training data: find annotated cases, preprocess them to the training grid, draw phantoms.

Every case becomes a :class:`Case`: the canonical (RAS), isotropic, normalised image and its
labelled vertebral body centres in that grid's voxel indices. Real scans label only some of
the levels in view, so a real case also carries its *labelled span* (the planes of the discs
above its top labelled level and below its bottom one); the loss mask is built from it
(see :mod:`spinemark.train.sampling`). Phantoms label everything (``source`` is ``"phantom"``, ``span`` None).
A real case that cannot be trained on as it is (unknown label ids, a label map off its image's grid, fewer than
two labelled levels) is left out (:func:`check_case`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spinemark import anatomy
from spinemark.errors import InputError
from spinemark.io.readers import is_label_map_name, load_volume
from spinemark.io.writers import read_landmarks
from spinemark.nets.preprocess import canonical_input

log = logging.getLogger(__name__)

MASK_SUFFIXES = ("_seg-vert_msk.nii.gz", "_seg.nii.gz", "_seg-vert_msk.nii", "_seg.nii")


@dataclass(frozen=True)
class CaseRef:
    """Where one annotated case lives: its image and its label map or landmarks file."""

    case_id: str
    image: str
    labels: str | None = None
    landmarks: str | None = None


@dataclass
class Case:
    """One preprocessed training case.

    Attributes:
        case_id: Identifier (``VB3_01``, ``phantom_0003``).
        source: ``"real"`` or ``"phantom"``.
        image: (X, Y, Z) float32 canonical isotropic normalised image.
        landmarks: Labelled vertebral body centres, name -> voxel position in ``image``.
        span: For partially labelled (real) cases, ``(upper_point, upper_normal, lower_point, lower_normal)``
            in voxels: the disc plane above the top labelled level (normal pointing cranially)
            and below the bottom one (normal pointing caudally). None for phantoms (every level labelled);
            a real case without it is not trained on (:func:`~spinemark.train.sampling.draw_patch` refuses it).
        notes: What its label map's centres are made of, where not plain centroids (:func:`annotation`).
    """

    case_id: str
    source: str
    image: np.ndarray
    landmarks: dict[str, np.ndarray]
    span: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None
    notes: tuple[str, ...] = ()


class UnusableCase(InputError):
    """A case that training leaves out (with a warning, and listed in the run's ``data.json``): its labels
    cannot be trusted as they are. The message names the file and the reason."""


AFFINE_RTOL = 1e-3
AFFINE_ATOL_MM = 0.01
"""Largest difference between the affines of an image and its label map (relative, and absolute in mm): any more
and the case is left out (:func:`check_case`)."""


def subset_of(case_id: str) -> str:
    """The subset of a case id: the id up to its first ``_`` (``VB3_01`` -> ``VB3``)."""
    return case_id.split("_")[0]


def discover(folders, subsets=()) -> list[CaseRef]:
    """Annotated cases under ``folders`` (searched recursively), sorted by id.

    An image ``<stem>_img.nii.gz`` or ``<stem>.nii.gz`` (or ``.nii``) counts when a label map
    (``<stem>_seg-vert_msk.nii.gz``, ``<stem>_seg.nii.gz``, or the same ending ``.nii``) or a landmarks file
    (``<stem>.landmarks.json``, or ``<stem>_img.landmarks.json`` as ``spinemark predict`` names it) sits beside it.
    The case id is the stem; where two images of a folder share a stem (``patient01/t2.nii.gz``,
    ``patient02/t2.nii.gz``) it is the path below the folder (``patient01/t2``). A file found twice (folders that
    overlap) counts once.

    Raises:
        InputError: Two different files give one case id (the same names in two data folders).
    """
    found: list[tuple[Path, Path, str, Path | None, Path | None]] = []
    seen: set[Path] = set()
    for folder in folders:
        for img in sorted(Path(folder).rglob("*.nii*")):
            if is_label_map_name(img) or img.resolve() in seen or not img.is_file():
                continue
            name = img.name
            stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else name[: -len(".nii")]
            case_id = stem[: -len("_img")] if stem.endswith("_img") else stem
            labels = next((img.parent / (case_id + s) for s in MASK_SUFFIXES if (img.parent / (case_id + s)).is_file()),
                          None)
            lm = next((img.parent / f"{s}.landmarks.json" for s in dict.fromkeys((case_id, stem))
                       if (img.parent / f"{s}.landmarks.json").is_file()), None)
            if labels is None and lm is None:
                continue
            seen.add(img.resolve())
            found.append((Path(folder), img, case_id, labels, None if labels else lm))
    stems = Counter(case_id for _, _, case_id, _, _ in found)
    refs: dict[str, CaseRef] = {}
    for folder, img, case_id, labels, lm in found:
        if stems[case_id] > 1:
            case_id = (img.parent.relative_to(folder) / case_id).as_posix()
        if subsets and not any(case_id.startswith(s) for s in subsets):
            continue
        if case_id in refs:
            raise InputError(img, f"case id {case_id!r} also names {refs[case_id].image}: give each annotated "
                                  "image its own name (a case id is its file name, or its path below its folder)")
        refs[case_id] = CaseRef(case_id, str(img), str(labels) if labels else None, str(lm) if lm else None)
    return [refs[k] for k in sorted(refs)]


def world_landmarks(ref: CaseRef) -> dict[str, np.ndarray]:
    """Labelled vertebral body centres of a case in world mm (the coccyx left out).

    A label map is read as ``spinemark evaluate`` reads a truth (:func:`spinemark.evaluate.report.load_truth`): its
    vertebrae cut by the image edge are left out (a cut body's centroid is not its centre; left out, its level lies
    beyond the labelled span and is masked out of the loss), and a map with discs but no bodies (such as the IVD set)
    gives the bodies between two labelled discs.

    Raises:
        InputError: The label map or landmarks file cannot be read as such.
    """
    return annotation(ref)[0]


def annotation(ref: CaseRef) -> tuple[dict[str, np.ndarray], list[str]]:
    """:func:`world_landmarks`, and the notes of a label map on its centres (bodies derived from discs, vertebrae left
    out as cut: :func:`spinemark.evaluate.report.load_truth`), which are also logged.

    Raises:
        InputError: The label map or landmarks file cannot be read as such.
    """
    from spinemark.evaluate.report import load_truth

    truth = load_truth(ref.labels, drop_cut=True) if ref.labels else read_landmarks(ref.landmarks)
    notes = list(truth.warnings) if ref.labels else []  # a landmarks file's warnings are its prediction's
    if notes:
        log.info("%s: %s", ref.labels, "; ".join(notes))
    return {p.name: np.asarray(p.position_mm, dtype=np.float64) for p in truth.vertebrae() if p.name != "Co"}, notes


def _tissue_ids() -> set[int]:
    """Ids of the other tissues of phantom label maps (``spinemark synth``): no vertebrae, but no unknown ids."""
    from spinemark.synth.config import TISSUES

    return set(TISSUES.values())


def skipped_levels(names) -> list[str]:
    """Levels of standard anatomy between two of ``names`` that ``names`` leaves out (T13 and L6 count only when
    named; L4 -> S1 and T11 -> L1 are the four-lumbar and eleven-thoracic variants, not gaps)."""
    names = anatomy.sort_names(names)
    seq = anatomy.sequence_of(names)
    out = []
    for upper, lower in zip(names, names[1:]):
        if (upper, lower) not in anatomy.REFERENCE_SPACING_MM:
            out += seq[seq.index(upper) + 1:seq.index(lower)]
    return out


def check_case(ref: CaseRef) -> None:
    """Check that a case can be trained on as it is (see :class:`UnusableCase`).

    Also logs a warning for a landmark of a landmarks file that lies more than a voxel outside its image.

    Raises:
        UnusableCase: Its image, label map or landmarks file cannot be read; its label map holds ids that are not
            in the label table (:mod:`spinemark.anatomy`), or its shape or affine differs from its image's (beyond
            :data:`AFFINE_RTOL` / :data:`AFFINE_ATOL_MM`); a landmark of its landmarks file is not a vertebra of
            the table; it labels fewer than two levels, or leaves out a level between two it labels (which would
            be taught as background).
    """
    annotation = ref.labels or ref.landmarks
    try:
        image = load_volume(ref.image)
        if ref.labels:
            _check_label_map(ref, image)
        bodies = world_landmarks(ref)
    except UnusableCase:
        raise
    except InputError as exc:
        raise UnusableCase(exc.path, exc.problem) from None
    if ref.landmarks:
        for name, p in bodies.items():
            v = image.world_to_voxel(p)
            if np.any(v < -1) or np.any(v > np.array(image.shape)):
                log.warning("%s: landmark %s at %s mm lies outside its image %s (voxel %s)", ref.landmarks, name,
                            np.round(p, 1).tolist(), ref.image, np.round(v, 1).tolist())
    if len(bodies) < 2:
        raise UnusableCase(annotation, f"labels {len(bodies)} level(s) {anatomy.sort_names(bodies)}: the labelled "
                                       "span needs two levels (without it every unlabelled level in view would be "
                                       "taught as background)")
    skipped = skipped_levels(bodies)
    if skipped:
        names = anatomy.sort_names(bodies)
        raise UnusableCase(annotation, f"labels {', '.join(names)} but not {', '.join(skipped)} between them: an "
                                       "unlabelled level inside the labelled span would be taught as background "
                                       "(label it, or leave the levels beyond the gap out)")


def _check_label_map(ref: CaseRef, image) -> None:
    """The label map of ``ref`` fits ``image`` and holds only ids of the label table (see :func:`check_case`)."""
    lab = load_volume(ref.labels)
    if lab.shape != image.shape:
        raise UnusableCase(ref.labels, f"label map of shape {lab.shape} does not match its image {ref.image} "
                                       f"of shape {image.shape}")
    if not np.allclose(lab.affine, image.affine, rtol=AFFINE_RTOL, atol=AFFINE_ATOL_MM):
        diff = float(np.abs(lab.affine - image.affine).max())
        raise UnusableCase(ref.labels, f"label map affine differs from that of its image {ref.image} (largest "
                                       f"entry difference {diff:.3g}, tolerance {AFFINE_RTOL} relative and "
                                       f"{AFFINE_ATOL_MM} mm): its centroids would land in the wrong place")
    known = _tissue_ids()
    unknown = [int(i) for i in np.unique(np.asarray(lab.data)) if i != 0 and not (
        i == int(i) and (anatomy.is_vertebra(int(i)) or anatomy.is_disc(int(i)) or int(i) in known))]
    if unknown:
        raise UnusableCase(ref.labels, f"label ids {unknown} are not in the label table (vertebrae 1..32, "
                                       "discs 100 + the id of the vertebra above: `spinemark info --labels`)")


def labelled_span(landmarks: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Disc planes bounding the labelled levels (see :class:`Case`); None with fewer than two levels."""
    names = anatomy.sort_names(landmarks)
    if len(names) < 2:
        return None
    p = [np.asarray(landmarks[n], dtype=np.float64) for n in names]
    up = p[0] - p[1]
    down = p[-1] - p[-2]
    return (p[0] + 0.5 * up, up / np.linalg.norm(up), p[-1] + 0.5 * down, down / np.linalg.norm(down))


def load_case(ref: CaseRef, spacing_mm: float, cache_dir: str | None = None,
              extra: dict[str, list[float]] | None = None) -> Case:
    """Read and preprocess one real case (cached on disk when ``cache_dir`` is given).

    ``extra``: more labelled centres (name -> world mm) added to those of the label map or landmarks file.
    """
    extra = {n: [float(c) for c in p] for n, p in sorted((extra or {}).items())}
    # v2: the label notes stored; v3: bodies from discs on the curve through them (session 32)
    key_src = f"{ref}|{spacing_mm}|v3" + (f"|{json.dumps(extra)}" if extra else "")
    key = hashlib.sha1(key_src.encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"{ref.case_id.replace('/', '__')}_{key}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        z = np.load(cache, allow_pickle=False)
        names = [str(n) for n in z["names"]]
        landmarks = {n: z["positions"][i] for i, n in enumerate(names)}
        return Case(ref.case_id, "real", z["image"].astype(np.float32), landmarks, labelled_span(landmarks),
                    tuple(str(n) for n in z["notes"]))
    canon = canonical_input(load_volume(ref.image), spacing_mm)
    world, notes = annotation(ref)
    world |= {n: np.asarray(p) for n, p in extra.items()}
    landmarks = {n: canon.world_to_voxel(p) for n, p in world.items()}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        names = sorted(landmarks)
        np.savez_compressed(cache, image=canon.data.astype(np.float16), names=np.array(names),
                            positions=np.array([landmarks[n] for n in names]).reshape(-1, 3),
                            notes=np.array(notes, dtype=str))
    return Case(ref.case_id, "real", canon.data, landmarks, labelled_span(landmarks), tuple(notes))


def phantom_case(seed: int, preset: str, spacing_mm: float) -> Case:
    """Draw one phantom from :mod:`spinemark.synth` and preprocess it (every level labelled)."""
    from spinemark.synth import make_phantom

    ph = make_phantom(preset=preset, seed=int(seed))
    canon = canonical_input(ph.image, spacing_mm)
    landmarks = {p.name: canon.world_to_voxel(p.position_mm) for p in ph.landmarks
                 if not p.is_disc and p.name != "Co"}
    return Case(f"phantom_{preset}_{seed}", "phantom", canon.data, landmarks, None)


def synth_available() -> bool:
    """True when the phantom generator can be imported."""
    try:
        from spinemark.synth import make_phantom  # noqa: F401
    except ImportError:
        return False
    return True


def read_extra_landmarks(path: str | None) -> dict[str, dict[str, list[float]]]:
    """Case id -> {name: world mm} from an extra-landmarks file (``TrainConfig.extra_landmarks``); {} for None.

    Raises:
        FileNotFoundError: No such file.
        InputError: Not a JSON object holding a ``"landmarks"`` object of case id: {name: [x, y, z]}, or a name that
            is no vertebra.
    """
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"extra landmarks file {p} not found")
    try:
        doc = json.loads(p.read_text())
    except ValueError as exc:
        raise InputError(p, f"not valid JSON ({exc})") from exc
    cases = doc.get("landmarks") if isinstance(doc, dict) else None
    if not isinstance(cases, dict) or not all(isinstance(points, dict) for points in cases.values()):
        raise InputError(p, 'not an extra-landmarks file: expected {"landmarks": {case id: {name: [x, y, z] (world '
                            'mm)}}}')
    for case_id, points in cases.items():
        for name, pos in points.items():
            if not isinstance(pos, list) or len(pos) != 3:
                raise InputError(p, f"landmark {name} of {case_id} is not three coordinates")
            try:
                anatomy.level(name)
            except KeyError as exc:
                raise InputError(p, f"{case_id}: {exc.args[0]}") from None
    return cases


def read_split(split: str | None) -> dict:
    """A split file by path or packaged name; ``{}`` for None."""
    if split is None:
        return {}
    p = Path(split)
    if not p.is_file():
        from importlib import resources

        p = Path(str(resources.files("spinemark.train") / "splits" / f"{split}.json"))
    if not p.is_file():
        raise FileNotFoundError(f"split {split!r} not found (neither a file nor a packaged split)")
    return json.loads(p.read_text())


def validation_ids(split: str | None) -> set[str]:
    """The validation case ids of a split (:func:`read_split`): its ``"validation"`` (or ``"val"``) list; empty for
    None.

    Raises:
        FileNotFoundError: No such split.
        ValueError: The split is not a JSON object holding one such list of case ids (the message names it).
    """
    if split is None:
        return set()
    try:
        doc = read_split(split)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"split {split!r}: not valid JSON ({exc})") from exc
    keys = [k for k in ("validation", "val") if isinstance(doc, dict) and k in doc]
    ids = doc[keys[0]] if len(keys) == 1 else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError(f'split {split!r}: expected a JSON object with one list of case ids under "validation" (or '
                         f'"val"), such as {{"validation": ["VB3_01", "VB3_02"]}}')
    return set(ids)
