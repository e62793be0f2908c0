"""Field-of-view presets: which levels a phantom promises to show, and its default grid.

A preset promises levels by name; ``"L-1"`` and ``"L-2"`` mean the last and second-to-last
lumbar vertebra, so a pelvic phantom with four lumbar vertebrae still shows S1 and the two
lowest lumbar levels. A promised level's body centre always lies inside the field of view
(at least ``margin_mm`` from the edge, when the grid allows). The field of view then
wanders randomly (``fov_jitter``) as far as the promise allows, so neighbouring vertebrae
are often cut by the slab edge.

Example:
    >>> from spinemark.synth.presets import PRESETS, resolve_levels
    >>> PRESETS["pelvic"].levels
    ('L-2', 'L-1', 'S1', 'Co')
    >>> resolve_levels(PRESETS["pelvic"].levels, ("L1", "L2", "L3", "L4", "S1", "S2", "Co"))
    ['L3', 'L4', 'S1', 'S2', 'Co']
"""

from __future__ import annotations

from dataclasses import dataclass

from spinemark import anatomy


@dataclass(frozen=True)
class Preset:
    """A field-of-view preset.

    Attributes:
        name: Preset key.
        levels: Promised levels (names, or ``"L-k"`` for the k-th lumbar from the bottom); for
            ``"random"`` empty (the phantom shows ``k_visible`` consecutive vertebrae).
        shape: Default array shape (in-plane, in-plane, slices).
        spacing_mm: Default voxel size (in-plane, in-plane, slice thickness).
        margin_mm: Smallest distance of a promised centre from the edge of the field of view.
        description: One line for people.
    """

    name: str
    levels: tuple[str, ...]
    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    margin_mm: float = 10.0
    description: str = ""


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("pelvic", ("L-2", "L-1", "S1", "Co"), (256, 256, 48), (1.0, 1.0, 4.0), 15.0,
               "pelvic MRI: sacrum, coccyx, pelvis and the two lowest lumbar levels"),
        Preset("lumbosacral", ("L1", "L-1", "S1"), (256, 256, 24), (1.0, 1.0, 4.0), 10.0,
               "lumbar spine with the sacrum, T12 usually in view"),
        Preset("lumbar", ("L1", "L-1"), (256, 256, 20), (0.9, 0.9, 4.0), 10.0, "lumbar spine L1..L5"),
        Preset("thoracic", ("T2", "T11"), (256, 256, 20), (1.4, 1.4, 3.5), 10.0, "thoracic spine T2..T11"),
        Preset("cervical", ("C2", "C7"), (256, 256, 16), (0.9, 0.9, 3.0), 8.0, "cervical spine C2..C7"),
        Preset("wholespine", ("C2", "S1"), (192, 576, 16), (1.4, 1.4, 4.0), 10.0, "whole spine C2..S1 (composed)"),
        Preset("random", (), (192, 192, 24), (1.0, 1.0, 4.0), 6.0, "k consecutive vertebrae anywhere C2..Co"),
    )
}
"""Field-of-view presets by name."""


def resolve_levels(tokens, sequence) -> list[str]:
    """Promised level names for one spine: ``"L-1"`` becomes its last lumbar, every range is filled.

    The promise covers every vertebra between the first and last promised level of
    ``sequence`` (so L6 is promised in a pelvic phantom with lumbarization).
    """
    lumbar = [n for n in sequence if anatomy.region(n) == "lumbar"]
    names = []
    for t in tokens:
        if t.startswith("L-"):
            names.append(lumbar[-int(t[2:])])
        elif t in sequence:
            names.append(t)
    if not names:
        return []
    idx = sorted(sequence.index(n) for n in names)
    return list(sequence[idx[0] : idx[-1] + 1])
