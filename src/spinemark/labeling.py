"""Shared decoding: heatmap peaks -> a chain of vertebral centres -> anatomically consistent names.

Pure numpy (no torch), so every step is unit-testable on synthetic heatmaps.

1. :func:`find_peaks`: local maxima of the "any vertebra" heatmap (or of the sum of the level
   channels) above a threshold, with non-maximum suppression and sub-voxel refinement.
2. :func:`build_chain`: the best ordered chain of candidates, cranial to caudal, whose links
   respect a spacing range, point caudally and do not turn sharply (dynamic programming over
   candidate pairs); stray detections off the chain are dropped.
3. :func:`name_chain`: names for the chain nodes by dynamic programming over ordered labels
   (Viterbi), for each anatomical variant (11/12/13 thoracic, 4/5/6 lumbar). Consecutive nodes
   get consecutive names of the sequence (a chain never skips a level); only a link that is
   clearly longer than its neighbours (a missed vertebra) may jump, measured a second time in
   the adult reference spacing of the names a first pass gave (sacral segments shrink
   caudally, :data:`spinemark.anatomy.REFERENCE_SPACING_MM`). A name is never given
   twice. When S1 is found in its own head, the node it falls on is forced to S1 and names
   propagate cranially (L5, L4, ...) and caudally (S2..S5) along the chain; the variant
   (e.g. L6 above S1) is chosen by the level heatmaps against a prior that favours standard
   anatomy. Without S1, the level heatmaps choose where the sequence sits. Vertebrae whose
   names a person knows fix the names like the S1 anchor, and over it.

Every named node gets a confidence (peak height times the probability of the chosen naming
among the alternatives); a non-standard variant, a disagreement between the anchor and the
level heatmaps, a chain named entirely below S1 with no S1 found (vertebrae the model does not
cover, such as a cervical crop), names counted beyond the levels the heatmaps cover, or a chain
far shorter than its names in the adult reference spine (vertebrae smaller than the levels named)
becomes a warning (and caps the confidences, :attr:`DecodeConfig.uncovered_confidence`); names that nothing anchored come
with the next most likely naming, the first one to check.

Example:
    >>> import numpy as np
    >>> from spinemark.labeling import name_chain
    >>> ev = np.full((3, 3), 0.01); ev[0, 0] = ev[1, 1] = ev[2, 2] = 0.9
    >>> name_chain(ev, ["L4", "L5", "S1"], links_mm=[35.0, 35.0]).names
    ['L4', 'L5', 'S1']
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
from scipy import ndimage

from spinemark import anatomy

log = logging.getLogger(__name__)

STANDARD = (12, 5)
VARIANTS: tuple[tuple[int, int], ...] = tuple((t, lum) for t in (12, 11, 13) for lum in (5, 4, 6))
"""(thoracic, lumbar) counts considered by the sequence decoder; (12, 5) is standard anatomy."""


_RANGES = {"peak_threshold": (0.0, 1.0), "min_detection": (0.0, 1.0), "s1_threshold": (0.0, 1.0),
           "s1_edge_threshold": (0.0, 1.0), "uncovered_confidence": (0.0, 1.0), "min_caudal_cos": (-1.0, 1.0),
           "max_turn_deg": (0.0, 180.0), "nms_keep_ratio": (0.0, 1.0), "sacral_turn_deg": (0.0, 180.0),
           "fill_radius": (0.0, 0.5)}
"""Bounds of the :class:`DecodeConfig` numbers that are not just non-negative."""


@dataclass(frozen=True)
class DecodeConfig:
    """Parameters of the decoding (all distances in mm).

    Attributes:
        peak_threshold: Smallest heatmap value of a candidate centre.
        min_detection: When the detection heatmap (:func:`detection_map`) nowhere reaches this, the image shows no
            vertebra the model can find (noise, a scan of something else) and no vertebra is reported, known levels
            or not. 0.6: every one of 1080 crops of the 46 training-side and tuning scans reaches 0.77 or more with
            dualhead_v13, 57 of 64 images without a spine stay below (``benchmarks/README.md``, "Images that show
            no spine"). None: never.
        nms_radius_mm: Two candidates are never closer than this, and a weaker one also goes when a stronger one
            lies within this distance along every grid axis (up to sqrt(3) times it diagonally: :func:`find_peaks`).
        nms_keep_ratio: A local maximum that a stronger one suppresses (within ``nms_radius_mm``, or along every
            grid axis) is kept when it reaches this fraction of the largest value around it and lies at least
            ``link_min_mm`` from every stronger peak kept (a closer one could never be its neighbour in a chain):
            the small lower sacral segments lie 9..17 mm apart, while the secondary peaks beside them stay lower
            (:func:`find_peaks`). 0.8: S5 identified on fresh pelvic phantoms 5 -> 60% (the ratio, kept peaks then
            ``nms_radius_mm`` apart), on another fresh set 85 -> 100% (``link_min_mm`` 10 -> 8); no identification moved
            on the real training-side and tuning crops (``benchmarks/README.md``, "Sacral segments beside each
            other"). None: never.
        s1_threshold: Smallest S1-head value that anchors the labelling.
        s1_edge_threshold: A smaller S1-head value that anchors when the S1 peak lies within ``edge_mm`` of the
            lower end of the grid (axis 2 is superior), where S1 is cut by the image edge (the top of S1 at the
            lower border of a lumbar scan) and the head, trained to keep cut-away bodies at zero, fires weakly.
            None: ``s1_threshold`` everywhere.
        edge_mm: A peak this close to the lower or upper end of the grid lies on a body cut by the image edge:
            see ``s1_edge_threshold``; its links are no reference spacing for ``gap_ratio``, since such a peak
            sits off the body's centre, towards the image.
        s1_edge_link_ratio: An S1 peak at the lower edge (see ``s1_edge_threshold``) that the chain search left
            out (its low head value does not pay for its short link) extends the chain below its lowest node when
            that link is at least this fraction of the chain's median link, within the link length, direction and
            turn limits: the top of S1 cut by the image, below L5. Closer peaks are the S1 head firing on the top
            of the next lumbar body. None: never.
        s1_match_mm: The S1 peak anchors the chain node within this distance.
        s1_needs_caudal: Anchor on S1 only when the chain goes on below it (a sacral body found): the S1 head
            also fires on L5 when an image ends at the L5/S1 disc, where L5 is then the lowest vertebra. An S1
            peak at the image's lower edge (see ``s1_edge_threshold``), the top of S1 cut by the image, is exempt.
        sacral_turn_deg: Largest anterior turn of the chain at S1: when S1 anchors the names and has a body above
            and below it, the link below S1 turns this many degrees anteriorly at most from the link above it, in the
            sagittal plane; otherwise every body below S1 is left out (with a warning). The sacrum leaves the lumbar
            spine at the lumbosacral angle, turning posteriorly (right S2 names on real scans +8..+42 degrees); chains
            that run on from S1 into the pelvis in front of the sacrum turned -5..-50. 15 leaves out 9 of the 11
            names off the sacrum on the 66 real scans and none of the 10 right ones (our reading, in-sample), and no
            identification on fresh phantoms, since session 34 given a real lumbosacral angle (before it, their
            sacrum turned -4..-10 degrees and 2 of 80 lost it) (``benchmarks/README.md``, "Sacral names on real
            scans, read by eye"). None: never.
        link_min_mm: Shortest link between consecutive centres. 8 (10 until session 33): the peaks of S4 and S5 lie
            9..12 mm apart on the 3 mm grid.
        fill_radius: A link of the chain below the S1 anchor at least twice ``link_min_mm`` long takes a local
            maximum (3x3x3) of the detection heatmap that the peak search hid (see ``nms_keep_ratio``) as a body
            between its two ends when it lies within this fraction of the link's length from its midpoint, at least
            ``link_min_mm`` from either end and at ``peak_threshold`` or above (the strongest, when several do): a
            vertebra beside a stronger one, missed otherwise. On the truer sacrum of session 34's phantoms the lower
            segments lie so close that the cube hides S3 beside S2 and S4. 0.25: fresh pelvic phantoms 80.1 -> 80.7%
            and 74.6 -> 81.0% identified (two sets; no preset lower), the real training-side and tuning crops
            unchanged. Above S1 it took disc-level maxima for bodies on one real validation scan, so only links below
            the anchor take one (``benchmarks/README.md``, "A sacral body hidden between two others"). None: never.
        link_max_mm: Longest link between consecutive centres (a missed vertebra included).
        min_caudal_cos: Each link must point caudally: cosine with the inferior direction at least this.
        max_turn_deg: Largest angle between consecutive links.
        irregularity: Chain cost per unit of ``|log(ratio)|`` of consecutive link lengths.
        gap_ratio: A link this much longer than its neighbours (up to two each side, none touching a node
            within ``edge_mm`` of the image edge) is a gap (a missed vertebra).
        variant_penalty: Log-score cost of each non-standard region count (T13, 11 thoracic, L6, 4 lumbar).
        emission_floor: Added to heatmap values before taking logs.
        use_s1_head: Anchor the names on the S1 head; False: names from the level heatmaps alone
            (the "without S1 head" ablation, and models trained without one).
        reference_gaps: Find the gaps (see ``gap_ratio``) a second time, on each link divided by the reference
            adult spacing (:data:`spinemark.anatomy.REFERENCE_SPACING_MM`) from the name a first pass gave its upper
            body to the next level, and name the chain again with them: sacral segments shrink caudally, so a
            missed one leaves a link no longer than its cranial neighbours.
        known_match_mm: A known vertebra (see ``known`` of :func:`decode`) names the chain's nearest centre within
            this distance (about half a vertebral body's depth: a point anywhere near the body's middle).
        confidence_map: ``(a, b)``: every vertebra's confidence c becomes ``sigmoid(a * logit(c) + b)``, a
            monotone map fitted so that confidences say how often the vertebrae are right
            (:func:`spinemark.evaluate.metrics.fit_confidence_map`); it keeps their order. None: unmapped.
        min_size_ratio: When a chain's length (the sum of its links) is less than this fraction of the length its
            names have in the reference adult spine (:func:`spinemark.anatomy.reference_length_mm`), its vertebrae
            are smaller than the levels named (a cervical crop named as lumbar) and a warning says so. Links to a
            body within ``edge_mm`` of the grid's lower or upper end are left out (its peak sits off its centre,
            towards the image); fewer than two links left: no check (one narrow disc shortens a link by a
            quarter). 0.7 flags 14 of 20 cervical phantoms and none of the real lumbar crops (training side,
            tuning, validation; ``benchmarks/README.md``, "Vertebrae smaller than the levels named"). None: never.
        uncovered_confidence: Largest confidence of a vertebra on a chain that a coverage warning flags (every name
            below S1 with no S1 found, names beyond the levels the heatmaps cover, or ``min_size_ratio``): a
            confidence map is fitted on vertebrae inside the model's levels, and none of the inputs flagged so far had
            its names right (20 thoracic phantoms and the 2 SCT cervical crops: ``benchmarks/README.md``, "Confidence
            outside the model's levels"). None: no cap.
    """

    peak_threshold: float = 0.25
    min_detection: float | None = 0.6
    nms_radius_mm: float = 12.0
    nms_keep_ratio: float | None = 0.8
    s1_threshold: float = 0.3
    s1_edge_threshold: float | None = None
    edge_mm: float = 6.0
    s1_edge_link_ratio: float | None = None
    s1_match_mm: float = 15.0
    s1_needs_caudal: bool = False
    sacral_turn_deg: float | None = 15.0
    link_min_mm: float = 8.0
    fill_radius: float | None = 0.25
    link_max_mm: float = 60.0
    min_caudal_cos: float = 0.2
    max_turn_deg: float = 60.0
    irregularity: float = 0.5
    gap_ratio: float = 1.6
    variant_penalty: float = 2.0
    emission_floor: float = 0.05
    use_s1_head: bool = True
    min_size_ratio: float | None = 0.7
    reference_gaps: bool = True
    known_match_mm: float = 20.0
    confidence_map: tuple[float, float] | None = None
    uncovered_confidence: float | None = 0.1

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "bool":
                if not isinstance(value, bool):
                    raise ValueError(f"{f.name} must be true or false, not {value!r}")
            elif f.type.startswith("float") and not (value is None and f.type.endswith("None")):
                lo, hi = _RANGES.get(f.name, (0.0, np.inf))
                if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
                    span = f"from {lo:g} to {hi:g}" if hi < np.inf else f"of at least {lo:g}"
                    raise ValueError(f"{f.name} must be a number {span}, not {value!r}")
        if self.nms_radius_mm <= 0 or self.emission_floor <= 0 or self.gap_ratio <= 1:
            raise ValueError("nms_radius_mm and emission_floor must be above 0, gap_ratio above 1")
        if self.link_min_mm >= self.link_max_mm:
            raise ValueError(f"link_min_mm ({self.link_min_mm:g}) must be below link_max_mm ({self.link_max_mm:g})")
        if self.confidence_map is not None:
            a_b = tuple(float(v) for v in self.confidence_map)
            if len(a_b) != 2 or not a_b[0] > 0 or not np.isfinite(a_b).all():
                raise ValueError(f"confidence_map must be (a, b) with a > 0, not {self.confidence_map}")
            object.__setattr__(self, "confidence_map", a_b)  # JSON gives a list


def detection_map(level_maps: np.ndarray, any_map: np.ndarray | None = None) -> np.ndarray:
    """Where vertebral body centres are: the "any vertebra" channel, or the sum of the level channels without one."""
    if any_map is not None:
        return np.asarray(any_map, dtype=np.float32)
    return np.clip(np.asarray(level_maps, dtype=np.float32), 0, None).sum(0)


def map_confidence(c: np.ndarray | float, a_b: tuple[float, float] | None) -> np.ndarray:
    """``sigmoid(a * logit(c) + b)`` (see :attr:`DecodeConfig.confidence_map`); ``c`` unchanged for None."""
    c = np.asarray(c, dtype=np.float64)
    if a_b is None:
        return c
    x = np.clip(c, 1e-6, 1 - 1e-6)
    return 1.0 / (1.0 + np.exp(-(a_b[0] * np.log(x / (1 - x)) + a_b[1])))


class KnownLevelError(ValueError):
    """Known vertebra names (given by a person) that the vertebrae found cannot carry."""


@dataclass
class DecodedPoint:
    """One named centre in the heatmap grid (voxel indices) with its confidence."""

    name: str
    voxel: np.ndarray
    confidence: float


@dataclass
class ChainNames:
    """Result of :func:`name_chain`."""

    names: list[str]
    probability: float
    variant: tuple[int, int]
    anchored: bool
    warnings: list[str] = field(default_factory=list)
    alternatives: dict[tuple[str, ...], float] = field(default_factory=dict)
    """Probability of every naming the decoder considered (``names`` among them)."""


@dataclass
class Decoding:
    """Result of :func:`decode`."""

    points: list[DecodedPoint]
    warnings: list[str]
    anchored: bool
    variant: tuple[int, int] | None


def find_peaks(heatmap: np.ndarray, threshold: float, radius_vox: float, keep_ratio: float | None = None,
               keep_radius_vox: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of a 3D heatmap with non-maximum suppression, on the voxel grid.

    A peak is the largest value of the cube of side ``2 * floor(radius_vox) + 1`` around it, and no two peaks lie
    closer than ``radius_vox``: a weaker peak goes when a stronger one lies within the radius along every axis,
    up to sqrt(3) times the radius diagonally. Suppression by distance alone was measured in session 28 and lost:
    with dualhead_v13 it found more spurious sacral peaks, pelvic phantoms 68.8% -> 51.6% identified, false
    positives 15 -> 75 (``benchmarks/README.md``, "Peaks suppressed by distance, not by a cube").

    Args:
        heatmap: 3D array.
        threshold: Smallest peak value kept.
        radius_vox: Suppression radius (voxels), see above.
        keep_ratio: A local maximum (3x3x3) that the cube suppresses is kept when it reaches this fraction of its
            cube's largest value and lies at least ``keep_radius_vox`` from every stronger peak kept. None: never.
        keep_radius_vox: See ``keep_ratio``; None: ``radius_vox``.

    Returns:
        ``(positions, values)``: (N, 3) integer voxel indices (as floats) and (N,) peak values, strongest first.
        :func:`decode` refines them: the centroid (:func:`_refine`) to chain and name them, the parabola
        (:func:`parabola_peak`) for the centres it reports.
    """
    h = np.asarray(heatmap, dtype=np.float32)
    size = max(3, 2 * int(np.floor(radius_vox)) + 1)
    cube_max = ndimage.maximum_filter(h, size=size, mode="constant", cval=-np.inf)
    local_max = (h == cube_max) & (h >= threshold)
    if keep_ratio is not None:
        local_max |= ((h == ndimage.maximum_filter(h, size=3, mode="constant", cval=-np.inf)) & (h >= threshold)
                      & (h >= keep_ratio * cube_max))
    idx = np.argwhere(local_max)
    vals = h[tuple(idx.T)] if len(idx) else np.zeros(0, np.float32)
    keep_radius = radius_vox if keep_radius_vox is None else keep_radius_vox
    radii = np.where(vals == cube_max[tuple(idx.T)], radius_vox, keep_radius)  # a kept peak: its own radius
    order = np.argsort(-vals, kind="stable")
    kept: list[np.ndarray] = []
    kept_vals: list[float] = []
    for i in order:
        p = idx[i].astype(np.float64)
        if all(np.linalg.norm(p - q) >= radii[i] for q in kept):
            kept.append(p)
            kept_vals.append(float(vals[i]))
    return np.array(kept, dtype=np.float64).reshape(-1, 3), np.array(kept_vals, dtype=np.float64)


def _refine(h: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Weighted centroid of the positive values in the 3x3x3 neighbourhood of an integer peak."""
    lo = np.maximum(p.astype(int) - 1, 0)
    hi = np.minimum(p.astype(int) + 2, h.shape)
    block = np.clip(h[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], 0, None)
    if block.sum() <= 0:
        return p
    grid = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij"), -1)
    return (grid * block[..., None]).reshape(-1, 3).sum(0) / block.sum()


def parabola_peak(h: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Sub-voxel position of an integer peak: per axis, the vertex of the parabola through the logarithms of the
    peak and its two neighbours (exact for a Gaussian; through the raw values where a neighbour is not positive),
    at most half a voxel from the peak. Along an axis where the peak lies on the grid's edge, the centroid of
    :func:`_refine`.

    The network's peaks are about two voxels wide, so the 3x3x3 centroid recovers only about a sixth of the offset
    (``benchmarks/README.md``, "Peaks refined by a parabola").
    """
    i = np.asarray(p, dtype=int)
    out = _refine(h, np.asarray(p, dtype=np.float64)).astype(np.float64)
    for axis in range(3):
        if i[axis] == 0 or i[axis] == h.shape[axis] - 1:
            continue
        step = np.eye(3, dtype=int)[axis]
        a, b, c = (float(h[tuple(i + k * step)]) for k in (-1, 0, 1))
        if min(a, b, c) > 0:
            a, b, c = np.log(a), np.log(b), np.log(c)
        curvature = a - 2 * b + c
        offset = 0.5 * (a - c) / curvature if curvature < 0 else 0.0
        out[axis] = i[axis] + float(np.clip(offset, -0.5, 0.5))
    return out


def build_chain(positions_mm: np.ndarray, scores: np.ndarray, config: DecodeConfig | None = None) -> list[int]:
    """The best chain of candidates, cranial to caudal, as indices into ``positions_mm``.

    Positions are in a RAS-aligned frame (axis 2 superior). A chain maximises the sum of its
    candidates' scores minus a cost for irregular link lengths, subject to the link length
    range, a caudal direction and a bounded turn between links.
    """
    cfg = config or DecodeConfig()
    pos = np.asarray(positions_mm, dtype=np.float64).reshape(-1, 3)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = len(pos)
    if n == 0:
        return []
    order = np.argsort(-pos[:, 2], kind="stable")  # cranial first
    p, s = pos[order], sc[order]
    vec = p[None, :, :] - p[:, None, :]  # vec[i, j] = p[j] - p[i]
    dist = np.linalg.norm(vec, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        caudal_cos = -vec[..., 2] / dist
    ok = (dist >= cfg.link_min_mm) & (dist <= cfg.link_max_mm) & (caudal_cos >= cfg.min_caudal_cos)
    ok &= np.triu(np.ones((n, n), bool), 1)
    cos_turn = np.cos(np.deg2rad(cfg.max_turn_deg))
    # best[i, j]: best chain score ending with link i -> j
    best = np.where(ok, s[:, None] + s[None, :], -np.inf)
    back = -np.ones((n, n), dtype=int)
    for j in range(n):
        for i in range(j):
            if not np.isfinite(best[i, j]):
                continue
            u = vec[i, j] / dist[i, j]
            for k in range(j + 1, n):
                if not ok[j, k]:
                    continue
                v = vec[j, k] / dist[j, k]
                if float(u @ v) < cos_turn:
                    continue
                cand = best[i, j] + s[k] - cfg.irregularity * abs(np.log(dist[j, k] / dist[i, j]))
                if cand > best[j, k]:
                    best[j, k] = cand
                    back[j, k] = i
    if not np.any(np.isfinite(best)) or np.max(best) <= np.max(s):
        return [int(order[int(np.argmax(s))])]
    i, j = np.unravel_index(int(np.argmax(best)), best.shape)
    chain = [j, i]
    while back[chain[-1], chain[-2]] >= 0:
        chain.append(back[chain[-1], chain[-2]])
    return [int(order[c]) for c in reversed(chain)]


def _jump_options(links_mm: np.ndarray, gap_ratio: float, reference: np.ndarray) -> list[dict[int, float]]:
    """Allowed label steps (with their costs) for each link: 1 normally, 1..3 across a gap, a link clearly
    longer than the median of the ``reference`` links among its neighbours."""
    links = np.asarray(links_mm, dtype=np.float64)
    near = np.where(reference, links, np.nan)
    out = []
    for m, d in enumerate(links):
        others = np.concatenate([near[max(0, m - 2):m], near[m + 1:m + 3]])
        others = others[np.isfinite(others)]
        ref = float(np.median(others)) if len(others) else d
        if len(others) and d > gap_ratio * ref:
            expected = int(np.clip(round(d / ref), 2, 3))
            out.append({k: 1.0 * abs(k - expected) for k in (1, 2, 3)})
        else:
            out.append({1: 0.0})
    return out


def _viterbi(emis: np.ndarray, jumps: list[dict[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Best score of each final label and the back-pointers, for ordered labels with given steps."""
    m_nodes, n_labels = emis.shape
    score = emis[0].copy()
    backs = np.full((m_nodes, n_labels), -1, dtype=int)
    for m in range(1, m_nodes):
        new = np.full(n_labels, -np.inf)
        for step, cost in jumps[m - 1].items():
            prev = np.full(n_labels, -np.inf)
            prev[step:] = score[:-step] - cost
            better = prev > new
            new[better] = prev[better]
            backs[m, better] = np.arange(n_labels)[better] - step
        score = new + emis[m]
    return score, backs


def level_shares(evidence: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Each node's level evidence normalised to a distribution over the channels (plus ``floor`` each).

    Args:
        evidence: (M, C) level-heatmap values in [0, 1] at M nodes.
        floor: Added to every value before normalising (:attr:`DecodeConfig.emission_floor`).

    Returns:
        ``(shares, floor_share)``: the (M, C) shares and the (M,) share a level without a
        channel gets.
    """
    total = (evidence + floor).sum(axis=1)
    return (evidence + floor) / total[:, None], floor / total


def _log_shares(evidence: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    shares, floor_share = level_shares(evidence, floor)
    return np.log(shares), np.log(floor_share)


def name_chain(
    evidence: np.ndarray,
    channel_levels: list[str] | tuple[str, ...],
    links_mm=None,
    anchor: int | None = None,
    config: DecodeConfig | None = None,
    edge_nodes: np.ndarray | None = None,
    known: Mapping[int, str] | None = None,
) -> ChainNames:
    """Name the nodes of a chain (cranial to caudal) by a sequence decoder over ordered labels.

    Args:
        evidence: (M, C) level-heatmap values at each of the M chain nodes, one column per
            name of ``channel_levels``.
        channel_levels: The level names of the evidence columns.
        links_mm: (M-1,) lengths of the chain links (for gap detection); None: no gaps.
        anchor: Index of the node that is S1 (found in the S1 head), or None.
        config: Decoding parameters.
        edge_nodes: (M,) True for a node on a body cut by the image edge, whose links are no reference
            spacing for gap detection; None: none.
        known: Node index -> name, for vertebrae whose names are known (given by a person); fixed like the
            S1 anchor, and over it for the same node.

    Returns:
        The names, the probability of this naming among the alternatives, the variant
        ``(n_thoracic, n_lumbar)``, whether an S1 anchor or known names fixed it, and warnings.

    Raises:
        ValueError: No naming satisfies the anchor and the known names.
    """
    cfg = config or DecodeConfig()
    ev = np.clip(np.asarray(evidence, dtype=np.float64), 0.0, 1.0)
    m_nodes = ev.shape[0]
    fixed = {} if anchor is None else {anchor: "S1"}
    fixed.update({int(node): anatomy.level(name).name for node, name in (known or {}).items()})
    if m_nodes == 0:
        return ChainNames([], 1.0, STANDARD, bool(fixed))
    col = {anatomy.level(n).name: i for i, n in enumerate(channel_levels)}
    links = np.full(max(m_nodes - 1, 0), 35.0) if links_mm is None else np.asarray(links_mm, dtype=np.float64)
    edge = np.zeros(m_nodes, bool) if edge_nodes is None else np.asarray(edge_nodes, bool)
    inner = ~(edge[:-1] | edge[1:])
    log_rel, log_floor = _log_shares(ev, cfg.emission_floor)
    results, standard_names = _namings(log_rel, log_floor, col, fixed, _jump_options(links, cfg.gap_ratio, inner), cfg)
    if cfg.reference_gaps and results and m_nodes > 2:  # a second pass, gaps measured in reference spacings
        names, (_, variant) = max(results.items(), key=lambda kv: kv[1][0])
        seq = anatomy.standard_sequence(n_thoracic=variant[0], n_lumbar=variant[1])
        ref = np.array([anatomy.REFERENCE_SPACING_MM[(n, seq[seq.index(n) + 1])] for n in names[:-1]])
        second = _namings(log_rel, log_floor, col, fixed, _jump_options(links / ref, cfg.gap_ratio, inner), cfg)
        if second[0]:
            results, standard_names = second
    if not results:
        raise ValueError("no consistent naming of the chain exists (anchor or known levels out of range, or "
                         "known levels in the wrong order or too far apart for the vertebrae between them)")
    keys = list(results)
    totals = np.array([results[k][0] for k in keys])
    probs = np.exp(totals - totals.max())
    probs /= probs.sum()
    best = int(np.argmax(totals))
    names, variant = list(keys[best]), results[keys[best]][1]
    warnings = []
    standard = [k for k in keys if results[k][1] == STANDARD or k in standard_names]
    if variant != STANDARD and (not standard or list(max(standard, key=lambda k: results[k][0])) != names):
        warnings.append(f"suspected transitional anatomy: {_describe(variant)} fits the heatmaps best "
                        f"(probability {probs[best]:.2f}); check the level names")
    return ChainNames(names, float(probs[best]), variant, bool(fixed), warnings,
                      {k: float(p) for k, p in zip(keys, probs)})


def _namings(log_rel: np.ndarray, log_floor: np.ndarray, col: dict[str, int], fixed: dict[int, str],
             jumps: list[dict[int, float]], cfg: DecodeConfig):
    """Every naming the sequence decoder reaches, each with its best log-score and variant, and the namings that
    standard anatomy also produces."""
    m_nodes = log_rel.shape[0]
    results: dict[tuple[str, ...], tuple[float, tuple[int, int]]] = {}
    standard_names: set[tuple[str, ...]] = set()
    for variant in VARIANTS:
        seq = anatomy.standard_sequence(n_thoracic=variant[0], n_lumbar=variant[1])
        emis = np.empty((m_nodes, len(seq)))
        for k, name in enumerate(seq):
            emis[:, k] = log_rel[:, col[name]] if name in col else log_floor
        if any(name not in seq for name in fixed.values()):
            continue  # a fixed name this variant lacks (L6, T13, T12 with 11 thoracic, ...)
        for node, name in fixed.items():
            keep = emis[node, seq.index(name)]
            emis[node] = -np.inf
            emis[node, seq.index(name)] = keep
        prior = -cfg.variant_penalty * ((variant[0] != 12) + (variant[1] != 5))
        final, backs = _viterbi(emis, jumps)
        for k_end in np.flatnonzero(np.isfinite(final)):
            path = [int(k_end)]
            for m in range(m_nodes - 1, 0, -1):
                path.append(int(backs[m, path[-1]]))
            names = tuple(seq[k] for k in reversed(path))
            total = float(final[k_end]) + prior
            if variant == STANDARD:
                standard_names.add(names)
            if names not in results or total > results[names][0]:
                results[names] = (total, variant)
    return results, standard_names


def _describe(variant: tuple[int, int]) -> str:
    parts = []
    if variant[0] != 12:
        parts.append(f"{variant[0]} thoracic vertebrae")
    if variant[1] != 5:
        parts.append(f"{variant[1]} lumbar vertebrae" + (" (lumbarization, L6)" if variant[1] == 6 else
                                                           " (sacralization of L5)"))
    return " and ".join(parts) or "standard anatomy"


def _extend_to_edge_s1(chain: list[int], positions_mm: np.ndarray, s1_mm: np.ndarray, cfg: DecodeConfig) -> list[int]:
    """``chain`` with the S1 candidate at ``s1_mm`` appended below its lowest node when the link to it passes
    :attr:`DecodeConfig.s1_edge_link_ratio` and the chain's link, direction and turn limits; else unchanged."""
    s1 = int(np.argmin(np.linalg.norm(positions_mm - s1_mm, axis=1)))
    if s1 in chain or len(chain) < 2:
        return chain
    cpos = positions_mm[chain]
    links = np.diff(cpos, axis=0)
    lengths = np.linalg.norm(links, axis=1)
    link = positions_mm[s1] - cpos[-1]
    length = float(np.linalg.norm(link))
    if not (max(cfg.link_min_mm, cfg.s1_edge_link_ratio * float(np.median(lengths))) <= length <= cfg.link_max_mm):
        return chain
    turn = float(links[-1] @ link) / (lengths[-1] * length)
    if -link[2] / length < cfg.min_caudal_cos or turn < np.cos(np.deg2rad(cfg.max_turn_deg)):
        return chain
    return [*chain, s1]


def _fill_links(chain: list[int], start: int, pos: np.ndarray, det: np.ndarray, spacing_mm: float,
                cfg: DecodeConfig) -> tuple[list[int], np.ndarray, np.ndarray]:
    """``chain`` with a hidden local maximum of ``det`` put in the middle of each long link below its node ``start``
    where one lies there (see :attr:`DecodeConfig.fill_radius`), and the integer voxel peaks and values of the
    bodies put in; the new bodies' indices follow those of ``pos`` (refined centroids, like ``cand`` here)."""
    none = (chain, np.zeros((0, 3)), np.zeros(0))
    if len(chain) - start < 2:
        return none
    # local maxima in a box around the links (a body put in lies within fill_radius of a link's length of its
    # midpoint), the box's faces inside the grid left out: their neighbours beyond are not looked at
    nodes = pos[chain[start:]]
    pad = int(np.ceil(cfg.fill_radius * np.linalg.norm(np.diff(nodes, axis=0), axis=1).max())) + 2
    lo = np.maximum(np.floor(nodes.min(axis=0)).astype(int) - pad, 0)
    hi = np.minimum(np.ceil(nodes.max(axis=0)).astype(int) + pad + 1, det.shape)
    box = det[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    local = (box == ndimage.maximum_filter(box, size=3, mode="constant", cval=-np.inf)) & (box >= cfg.peak_threshold)
    for axis in range(3):
        face = [slice(None)] * 3
        if lo[axis] > 0:
            face[axis] = 0
            local[tuple(face)] = False
        if hi[axis] < det.shape[axis]:
            face[axis] = -1
            local[tuple(face)] = False
    idx = np.argwhere(local).astype(np.float64) + lo
    if len(idx):  # the candidates the chain search had and left out stay out
        idx = idx[np.linalg.norm(idx[:, None] - pos[None], axis=-1).min(axis=1) > 1.5]
    if not len(idx):
        return none
    cand = np.array([_refine(det, p) for p in idx])
    values = det[tuple(idx.astype(int).T)].astype(np.float64)
    mm = cand * spacing_mm
    filled, new_peaks, new_vals = chain[:start + 1], [], []
    for a, b in zip(chain[start:-1], chain[start + 1:]):
        pa, pb = pos[a] * spacing_mm, pos[b] * spacing_mm
        length = float(np.linalg.norm(pb - pa))
        if length >= 2 * cfg.link_min_mm:
            ok = ((np.linalg.norm(mm - (pa + pb) / 2, axis=1) <= cfg.fill_radius * length)
                  & (np.linalg.norm(mm - pa, axis=1) >= cfg.link_min_mm)
                  & (np.linalg.norm(mm - pb, axis=1) >= cfg.link_min_mm))
            if ok.any():
                k = np.flatnonzero(ok)[int(np.argmax(values[ok]))]
                filled.append(len(pos) + len(new_peaks))
                new_peaks.append(idx[k])
                new_vals.append(values[k])
        filled.append(b)
    return filled, np.array(new_peaks).reshape(-1, 3), np.array(new_vals)


def _runner_up(named: ChainNames) -> list[str]:
    """A warning naming the second most likely naming of an unanchored chain, the first thing to check."""
    others = sorted(((p, k) for k, p in named.alternatives.items() if list(k) != named.names), reverse=True)
    if not others or not named.names:
        return []
    p, names = others[0]
    span = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
    return [f"next most likely names: {span} (probability {p:.2f}, against {named.probability:.2f} for the names "
            "given)"]


def _match_known(known: list[tuple[str, np.ndarray]], cpos: np.ndarray, spacing_mm: float,
                 match_mm: float) -> dict[int, str]:
    """Chain node index -> known name, each known vertebra matched to the nearest chain centre."""
    fixed: dict[int, str] = {}
    for name, v in known:
        dist = np.linalg.norm(cpos - v, axis=1) * spacing_mm
        node = int(np.argmin(dist))
        if dist[node] > match_mm:
            raise KnownLevelError(f"the known {name} lies {dist[node]:.0f} mm from the nearest vertebra on the spine "
                                  f"found (at most {match_mm:g} mm): is it a vertebral body centre in this image?")
        if fixed.setdefault(node, name) != name:
            raise KnownLevelError(f"the known {fixed[node]} and {name} fall on the same vertebra")
    return fixed


def _coverage_warnings(named: ChainNames, levels, links: np.ndarray, edge: np.ndarray, cfg: DecodeConfig) -> list[str]:
    """Warnings that the named vertebrae may lie outside the levels the model covers: every name below S1 without
    an S1 anchor, names counted beyond the level channels, and (with :attr:`DecodeConfig.min_size_ratio`) a chain
    (``links``: its link lengths, mm) too short for its names, over the links between bodies not cut by the image
    edge (``edge``: per body)."""
    names = named.names
    covered = sorted(levels, key=anatomy.order)
    span = f"{covered[0]}..{covered[-1]}"
    out = []
    if not named.anchored and all(anatomy.order(n) > anatomy.order("S1") for n in names):
        given = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
        out.append(f"every vertebra found was named below S1 ({given}) with no S1 above it: a sacrum seen without its "
                   "first segment is rare, and vertebrae outside the levels this model names (a cervical or thoracic "
                   "scan) end up with these names; check them")
    beyond = [n for n in names if n not in levels]
    if beyond:
        out.append(f"names beyond the levels this model recognises ({span}): {', '.join(beyond)} ({len(beyond)} of "
                   f"{len(names)} vertebrae) are counted along the chain from the others, not recognised in the image; "
                   "check them")
    inner = np.flatnonzero(~(edge[:-1] | edge[1:]))  # links between bodies not cut by the edge, as in name_chain
    if cfg.min_size_ratio is not None and len(inner) >= 2:  # one link is one disc, and a narrow disc is no sign
        sequence = anatomy.standard_sequence(n_thoracic=named.variant[0], n_lumbar=named.variant[1])
        found = float(links[inner].sum())
        expected = sum(anatomy.reference_length_mm(names[k], names[k + 1], sequence) for k in inner)
        if found < cfg.min_size_ratio * expected:
            out.append(f"the vertebrae found lie closer together than the levels named: {names[inner[0]]}.."
                       f"{names[inner[-1] + 1]} span {found:.0f} mm here, {expected:.0f} mm in the reference adult "
                       f"spine (ratio {found / expected:.2f}); vertebrae this small are cervical or upper thoracic "
                       "ones (or a child's); check them")
    return out


def _below_s5(evidence: np.ndarray, levels, links: np.ndarray, anchor: int | None, cfg: DecodeConfig,
              edge: np.ndarray) -> tuple[ChainNames, int] | None:
    """The anchored naming of the chain without its last one or two nodes, when that naming ends at S5 (the nodes
    left out lie below it: the coccyx), and how many were left out; None when there is no anchor or none does."""
    if anchor is None:
        return None
    for cut in (1, 2):
        if anchor >= len(evidence) - cut:
            return None
        try:
            named = name_chain(evidence[:-cut], levels, links[:-cut], anchor, cfg, edge[:-cut])
        except ValueError:
            continue
        return (named, cut) if named.names[-1] == "S5" else None
    return None


def _left_out(n: int, level: str) -> str:
    """The start of the warning for ``n`` bodies left out at the chain's lower end, below ``level``."""
    return f"{n} {'body' if n == 1 else 'bodies'} found below {level} left out"


def sagittal_angle_deg(a, b) -> float:
    """The angle of the link from ``a`` to ``b`` (RAS-aligned axes) from straight down in the sagittal plane, in
    degrees, posterior positive."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    return float(np.degrees(np.arctan2(-d[1], -d[2])))


def _sacral_turn(cpos: np.ndarray, anchor: int | None) -> float | None:
    """The chain's turn at the S1 node ``anchor`` in the sagittal plane, in degrees (posterior positive): the angle
    of the link below S1 less that of the link above it; None without a body on either side."""
    if anchor is None or anchor == 0 or anchor >= len(cpos) - 1:
        return None
    return sagittal_angle_deg(cpos[anchor], cpos[anchor + 1]) - sagittal_angle_deg(cpos[anchor - 1], cpos[anchor])


def sample_max(volume: np.ndarray, voxel: np.ndarray, radius: int = 1) -> float:
    """Largest value of ``volume`` in the small cube around a fractional voxel position."""
    c = np.round(voxel).astype(int)
    lo = np.clip(c - radius, 0, np.array(volume.shape) - 1)
    hi = np.clip(c + radius + 1, 1, volume.shape)
    return float(volume[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].max())


def decode(
    level_maps: np.ndarray,
    levels: list[str] | tuple[str, ...],
    spacing_mm: float,
    any_map: np.ndarray | None = None,
    s1_map: np.ndarray | None = None,
    config: DecodeConfig | None = None,
    known: Sequence[tuple[str, np.ndarray]] = (),
) -> Decoding:
    """Decode heatmaps on a RAS-aligned isotropic grid into named vertebral centres.

    Args:
        level_maps: (C, X, Y, Z) one heatmap per name of ``levels``.
        levels: Level names of the channels.
        spacing_mm: Isotropic voxel size of the grid.
        any_map: (X, Y, Z) "any vertebra centre" heatmap; None: the sum of the level maps.
        s1_map: (X, Y, Z) S1 heatmap; None: no anchor.
        config: Decoding parameters.
        known: ``(name, voxel)`` pairs, vertebrae whose names a person knows, at fractional voxel positions of
            this grid: each is matched to the chain's nearest centre (within :attr:`DecodeConfig.known_match_mm`;
            a candidate centre is added there when none is found near it) and the names follow from them instead
            of the S1 head, which is then only checked against them.

    Returns:
        Named points (voxel indices of this grid), warnings, whether S1 or known names anchored the names,
        and the anatomical variant chosen.

    Raises:
        KnownLevelError: A known vertebra off the chain found, two names for one vertebra, or known names
            that no naming of the chain satisfies.
    """
    cfg = config or DecodeConfig()
    if not cfg.use_s1_head:
        s1_map = None
    level_maps = np.asarray(level_maps, dtype=np.float32)
    det = detection_map(level_maps, any_map)
    strongest = float(det.max()) if det.size else 0.0
    if not np.isfinite(strongest):
        raise ValueError(f"the heatmaps are not finite (peak {strongest}): the model's weights are broken")
    if cfg.min_detection is not None and strongest < cfg.min_detection:
        return Decoding([], [f"the detection heatmap peaks at {strongest:.3f}, below min_detection "
                             f"{cfg.min_detection:g}; min_detection=null (`--decode min_detection=null`) turns "
                             "this check off"], False, None)
    peaks, vals = find_peaks(det, cfg.peak_threshold, cfg.nms_radius_mm / spacing_mm, cfg.nms_keep_ratio,
                             cfg.link_min_mm / spacing_mm)
    # chain, anchor and names are decided on the centroids; the parabola gives only the reported centres
    pos = np.array([_refine(det, p) for p in peaks]).reshape(-1, 3)
    centres = np.array([parabola_peak(det, p) for p in peaks]).reshape(-1, 3)
    warnings: list[str] = []
    anchor_pos, anchor_value, at_edge = None, 0.0, False
    if s1_map is not None:
        s1 = np.asarray(s1_map, dtype=np.float32)
        peak = np.unravel_index(int(np.argmax(s1)), s1.shape)
        at_edge = cfg.s1_edge_threshold is not None and peak[2] * spacing_mm <= cfg.edge_mm
        threshold = min(cfg.s1_threshold, cfg.s1_edge_threshold) if at_edge else cfg.s1_threshold
        if s1[peak] >= threshold:
            anchor_value = float(np.clip(s1[peak], 0.0, 1.0))
            anchor_pos = _refine(s1, np.array(peak, dtype=np.float64))
            near = np.linalg.norm(pos - anchor_pos, axis=1) * spacing_mm if len(pos) else np.zeros(0)
            if not len(near) or near.min() > cfg.s1_match_mm:
                pos, centres = np.vstack([pos, anchor_pos[None]]), np.vstack([centres, anchor_pos[None]])
                vals = np.append(vals, float(s1[peak]))
    known = [(anatomy.level(name).name, np.asarray(v, dtype=np.float64)) for name, v in known]
    for _, v in known:  # a known vertebra the peaks missed becomes a candidate, sure enough to join the chain
        if not len(pos) or np.linalg.norm(pos - v, axis=1).min() * spacing_mm > cfg.known_match_mm:
            pos, centres, vals = np.vstack([pos, v[None]]), np.vstack([centres, v[None]]), np.append(vals, 1.0)
    if not len(pos):
        return Decoding([], [f"the detection heatmap peaks at {strongest:.2f}, below peak_threshold "
                             f"{cfg.peak_threshold:g}"], False, None)
    chain = build_chain(pos * spacing_mm, vals, cfg)
    if anchor_pos is not None and at_edge and cfg.s1_edge_link_ratio is not None:
        chain = _extend_to_edge_s1(chain, pos * spacing_mm, anchor_pos * spacing_mm, cfg)
    dropped = len(pos) - len(chain)
    if dropped:
        log.debug("dropped %d candidate centres off the spine chain", dropped)
    cpos, cval = pos[chain], vals[chain]
    anchor = None
    if anchor_pos is not None:
        dist = np.linalg.norm(cpos - anchor_pos, axis=1) * spacing_mm
        if dist.min() <= cfg.s1_match_mm:
            anchor = int(np.argmin(dist))
            if cfg.s1_needs_caudal and anchor == len(cpos) - 1 and not at_edge:
                anchor = None
                warnings.append("the S1 detection is the lowest vertebra found, with no sacral body below it; it was "
                                "not used as anchor (an image ending at the L5/S1 disc looks alike)")
        else:
            warnings.append("the S1 detection lies off the spine chain; it was not used as anchor")
    turn = _sacral_turn(cpos, anchor) if not known and cfg.sacral_turn_deg is not None else None
    if turn is not None and turn < -cfg.sacral_turn_deg:  # the chain leaves the sacrum for the pelvis in front of it
        cut = len(cpos) - 1 - anchor
        chain, cpos, cval = chain[:-cut], cpos[:-cut], cval[:-cut]
        warnings.append(f"{_left_out(cut, 'S1')}: the chain turns {-turn:.0f} degrees anteriorly there, off the "
                        "sacrum's course (the pelvis in front of it)")
    if cfg.fill_radius is not None and anchor is not None:
        chain, new_peaks, new_vals = _fill_links(chain, anchor, pos, det, spacing_mm, cfg)
        if len(new_peaks):
            log.debug("put %d hidden peaks in long links of the chain below S1", len(new_peaks))
            pos = np.vstack([pos, [_refine(det, p) for p in new_peaks]])
            centres = np.vstack([centres, [parabola_peak(det, p) for p in new_peaks]])
            vals = np.append(vals, new_vals)
            cpos, cval = pos[chain], vals[chain]
    fixed = _match_known(known, cpos, spacing_mm, cfg.known_match_mm)
    evidence = np.array([[sample_max(level_maps[c], p) for c in range(len(levels))] for p in cpos])
    links = np.linalg.norm(np.diff(cpos, axis=0), axis=1) * spacing_mm
    top = level_maps.shape[3] - 1
    edge = (np.minimum(cpos[:, 2], top - cpos[:, 2]) * spacing_mm) <= cfg.edge_mm
    if fixed:
        try:
            named = name_chain(evidence, levels, links, None, cfg, edge, known=fixed)
        except ValueError as exc:
            given = ", ".join(f"{n} (vertebra {i + 1} of {len(cpos)} from the top)" for i, n in sorted(fixed.items()))
            raise KnownLevelError(f"no naming of the vertebrae found agrees with the known levels {given}: each "
                                  "vertebra between two known ones needs a name in between") from exc
        probability = named.probability
        if anchor is not None and named.names[anchor] != "S1":
            warnings.append(f"the S1 head found S1 on the vertebra the known levels name {named.names[anchor]}; the "
                            "known levels were followed")
    else:
        try:
            named = name_chain(evidence, levels, links, anchor, cfg, edge)
        except ValueError:
            below = _below_s5(evidence, levels, links, anchor, cfg, edge)
            if below is not None:  # the chain's last bodies lie beyond S5: the coccyx, which no channel names
                named, cut = below
                chain, cpos, cval, evidence, links, edge = (chain[:-cut], cpos[:-cut], cval[:-cut], evidence[:-cut],
                                                            links[:-cut], edge[:-cut])
                warnings.append(f"{_left_out(cut, 'S5')} (the coccyx, which this model does not name)")
            else:
                named = name_chain(evidence, levels, links, None, cfg, edge)
                warnings.append("the S1 anchor could not be reconciled with the chain; names come from the level "
                                "heatmaps")
        probability = named.probability
        if anchor is not None:
            free = name_chain(evidence, levels, links, None, cfg, edge)
            # the anchor is trusted as far as the S1 head is sure; otherwise the level heatmaps' odds of these names
            probability = (anchor_value * named.probability
                           + (1.0 - anchor_value) * free.alternatives.get(tuple(named.names), 0.0))
            if free.names != named.names:
                warnings.append(
                    "S1 anchor and level heatmaps disagree on the names "
                    f"(anchor: {named.names[0]}..{named.names[-1]}, heatmaps: {free.names[0]}..{free.names[-1]}); "
                    "the anchored names are reported"
                )
        elif s1_map is not None and anchor_pos is None:
            warnings.append("S1 not detected (out of view, or missed by the S1 head): names come from the level "
                            "heatmaps alone and are often one level off on a small field of view; check them")
    warnings.extend(named.warnings)
    if not named.anchored:
        warnings.extend(_runner_up(named))
    uncovered = _coverage_warnings(named, levels, links, edge, cfg)
    warnings.extend(uncovered)
    confidence = map_confidence(np.sqrt(np.clip(cval, 0, 1)) * probability, cfg.confidence_map)
    if uncovered and cfg.uncovered_confidence is not None:
        confidence = np.minimum(confidence, cfg.uncovered_confidence)
    points = [DecodedPoint(name, p, float(c)) for name, p, c in zip(named.names, centres[chain], confidence)]
    return Decoding(points, warnings, named.anchored, named.variant)
