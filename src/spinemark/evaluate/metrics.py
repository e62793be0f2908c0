"""Accuracy metrics: pure functions on :class:`~spinemark.landmarks.Landmarks`, label maps and boxes.

Landmark metrics follow Glocker et al. (MICCAI 2012 / 2013):

- **localization error**: distance (mm) between a true centre and the prediction with the same name;
- **identification**: a true vertebra is identified when the prediction with its name lies within
  ``radius_mm`` (20 mm) of its true centre *and* no other true centre is closer to that prediction.

Partially labelled truth. A truth carries its set of *labelled levels* (by default the names it holds;
a crop of a scan passes the full scan's labelled set). Each prediction is then classed as

- ``tp``: its name is a true landmark of the scan and it identifies that landmark;
- ``fp``: its name is labelled but it does not identify it (wrong place, a neighbour's place, or a
  labelled level that is not in view); or its name is unlabelled and it is a mislabel: it lies within
  ``radius_mm`` of its closest true centre while no prediction of that vertebra's own name identifies it
  (or within half the radius of it, a second detection of that vertebra), or its place in the anatomical
  order contradicts its position among the true vertebrae in view (an S1 above a true L5, a T12 between a
  true L2 and L3);
- ``unverifiable``: any other prediction of a name the scan does not label (an unlabelled C4 between a
  labelled C3 and C5, an S1 below a labelled L5): the truth cannot say whether it is right, so it is
  neither a true nor a false positive.

Example:
    >>> from spinemark.landmarks import Landmark, Landmarks
    >>> truth = Landmarks([Landmark("L4", (0, 0, 40)), Landmark("L5", (0, 0, 0))])
    >>> pred = Landmarks([Landmark("L4", (0, 0, 38)), Landmark("L5", (0, 0, 40)), Landmark("S1", (0, 0, -40))])
    >>> s = score_scan(pred, truth)
    >>> s.identified, s.n_fp, s.n_unverifiable, s.subset_correct
    ({'L4': True, 'L5': False}, 1, 1, False)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from spinemark import anatomy
from spinemark.landmarks import Landmarks

RADIUS_MM = 20.0
"""Identification radius of Glocker et al."""

ERROR_THRESHOLDS_MM = (5.0, 10.0, 20.0)
"""Radii of the "within" rates reported with every localization error."""

NONE = "-"
"""Stands for "no landmark" in confusion pairs: a missed truth or a prediction near no true centre."""


def _order(name: str) -> float:
    if name == NONE:
        return 1e9
    lid = anatomy.name_to_id(name)
    return anatomy.order(lid - anatomy.DISC_OFFSET) + 0.5 if anatomy.is_disc(lid) else anatomy.order(name)


def sort_levels(names: Iterable[str]) -> list[str]:
    """Sort vertebra/disc names cranial to caudal; :data:`NONE` goes last."""
    return sorted(set(names), key=_order)


@dataclass
class ScanScore:
    """Every landmark metric of one scan (see the module docstring for the rules).

    Attributes:
        true_names: Names of the true landmarks in view, cranial to caudal.
        labelled: The scan's labelled levels (a superset of ``true_names``).
        pred_names: Names of all predictions.
        errors_mm: Localization error per true name that has a prediction of the same name.
        identified: Per true name, whether it is identified.
        outcome: Per predicted name, ``"tp"``, ``"fp"`` or ``"unverifiable"``.
        confidence: Per predicted name, the prediction's confidence.
        confusion: ``(true name, predicted name)`` pairs: one per judged prediction (true name is the
            closest true centre within the radius, else :data:`NONE`) and one ``(true, NONE)`` per
            true landmark that no judged prediction lies close to.
    """

    true_names: list[str]
    labelled: list[str]
    pred_names: list[str]
    errors_mm: dict[str, float] = field(default_factory=dict)
    identified: dict[str, bool] = field(default_factory=dict)
    outcome: dict[str, str] = field(default_factory=dict)
    confusion: list[tuple[str, str]] = field(default_factory=list)
    confidence: dict[str, float] = field(default_factory=dict)

    @property
    def n_true(self) -> int:
        return len(self.true_names)

    @property
    def n_pred(self) -> int:
        return len(self.pred_names)

    @property
    def n_identified(self) -> int:
        return sum(self.identified.values())

    @property
    def missed(self) -> list[str]:
        """True landmarks not identified."""
        return [n for n in self.true_names if not self.identified[n]]

    @property
    def false_positives(self) -> list[str]:
        return [n for n in self.pred_names if self.outcome[n] == "fp"]

    @property
    def unverifiable(self) -> list[str]:
        return [n for n in self.pred_names if self.outcome[n] == "unverifiable"]

    @property
    def n_fp(self) -> int:
        return len(self.false_positives)

    @property
    def n_missed(self) -> int:
        return len(self.missed)

    @property
    def n_unverifiable(self) -> int:
        return len(self.unverifiable)

    @property
    def identification_rate(self) -> float:
        """Identified / true landmarks in view (NaN when none is in view)."""
        return self.n_identified / self.n_true if self.n_true else float("nan")

    @property
    def subset_correct(self) -> bool:
        """Every true landmark in view identified and no false positive (unverifiable ones are allowed)."""
        return self.n_missed == 0 and self.n_fp == 0

    def summary_row(self) -> dict:
        """The scan's numbers as a flat dict (one CSV row; keys :data:`SUMMARY_COLUMNS`)."""
        err = list(self.errors_mm.values())
        return dict(zip(SUMMARY_COLUMNS, (
            self.n_true, self.n_pred, self.n_identified, _round(self.identification_rate),
            _round(float(np.mean(err))) if err else None, _round(float(np.median(err))) if err else None,
            self.n_fp, self.n_missed, self.n_unverifiable, self.subset_correct,
            " ".join(self.true_names), " ".join(self.labelled), " ".join(self.missed),
            " ".join(self.false_positives), " ".join(self.unverifiable),
        ), strict=True))


SUMMARY_COLUMNS = ("n_true", "n_pred", "n_identified", "identification_rate", "mean_error_mm", "median_error_mm",
                   "n_fp", "n_missed", "n_unverifiable", "subset_correct", "true_levels", "labelled_levels",
                   "missed_levels", "fp_levels", "unverifiable_levels")
"""The columns of :meth:`ScanScore.summary_row`, in order (blank for a sample that could not be scored)."""


def localization_errors(pred: Landmarks, truth: Landmarks) -> dict[str, float]:
    """Distance (mm) between each true landmark and the prediction with the same name.

    True landmarks without a same-name prediction are left out (count them with :func:`score_scan`).
    """
    return {
        t.name: float(np.linalg.norm(np.subtract(pred[t.name].position_mm, t.position_mm)))
        for t in truth
        if t.name in pred
    }


def _nearest(positions: np.ndarray, point) -> tuple[int | None, float]:
    """Index of the row of ``positions`` closest to ``point`` and its distance (None, inf: no rows)."""
    if not len(positions):
        return None, float("inf")
    d = np.linalg.norm(positions - np.asarray(point, dtype=np.float64), axis=1)
    j = int(np.argmin(d))
    return j, float(d[j])


def _out_of_order(name: str, position, true_names: Sequence[str], tpos: np.ndarray) -> bool:
    """Whether a prediction named ``name`` lies on the wrong side of a true vertebra in view: not between the true
    vertebrae just above and below its name in the anatomical order, measured along the chain between them (or along
    the last link of the chain, beyond its ends). Needs two true vertebrae in view."""
    if len(true_names) < 2:
        return False
    ranked = sorted(zip((_order(n) for n in true_names), range(len(true_names))))
    orders = [o for o, _ in ranked]
    pts = tpos[[i for _, i in ranked]]
    k = int(np.searchsorted(orders, _order(name)))  # true vertebrae 0..k-1 lie above the name, k.. below it
    p = np.asarray(position, dtype=np.float64)
    if 0 < k < len(orders):  # between two true vertebrae: on the segment between them
        a, b = pts[k - 1], pts[k]
        t = float(np.dot(p - a, b - a) / max(np.dot(b - a, b - a), 1e-9))
        return not 0.0 < t < 1.0
    a, b = (pts[0], pts[1]) if k == 0 else (pts[-1], pts[-2])  # beyond an end: on the far side of that end
    return float(np.dot(p - a, b - a)) >= 0.0


def score_scan(
    pred: Landmarks, truth: Landmarks, labelled: Iterable[str] | None = None, radius_mm: float = RADIUS_MM,
    partial: Landmarks | None = None,
) -> ScanScore:
    """Score the predictions of one scan against its (possibly partial) truth.

    Args:
        pred: Predicted landmarks (pass ``.vertebrae()`` of both sides to score vertebrae only).
        truth: True landmarks in view; all of them labelled.
        labelled: The scan's labelled levels; defaults to ``truth.names``. Names in ``truth`` are
            always labelled. A crop passes the full scan's set, so a prediction of a labelled level that
            was cut away is a false positive.
        radius_mm: Identification radius.
        partial: Labelled vertebrae that a crop shows in part, their centres outside it (see
            :func:`spinemark.evaluate.fov.partial_in_view`): a prediction of one of them within ``radius_mm`` of
            its centre names a body in view rightly, and is unverifiable rather than a false positive.

    Returns:
        The :class:`ScanScore`.
    """
    true_names = list(truth.names)
    lab = set(true_names) | set(labelled or ())
    tpos = truth.positions_mm
    errors = localization_errors(pred, truth)
    identified = {n: errors.get(n, np.inf) <= radius_mm and _nearest(tpos, pred[n].position_mm)[1] >= errors[n] - 1e-9
                  for n in true_names}
    outcome: dict[str, str] = {}
    confusion: list[tuple[str, str]] = []
    near_truth: set[str] = set()
    for p in pred:
        j, d_near = _nearest(tpos, p.position_mm)
        nearest = true_names[j] if j is not None else NONE
        close = d_near <= radius_mm
        if p.name in identified:
            outcome[p.name] = "tp" if identified[p.name] else "fp"
        elif partial is not None and p.name in partial and \
                np.linalg.norm(np.subtract(p.position_mm, partial[p.name].position_mm)) <= radius_mm:
            outcome[p.name] = "unverifiable"
            continue
        elif p.name in lab or (close and (not identified[nearest] or d_near <= radius_mm / 2)) \
                or _out_of_order(p.name, p.position_mm, true_names, tpos):
            outcome[p.name] = "fp"
        else:
            outcome[p.name] = "unverifiable"
            continue
        true_side = (p.name if outcome[p.name] == "tp" else nearest) if close else NONE
        confusion.append((true_side, p.name))
        if true_side != NONE:
            near_truth.add(true_side)
    confusion += [(n, NONE) for n in true_names if n not in near_truth]
    return ScanScore(true_names, sort_levels(lab), list(pred.names), errors, identified, outcome, confusion,
                     {p.name: p.confidence for p in pred})


NAME_SHIFTS = (0, 1, -1, 2, -2, 3, -3)
"""Shifts :func:`names_off` tries, smallest first."""


def names_off(pred: Landmarks, truth: Landmarks, labelled: Iterable[str] | None = None,
              partial: Landmarks | None = None) -> int | None:
    """How many levels the names of a prediction are off along the spine, judged by positions.

    The smallest shift ``s`` of :data:`NAME_SHIFTS` such that every predicted vertebra, renamed ``s`` levels
    cranially along the standard sequence (``+1``: L1..L2 predicted as L2..L3), makes the sample subset-correct by
    :func:`score_scan` (each vertebra in view within the radius of its own truth and closest to it, no labelled
    level named where it is not): 0 when the names given are right. None when no shift does, nothing is predicted,
    or a predicted name lies outside the standard sequence (T13, L6) or is moved off its ends.
    """
    seq = anatomy.standard_sequence(coccyx=True)
    verts = pred.vertebrae()
    if not len(verts) or any(n not in seq for n in verts.names):
        return None
    for s in NAME_SHIFTS:
        index = [seq.index(n) - s for n in verts.names]
        if min(index) < 0 or max(index) >= len(seq):
            continue
        moved = Landmarks([replace(p, name=seq[i]) for p, i in zip(verts, index)], verts.geometry)
        if score_scan(moved, truth, labelled=labelled, partial=partial).subset_correct:
            return s
    return None


# ---------------------------------------------------------------- aggregation over scans


def error_stats(errors: Sequence[float], n_total: int | None = None) -> dict:
    """Mean, median, std and max of errors (mm), and the share within 5, 10 and 20 mm.

    Args:
        errors: Localization errors in mm.
        n_total: Denominator of the "within" rates; defaults to ``len(errors)``. Pass the number of
            true landmarks so that a landmark with no prediction counts as outside every radius.
    """
    e = np.asarray(list(errors), dtype=np.float64)
    n_total = len(e) if n_total is None else n_total
    out = {"n": int(len(e)), "n_total": int(n_total)}
    if len(e):
        out.update(mean_mm=_round(e.mean()), median_mm=_round(np.median(e)), std_mm=_round(e.std()), max_mm=_round(e.max()))
    else:
        out.update(mean_mm=None, median_mm=None, std_mm=None, max_mm=None)
    for t in ERROR_THRESHOLDS_MM:
        out[f"within_{t:g}mm"] = _round(np.count_nonzero(e <= t) / n_total) if n_total else None
    return out


def disc_summary(scans: Sequence[tuple[Sequence[str], dict[str, float]]]) -> dict[str, dict]:
    """Disc centres over scans, each given as its true disc names and the errors of the discs predicted under those
    names (:func:`localization_errors`): :func:`error_stats` pooled (``"all"``) and per disc, cranial to caudal, with
    every true disc in the denominators (a disc not predicted counts as outside every radius); {} without discs."""
    per: dict[str, list[float | None]] = {}
    for names, errors in scans:
        for n in names:
            per.setdefault(n, []).append(errors.get(n))

    def stats(values: list[float | None]) -> dict:
        return error_stats([e for e in values if e is not None], len(values))

    if not per:
        return {}
    return {"all": stats([e for v in per.values() for e in v]), **{n: stats(per[n]) for n in sort_levels(per)}}


def summarize(scores: Sequence[ScanScore]) -> dict:
    """Pool scans: identification rate, errors, per-level rates, subset accuracy, FP, misses, confusion.

    Rates are pooled over landmarks (identified / true landmarks of all scans), as in Glocker et al.;
    subset accuracy is the share of scans with every landmark identified and no false positive.
    """
    n_true = sum(s.n_true for s in scores)
    n_id = sum(s.n_identified for s in scores)
    all_err = [e for s in scores for e in s.errors_mm.values()]
    per_level: dict[str, dict] = {}
    levels = sort_levels({n for s in scores for n in (*s.true_names, *s.false_positives)})  # a name only predicted too
    for lv in levels:
        present = [s for s in scores if lv in s.identified]
        errs = [s.errors_mm[lv] for s in present if lv in s.errors_mm]
        rate = _round(sum(s.identified[lv] for s in present) / len(present)) if present else None
        row = {"n_true": len(present), "identification_rate": rate}
        row.update({k: v for k, v in error_stats(errs, len(present)).items() if k != "n_total"})
        row["n_fp"] = sum(1 for s in scores for n in s.false_positives if n == lv)
        per_level[lv] = row
    conf = Counter(pair for s in scores for pair in s.confusion)
    return {
        "n_scans": len(scores),
        "n_true": n_true,
        "n_pred": sum(s.n_pred for s in scores),
        "n_identified": n_id,
        "identification_rate": _round(n_id / n_true) if n_true else None,
        "error": error_stats(all_err, n_true),
        "subset_accuracy": _round(np.mean([s.subset_correct for s in scores])) if scores else None,
        "n_fp": sum(s.n_fp for s in scores),
        "n_missed": sum(s.n_missed for s in scores),
        "n_unverifiable": sum(s.n_unverifiable for s in scores),
        "fp_per_scan": _round(sum(s.n_fp for s in scores) / len(scores)) if scores else None,
        "per_level": per_level,
        "confusion": confusion_table(conf),
        "vertebra_confidence": vertebra_calibration(scores),
    }


def vertebra_calibration(scores: Sequence[ScanScore]) -> dict:
    """:func:`calibration` (and :func:`ranking_auc` as ``auc``) of the confidences of every prediction the truth can
    judge: right when it identifies its vertebra, wrong when it is a false positive; unverifiable ones are left out."""
    judged = [(s.confidence.get(n, 1.0), o == "tp") for s in scores for n, o in s.outcome.items() if o != "unverifiable"]
    conf, right = [c for c, _ in judged], [r for _, r in judged]
    out = calibration(conf, [float(r) for r in right])
    out["auc"] = ranking_auc(conf, right)
    return out


def calibration(confidences: Sequence[float], outcomes: Sequence[float], n_bins: int = 10) -> dict:
    """How well confidences say how often predictions are right.

    Args:
        confidences: One confidence in [0, 1] per prediction.
        outcomes: The share of it that was right, in [0, 1] (1 or 0 for a single landmark; a scan's
            identification rate for its median confidence).
        n_bins: Equal-width confidence bins of the expected calibration error.

    Returns:
        ``n``; ``brier``: the mean squared difference (a proper score: lower is better); ``ece``: the mean over
        predictions of |mean confidence - mean outcome| within their bin; ``bins``: per non-empty bin its bounds,
        count, mean confidence and mean outcome.
    """
    c = np.clip(np.asarray(confidences, dtype=np.float64), 0.0, 1.0)
    o = np.asarray(outcomes, dtype=np.float64)
    if c.shape != o.shape:
        raise ValueError(f"{len(c)} confidences for {len(o)} outcomes")
    if not len(c):
        return {"n": 0, "brier": None, "ece": None, "bins": []}
    which = np.minimum((c * n_bins).astype(int), n_bins - 1)
    bins, gap = [], 0.0
    for b in range(n_bins):
        m = which == b
        if m.any():
            bins.append({"low": b / n_bins, "high": (b + 1) / n_bins, "n": int(m.sum()),
                         "confidence": _round(c[m].mean()), "outcome": _round(o[m].mean())})
            gap += m.sum() * abs(c[m].mean() - o[m].mean())
    return {"n": int(len(c)), "brier": _round(np.mean((c - o) ** 2)), "ece": _round(gap / len(c)), "bins": bins}


def ranking_auc(confidences: Sequence[float], right: Sequence[bool]) -> float | None:
    """Area under the ROC curve: the chance that a right prediction has a higher confidence than a wrong one
    (ties count half). None without both kinds."""
    c = np.asarray(confidences, dtype=np.float64)
    y = np.asarray(right, dtype=bool)
    pos, neg = c[y], c[~y]
    if not len(pos) or not len(neg):
        return None
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return _round(wins / (len(pos) * len(neg)))


def fit_confidence_map(confidences: Sequence[float], outcomes: Sequence[float]) -> tuple[float, float]:
    """``(a, b)`` of the monotone map ``sigmoid(a * logit(c) + b)`` (a > 0) that minimises the Brier score of the
    mapped confidences against the outcomes (see :func:`calibration`): a per-model recalibration that keeps the
    order of the confidences."""
    from scipy.optimize import minimize

    from spinemark.labeling import map_confidence

    c = np.asarray(confidences, dtype=np.float64)
    o = np.asarray(outcomes, dtype=np.float64)
    if c.shape != o.shape or not len(c):
        raise ValueError(f"{len(c)} confidences for {len(o)} outcomes")

    def brier(p):  # a = exp(p[0]) keeps the map increasing
        return float(np.mean((map_confidence(c, (np.exp(p[0]), p[1])) - o) ** 2))

    best = minimize(brier, x0=np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9})
    return float(np.exp(best.x[0])), float(best.x[1])


def confusion_table(pairs: Counter | Iterable[tuple[str, str]]) -> dict:
    """Confusion matrix from ``(true, predicted)`` pairs: ``{"rows": [...], "cols": [...], "counts": [[...]]}``.

    Rows are true names (plus :data:`NONE` for predictions near no true centre), columns predicted names
    (plus :data:`NONE` for missed truths); an off-by-one labelling shows as a diagonal band beside the
    main diagonal.
    """
    pairs = pairs if isinstance(pairs, Counter) else Counter(pairs)
    rows = sort_levels(t for t, _ in pairs)
    cols = sort_levels(p for _, p in pairs)
    return {"rows": rows, "cols": cols, "counts": [[int(pairs.get((r, c), 0)) for c in cols] for r in rows]}


# ---------------------------------------------------------------- masks


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int(np.count_nonzero(a & b)) / s


def dice_per_level(pred_labels: np.ndarray, true_labels: np.ndarray, ids: Iterable[int] | None = None) -> dict[str, float]:
    """Dice per label id (by name), for the vertebra and disc ids present in the truth (other ids, such as a
    phantom's tissues, are left out), or for the given ``ids``.

    Both maps must be on the same grid. A level present in the truth and absent from the prediction
    scores 0.
    """
    if pred_labels.shape != true_labels.shape:
        raise ValueError(f"label maps differ in shape: {pred_labels.shape} vs {true_labels.shape}")
    if ids is None:
        ids = [i for i in np.unique(true_labels).tolist() if anatomy.is_vertebra(i) or anatomy.is_disc(i)]
    ids = [int(i) for i in ids]
    return {anatomy.id_to_name(i): dice(pred_labels == i, true_labels == i) for i in ids}


def dice_per_instance(pred_instances: np.ndarray, true_instances: np.ndarray) -> dict[int, float]:
    """Dice of every true instance with the predicted instance that overlaps it most, labels ignored.

    Instance ids are arbitrary non-zero integers (e.g. connected components); a true instance that no
    prediction overlaps scores 0.
    """
    if pred_instances.shape != true_instances.shape:
        raise ValueError(f"instance maps differ in shape: {pred_instances.shape} vs {true_instances.shape}")
    out = {}
    for t in (int(i) for i in np.unique(true_instances) if i != 0):
        tm = true_instances == t
        cand, counts = np.unique(pred_instances[tm], return_counts=True)
        keep = cand != 0
        if not keep.any():
            out[t] = 0.0
            continue
        best = int(cand[keep][np.argmax(counts[keep])])
        out[t] = dice(pred_instances == best, tm)
    return out


# ---------------------------------------------------------------- 2D boxes


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes ``(x0, y0, x1, y1)`` in continuous coordinates."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def average_precision(
    predictions: Sequence[Sequence[tuple]], truths: Sequence[Sequence[tuple]], iou_threshold: float = 0.5
) -> dict:
    """Mean average precision of labelled 2D boxes over a set of images.

    Args:
        predictions: Per image, ``(label, score, (x0, y0, x1, y1))`` detections.
        truths: Per image, ``(label, (x0, y0, x1, y1))`` true boxes.
        iou_threshold: A detection is a true positive when its IoU with a still unmatched true box of the
            same label is at least this (0.5 for mAP@50, 0.75 for mAP@75).

    Returns:
        ``{"mAP": float, "per_class": {label: AP}}``. Detections are matched greedily by descending score,
        each true box at most once (PASCAL VOC); AP is the area under the precision envelope at every
        recall step (all-point interpolation). Classes with no true box are left out of the mean.
    """
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} prediction lists for {len(truths)} truth lists")
    labels = sorted({t[0] for img in truths for t in img}, key=str)
    per_class = {}
    for lab in labels:
        n_gt = sum(1 for img in truths for t in img if t[0] == lab)
        dets = sorted(
            ((float(d[1]), i, d[2]) for i, img in enumerate(predictions) for d in img if d[0] == lab),
            key=lambda x: -x[0],
        )
        used = [np.zeros(sum(1 for t in img if t[0] == lab), bool) for img in truths]
        gts = [[t[1] for t in img if t[0] == lab] for img in truths]
        tp = np.zeros(len(dets))
        for k, (_, i, box) in enumerate(dets):
            ious = [box_iou(box, g) for g in gts[i]]
            if ious:
                j = int(np.argmax(np.where(used[i], -1.0, ious)))
                if not used[i][j] and ious[j] >= iou_threshold:
                    used[i][j] = True
                    tp[k] = 1
        per_class[lab] = _ap(tp, n_gt)
    return {"mAP": float(np.mean(list(per_class.values()))) if per_class else float("nan"), "per_class": per_class}


def _ap(tp: np.ndarray, n_gt: int) -> float:
    if n_gt == 0 or len(tp) == 0:
        return 0.0
    ctp = np.cumsum(tp)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, len(tp) + 1)
    r = np.concatenate([[0.0], recall])
    p = np.concatenate([[0.0], precision])
    for i in range(len(p) - 2, -1, -1):
        p[i] = max(p[i], p[i + 1])
    return float(np.sum((r[1:] - r[:-1]) * p[1:]))


def _round(v, nd: int = 4):
    v = float(v)
    return None if not np.isfinite(v) else round(v, nd)
