"""The label registry: every vertebra and disc name, id, region, order and colour.

Everything in spinemark that needs a label (networks, decoding, writers, the CLI and
the docs) reads this module, so the vocabulary cannot drift apart.

Ids follow the VerSe convention, extended: C1..C7 = 1..7, T1..T12 = 8..19,
L1..L5 = 20..24, L6 = 25, S1 = 26, coccyx = 27, T13 = 28, S2..S5 = 29..32 and a disc
is 100 + the id of the vertebra above it.

Example:
    >>> from spinemark import anatomy
    >>> anatomy.name_to_id("L5"), anatomy.id_to_name(26)
    (24, 'S1')
    >>> anatomy.disc_name(124)
    'L5/S1'
    >>> anatomy.standard_sequence(n_lumbar=6)[-8:-4]
    ('L4', 'L5', 'L6', 'S1')
"""

from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass

DISC_OFFSET = 100

REGIONS = ("cervical", "thoracic", "lumbar", "sacral", "coccygeal")


@dataclass(frozen=True)
class Level:
    """One vertebra of the registry.

    Attributes:
        name: Anatomical name, e.g. ``"L5"``.
        id: Label id used in label maps (VerSe convention, extended).
        region: One of :data:`REGIONS`.
        order: Position along the spine, cranial to caudal (C1 = 0). Variant levels
            (T13, L6) sit between their neighbours, so sorting by ``order`` always
            gives the anatomical sequence.
        variant: True for levels that exist only in transitional anatomy (T13, L6).
        colour: RGB in 0..1 for pictures.
    """

    name: str
    id: int
    region: str
    order: float
    variant: bool
    colour: tuple[float, float, float]


def _colour(index: int) -> tuple[float, float, float]:
    # Golden-angle hue steps keep neighbouring levels visibly different.
    hue = (index * 0.381966) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 1.0)
    return (round(r, 3), round(g, 3), round(b, 3))


def _build() -> tuple[Level, ...]:
    rows: list[tuple[str, int, str, float, bool]] = []
    for k in range(1, 8):
        rows.append((f"C{k}", k, "cervical", k - 1, False))
    for k in range(1, 13):
        rows.append((f"T{k}", 7 + k, "thoracic", 6 + k, False))
    rows.append(("T13", 28, "thoracic", 18.5, True))
    for k in range(1, 6):
        rows.append((f"L{k}", 19 + k, "lumbar", 18 + k, False))
    rows.append(("L6", 25, "lumbar", 23.5, True))
    rows.append(("S1", 26, "sacral", 24, False))
    for k in range(2, 6):
        rows.append((f"S{k}", 27 + k, "sacral", 23 + k, False))
    rows.append(("Co", 27, "coccygeal", 29, False))
    rows.sort(key=lambda r: r[3])
    return tuple(
        Level(name, id_, region, float(order), variant, _colour(i))
        for i, (name, id_, region, order, variant) in enumerate(rows)
    )


LEVELS: tuple[Level, ...] = _build()
"""All vertebrae, sorted cranial to caudal."""

_BY_NAME = {lv.name: lv for lv in LEVELS}
_BY_ID = {lv.id: lv for lv in LEVELS}
_ALIASES = {"COCCYX": "Co", "CO": "Co", "CO1": "Co"}

VERTEBRA_NAMES: tuple[str, ...] = tuple(lv.name for lv in LEVELS)
VERTEBRA_IDS: tuple[int, ...] = tuple(lv.id for lv in LEVELS)


def level(key: str | int) -> Level:
    """Return the :class:`Level` for a vertebra name or id.

    Raises:
        KeyError: If ``key`` names no vertebra (discs are not levels; see :func:`disc_name`).
    """
    if isinstance(key, str):
        k = key.strip().upper()
        k = _ALIASES.get(k, k)
        if k in _BY_NAME:
            return _BY_NAME[k]
        raise KeyError(f"unknown vertebra name {key!r}")
    if int(key) in _BY_ID:
        return _BY_ID[int(key)]
    raise KeyError(f"unknown vertebra id {key!r}")


def name_to_id(name: str) -> int:
    """Label id of a vertebra or disc name (``"L4/L5"`` gives 123)."""
    if "/" in name:
        upper = name.split("/")[0]
        return DISC_OFFSET + level(upper).id
    return level(name).id


def id_to_name(label_id: int) -> str:
    """Name of a vertebra or disc id (123 gives ``"L4/L5"``)."""
    label_id = int(label_id)
    if is_disc(label_id):
        return disc_name(label_id)
    return level(label_id).name


def is_disc(label_id: int) -> bool:
    """True when ``label_id`` is a disc id (100 + a vertebra id; none below the coccyx)."""
    upper = _BY_ID.get(int(label_id) - DISC_OFFSET)
    return upper is not None and upper.name != "Co"


def is_vertebra(label_id: int) -> bool:
    """True when ``label_id`` is a vertebra id of the registry."""
    return int(label_id) in _BY_ID


def disc_id(upper: str | int) -> int:
    """Disc id below the given vertebra (``disc_id("L4") == 123``)."""
    return DISC_OFFSET + level(upper).id


def disc_name(label_id: int) -> str:
    """Name of a disc id, e.g. ``"L5/S1"``: the upper vertebra and its standard neighbour below.

    The lower name follows the standard sequence, except that a variant upper level
    (T13, L6) is followed by its own caudal neighbour (T13/L1, L6/S1).
    """
    upper = level(int(label_id) - DISC_OFFSET)
    seq = sequence_of([upper.name])
    i = seq.index(upper.name)
    lower = seq[i + 1] if i + 1 < len(seq) else "?"
    return f"{upper.name}/{lower}"


def canonical_name(name: str) -> str:
    """The registry spelling of a vertebra or disc name (``"l5"`` -> ``"L5"``).

    A disc keeps the neighbours it was given, so variant anatomy is named truly
    (``"L5/L6"`` in a lumbarized spine, where the standard name of id 124 is ``"L5/S1"``).

    Raises:
        KeyError: A part is not a vertebra, or the lower part is not caudal to the upper one.
    """
    if "/" not in name:
        return level(name).name
    upper_raw, lower_raw = name.split("/", 1)
    upper, lower = level(upper_raw), level(lower_raw)
    if lower.order <= upper.order:
        raise KeyError(f"disc name {name!r}: {lower.name} is not below {upper.name}")
    return f"{upper.name}/{lower.name}"


def order(key: str | int) -> float:
    """Position of a vertebra along the spine, cranial to caudal (C1 = 0)."""
    return level(key).order


def region(key: str | int) -> str:
    """Region of a vertebra: cervical, thoracic, lumbar, sacral or coccygeal."""
    return level(key).region


def sort_names(names) -> list[str]:
    """Sort vertebra names cranial to caudal."""
    return sorted(names, key=order)


def standard_sequence(
    n_cervical: int = 7, n_thoracic: int = 12, n_lumbar: int = 5, n_sacral: int = 5, coccyx: bool = False
) -> tuple[str, ...]:
    """The vertebrae of one spine, cranial to caudal, for a given count of each region.

    ``n_thoracic=13`` adds T13, ``n_lumbar=6`` adds L6 (lumbarization), ``n_lumbar=4``
    drops L5 (sacralization), ``n_thoracic=11`` drops T12.
    """
    if not (11 <= n_thoracic <= 13 and 4 <= n_lumbar <= 6 and 1 <= n_sacral <= 5 and 0 <= n_cervical <= 7):
        raise ValueError("unsupported vertebra counts")
    seq = [f"C{k}" for k in range(1, n_cervical + 1)]
    seq += [f"T{k}" for k in range(1, min(n_thoracic, 12) + 1)] + (["T13"] if n_thoracic == 13 else [])
    seq += [f"L{k}" for k in range(1, min(n_lumbar, 5) + 1)] + (["L6"] if n_lumbar == 6 else [])
    seq += [f"S{k}" for k in range(1, n_sacral + 1)]
    if coccyx:
        seq.append("Co")
    return tuple(seq)


# Distance (mm) from a vertebral body's centre to the next one caudally in the reference adult spine: the phantom
# model's sizes at body scale 1 (:mod:`spinemark.synth.spine_model`; a test keeps the two equal). VB3's lumbar
# spacings (L1..L5 of its training-side subjects: 34.8, 36.3, 37.1, 36.2 mm) agree within 1.6 mm.
REFERENCE_SPACING_MM = {
    ("C1", "C2"): 11.0, ("C2", "C3"): 22.2, ("C3", "C4"): 19.4, ("C4", "C5"): 19.5, ("C5", "C6"): 19.7,
    ("C6", "C7"): 19.9, ("C7", "T1"): 21.3, ("T1", "T2"): 21.3, ("T2", "T3"): 22.2, ("T3", "T4"): 23.0,
    ("T4", "T5"): 23.9, ("T5", "T6"): 24.8, ("T6", "T7"): 25.6, ("T7", "T8"): 26.5, ("T8", "T9"): 27.4,
    ("T9", "T10"): 28.2, ("T10", "T11"): 29.1, ("T11", "T12"): 30.0, ("T12", "L1"): 31.5, ("T12", "T13"): 30.0,
    ("T13", "L1"): 31.5, ("T11", "L1"): 31.5, ("L1", "L2"): 35.1, ("L2", "L3"): 36.0, ("L3", "L4"): 36.9,
    ("L4", "L5"): 37.8, ("L5", "L6"): 37.9, ("L5", "S1"): 39.0, ("L6", "S1"): 39.0, ("L4", "S1"): 39.0,
    ("S1", "S2"): 25.5, ("S2", "S3"): 20.5, ("S3", "S4"): 16.0, ("S4", "S5"): 12.5,
}


def sequence_of(names) -> tuple[str, ...]:
    """The vertebrae of standard anatomy with the coccyx, and with T13 or L6 where ``names`` holds it (vertebra names,
    or disc centres keyed by the vertebra above each disc: a T13/L1 or L6/S1 disc)."""
    return standard_sequence(n_thoracic=13 if "T13" in names else 12, n_lumbar=6 if "L6" in names else 5, coccyx=True)


def reference_length_mm(upper: str, lower: str, sequence: tuple[str, ...]) -> float:
    """Reference adult distance from ``upper``'s body centre to ``lower``'s, summed along ``sequence`` (a
    :func:`standard_sequence`) over every vertebra between them, so that levels left out of a chain count."""
    i, j = sequence.index(upper), sequence.index(lower)
    if j <= i:
        raise ValueError(f"{lower} does not lie below {upper}")
    return sum(REFERENCE_SPACING_MM[pair] for pair in zip(sequence[i:j], sequence[i + 1:j + 1]))


def neighbours(name: str, sequence: tuple[str, ...] | None = None) -> tuple[str | None, str | None]:
    """The vertebrae just above and below ``name`` in ``sequence`` (standard anatomy by default)."""
    seq = sequence or sequence_of([name])
    i = seq.index(level(name).name)
    above = seq[i - 1] if i > 0 else None
    below = seq[i + 1] if i + 1 < len(seq) else None
    return above, below


def colour(label_id: int) -> tuple[float, float, float]:
    """Display colour (RGB 0..1) of a vertebra or disc id; a disc is a paler tint of the vertebra above."""
    if is_disc(label_id):
        r, g, b = level(int(label_id) - DISC_OFFSET).colour
        return (round(0.5 + r / 2, 3), round(0.5 + g / 2, 3), round(0.5 + b / 2, 3))
    return level(label_id).colour


def table() -> list[dict]:
    """The registry as a list of plain dicts (for JSON and ``spinemark info --labels``)."""
    rows = []
    for lv in LEVELS:
        row = asdict(lv)
        row["colour"] = list(lv.colour)
        below = disc_id(lv.name)
        row["disc_below"] = {"id": below, "name": disc_name(below)} if is_disc(below) else None  # none below Co
        rows.append(row)
    return rows
