"""Find prediction and truth files in two folders and pair them by a common key.

Pairing rule. The key of a file is its name without

1. its file suffix: ``.landmarks.json``, ``.mrk.json``, ``.nii.gz``, ``.nii``, ``.nrrd``, ``.mha``, ...;
2. then the trailing words that make it a label-map name (:func:`spinemark.io.readers.is_label_map_name`: a word
   of ``LABEL_MAP_WORDS`` such as ``seg``, ``seg-vert``, ``msk``, ``labeled``, with any ``LABEL_MAP_QUALIFIERS``
   after it), as long as the name stays one; the first word always stays;
3. then a trailing ``_img`` or ``_image``.

So ``VB3_01_img.landmarks.json`` (the prediction for ``VB3_01_img.nii.gz``) pairs with
``VB3_01_seg-vert_msk.nii.gz`` (key ``VB3_01``), ``scan.landmarks.json`` with ``scan.nii.gz``, and
``t2.landmarks.json`` with SCT's ``t2_seg-manual_labeled.nii.gz``.

Predictions are ``<stem>.landmarks.json`` (a Slicer ``<stem>.mrk.json`` is used only where no
``.landmarks.json`` of that key exists). In the truth folder, per key, the first kind found wins:
``.landmarks.json``, then ``.mrk.json``, then a mask (an image named as a label map,
:func:`spinemark.io.readers.is_label_map_name`), then any other image, which must then be a label image.
So a dataset folder that holds ``X_img.nii.gz`` beside ``X_seg-vert_msk.nii.gz`` uses the mask. VerSe
``_ctd.json`` files are ignored. Both folders are searched recursively, each leaving out the other where it lies
inside it (``--truth data --pred data/preds``); two files of one kind with the same key are an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from spinemark.errors import InputError
from spinemark.io.readers import LABEL_MAP_QUALIFIERS, LABEL_MAP_WORDS, image_suffix, is_label_map_name

IMAGE_TAGS = ("img", "image")
"""Words that end an image's name (``VB3_01_img.nii.gz``); pairing strips them after the label-map words."""

# Truth kinds, by priority (lower wins).
_KIND_RANK = {"landmarks": 0, "mrk": 1, "mask": 2, "image": 3}


@dataclass(frozen=True)
class Pair:
    """A prediction file and its truth file, with their common key; ``pred`` None: no prediction for this truth
    (every vertebra of it is missed)."""

    key: str
    pred: Path | None
    truth: Path


def file_kind(path: str | Path) -> tuple[str, str] | None:
    """``(kind, stem)`` of a file spinemark can evaluate, or ``None``.

    Kinds: ``landmarks`` (``.landmarks.json``), ``mrk`` (Slicer ``.mrk.json``), ``mask`` (image whose
    stem holds a mask marker) and ``image`` (any other image).
    """
    name = Path(path).name
    low = name.lower()
    if low.endswith(".landmarks.json"):
        return "landmarks", name[: -len(".landmarks.json")]
    if low.endswith(".mrk.json"):
        return "mrk", name[: -len(".mrk.json")]
    suf = image_suffix(name)
    if suf:
        stem = name[: len(name) - len(suf)]
        return ("mask" if is_label_map_name(name) else "image"), stem
    return None


def pair_key(path: str | Path) -> str:
    """The pairing key of a file (see the module docstring).

    Example:
        >>> pair_key("VB3_01_seg-vert_msk.nii.gz"), pair_key("VB3_01_img.landmarks.json")
        ('VB3_01', 'VB3_01')
    """
    kind = file_kind(path)
    words = (kind[1] if kind else Path(path).name).split("_")
    while len(words) > 1:  # the grammar of is_label_map_name, over and over: t2_seg-manual_labeled -> t2
        n = len(words)
        while n > 2 and words[n - 1].lower() in LABEL_MAP_QUALIFIERS:
            n -= 1
        if words[n - 1].lower().split("-")[0] not in LABEL_MAP_WORDS:
            break
        words = words[: n - 1]
    if len(words) > 1 and words[-1].lower() in IMAGE_TAGS:
        words.pop()
    return "_".join(words)


def _walk(folder: Path, skip: Path) -> list[Path]:
    """The files below ``folder``, leaving out the folder ``skip`` (resolved) where it lies inside."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if (Path(root) / d).resolve() != skip)
        out += [Path(root) / f for f in sorted(files) if not f.startswith(".")]
    return out


def _index(folder: Path, kinds: tuple[str, ...], skip: Path) -> tuple[dict[str, Path], list[str], set[str]]:
    """Best file per key among ``kinds`` (outside the folder ``skip``); errors for ambiguous keys, and those keys."""
    best: dict[str, tuple[int, Path]] = {}
    clashes: dict[str, list[Path]] = {}
    for f in _walk(folder, skip):
        k = file_kind(f)
        if k is None or k[0] not in kinds:
            continue
        key, rank = pair_key(f), _KIND_RANK[k[0]]
        if key not in best or rank < best[key][0]:
            best[key] = (rank, f)
            clashes.pop(key, None)
        elif rank == best[key][0]:
            clashes.setdefault(key, [best[key][1]]).append(f)
    errors = [
        str(InputError(files[0], f"key {key!r} is shared by {', '.join(str(p) for p in files[1:])}; rename one"))
        for key, files in sorted(clashes.items())
    ]
    return {k: v[1] for k, v in best.items() if k not in clashes}, errors, set(clashes)


def find_pairs(pred_dir: str | Path, truth_dir: str | Path) -> tuple[list[Pair], list[str]]:
    """Pair the prediction files of ``pred_dir`` with the truth files of ``truth_dir``.

    Returns:
        The pairs sorted by key, a truth without prediction among them (``pred`` None: a failed or missing
        prediction, scored as every vertebra missed), and one error message (naming the file) per prediction
        without truth, truth without prediction, or ambiguous key.

    Raises:
        InputError: A folder is missing, or holds no usable file at all.
    """
    pred_dir, truth_dir = Path(pred_dir), Path(truth_dir)
    for d, what in ((pred_dir, "prediction"), (truth_dir, "truth")):
        if d.is_file():
            raise InputError(d, f"is a file: give the {what} folder that holds it ({d.parent})")
        if not d.is_dir():
            raise InputError(d, f"{what} folder does not exist")
    preds, perr, ambiguous = _index(pred_dir, ("landmarks", "mrk"), truth_dir.resolve())
    truths, terr, truth_ambiguous = _index(truth_dir, ("landmarks", "mrk", "mask", "image"), pred_dir.resolve())
    if not preds and not perr:
        raise InputError(pred_dir, "no prediction files (<stem>.landmarks.json or <stem>.mrk.json) found")
    if not truths and not terr:
        raise InputError(truth_dir, "no truth files (label images, .landmarks.json or .mrk.json) found")
    errors = perr + terr
    pairs = [Pair(k, preds.get(k), truths[k]) for k in sorted(truths) if k not in ambiguous]
    errors += [str(InputError(preds[k], f"no truth file with key {k!r} in {truth_dir}")) for k in sorted(preds)
               if k not in truths and k not in truth_ambiguous]
    errors += [str(InputError(truths[k], f"no prediction file with key {k!r} in {pred_dir}: every vertebra counted as "
                                         "missed")) for k in sorted(truths) if k not in preds and k not in ambiguous]
    return pairs, errors
