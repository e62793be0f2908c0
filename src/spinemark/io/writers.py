"""Writers (and readers) of the landmark formats, and the all-or-nothing output step of a prediction.

Formats, by key used in ``--formats``:

- ``json``: ``<stem>.landmarks.json``, the contract of DESIGN.md (``spinemark.landmarks/1``).
- ``csv``: ``<stem>.csv``, one row per landmark.
- ``mrk``: ``<stem>.mrk.json``, a 3D Slicer markups point list (LPS, as Slicer writes it).
- ``verse``: ``<stem>_ctd.json``, VerSe-style centroids (voxel indices + the image's axis codes).
- ``labels``: ``<stem>_labels.nii.gz``, a label map on the input grid with a small sphere per landmark.
- ``qc``: ``<stem>_qc.png``, a sagittal picture with every landmark drawn and named, and the confidence and
  warnings below it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spinemark import anatomy
from spinemark.errors import InputError, OutputError
from spinemark.landmarks import Landmark, Landmarks
from spinemark.volume import Geometry, Volume

LANDMARKS_FORMAT = "spinemark.landmarks/1"
SLICER_SCHEMA = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/"
    "markups-schema-v1.0.3.json#"
)
RAS_TO_LPS = np.array([-1.0, -1.0, 1.0])


@dataclass
class OutputInfo:
    """What a writer needs besides the landmarks: where the image came from and who made the result."""

    method: str = ""
    model: dict = field(default_factory=dict)
    image_path: str | None = None
    known: Landmarks | None = None
    """Vertebrae a person named (``spinemark predict --known``); recorded as ``known_levels``."""


# ---------------------------------------------------------------- landmarks JSON (the contract)


def landmarks_to_dict(lms: Landmarks, info: OutputInfo | None = None) -> dict:
    """The ``spinemark.landmarks/1`` document for ``lms`` (see DESIGN.md)."""
    info = info or OutputInfo()
    geom = lms.geometry
    image = {"path": info.image_path or (geom.path if geom else None)}
    if geom is not None:
        image["path"] = Path(image["path"]).name if image["path"] else None
        image["shape"] = [int(s) for s in geom.shape]
        image["affine"] = np.asarray(geom.affine, dtype=float).round(6).tolist()
    rows = []
    for p in lms:
        row = {"name": p.name, "id": p.id, "position_mm": [round(v, 3) for v in p.position_mm]}
        if geom is not None:
            row["voxel"] = [round(float(v), 3) for v in geom.world_to_voxel(p.position_mm)]
        row["confidence"] = round(p.confidence, 4)
        rows.append(row)
    doc = {
        "format": LANDMARKS_FORMAT,
        "image": image,
        "coordinate_system": "RAS",
        "method": info.method,
        "model": info.model,
        "landmarks": rows,
        "warnings": list(lms.warnings),
    }
    if info.known:
        doc["known_levels"] = [{"name": p.name, "position_mm": [round(v, 3) for v in p.position_mm]}
                               for p in info.known]
    return doc


def landmarks_from_dict(doc: dict, path=None) -> Landmarks:
    """Parse a ``spinemark.landmarks/1`` document (a hand-written one may leave out ``format``: ``{"landmarks":
    [{"name": "L5", "position_mm": [x, y, z]}, ...]}``)."""
    if not isinstance(doc, dict) or doc.get("format", LANDMARKS_FORMAT) != LANDMARKS_FORMAT:
        raise InputError(path, f"not a {LANDMARKS_FORMAT} document")
    if doc.get("coordinate_system", "RAS") != "RAS":
        raise InputError(path, f"unsupported coordinate system {doc.get('coordinate_system')!r}")
    img = doc.get("image") or {}
    geom = None
    try:
        if "shape" in img and "affine" in img:
            geom = Geometry(tuple(int(n) for n in img["shape"]), np.asarray(img["affine"], dtype=float).reshape(4, 4),
                            img.get("path"))
        warnings = doc.get("warnings", [])
        if isinstance(warnings, str) or not all(isinstance(w, str) for w in warnings):
            raise TypeError("'warnings' is not a list of strings")
    except (TypeError, ValueError) as exc:
        raise InputError(path, f"malformed image or warnings block ({exc})") from exc
    try:
        pts = [Landmark(r["name"], r["position_mm"], r.get("confidence", 1.0)) for r in doc["landmarks"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(path, f"malformed landmark entry ({exc})") from exc
    try:
        return Landmarks(pts, geom, list(warnings))
    except ValueError as exc:  # a name twice
        raise InputError(path, str(exc)) from exc


def read_landmarks(path: str | Path) -> Landmarks:
    """Read landmarks from a ``.landmarks.json``, Slicer ``.mrk.json`` or VerSe centroid JSON.

    VerSe files give voxel indices, so they need the image geometry; those are read with
    :func:`read_verse_centroids` instead.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise InputError(p, "no such file") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(p, f"not a readable JSON file ({exc})") from exc
    if isinstance(doc, dict) and "markups" in doc:
        return slicer_markups_to_landmarks(doc, p)
    return landmarks_from_dict(doc, p)


def read_known_levels(specs) -> Landmarks:
    """Vertebrae whose names a person knows, from ``NAME:X,Y,Z`` strings (RAS mm, e.g. ``L3:12.5,-30,41``) or
    landmark files (``.landmarks.json``, Slicer ``.mrk.json``; every point of the file).

    Raises:
        InputError: A string that is neither, an unknown vertebra name, a point that is not finite, a name given
            twice, or an unreadable file.
    """
    points: list[Landmark] = []
    for spec in specs:
        name, sep, rest = str(spec).partition(":")
        coords = rest.split(",")
        if sep and len(coords) == 3 and not Path(spec).exists():
            try:
                points.append(Landmark(name.strip(), [float(c) for c in coords]))
            except (KeyError, ValueError) as exc:
                raise InputError(None, f"known level {spec!r}: {exc.args[0] if exc.args else exc}") from exc
        elif Path(spec).is_file() or str(spec).lower().endswith(".json"):
            points += read_landmarks(spec).points  # a missing file: "no such file"
        else:
            raise InputError(spec, "known level is neither NAME:X,Y,Z (RAS mm) nor a landmarks or markups file")
    try:
        return Landmarks(points)
    except ValueError as exc:
        raise InputError(None, f"known levels: {exc}") from exc


# ---------------------------------------------------------------- CSV

CSV_COLUMNS = ["name", "id", "x_mm", "y_mm", "z_mm", "i", "j", "k", "confidence"]


def landmarks_to_csv(lms: Landmarks) -> str:
    """One row per landmark: name, id, RAS mm, voxel indices in the input grid, confidence."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for p in lms:
        ijk = lms.geometry.world_to_voxel(p.position_mm) if lms.geometry else [np.nan] * 3
        w.writerow([p.name, p.id, *(f"{v:.3f}" for v in p.position_mm), *(f"{v:.3f}" for v in ijk), f"{p.confidence:.4f}"])
    return buf.getvalue()


# ---------------------------------------------------------------- 3D Slicer markups


def landmarks_to_slicer_markups(lms: Landmarks) -> dict:
    """A Slicer markups point list (``.mrk.json``) with one control point per landmark, in LPS."""
    points = []
    for n, p in enumerate(lms, start=1):
        points.append({
            "id": str(n),
            "label": p.name,
            "description": f"id {p.id}, confidence {p.confidence:.3f}",
            "associatedNodeID": "",
            "position": [round(float(v), 3) for v in np.asarray(p.position_mm) * RAS_TO_LPS],
            "orientation": [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0],
            "selected": True,
            "locked": True,
            "visibility": True,
            "positionStatus": "defined",
        })
    return {
        "@schema": SLICER_SCHEMA,
        "markups": [{
            "type": "Fiducial",
            "coordinateSystem": "LPS",
            "coordinateUnits": "mm",
            "locked": False,
            "fixedNumberOfControlPoints": False,
            "labelFormat": "%N-%d",
            "lastUsedControlPointNumber": len(points),
            "controlPoints": points,
            "measurements": [],
            "display": {"visibility": True, "opacity": 1.0, "color": [1.0, 0.9, 0.2], "selectedColor": [1.0, 0.5, 0.1],
                        "pointLabelsVisibility": True, "textScale": 3.0, "glyphType": "Sphere3D", "glyphScale": 2.0},
        }],
    }


def slicer_markups_to_landmarks(doc: dict, path=None) -> Landmarks:
    """Read the first point list of a Slicer markups document (LPS or RAS, mm or um) as landmarks.

    Points not placed in Slicer (``positionStatus`` "undefined" or "preview", a named template's empty slots) are
    left out. A point's confidence is the one spinemark wrote in its description (``id 20, confidence 0.887``), else 1.

    Raises:
        InputError: Not a point list, another coordinate system or unit, a placed point without three numbers, or a
            label that is not a vertebra or disc name (naming the point).
    """
    try:
        mk = doc["markups"][0]
        system = str(mk.get("coordinateSystem", "LPS")).upper()
        units = str(mk.get("coordinateUnits", "mm"))
        points = [dict(cp) for cp in mk.get("controlPoints", [])]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise InputError(path, f"not a Slicer markups point list ({exc})") from exc
    if system not in ("LPS", "RAS"):
        raise InputError(path, f"coordinateSystem {system!r}: LPS or RAS expected")
    if units not in _UNIT_MM:
        raise InputError(path, f"coordinateUnits {units!r}: mm or um expected")
    scale = _UNIT_MM[units] * (RAS_TO_LPS if system == "LPS" else 1.0)
    pts = []
    for n, cp in enumerate(points, 1):
        label = cp.get("label", "")
        if cp.get("positionStatus", "defined") != "defined":
            continue
        try:
            position = np.asarray(cp["position"], dtype=np.float64).reshape(3) * scale
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(path, f"point {n} ({label!r}): its position {cp.get('position')!r} is not three "
                                   "numbers") from exc
        try:
            pts.append(Landmark(label, position, _markup_confidence(cp.get("description"))))
        except (KeyError, ValueError) as exc:
            raise InputError(path, f"point {n} ({label!r}): not a vertebra or disc name, or not a finite point "
                                   f"({exc})") from exc
    try:
        return Landmarks(pts)
    except ValueError as exc:  # a name twice
        raise InputError(path, str(exc)) from exc


_UNIT_MM = {"mm": 1.0, "um": 0.001}
"""Millimetres per unit of a Slicer markups file's ``coordinateUnits``."""

_DESCRIPTION = re.compile(r"id \d+, confidence (\d+(?:\.\d*)?)")
"""The description :func:`landmarks_to_slicer_markups` gives a point."""


def _markup_confidence(description) -> float:
    """The confidence in a point description spinemark wrote, else 1."""
    m = _DESCRIPTION.fullmatch(description.strip()) if isinstance(description, str) else None
    return float(m.group(1)) if m else 1.0


# ---------------------------------------------------------------- VerSe centroids


def landmarks_to_verse(lms: Landmarks) -> list:
    """VerSe-style centroid list: ``[{"direction": axcodes}, {"label": id, "X": i, "Y": j, "Z": k}, ...]``.

    ``X, Y, Z`` are fractional voxel indices along the input image's array axes, and
    ``direction`` is the image's axis codes (nibabel convention), as VerSe tools expect.
    """
    import nibabel as nib

    if lms.geometry is None:
        raise ValueError("VerSe centroids need the image geometry")
    out: list = [{"direction": list(nib.aff2axcodes(lms.geometry.affine))}]
    for p in lms:
        i, j, k = lms.geometry.world_to_voxel(p.position_mm)
        out.append({"label": p.id, "X": round(float(i), 2), "Y": round(float(j), 2), "Z": round(float(k), 2)})
    return out


def read_verse_centroids(path: str | Path, geometry: Geometry) -> Landmarks:
    """Read a VerSe centroid list written on ``geometry`` (the image it belongs to)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
        pts = [
            Landmark(anatomy.id_to_name(int(e["label"])), geometry.voxel_to_world([e["X"], e["Y"], e["Z"]]))
            for e in doc if "label" in e
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(p, f"not a VerSe centroid file ({exc})") from exc
    return Landmarks(pts, geometry)


# ---------------------------------------------------------------- label map


def landmark_label_map(lms: Landmarks, geometry: Geometry, radius_mm: float = 3.0) -> np.ndarray:
    """A uint16 label map on ``geometry`` with a ball of ``radius_mm`` around each landmark, valued its id."""
    out = np.zeros(geometry.shape, dtype=np.uint16)
    sp = geometry.spacing_mm
    for p in lms:
        c = geometry.world_to_voxel(p.position_mm)
        r = np.ceil(radius_mm / sp).astype(int) + 1
        lo = np.maximum(np.floor(c).astype(int) - r, 0)
        hi = np.minimum(np.floor(c).astype(int) + r + 1, geometry.shape)
        if np.any(hi <= lo):
            continue
        grid = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij"), axis=-1)
        world = geometry.voxel_to_world(grid)
        inside = np.linalg.norm(world - np.asarray(p.position_mm), axis=-1) <= radius_mm
        if not inside.any():  # thick slices: keep at least the nearest voxel
            inside = np.zeros_like(inside)
            idx = tuple(np.clip(np.round(c).astype(int) - lo, 0, np.array(inside.shape) - 1))
            inside[idx] = True
        region = out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        region[inside] = p.id
    return out


def nifti_bytes(data: np.ndarray, affine: np.ndarray) -> bytes:
    """A gzipped NIfTI-1 file in memory."""
    import gzip

    import nibabel as nib

    img = nib.Nifti1Image(data, np.asarray(affine, dtype=np.float64))
    img.header.set_xyzt_units("mm", "sec")
    return gzip.compress(img.to_bytes(), compresslevel=6, mtime=0)  # no timestamp: same data, same bytes


def save_volume(volume: Volume, path: str | Path, overwrite: bool = False) -> Path:
    """Write a volume as NIfTI (``.nii`` or ``.nii.gz``), atomically."""
    p = Path(path)
    import nibabel as nib

    if str(p).endswith(".nii.gz"):
        payload = nifti_bytes(volume.data, volume.affine)
    else:
        img = nib.Nifti1Image(volume.data, volume.affine)
        img.header.set_xyzt_units("mm", "sec")
        payload = img.to_bytes()
    write_files({p: payload}, overwrite=overwrite)
    return p


# ---------------------------------------------------------------- all-or-nothing output


FORMATS = {
    "json": ".landmarks.json",
    "csv": ".csv",
    "mrk": ".mrk.json",
    "verse": "_ctd.json",
    "labels": "_labels.nii.gz",
    "qc": "_qc.png",
}
DEFAULT_FORMATS = ("json", "csv", "mrk", "qc")


def output_paths(outdir: str | Path, stem: str, formats) -> dict[str, Path]:
    """Where each format of one input goes."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown output format(s) {unknown}; choose from {sorted(FORMATS)}")
    return {f: Path(outdir) / f"{stem}{FORMATS[f]}" for f in formats}


def render_outputs(lms: Landmarks, formats, image: Volume | None = None, info: OutputInfo | None = None) -> dict[str, bytes]:
    """Serialize ``lms`` in each format (in memory): format key -> file content."""
    out: dict[str, bytes] = {}
    for f in formats:
        if f == "json":
            out[f] = json.dumps(landmarks_to_dict(lms, info), indent=1).encode()
        elif f == "csv":
            out[f] = landmarks_to_csv(lms).encode()
        elif f == "mrk":
            out[f] = json.dumps(landmarks_to_slicer_markups(lms), indent=1).encode()
        elif f == "verse":
            out[f] = json.dumps(landmarks_to_verse(lms), indent=1).encode()
        elif f == "labels":
            geom = lms.geometry or (image.source if image is not None else None)
            out[f] = nifti_bytes(landmark_label_map(lms, geom), geom.affine)
        elif f == "qc":
            from spinemark.io.qc import qc_png

            if image is None:
                raise ValueError("the QC picture needs the image")
            out[f] = qc_png(image, lms, title=(info.image_path if info and info.image_path else None),
                            known=info.known if info else None)
        else:
            raise ValueError(f"unknown output format {f!r}")
    return out


def check_targets(paths: Iterable[str | Path], overwrite: bool = False) -> None:
    """Refuse output paths that are folders, or that exist when not ``overwrite``: the check before any is written.

    Raises:
        OutputError: Naming the first such path.
    """
    for p in map(Path, paths):
        if p.is_dir():
            raise OutputError(p, "is a folder, not a file name")
        if p.exists() and not overwrite:
            raise OutputError(p, "output exists; use --overwrite to replace it")


def write_files(contents: dict[Path, bytes], overwrite: bool = False) -> list[Path]:
    """Write several files all or nothing: refuse existing ones without ``overwrite``, write to
    temporary names in the target folder, then rename each into place.

    Raises:
        OutputError: An output exists (and ``overwrite`` is false), is a folder, or the folder is not writable.
    """
    paths = [Path(p) for p in contents]
    check_targets(paths, overwrite)
    temps: list[tuple[str, Path]] = []
    try:
        for p, data in contents.items():
            p = Path(p)
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
                tmp = str(p.parent / f".{p.name}.{uuid.uuid4().hex[:12]}.part")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # usual permissions (umask)
            except OSError as exc:
                raise OutputError(p.parent, f"cannot write to output folder ({exc.strerror or exc})") from exc
            temps.append((tmp, p))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        for tmp, p in temps:
            os.replace(tmp, p)
    except BaseException:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    return paths
