"""Evaluation: metrics on landmarks, masks and boxes; folder evaluation with reports; benchmarks.

Layers: pure metric functions (:mod:`~spinemark.evaluate.metrics`) -> one pair of files
(:func:`evaluate_pair`) -> two folders (:func:`evaluate_dirs`). The field-of-view benchmark
(:mod:`~spinemark.evaluate.fov`) and the speed benchmark (:mod:`~spinemark.evaluate.speed`) run a method
and go through the same metrics.
"""

from spinemark.evaluate.metrics import (
    ScanScore,
    average_precision,
    box_iou,
    confusion_table,
    dice,
    dice_per_instance,
    dice_per_level,
    error_stats,
    localization_errors,
    score_scan,
    summarize,
)
from spinemark.evaluate.pairing import Pair, find_pairs, pair_key
from spinemark.evaluate.report import ScanResult, Summary, evaluate_dirs, evaluate_landmarks, evaluate_pair, load_truth

__all__ = [
    "Pair", "ScanResult", "ScanScore", "Summary", "average_precision", "box_iou", "confusion_table", "dice",
    "dice_per_instance", "dice_per_level", "error_stats", "evaluate_dirs", "evaluate_landmarks", "evaluate_pair",
    "find_pairs", "load_truth", "localization_errors", "pair_key", "score_scan", "summarize",
]
