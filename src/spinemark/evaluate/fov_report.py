"""Render the field-of-view benchmark's results: CSV, JSON and a markdown report with plots."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from spinemark.errors import OutputError
from spinemark.evaluate import plots
from spinemark.evaluate.fov import (
    AXIAL_THICKNESS_MM,
    NAMED_VARIANTS,
    NOISE_SNR,
    RANDOM_KS,
    S1_EDGE_FRACTION,
    SHADING_RATIO,
    VariantResult,
    results_calibration,
    summarize_variants,
)
from spinemark.evaluate.metrics import summarize
from spinemark.evaluate.report import (
    METRICS_NOTE,
    NAMES_OFF_NOTE,
    PARTIAL_LABELS_NOTE,
    csv_bytes,
    landmark_rows,
    metrics_table,
    names_off_table,
    per_level_table,
    vertebra_confidence_line,
)
from spinemark.io.writers import write_files

FOV_FILES = ("fov_results.csv", "fov_landmarks.csv", "fov_summary.json", "fov_report.md", "fov_id_rate.png",
             "fov_errors.png")
"""What :func:`write_fov_report` writes."""

CONFIDENT = 0.98
"""A prediction whose median vertebra confidence reaches this is counted as confident in the report's
confidence table. 0.6 was chosen on the tuning cases of dualhead_v10 (every window; the default before
dualhead_v13), where chains named from an S1 anchor had medians 0.78..0.88 and chains named from the level heatmaps
alone 0.19..0.52; dualhead_v13 13.6.0 maps its confidences so that they say how often vertebrae are right
(``DecodeConfig.confidence_map``), which takes 0.6 to 0.979: the same split."""


def _variant_help() -> str:
    named = "; ".join(f"`{k}`: {a} to {b or 'the caudal end of the image'}" for k, (a, b) in NAMED_VARIANTS.items())
    return (f"Variants: `full`: the whole scan; {named}; `s1_edge`: L4 to {S1_EDGE_FRACTION:g} of the way from "
            "the L5 to the S1 centre (S1 extrapolated when not labelled; the top of S1 in view); "
            f"`random_k<k>`: k = {RANDOM_KS[0]}..{RANDOM_KS[-1]} consecutive labelled vertebrae (one window drawn "
            "from the seed and the case, or every window); `thick4mm`: sagittal slices averaged into 4 mm slabs on "
            f"a 4 mm grid; `axial5mm`: the whole scan averaged along the spine axis into {AXIAL_THICKNESS_MM:g} mm "
            "slabs (axial slices); `pelvic_axial5mm`: the `pelvic` crop so averaged; `snr10`: the whole scan with "
            f"Rician noise of sigma 1/{NOISE_SNR:g} of its 99th percentile; `coil_shading`: the whole scan darkened "
            f"from posterior to anterior, {SHADING_RATIO:g} times at the anterior end. Cuts lie at the midpoints "
            "between labelled centres along the spine axis (half the neighbouring spacing beyond the labelled ends). "
            "A variant is skipped for a scan that does not label the levels it needs.")


def _rate(results: Sequence[VariantResult]) -> str:
    rate = summarize([r.score for r in results])["identification_rate"] if results else None
    return "-" if rate is None else f"{100 * rate:.1f}%"


def _names_off_by_variant(results: Sequence[VariantResult]) -> dict[str, list[int | None]]:
    """Variant -> the ``names_off`` of each of its results, in the order the variants first come."""
    out: dict[str, list[int | None]] = {}
    for r in results:
        out.setdefault(r.variant, []).append(r.names_off)
    return out


def confidence_table(results: Sequence[VariantResult], threshold: float = CONFIDENT) -> str:
    """Markdown table: per variant, how many predictions are confident (median vertebra confidence at least
    ``threshold``) and the identification rate of the confident and of the other (flagged) ones."""
    order = list(dict.fromkeys(r.variant for r in results))
    lines = [f"| variant | samples | confident (>= {threshold}) | ID confident | ID flagged |", "|---|---|---|---|---|"]
    for v in [*order, "all"]:
        rs = [r for r in results if r.variant == v or v == "all"]
        sure = [r.confidence is not None and r.confidence >= threshold for r in rs]
        conf = [r for r, ok in zip(rs, sure) if ok]
        flagged = [r for r, ok in zip(rs, sure) if not ok]
        name = "**all**" if v == "all" else v
        lines.append(f"| {name} | {len(rs)} | {len(conf)} | {_rate(conf)} | {_rate(flagged)} |")
    return "\n".join(lines)


def calibration_table(results: Sequence[VariantResult]) -> str:
    """Markdown: the Brier score and expected calibration error of the predictions' median vertebra confidence
    against the share of their vertebrae identified, and per confidence bin the mean of each."""
    cal = results_calibration(results)
    if not cal["n"]:
        return "No scored predictions."
    lines = [f"Brier score {cal['brier']:.4f}, expected calibration error {cal['ece']:.3f} ({cal['n']} predictions).",
             "", "| median confidence | predictions | mean confidence | share identified |", "|---|---|---|---|"]
    lines += [f"| {b['low']:.1f}..{b['high']:.1f} | {b['n']} | {b['confidence']:.2f} | {b['outcome']:.2f} |"
              for b in cal["bins"]]
    scores = [r.score for r in results if r.score is not None]
    return "\n".join([*lines, "", vertebra_confidence_line(summarize(scores))])


def warning_kind(text: str) -> str:
    """A warning's kind: its text up to the first colon, semicolon or parenthesis (the figures follow)."""
    return re.split(r"[:;(]", text, maxsplit=1)[0].strip()


def warnings_table(results: Sequence[VariantResult]) -> str:
    """Markdown table: per kind of warning, how many predictions carried it and their identification rate."""
    kinds: dict[str, list[VariantResult]] = {}
    for r in results:
        for kind in dict.fromkeys(warning_kind(w) for w in r.warnings):
            kinds.setdefault(kind, []).append(r)
    lines = ["| warning | samples | ID rate of those samples |", "|---|---|---|"]
    lines += [f"| {k} | {len(rs)} of {len(results)} | {_rate(rs)} |" for k, rs in sorted(kinds.items())]
    return "\n".join(lines) if kinds else f"No warnings on the {len(results)} samples."


def render_fov_report(results: Sequence[VariantResult], meta: dict) -> dict[str, bytes]:
    """The benchmark's files in memory: file name -> content.

    Args:
        results: From :func:`~spinemark.evaluate.fov.run_fov_benchmark`.
        meta: Provenance shown at the top and stored in the JSON (method, weights, data, seed, versions...).
    """
    table = summarize_variants(results)
    failures = [r for r in results if r.error]
    md = ["# spinemark field-of-view benchmark", "", *(f"- {k}: `{v}`" for k, v in meta.items()), "",
          _variant_help(), "", METRICS_NOTE, "", PARTIAL_LABELS_NOTE, ""]
    for sub, rows in table.items():
        md += [f"## {sub}", "", metrics_table(rows, "variant"), ""]
        if "full" in rows:
            md += [f"Per level, `full` variant ({sub}):", "", per_level_table(rows["full"]), ""]
        scored = [r for r in results if r.subset == sub and r.score is not None]
        md += [f"Naming confidence ({sub}): predictions whose median vertebra confidence is at least {CONFIDENT} "
               "against the rest (a failed or empty prediction counts as flagged):", "", confidence_table(scored), "",
               f"Confidence calibration ({sub}): does a median vertebra confidence say which share of a "
               "prediction's vertebrae is identified?", "", calibration_table(scored), "",
               f"Warnings ({sub}):", "", warnings_table(scored), "",
               f"Names off ({sub}): {NAMES_OFF_NOTE}", "", names_off_table(_names_off_by_variant(scored), "variant"), ""]
    md += ["![identification rate per variant](fov_id_rate.png)", "", "![error per variant](fov_errors.png)", ""]
    if failures:
        md += ["## Failures", "", "A failed prediction is scored as an empty one (every vertebra missed).", "",
               *(f"- {r.case} / {r.variant}: {r.error}" for r in failures), ""]
    rates = {f"{sub}:{v}": m["identification_rate"] for sub, rows in table.items() for v, m in rows.items()}
    errs = {f"{sub}:{v}": [e for r in results if r.subset == sub and r.variant == v and r.score
                           for e in r.score.errors_mm.values()]
            for sub, rows in table.items() for v in rows}
    lm = [row for r in results if r.score for row in landmark_rows(r.case, r.score, variant=r.variant, subset=r.subset)]
    return {
        "fov_results.csv": csv_bytes([r.row() for r in results]) if results else b"case\n",
        "fov_landmarks.csv": csv_bytes(lm) if lm else b"key\n",
        "fov_summary.json": json.dumps({"meta": meta, "per_subset": table, "calibration": {
            sub: results_calibration([r for r in results if r.subset == sub]) for sub in table}}, indent=1).encode(),
        "fov_report.md": "\n".join(md).encode(),
        "fov_id_rate.png": plots.rate_bars(rates, "identification rate per variant"),
        "fov_errors.png": plots.error_boxplot(errs, "localization error per variant", "subset:variant"),
    }


def write_fov_report(results: Sequence[VariantResult], out_dir: str | Path, meta: dict, overwrite: bool = False) -> list[Path]:
    """Write :func:`render_fov_report`'s files into ``out_dir``, all or nothing.

    Raises:
        OutputError: A file exists and ``overwrite`` is false.
    """
    out_dir = Path(out_dir)
    if not overwrite:
        check_free(out_dir)
    return write_files({out_dir / k: v for k, v in render_fov_report(results, meta).items()}, overwrite=overwrite)


def check_free(out_dir: str | Path) -> None:
    """Raise :class:`OutputError` if a benchmark file already exists in ``out_dir`` (call before the work)."""
    for f in FOV_FILES:
        if (Path(out_dir) / f).exists():
            raise OutputError(Path(out_dir) / f, "output exists; use --overwrite to replace it")
