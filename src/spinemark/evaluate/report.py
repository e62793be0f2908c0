"""Evaluate prediction files against truth files: one pair -> a folder, with CSV, JSON, markdown and plots.

Layers: :func:`~spinemark.evaluate.metrics.score_scan` (pure, on ``Landmarks``) ->
:func:`evaluate_pair` (two files) -> :func:`evaluate_dirs` (two folders, writes the report).
Files are paired as described in :mod:`spinemark.evaluate.pairing`.

Example:
    >>> from spinemark.evaluate import evaluate_dirs
    >>> s = evaluate_dirs("preds/", "truth/", "eval/")     # doctest: +SKIP
    >>> s.metrics["identification_rate"], s.errors          # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spinemark import anatomy
from spinemark.errors import InputError, OutputError, SpinemarkError
from spinemark.evaluate import plots
from spinemark.evaluate.metrics import (
    ERROR_THRESHOLDS_MM,
    RADIUS_MM,
    ScanScore,
    disc_summary,
    localization_errors,
    names_off,
    score_scan,
    sort_levels,
    summarize,
)
from spinemark.evaluate.pairing import Pair, file_kind, find_pairs
from spinemark.io.writers import read_landmarks, write_files
from spinemark.landmarks import Landmark, Landmarks, bodies_from_discs

log = logging.getLogger(__name__)

REPORT_FILES = (
    "per_scan.csv", "per_landmark.csv", "summary.json", "report.md",
    "error_per_level.png", "error_per_fov.png", "confusion.png",
)
"""What :func:`evaluate_dirs` writes into its output folder."""

MAX_LABEL_VALUES = 64
"""A truth label image holds at most this many different non-zero values (the registry's vertebra and disc ids
number fewer); more is an intensity image given as truth."""

FOV_BUCKETS = ((1, 2), (3, 4), (5, 6), (7, 9), (10, 99))
"""Field-of-view buckets, by the number of labelled vertebrae in view."""

PARTIAL_LABELS_NOTE = (
    "**Partially labelled truth.** Each scan's truth lists the levels it labels (by default the levels "
    "present in the truth; a crop keeps the labelled set of its full scan). A predicted name that is not "
    f"among them is *unverifiable*: it counts neither as a true nor as a false positive, unless it is a mislabel: "
    f"within {RADIUS_MM:g} mm of its closest true centre while no prediction of that vertebra's own name identifies "
    f"it (or within {RADIUS_MM / 2:g} mm of it, a second detection), or on the wrong side of a true vertebra for its "
    "place in the anatomical order (an S1 above a true L5); a mislabel counts as a false positive (and in the "
    "confusion matrix when within the radius of a true centre). A prediction of a labelled "
    "level that is not in view (cut away by a crop) is a false positive, unless the crop shows part of that body "
    "(its centre outside the crop by less than 0.35 of the distance to its nearest labelled neighbour, as the top "
    "of S1 in `s1_edge`) and the prediction lies within the radius of its centre: then it is unverifiable. "
    "Unverifiable predictions are counted "
    "separately and do not break subset accuracy."
)
METRICS_NOTE = (
    f"Identification (Glocker et al.): a true vertebra is identified when the prediction with its name lies within "
    f"{RADIUS_MM:g} mm of its centre and no other true centre is closer to that prediction; the rate is pooled "
    "over vertebrae. Mean/median error: over true vertebrae that have a prediction of the same name. "
    "Within 5/10/20 mm: share of *all* true vertebrae (no prediction = outside). Subset accuracy: share of scans "
    "with every labelled vertebra in view identified and no false positive. Misses: true vertebrae not identified."
)
NAMES_OFF_NOTE = (
    "the shift of a prediction's names along the spine that makes every vertebra in view identified with nothing "
    "extra (judged as above; `spinemark.evaluate.metrics.names_off`); 'not a shift' when none of up to 3 "
    "levels does (a vertebra missed or one too many, T13/L6 names):"
)


def names_off_table(groups: dict[str, Sequence[int | None]], label: str) -> str:
    """Markdown table: per group (and all pooled), how many predictions have their names right, one level too
    caudal, one too cranial, two or three levels off, or wrong beyond a shift of the names (``None``)."""
    pooled = [o for offs in groups.values() for o in offs]
    if not pooled:
        return "No scored predictions."
    rows = []
    for name, offs in [*groups.items(), ("**all**", pooled)]:
        counts = [sum(o == 0 for o in offs), sum(o == 1 for o in offs), sum(o == -1 for o in offs),
                  sum(o is not None and abs(o) > 1 for o in offs), sum(o is None for o in offs)]
        rows.append([name, str(len(offs)), *(f"{c} ({100 * c / len(offs):.0f}%)" for c in counts)])
    return md_table((label, "predictions", "right", "one too caudal", "one too cranial", "2..3 levels off",
                     "not a shift"), rows)


def fov_bucket(n_vertebrae: int) -> str:
    """The field-of-view bucket label of a scan with ``n_vertebrae`` labelled vertebrae in view."""
    for lo, hi in FOV_BUCKETS:
        if lo <= n_vertebrae <= hi:
            return f"{lo}-{hi} vertebrae" if hi < 99 else f"{lo}+ vertebrae"
    return "0 vertebrae"


@dataclass
class ScanResult:
    """The outcome of one pair: its score, or the error that stopped it."""

    key: str
    pred: Path | None
    truth: Path
    score: ScanScore | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    names_off: int | None = None
    true_discs: list[str] = field(default_factory=list)
    """The truth's discs, where both the truth and the prediction hold discs (``spinemark predict --discs``)."""
    disc_errors: dict[str, float] = field(default_factory=dict)
    """Error (mm) of each of them predicted under its own name."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def row(self) -> dict:
        row = {"key": self.key, "pred_file": str(self.pred or ""), "truth_file": str(self.truth)}
        if self.score is not None:
            row["fov_bucket"] = fov_bucket(self.score.n_true)
            row.update(self.score.summary_row())
            row["names_off"] = "" if self.names_off is None else self.names_off
            if self.true_discs:
                row["discs"] = len(self.true_discs)
                row["discs_found"] = len(self.disc_errors)
                row["disc_mean_error_mm"] = round(float(np.mean(list(self.disc_errors.values()))), 3) \
                    if self.disc_errors else ""
        row["error"] = self.error or ""
        row["notes"] = "; ".join(self.notes)
        return row


@dataclass
class Summary:
    """What :func:`evaluate_dirs` found.

    Attributes:
        metrics: Pooled metrics of all scored scans (:func:`~spinemark.evaluate.metrics.summarize`).
        per_fov: The same per field-of-view bucket.
        discs: Disc centres of the scans whose truth and prediction both hold discs
            (:func:`~spinemark.evaluate.metrics.disc_summary`); {} when none does.
        scans: One :class:`ScanResult` per pair (failed pairs carry their error).
        errors: One message per unpaired (a truth without prediction is scored, all missed), ambiguous or
            unreadable file; each names the file.
        outputs: The files written.
    """

    metrics: dict
    per_fov: dict[str, dict]
    scans: list[ScanResult]
    errors: list[str]
    discs: dict[str, dict] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)

    @property
    def n_scored(self) -> int:
        return sum(1 for s in self.scans if s.ok)

    def headline(self) -> str:
        """One line for people: scans scored, identification rate, mean error, subset accuracy, scans whose names are
        one level off as a whole, problems."""
        m = self.metrics or {}
        err = (m.get("error") or {}).get("mean_mm")
        one_off = sum(s.ok and s.names_off in (1, -1) for s in self.scans)

        def pct(v):
            return "n/a" if v is None else f"{100 * v:.1f}%"

        return (f"{self.n_scored} of {len(self.scans)} scans scored: identification {pct(m.get('identification_rate'))}, "
                f"mean error {'n/a' if err is None else f'{err:.2f} mm'}, subset accuracy {pct(m.get('subset_accuracy'))}"
                f", {one_off} named one level off as a whole"
                f"; {len(self.errors)} problem(s){' (see the report)' if self.errors else ''}"
                f"; report in {self.outputs[0].parent if self.outputs else '-'}")

    def to_dict(self) -> dict:
        return {
            "n_pairs": len(self.scans),
            "n_scored": self.n_scored,
            "metrics": self.metrics,
            "per_fov_bucket": self.per_fov,
            "errors": self.errors,
            "discs": self.discs,
            "radius_mm": RADIUS_MM,
            "error_thresholds_mm": list(ERROR_THRESHOLDS_MM),
        }


# ---------------------------------------------------------------- one pair


def load_truth(path: str | Path, drop_cut: bool = False) -> Landmarks:
    """Read true landmarks from a ``.landmarks.json``, ``.mrk.json`` or label image (centroids per label; a label
    image of discs alone also gives the vertebral bodies between two labelled discs:
    :func:`spinemark.landmarks.bodies_from_discs`).

    ``drop_cut``: leave out of a label image the vertebrae cut by the image edge (:func:`cut_vertebrae`), whose
    centroid is not their centre; their levels are then unverifiable, as in a landmark file that leaves them out.
    A label image's ``Landmarks.warnings`` name the bodies derived from discs (:data:`DISC_NOTE`) and those left out
    as cut (:data:`CUT_NOTE`).

    Raises:
        InputError: The file is unreadable, or the image is not a label image of registry ids.
    """
    p = Path(path)
    kind = file_kind(p)
    if kind is None:
        raise InputError(p, "not a truth file (label image, .landmarks.json or .mrk.json)")
    if kind[0] in ("landmarks", "mrk"):
        return read_landmarks(p)
    from spinemark.io.readers import load_volume

    vol = load_volume(p)
    data = vol.data
    if np.issubdtype(data.dtype, np.floating):
        if not np.array_equal(data, np.round(data)):
            raise InputError(p, "not a label image: voxel values are not integers")
        data = data.astype(np.int32)
    values = np.unique(data)
    if len(values) > 1 + MAX_LABEL_VALUES:
        raise InputError(p, f"not a label image: {len(values) - 1} different non-zero values (an image, not labels?)")
    lms = Landmarks.from_label_map(data, vol.affine, geometry=vol.source)
    if not len(lms):
        raise InputError(p, "label image holds no vertebra or disc label of the registry (ids 1..32, 101..132)")
    if not len(lms.vertebrae()):  # discs only (such as the IVD set): the bodies between two labelled discs
        bodies = bodies_from_discs({q.name.split("/")[0]: q.position_mm for q in lms})
        lms = Landmarks([*lms, *(Landmark(n, c) for n, c in bodies.items())], lms.geometry,
                        warnings=[f"{DISC_NOTE}: {', '.join(anatomy.sort_names(bodies))}"] if bodies else [])
    cut = cut_vertebrae(data, vol.spacing_mm) if drop_cut else []
    if cut:
        lms = Landmarks([q for q in lms if q.name not in cut], lms.geometry,
                        warnings=[*lms.warnings, f"{CUT_NOTE}: {', '.join(cut)}"])
    return lms


CUT_NOTE = "left out of the truth, cut by the image edge"
"""Note of :func:`load_truth` (in its ``Landmarks.warnings``) naming the vertebrae left out as cut."""
DISC_NOTE = "taken between the labelled discs above and below"
"""Note of :func:`load_truth` naming the body centres derived from a map of discs alone
(:func:`spinemark.landmarks.bodies_from_discs`; on VB3's masks 0.8 mm from the body's centroid at L2, 1.8 mm at L4, more
at L5: ``benchmarks/bodies_from_discs.py``)."""
TRUTH_NOTES = (DISC_NOTE, CUT_NOTE)

CUT_FRACTION = 0.5
"""A vertebra of a label image that touches the image edge with fewer voxels than this fraction of the median of
the vertebrae that do not is cut by the edge (:func:`cut_vertebrae`)."""


def cut_vertebrae(labels: np.ndarray, spacing_mm=None) -> list[str]:
    """Names of the vertebrae of a label map cut by the image edge: touching a cranial or caudal face of the grid
    (the two across the axis along which the vertebra centroids spread most, in mm with ``spacing_mm``), with fewer
    voxels than :data:`CUT_FRACTION` of the median of the vertebrae that touch neither (none without such
    vertebrae). The other faces do not count: in a thin sagittal slab every body touches the left and right ones."""
    from scipy import ndimage

    from spinemark import anatomy

    ids = [int(i) for i in np.unique(labels) if i > 0 and anatomy.is_vertebra(int(i))]
    if not ids:
        return []
    centres = np.asarray(ndimage.center_of_mass(labels > 0, labels, ids)).reshape(len(ids), labels.ndim)
    spread = np.ptp(centres, axis=0) * (1.0 if spacing_mm is None else np.asarray(spacing_mm, dtype=np.float64))
    faces = set(np.unique(np.take(labels, [0, -1], axis=int(np.argmax(spread)))).tolist())
    counts = {i: int(np.count_nonzero(labels == i)) for i in ids}
    whole = [counts[i] for i in ids if i not in faces]
    if not whole:
        return []
    limit = CUT_FRACTION * float(np.median(whole))
    return [anatomy.id_to_name(i) for i in ids if i in faces and counts[i] < limit]


def evaluate_landmarks(pred: Landmarks, truth: Landmarks, labelled: Iterable[str] | None = None) -> ScanScore:
    """Score the vertebrae of one prediction against one truth (discs are left out)."""
    return score_scan(pred.vertebrae(), truth.vertebrae(), labelled=labelled)


def evaluate_pair(pred_path: str | Path | None, truth_path: str | Path, labelled: Iterable[str] | None = None,
                  key: str | None = None) -> ScanResult:
    """Read and score one prediction file against one truth file (``pred_path`` None: no prediction, every
    vertebra missed).

    Raises:
        InputError: Either file is unreadable, both are one file, or the truth holds no vertebra.
    """
    truth_path = Path(truth_path)
    if pred_path is None:  # no prediction (a failed one writes nothing): every vertebra missed
        pred = Landmarks([])
    else:
        pred_path = Path(pred_path)
        if pred_path.resolve() == truth_path.resolve():
            raise InputError(truth_path, "the truth is the prediction file itself (--pred and --truth the same folder?)")
        pred = read_landmarks(pred_path)
    truth = load_truth(truth_path, drop_cut=True)
    if not len(truth.vertebrae()):
        raise InputError(truth_path, "truth holds no vertebra landmark (discs only are not scored)")
    notes = []
    gp, gt = pred.geometry, truth.geometry
    if gp is not None and gt is not None and (
        tuple(gp.shape) != tuple(gt.shape) or not np.allclose(gp.affine, gt.affine, atol=1e-3)
    ):
        notes.append("prediction and truth refer to different image grids; compared in world mm")
    notes += [w for w in truth.warnings if w.startswith(TRUTH_NOTES)]
    if pred_path is None:
        notes.append("no prediction: every vertebra counted as missed")
    score = evaluate_landmarks(pred, truth, labelled)
    off = names_off(pred.vertebrae(), truth.vertebrae(), labelled)
    result = ScanResult(key or truth_path.name, pred_path, truth_path, score, None, notes, off)
    if len(pred.discs()) and len(truth.discs()):
        result.true_discs = truth.discs().names
        result.disc_errors = localization_errors(pred.discs(), truth.discs())
    return result


# ---------------------------------------------------------------- a folder


def evaluate_dirs(
    pred_dir: str | Path,
    truth_dir: str | Path,
    out_dir: str | Path,
    overwrite: bool = False,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> Summary:
    """Evaluate every prediction of ``pred_dir`` against its truth in ``truth_dir``; write the report.

    Writes into ``out_dir``: ``per_scan.csv``, ``per_landmark.csv``, ``summary.json``, ``report.md`` and
    PNG plots (error per level, error per field-of-view bucket, confusion matrix). A truth without prediction
    is scored as every vertebra missed (a failed prediction writes nothing) and reported, and so is an unreadable
    prediction file; a prediction without truth, an ambiguous or an unreadable truth file is reported (in
    ``Summary.errors`` and the report) and skipped.

    Args:
        pred_dir: Folder of ``<stem>.landmarks.json`` predictions (searched recursively).
        truth_dir: Folder of label images, ``.landmarks.json`` or ``.mrk.json`` truths.
        out_dir: Report folder (created).
        overwrite: Replace existing report files; without it they are refused before any work.
        progress: Optional wrapper of the loop over pairs (e.g. ``tqdm``), owned by the caller.

    Raises:
        InputError: A folder is missing or holds no usable file.
        OutputError: A report file exists and ``overwrite`` is false, or ``out_dir`` is not writable.
    """
    out_dir = Path(out_dir)
    targets = [out_dir / f for f in REPORT_FILES]
    if not overwrite:
        for t in targets:
            if t.exists():
                raise OutputError(t, "output exists; use --overwrite to replace it")
    pairs, errors = find_pairs(pred_dir, truth_dir)
    results = [_evaluate_safely(pair) for pair in (progress(pairs) if progress else pairs)]
    scans = [scan for scan, _ in results]
    errors = errors + [s.error for s in scans if not s.ok] + [problem for _, problem in results if problem]
    scored = [s for s in scans if s.ok]
    metrics = summarize([s.score for s in scored])
    per_fov = _per_bucket(scored)
    summary = Summary(metrics, per_fov, scans, errors, disc_summary([(s.true_discs, s.disc_errors) for s in scored]))
    contents = render_report(summary, title="spinemark evaluation", sources={"predictions": str(pred_dir),
                                                                              "truth": str(truth_dir)})
    summary.outputs = write_files({out_dir / name: data for name, data in contents.items()}, overwrite=overwrite)
    log.info("evaluated %d pairs (%d errors) into %s", len(scored), len(errors), out_dir)
    return summary


def _evaluate_safely(pair: Pair) -> tuple[ScanResult, str | None]:
    """The pair's result and a problem to report. A prediction file that cannot be read is scored as no prediction
    (every vertebra missed) and reported, so that a broken file cannot raise the figures; a pair that fails
    otherwise is left out and reported."""
    try:
        return evaluate_pair(pair.pred, pair.truth, key=pair.key), None
    except SpinemarkError as exc:
        problem = str(exc)
    except (ValueError, KeyError, TypeError, OSError, MemoryError) as exc:  # a malformed file must not stop the folder
        log.exception("unexpected failure on %s", pair.key)
        problem = str(InputError(pair.pred or pair.truth, f"{exc.__class__.__name__}: {exc}"))
    log.info("%s: %s", pair.key, problem)
    if pair.pred is not None and not _readable(pair.pred):
        try:
            missed = evaluate_pair(None, pair.truth, key=pair.key)
        except SpinemarkError:
            pass  # the truth is bad too: nothing to score
        else:
            missed.pred, missed.notes[-1] = pair.pred, "prediction unreadable: every vertebra counted as missed"
            return missed, f"{problem} (every vertebra of its truth counted as missed)"
    return ScanResult(pair.key, pair.pred, pair.truth, error=problem), None


def _readable(pred: Path) -> bool:
    try:
        read_landmarks(pred)
    except (SpinemarkError, ValueError, KeyError, TypeError, OSError):
        return False
    return True


def _buckets(scans: Sequence[ScanResult]) -> dict[str, list[ScanResult]]:
    """Field-of-view bucket -> its scored scans, smallest fields of view first."""
    groups: dict[str, list[ScanResult]] = {}
    for s in sorted(scans, key=lambda s: s.score.n_true):
        groups.setdefault(fov_bucket(s.score.n_true), []).append(s)
    return groups


def _per_bucket(scans: Sequence[ScanResult]) -> dict[str, dict]:
    return {k: summarize([s.score for s in v]) for k, v in _buckets(scans).items()}


# ---------------------------------------------------------------- rendering


def csv_bytes(rows: list[dict]) -> bytes:
    """CSV text of dict rows (columns: every key, in first-seen order)."""
    buf = io.StringIO()
    cols = list(dict.fromkeys(k for r in rows for k in r))
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def landmark_rows(key: str, score: ScanScore, **extra) -> list[dict]:
    """One row per true vertebra of a scan: error, identified, within each threshold."""
    rows = []
    for n in score.true_names:
        e = score.errors_mm.get(n)
        rows.append({**extra, "key": key, "level": n, "predicted": e is not None,
                     "error_mm": None if e is None else round(e, 3), "identified": score.identified[n]})
    return rows


def vertebra_confidence_line(m: dict) -> str:
    """One sentence on the predictions' confidences from a :func:`summarize` dict (its ``vertebra_confidence``)."""
    c = m["vertebra_confidence"]
    if not c["n"]:
        return "No prediction that the truth can judge."
    auc = "n/a (all right or all wrong)" if c["auc"] is None else f"{c['auc']:.3f}"
    return (f"Per vertebra ({c['n']} predictions the truth can judge: right when identified, wrong when a false "
            f"positive): Brier score {c['brier']:.4f}, expected calibration error {c['ece']:.3f}, area under the ROC "
            f"curve {auc} (the chance that a right vertebra has the higher confidence).")


def _fmt(v, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.1f}%" if pct else (f"{v:.2f}" if isinstance(v, float) else str(v))


METRIC_COLUMNS = ("scans", "vertebrae", "ID rate", "mean mm", "median mm", "<=5 mm", "<=10 mm", "<=20 mm",
                  "subset acc.", "FP", "misses", "unverifiable")


def metrics_row(m: dict) -> list[str]:
    """The cells of one :data:`METRIC_COLUMNS` table row from a :func:`summarize` dict."""
    e = m["error"]
    return [str(m["n_scans"]), str(m["n_true"]), _fmt(m["identification_rate"], True), _fmt(e["mean_mm"]),
            _fmt(e["median_mm"]), _fmt(e["within_5mm"], True), _fmt(e["within_10mm"], True),
            _fmt(e["within_20mm"], True), _fmt(m["subset_accuracy"], True), str(m["n_fp"]), str(m["n_missed"]),
            str(m["n_unverifiable"])]


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def metrics_table(groups: dict[str, dict], first: str = "group") -> str:
    """A markdown table with one row per named :func:`summarize` dict."""
    return md_table((first, *METRIC_COLUMNS), [[name, *metrics_row(m)] for name, m in groups.items()])


def per_level_table(metrics: dict) -> str:
    """Markdown table of the per-level numbers of a :func:`summarize` dict."""
    rows = [[lv, str(r["n_true"]), _fmt(r["identification_rate"], True), _fmt(r["mean_mm"]), _fmt(r["median_mm"]),
             _fmt(r["within_5mm"], True), _fmt(r["within_10mm"], True), _fmt(r["within_20mm"], True), str(r["n_fp"])]
            for lv, r in metrics["per_level"].items()]
    return md_table(("level", "n", "ID rate", "mean mm", "median mm", "<=5 mm", "<=10 mm", "<=20 mm", "FP"), rows)


def discs_table(groups: dict[str, dict[str, dict]]) -> str:
    """Markdown table of :func:`~spinemark.evaluate.metrics.disc_summary` dicts, one block of rows per group."""
    rows = [[group if disc == "all" else "", disc, str(e["n_total"]), str(e["n"]), _fmt(e["mean_mm"]),
             _fmt(e["median_mm"]), _fmt(e["max_mm"]), _fmt(e["within_5mm"], True), _fmt(e["within_10mm"], True)]
            for group, discs in groups.items() for disc, e in discs.items()]
    return md_table(("set", "disc", "true", "predicted", "mean mm", "median mm", "max mm", "<=5 mm", "<=10 mm"), rows)


def confusion_md(table: dict) -> str:
    """Markdown table of a confusion matrix (rows true, columns predicted)."""
    rows = [[r, *(str(c) if c else "." for c in counts)] for r, counts in zip(table["rows"], table["counts"])]
    return md_table(("true \\ pred", *table["cols"]), rows)


def render_report(summary: Summary, title: str, sources: dict[str, str]) -> dict[str, bytes]:
    """All report files of :func:`evaluate_dirs` in memory: file name -> content."""
    scored = [s for s in summary.scans if s.ok]
    m = summary.metrics
    lm_rows = [r for s in scored for r in landmark_rows(s.key, s.score)]
    by_level: dict[str, list[float]] = {}
    for r in lm_rows:
        by_level.setdefault(r["level"], [])
        if r["error_mm"] is not None:
            by_level[r["level"]].append(r["error_mm"])
    by_level = {k: by_level[k] for k in sort_levels(by_level)}
    by_fov = {b: [e for s in scored if fov_bucket(s.score.n_true) == b for e in s.score.errors_mm.values()]
              for b in summary.per_fov}
    md = [f"# {title}", "", *(f"- {k}: `{v}`" for k, v in sources.items()),
          f"- pairs scored: {summary.n_scored} of {len(summary.scans)}; problems: {len(summary.errors)}"
          + (" (listed at the end: a truth without prediction is scored as every vertebra missed; a prediction "
             "without truth, or a file that cannot be read, is left out of every figure)" if summary.errors else ""), "",
          "## Overall (vertebrae)", "", metrics_table({"all": m}), "", METRICS_NOTE, "", PARTIAL_LABELS_NOTE, "",
          "## Per level", "", per_level_table(m), "", "![error per level](error_per_level.png)", "",
          "## Confidence", "", vertebra_confidence_line(m), "",
          "## Per field of view (labelled vertebrae in view)", "", metrics_table(summary.per_fov, "field of view"), "",
          "![error per field of view](error_per_fov.png)", "",
          "## Names off", "", f"Per field of view: {NAMES_OFF_NOTE}", "",
          names_off_table({k: [s.names_off for s in v] for k, v in _buckets(scored).items()}, "field of view"), "",
          "## Label confusion", "",
          "Rows: the true vertebra closest to a prediction (within the radius; '-' = none). Columns: the predicted "
          "name ('-' = a true vertebra no judged prediction lies near). Unverifiable predictions are left out. "
          "Off-by-one labelling shows as a band beside the diagonal.", "",
          confusion_md(m["confusion"]), "", "![confusion](confusion.png)", ""]
    if summary.discs:
        n = sum(bool(s.true_discs) for s in scored)
        md += ["## Discs", "", f"The {n} scan(s) whose truth and prediction both hold discs (`spinemark predict "
               "--discs`): the distance from each true disc centre to the predicted disc of the same name; within "
               "5/10 mm as shares of all true discs (a disc not predicted under its name counts as outside).", "",
               discs_table({"all": summary.discs}), ""]
    if summary.errors:
        md += ["## Problems", "", *(f"- {e}" for e in summary.errors), ""]
    return {
        "per_scan.csv": csv_bytes([s.row() for s in summary.scans]) if summary.scans else b"key\n",
        "per_landmark.csv": csv_bytes(lm_rows) if lm_rows else b"key,level,predicted,error_mm,identified\n",
        "summary.json": json.dumps(summary.to_dict(), indent=1).encode(),
        "report.md": "\n".join(md).encode(),
        "error_per_level.png": plots.error_boxplot(by_level, "localization error per level", "level"),
        "error_per_fov.png": plots.error_boxplot(by_fov, "localization error per field of view", "labelled vertebrae in view"),
        "confusion.png": plots.confusion_plot(m["confusion"]),
    }
