"""The demo: make a pelvic phantom, predict it with the default model, write every format, compare with truth."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spinemark.api import FileResult, predict_file
from spinemark.evaluate.metrics import localization_errors
from spinemark.io.readers import image_stem
from spinemark.io.writers import (
    FORMATS,
    OutputInfo,
    check_targets,
    landmarks_to_dict,
    output_paths,
    read_landmarks,
    save_volume,
    write_files,
)
from spinemark.landmarks import Landmarks
from spinemark.methods.base import get_method


@dataclass
class DemoResult:
    """Outputs and per-level errors of a demo run."""

    image: Path
    truth: Path
    result: FileResult
    rows: list[tuple[str, float | None]] = field(default_factory=list)  # (name, error mm or None if missed)
    extra: list[str] = field(default_factory=list)  # predicted names with no truth
    outside: list[str] = field(default_factory=list)  # true names that are no level of the model
    discs: list[tuple[str, float | None]] = field(default_factory=list)  # true discs: (name, error mm or None)

    def report(self) -> str:
        found = [e for _, e in self.rows if e is not None]
        lines = [f"phantom {self.image}", f"outputs {', '.join(str(p) for p in self.result.outputs)}", "",
                 "level  error vs phantom truth"]
        lines += [f"{n:<6} {'missed' if e is None else f'{e:5.1f} mm'}" for n, e in self.rows]
        lines += [f"{n:<6} not a level of the model" for n in self.outside]
        if self.extra:
            lines.append(f"predicted but not in truth: {', '.join(self.extra)}")
        if found:
            lines.append(f"\n{len(found)}/{len(self.rows)} vertebrae of the model's levels found, mean error "
                         f"{np.mean(found):.1f} mm, {sum(e <= 10 for e in found)} within 10 mm")
        if self.discs:
            lines.append("discs (--discs): " + ", ".join(f"{n} {'missed' if e is None else f'{e:.1f} mm'}"
                                                          for n, e in self.discs))
        if self.result.timings:
            lines.append("time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.result.timings.items()))
        folder = self.image.parent
        lines.append(f"\nscore it as a benchmark would: spinemark evaluate --pred {folder} --truth {self.truth.parent} "
                     f"-o {folder / 'evaluation'}")
        return "\n".join(lines)


def compare_by_name(pred: Landmarks, truth: Landmarks, levels: Sequence[str] | None = None
                    ) -> tuple[list[tuple[str, float | None]], list[str], list[str]]:
    """Distance (mm) from each true vertebra to the prediction of the same name; names predicted but not true; true
    names outside ``levels`` (the levels a model can name; all when None), which get no distance."""
    errors = localization_errors(pred, truth.vertebrae())
    names = truth.vertebrae().names
    outside = [n for n in names if levels is not None and n not in levels]
    rows = [(n, errors.get(n)) for n in names if n not in outside]
    extra = [p.name for p in pred.vertebrae() if p.name not in truth]
    return rows, extra, outside


def run_demo(outdir: str | Path = "spinemark-demo", seed: int = 0, overwrite: bool = False,
             method: str = "dualhead", weights=None) -> DemoResult:
    """Make a pelvic phantom in ``outdir``, predict it (with discs), write every output format and compare with truth.

    Raises:
        OutputError: A file the demo writes exists (and ``overwrite`` is false) or is a folder; checked for every
            file before anything is written.
    """
    from spinemark.synth import make_phantom

    outdir = Path(outdir)
    image_path = outdir / "demo_pelvic.nii.gz"
    truth_path = outdir / "truth" / "demo_pelvic.landmarks.json"  # a folder of its own: `spinemark evaluate` pairs it
    check_targets([image_path, truth_path, *output_paths(outdir, image_stem(image_path), FORMATS).values()], overwrite)
    ph = make_phantom(preset="pelvic", seed=seed)
    write_files({truth_path: json.dumps(landmarks_to_dict(ph.landmarks, OutputInfo(method="synth")), indent=1).encode()},
                overwrite=overwrite)
    save_volume(ph.image, image_path, overwrite=overwrite)
    m = get_method(method, weights=weights)
    result = predict_file(image_path, outdir, method=m, formats=list(FORMATS), overwrite=overwrite, discs=True)
    pred = read_landmarks(outdir / "demo_pelvic.landmarks.json")
    disc_errors = localization_errors(pred.discs(), ph.landmarks.discs())
    disc_rows = [(t.name, disc_errors.get(t.name)) for t in ph.landmarks.discs()]
    return DemoResult(image_path, truth_path, result, *compare_by_name(pred, ph.landmarks, getattr(m, "levels", None)),
                      disc_rows)
