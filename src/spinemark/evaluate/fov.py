"""Field-of-view benchmark: crop labelled scans to the fields of view users meet, run a method, score it.

Variants of one labelled scan (cuts along the spine axis, at the midpoints between labelled vertebral
centres; beyond the first or last labelled vertebra, half the neighbouring spacing is used):

========================  ==============================================================================
``full``                  the whole scan
``pelvic``                L4, L5 and the sacrum: cut at the L3/L4 midpoint, keep everything caudal
``lumbosacral``           L3 to the sacrum: cut at the L2/L3 midpoint, keep everything caudal
``upper_lumbar``          L1..L4: cut at the T12/L1 and L4/L5 midpoints (no L5, no sacrum)
``mid_lumbar``            L1..L3: cut at the T12/L1 and L3/L4 midpoints
``s1_edge``               L4, L5 and the top of S1: cut at the L3/L4 midpoint and three quarters of the way
                          from the L5 to the S1 centre (S1 extrapolated from L4 and L5 when not labelled),
                          as when a scan ends in the sacrum's first body; skipped when the image ends first
``random_k<k>``           k = 2..7 consecutive labelled vertebrae, window drawn with the seed and the case
``thick4mm``              sagittal slices 4 mm thick (voxels averaged across the slice axis), on a 4 mm grid
``axial5mm``              axial slices 5 mm thick: voxels averaged along the spine axis, on a 5 mm grid (an axial
                          acquisition, coarse from head to foot)
``pelvic_axial5mm``       the ``pelvic`` crop in axial slices 5 mm thick (an axial pelvic MRI)
``snr10``                 the whole scan with Rician noise of sigma a tenth of its bright tissue (the 99th
                          percentile of its non-zero voxels), drawn from the seed and the case: a noisy scan
``coil_shading``          the whole scan darkened from posterior to anterior, 4 times at the anterior end (a
                          spine coil's fall-off)
========================  ==============================================================================

Crops are made with :func:`spinemark.volume.crop`, so the affine moves with them and the true centres
(taken from the full scan's mask, never recomputed on a cut vertebra) stay valid in world mm. Each
variant's truth keeps the full scan's labelled levels, so a prediction of a labelled level that the crop
cut away is a false positive (see :mod:`spinemark.evaluate.metrics`), unless the crop shows part of that body and
the prediction lies near its centre (:func:`partial_in_view`).
"""

from __future__ import annotations

import csv
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spinemark import anatomy
from spinemark.errors import InputError, SpinemarkError
from spinemark.evaluate.metrics import SUMMARY_COLUMNS, ScanScore, calibration, names_off, score_scan, summarize
from spinemark.landmarks import Landmarks
from spinemark.volume import Volume, crop

log = logging.getLogger(__name__)

NAMED_VARIANTS: dict[str, tuple[str, str | None]] = {
    "pelvic": ("L4", None),
    "lumbosacral": ("L3", None),
    "upper_lumbar": ("L1", "L4"),
    "mid_lumbar": ("L1", "L3"),
}
"""Named crops: (first level kept, last level kept or ``None`` for everything caudal)."""

S1_EDGE_FRACTION = 0.75
"""``s1_edge``: the crop ends this far from the L5 centre to the S1 centre (S1's top in view, its centre not)."""

AXIAL_THICKNESS_MM = 5.0
"""Slab thickness of the axial variants (``axial5mm``, ``pelvic_axial5mm``): a usual axial slice of pelvic MRI."""

NOISE_SNR = 10.0
"""``snr10``: bright tissue over the noise's sigma."""

SHADING_RATIO = 4.0
"""``coil_shading``: how many times darker the anterior end of the image is than the posterior end."""

RANDOM_KS = tuple(range(2, 8))
DEFAULT_VARIANTS = ("full", *NAMED_VARIANTS, "s1_edge", *(f"random_k{k}" for k in RANDOM_KS), "thick4mm", "axial5mm",
                    "pelvic_axial5mm", "snr10", "coil_shading")


@dataclass
class VariantSample:
    """One benchmark input: a (cropped or thick-sliced) image and its truth.

    Attributes:
        variant: Variant name.
        volume: The image given to the method.
        truth: Labelled vertebral centres in view (world mm, from the full scan).
        labelled: The full scan's labelled levels.
        box: ``(start, stop)`` voxel box of a crop in the full scan's grid; ``None`` for uncropped variants.
        partial: Labelled vertebrae the crop shows in part, their centres outside it (:func:`partial_in_view`).
    """

    variant: str
    volume: Volume
    truth: Landmarks
    labelled: tuple[str, ...]
    box: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    partial: Landmarks | None = None


def expand_variants(names: Iterable[str]) -> list[str]:
    """Validate variant names; ``random`` stands for every ``random_k<k>``.

    Raises:
        ValueError: An unknown variant name.
    """
    out: list[str] = []
    for n in names:
        n = n.strip()
        add = [f"random_k{k}" for k in RANDOM_KS] if n == "random" else [n]
        for a in add:
            if a not in DEFAULT_VARIANTS:
                raise ValueError(f"unknown variant {a!r}; choose from {', '.join(DEFAULT_VARIANTS)} (or 'random')")
            if a not in out:
                out.append(a)
    return out


def spine_axis(volume: Volume, truth: Landmarks) -> int:
    """The array axis closest to the spine's cranio-caudal direction (from the labelled centres)."""
    pts = truth.vertebrae()
    if len(pts) >= 2:
        d = np.asarray(pts.points[-1].position_mm) - np.asarray(pts.points[0].position_mm)
    else:
        d = np.array([0.0, 0.0, 1.0])  # world superior
    cols = volume.affine[:3, :3] / volume.spacing_mm[None, :]
    return int(np.argmax(np.abs(d @ cols)))


def axis_towards(volume: Volume, world: int) -> tuple[int, bool]:
    """The array axis closest to world axis ``world`` (0 R, 1 A, 2 S), and whether its index grows that way."""
    cols = volume.affine[:3, :3] / volume.spacing_mm[None, :]
    axis = int(np.argmax(np.abs(cols[world])))
    return axis, bool(cols[world, axis] > 0)


def sagittal_axis(volume: Volume) -> int:
    """The array axis closest to world left-right: the slice axis of a sagittal acquisition."""
    return axis_towards(volume, 0)[0]


def rician_noise(volume: Volume, snr: float, rng: np.random.Generator) -> Volume:
    """The magnitude of the image plus complex Gaussian noise whose sigma is the 99th percentile of the non-zero
    voxels over ``snr``: a noisy magnitude MRI (the background turns into noise too)."""
    data = np.asarray(volume.data, dtype=np.float32)
    nonzero = data[data > 0]
    sigma = float(np.percentile(nonzero, 99)) / snr if nonzero.size else 0.0
    real = data + rng.normal(0.0, sigma, data.shape).astype(np.float32)
    imag = rng.normal(0.0, sigma, data.shape).astype(np.float32)
    return volume.with_data(np.sqrt(real**2 + imag**2))


def coil_shading(volume: Volume, ratio: float) -> Volume:
    """The image darkened exponentially from its posterior to its anterior end, ``ratio`` times at the anterior end
    (along the array axis closest to world anterior)."""
    axis, anterior = axis_towards(volume, 1)
    n = volume.shape[axis]
    t = np.arange(n) / max(n - 1, 1)
    if not anterior:  # the index grows posteriorly
        t = t[::-1]
    shape = [1, 1, 1]
    shape[axis] = n
    field = (ratio ** -t).reshape(shape).astype(np.float32)
    return volume.with_data(np.asarray(volume.data, dtype=np.float32) * field)


def level_bounds(volume: Volume, truth: Landmarks, axis: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Labelled vertebrae cranial to caudal, their centres along ``axis`` (voxels), and the cuts between them.

    Returns:
        ``(names, centres, cuts)``: ``cuts`` has ``len(names) + 1`` entries; ``cuts[i]`` is the cut
        above ``names[i]`` and ``cuts[i + 1]`` the cut below it (midpoints; half the neighbouring
        spacing beyond the ends).
    """
    vert = truth.vertebrae()
    names = list(vert.names)
    c = volume.world_to_voxel(vert.positions_mm)[:, axis] if names else np.zeros(0)
    if len(names) < 2:
        raise ValueError("at least two labelled vertebrae are needed to place the cuts")
    mids = (c[:-1] + c[1:]) / 2
    cuts = np.concatenate([[c[0] - (c[1] - c[0]) / 2], mids, [c[-1] + (c[-1] - c[-2]) / 2]])
    return names, c, cuts


def crop_along(volume: Volume, axis: int, lo_cut: float | None, hi_cut: float | None) -> tuple[Volume, tuple]:
    """Crop to the voxels whose index along ``axis`` lies in ``[lo_cut, hi_cut]`` (``None``: the image end).

    Returns:
        The cropped volume (affine moved with it) and its ``(start, stop)`` voxel box in ``volume``.
    """
    n = volume.shape[axis]
    lo = 0 if lo_cut is None else max(0, int(np.ceil(lo_cut)))
    hi = n if hi_cut is None else min(n, int(np.floor(hi_cut)) + 1)
    if hi - lo < 1:
        raise ValueError("the crop is empty")
    start, stop = [0, 0, 0], list(volume.shape)
    start[axis], stop[axis] = lo, hi
    return crop(volume, start, stop), (tuple(start), tuple(stop))


def _keep_range(volume: Volume, truth: Landmarks, first: str, last: str | None, axis: int):
    names, c, cuts = level_bounds(volume, truth, axis)
    if first not in names or (last is not None and last not in names):
        return None
    cranial = cuts[names.index(first)]
    caudal = None if last is None else cuts[names.index(last) + 1]
    if c[-1] > c[0]:  # index grows caudally
        return crop_along(volume, axis, cranial, caudal)
    return crop_along(volume, axis, caudal, cranial)


def _s1_edge(volume: Volume, truth: Landmarks, axis: int):
    """The ``s1_edge`` crop and its box (:func:`crop_along`), or None without L4 and L5 or when the image ends
    before the cut."""
    names, c, cuts = level_bounds(volume, truth, axis)
    if "L4" not in names or "L5" not in names:
        return None
    l4, l5 = c[names.index("L4")], c[names.index("L5")]
    s1 = c[names.index("S1")] if "S1" in names else 2 * l5 - l4
    end = l5 + S1_EDGE_FRACTION * (s1 - l5)
    if not 0 <= end <= volume.shape[axis] - 1:
        return None
    cranial = cuts[names.index("L4")]
    return crop_along(volume, axis, min(cranial, end), max(cranial, end))


def thick_slices(volume: Volume, thickness_mm: float = 4.0, axis: int | None = None) -> Volume:
    """Simulate thick slices: average voxels across ``axis`` into slabs ``thickness_mm`` thick.

    The result lies on a grid with ``thickness_mm`` spacing along ``axis`` (same extent start, same
    directions); its voxel ``m`` averages the source voxels covering slab ``m`` (box filter, linearly
    sampled at the slab centre when the ratio of spacings is not an integer).
    """
    axis = sagittal_axis(volume) if axis is None else axis
    s = float(volume.spacing_mm[axis])
    f = thickness_mm / s
    n_new = max(1, int(np.floor(volume.shape[axis] / f + 1e-6)))
    data = np.asarray(volume.data, dtype=np.float32)
    from scipy import ndimage

    width = max(1, int(round(f)))
    smooth = ndimage.uniform_filter1d(data, size=width, axis=axis, mode="nearest")
    # slab m is centred on source index m*f + (f-1)/2; an even window at i is centred on i - 0.5
    centres = np.arange(n_new) * f + (f - 1) / 2 + (0.5 if width % 2 == 0 else 0.0)
    lo = np.clip(np.floor(centres).astype(int), 0, volume.shape[axis] - 1)
    hi = np.clip(lo + 1, 0, volume.shape[axis] - 1)
    w = (centres - np.floor(centres)).astype(np.float32)
    shape = [1, 1, 1]
    shape[axis] = n_new
    w = w.reshape(shape)
    out = np.take(smooth, lo, axis=axis) * (1 - w) + np.take(smooth, hi, axis=axis) * w
    index_map = np.eye(4)
    index_map[axis, axis] = f
    index_map[axis, 3] = (f - 1) / 2
    return Volume(out.astype(np.float32), volume.affine @ index_map, volume.source)


def make_variant(volume: Volume, truth: Landmarks, variant: str, key: str = "", seed: int = 0,
                 labelled: Iterable[str] | None = None, thickness_mm: float = 4.0,
                 window: int | None = None) -> VariantSample | None:
    """Build one variant of a labelled scan; ``None`` when the scan lacks the levels it needs.

    Args:
        volume: The full image.
        truth: Its labelled vertebral centres (world mm).
        variant: A name of :data:`DEFAULT_VARIANTS`.
        key: Case identifier; with ``seed`` it fixes the window of a ``random_k`` crop and the noise of ``snr10``.
        seed: Seed of random crops and noise.
        labelled: The scan's labelled levels (default: ``truth.names``).
        thickness_mm: Slab thickness of ``thick4mm``.
        window: For ``random_k``: the window that starts at the ``window``-th labelled vertebra
            (cranial first) instead of one drawn with ``seed``; ``None`` when it would run past the last.
    """
    truth = truth.vertebrae()
    labelled = tuple(labelled) if labelled is not None else tuple(truth.names)
    if variant == "full":
        return VariantSample(variant, volume, truth, labelled)
    if variant.startswith("thick"):
        return VariantSample(variant, thick_slices(volume, thickness_mm), truth, labelled)
    if variant == "snr10":
        rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
        return VariantSample(variant, rician_noise(volume, NOISE_SNR, rng), truth, labelled)
    if variant == "coil_shading":
        return VariantSample(variant, coil_shading(volume, SHADING_RATIO), truth, labelled)
    axis = spine_axis(volume, truth)
    if variant == "axial5mm":
        return VariantSample(variant, thick_slices(volume, AXIAL_THICKNESS_MM, axis), truth, labelled)
    if variant == "pelvic_axial5mm":
        sample = make_variant(volume, truth, "pelvic", labelled=labelled)
        if sample is None:
            return None
        return VariantSample(variant, thick_slices(sample.volume, AXIAL_THICKNESS_MM, axis), sample.truth, labelled,
                             sample.box, sample.partial)
    if variant in NAMED_VARIANTS:
        got = _keep_range(volume, truth, *NAMED_VARIANTS[variant], axis)
    elif variant == "s1_edge":
        got = _s1_edge(volume, truth, axis)
    elif variant.startswith("random_k"):
        k = int(variant[len("random_k"):])
        names = list(truth.names)
        if len(names) < max(k, 2):
            return None
        if window is None:
            i = int(np.random.default_rng([seed, zlib.crc32(key.encode()), k]).integers(0, len(names) - k + 1))
        elif 0 <= window <= len(names) - k:
            i = window
        else:
            return None
        got = _keep_range(volume, truth, names[i], names[i + k - 1], axis)
    else:
        raise ValueError(f"unknown variant {variant!r}")
    if got is None:
        return None
    cropped, box = got
    inside = [p for p in truth if _inside(cropped, p.position_mm)]
    return VariantSample(variant, cropped, Landmarks(inside, cropped.geometry), labelled, box,
                         partial_in_view(cropped, truth))


def variant_samples(volume: Volume, truth: Landmarks, variant: str, key: str = "", seed: int = 0,
                    all_windows: bool = False) -> list[VariantSample]:
    """The samples of one variant (:func:`make_variant`): none, one, or for a ``random_k`` variant with
    ``all_windows`` one per window of k consecutive labelled vertebrae."""
    windows = range(len(truth.vertebrae())) if all_windows and variant.startswith("random_k") else [None]
    return [s for w in windows if (s := make_variant(volume, truth, variant, key=key, seed=seed, window=w)) is not None]


def _inside(volume: Volume, position_mm) -> bool:
    return _mm_outside(volume, position_mm) == 0.0


def _mm_outside(volume: Volume, position_mm) -> float:
    """Distance (mm) from a point to the image's box (its outer voxel centres and half a voxel beyond); 0 inside."""
    ijk = volume.world_to_voxel(position_mm)
    nearest = np.clip(ijk, -0.5, np.asarray(volume.shape) - 0.5)
    if np.array_equal(nearest, ijk):
        return 0.0
    return float(np.linalg.norm(volume.voxel_to_world(nearest) - np.asarray(position_mm, dtype=np.float64)))


PARTIAL_FRACTION = 0.35
"""A labelled vertebra whose centre lies outside a crop by less than this fraction of the distance to its nearest
labelled neighbour shows part of its body in the crop: a lumbar body is about 0.7 of the centre spacing high (the disc
the rest), so half of it reaches about 0.35 of the spacing from the centre. The ``s1_edge`` crop leaves the top of S1
in view (its centre 0.25 of the L5-S1 spacing away); a cut at a disc's midpoint leaves the next centres 0.5 away."""


def partial_in_view(volume: Volume, truth: Landmarks) -> Landmarks:
    """The labelled vertebrae of ``truth`` (the full scan's) that a crop ``volume`` shows in part: centre outside
    it, but by less than :data:`PARTIAL_FRACTION` of the distance to the nearest labelled neighbour. Naming one of
    them is no false positive (:func:`~spinemark.evaluate.metrics.score_scan`'s ``partial``)."""
    verts = truth.vertebrae()
    pos = verts.positions_mm
    out = []
    for i, p in enumerate(verts if len(verts) > 1 else []):
        spacing = np.delete(np.linalg.norm(pos - pos[i], axis=1), i).min()
        if 0.0 < _mm_outside(volume, p.position_mm) < PARTIAL_FRACTION * spacing:
            out.append(p)
    return Landmarks(out, volume.geometry)


# ---------------------------------------------------------------- the dataset


@dataclass(frozen=True)
class Case:
    """One labelled scan of the dataset."""

    key: str
    subset: str
    image: Path
    mask: Path


def load_cases(data: str | Path, subsets: Sequence[str] | None = None, keys: Iterable[str] | None = None) -> list[Case]:
    """Cases listed in ``<data>/manifest.csv`` (columns ``subset``, ``case``), filtered.

    Args:
        data: Dataset folder with ``manifest.csv`` and ``<subset>/<subset>_<case>_img.nii.gz`` +
            ``_seg-vert_msk.nii.gz``.
        subsets: Keep these subsets (all when ``None``).
        keys: Keep these cases, as ``VB3_01`` (or ``VB3/01``); all when ``None``.

    Raises:
        InputError: No manifest, or a requested case is not in it.
    """
    data = Path(data)
    man = data / "manifest.csv"
    if not man.is_file():
        raise InputError(man, "dataset manifest not found (a CSV with columns subset,case; each case's files "
                              "<subset>/<subset>_<case>_img.nii.gz and <subset>/<subset>_<case>_seg-vert_msk.nii.gz)")
    with open(man, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cases = []
    for r in rows:
        sub, cid = r["subset"].strip(), r["case"].strip()
        if r.get("duplicate_of", "").strip():
            continue
        cases.append(Case(f"{sub}_{cid}", sub, data / sub / f"{sub}_{cid}_img.nii.gz", data / sub / f"{sub}_{cid}_seg-vert_msk.nii.gz"))
    if subsets:
        cases = [c for c in cases if c.subset in set(subsets)]
    if keys is not None:
        want = [k.strip().replace("/", "_") for k in keys if k.strip()]
        known = {c.key for c in cases}
        missing = [k for k in want if k not in known]
        if missing:
            raise InputError(man, f"cases not in the manifest (or not in the chosen subsets): {', '.join(missing)}")
        cases = [c for c in cases if c.key in set(want)]
    return cases


def load_case(case: Case) -> tuple[Volume, Landmarks]:
    """The image and its labelled vertebral centres (centroids of the mask labels; as in ``spinemark evaluate``,
    a vertebra cut by the image edge is left out, its centroid not its centre)."""
    from spinemark.evaluate.report import load_truth
    from spinemark.io.readers import load_volume

    vol = load_volume(case.image)
    truth = load_truth(case.mask, drop_cut=True).vertebrae()
    return vol, truth


# ---------------------------------------------------------------- running a method


@dataclass
class VariantResult:
    """One (case, variant) of the benchmark: its score, and the method's error if it failed.

    ``confidence`` is the median confidence of the predicted vertebrae (None: none predicted); ``warnings`` are
    the prediction's; ``predicted`` the names of the predicted vertebrae, cranial to caudal; ``names_off`` how many
    levels those names are off (:func:`~spinemark.evaluate.metrics.names_off`).
    """

    case: str
    subset: str
    variant: str
    score: ScanScore | None
    seconds: float = 0.0
    error: str | None = None
    box: tuple | None = None
    confidence: float | None = None
    warnings: tuple[str, ...] = ()
    predicted: tuple[str, ...] = ()
    names_off: int | None = None

    def row(self) -> dict:
        row = {"case": self.case, "subset": self.subset, "variant": self.variant, "seconds": round(self.seconds, 3)}
        row.update(self.score.summary_row() if self.score is not None else dict.fromkeys(SUMMARY_COLUMNS, ""))
        row["confidence"] = "" if self.confidence is None else round(self.confidence, 4)
        row["crop_box"] = "" if self.box is None else f"{list(self.box[0])}-{list(self.box[1])}"
        row["error"] = self.error or ""
        row["warnings"] = " | ".join(self.warnings)
        row["predicted"] = " ".join(self.predicted)
        row["names_off"] = "" if self.names_off is None else self.names_off
        return row


def middle_vertebra(truth: Landmarks) -> Landmarks:
    """The labelled vertebra in the middle of a sample's view (the cranial one of two middle ones), as a known level:
    what a person who counted the levels on a localizer would give (``known_middle`` of :func:`run_fov_benchmark`)."""
    verts = sorted(truth.vertebrae(), key=lambda p: anatomy.order(p.name))
    return Landmarks([verts[(len(verts) - 1) // 2]] if verts else [])


def evaluate_sample(method, sample: VariantSample, known: Landmarks | None = None, case: str = "",
                    subset: str = "") -> VariantResult:
    """Run ``method.predict`` on one sample (with ``known`` levels, if any) and score it.

    A method that raises scores as an empty prediction (every vertebra missed), and the error is
    kept, so a method that fails on hard inputs cannot look better for it.
    """
    t0 = time.perf_counter()
    err = None
    try:
        prediction = method.predict(sample.volume, known)
        pred, warnings = prediction.landmarks, tuple(prediction.warnings)
    except (SpinemarkError, ValueError, RuntimeError, KeyError, IndexError) as exc:
        log.warning("method failed on a %s sample: %s", sample.variant, exc)
        pred, err, warnings = Landmarks([], sample.volume.geometry), f"{exc.__class__.__name__}: {exc}", ()
    dt = time.perf_counter() - t0
    verts = pred.vertebrae()
    conf = float(np.median([p.confidence for p in verts.points])) if len(verts) else None
    names = tuple(sorted(verts.names, key=anatomy.order))
    score = score_scan(verts, sample.truth, labelled=sample.labelled, partial=sample.partial)
    return VariantResult(case, subset, sample.variant, score, dt, err, sample.box, conf, warnings, names,
                         names_off(verts, sample.truth, sample.labelled, sample.partial))


def confidence_outcomes(results: Sequence[VariantResult]) -> tuple[list[float], list[float]]:
    """Per scored prediction with labelled vertebrae in view: its median vertebra confidence (0 for an empty or
    failed one) and the share of its labelled vertebrae identified."""
    seen = [r for r in results if r.score is not None and r.score.n_true]
    return [r.confidence or 0.0 for r in seen], [r.score.identification_rate for r in seen]


def results_calibration(results: Sequence[VariantResult]) -> dict:
    """:func:`~spinemark.evaluate.metrics.calibration` of :func:`confidence_outcomes`."""
    return calibration(*confidence_outcomes(results))


def run_fov_benchmark(
    method,
    cases: Sequence[Case],
    variants: Sequence[str] = DEFAULT_VARIANTS,
    seed: int = 0,
    progress: Callable[[Iterable], Iterable] | None = None,
    loader: Callable[[Case], tuple[Volume, Landmarks]] = load_case,
    all_windows: bool = False,
    known_middle: bool = False,
) -> list[VariantResult]:
    """Run ``method`` on every variant of every case.

    Args:
        method: Anything with ``predict(volume) -> Prediction`` (see :mod:`spinemark.methods.base`).
        cases: From :func:`load_cases`.
        variants: Variant names (:func:`expand_variants`).
        seed: Seed of the random crops.
        progress: Optional wrapper of the loop over cases.
        loader: Reads a case (replaceable in tests).
        all_windows: Score every window of a ``random_k`` variant, not one drawn with ``seed``.
        known_middle: Give the method the name and labelled centre of the middle vertebra in view
            (:func:`middle_vertebra`) as a known level; it is scored with the others.

    Returns:
        One :class:`VariantResult` per (case, variant) that the case supports; a case that cannot be read
        gives one result of variant ``"load"`` carrying the error.
    """
    variants = expand_variants(variants)
    out: list[VariantResult] = []
    for case in progress(cases) if progress else cases:
        try:
            vol, truth = loader(case)
        except SpinemarkError as exc:
            out.append(VariantResult(case.key, case.subset, "load", None, error=str(exc)))
            continue
        for v in variants:
            try:
                samples = variant_samples(vol, truth, v, key=case.key, seed=seed, all_windows=all_windows)
            except ValueError as exc:
                log.info("%s: no %s variant (%s)", case.key, v, exc)
                samples = []
            for sample in samples:
                known = middle_vertebra(sample.truth) if known_middle else None
                out.append(evaluate_sample(method, sample, known, case.key, case.subset))
    return out


def summarize_variants(results: Sequence[VariantResult]) -> dict[str, dict[str, dict]]:
    """``{subset: {variant: summarize(...) + n_failed + mean seconds}}`` in variant order."""
    table: dict[str, dict[str, dict]] = {}
    order = {v: i for i, v in enumerate(DEFAULT_VARIANTS)}
    for sub in sorted({r.subset for r in results}):
        rows = [r for r in results if r.subset == sub and r.score is not None]
        table[sub] = {}
        for v in sorted({r.variant for r in rows}, key=lambda v: order.get(v, 99)):
            rs = [r for r in rows if r.variant == v]
            m = summarize([r.score for r in rs])
            m["n_failed"] = sum(1 for r in rs if r.error)
            m["mean_seconds"] = round(float(np.mean([r.seconds for r in rs])), 3)
            table[sub][v] = m
    return table
