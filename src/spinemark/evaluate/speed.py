"""Speed benchmark: per-scan wall time by stage and peak memory, on a batch of files, with the machine.

Stages: ``read`` and ``write`` are timed by :func:`spinemark.api.predict_file`; the others
(``resample``, ``network``, ``decode``, ...) come from the method's ``Prediction.timings``. Peak memory is the
process's resident peak (``resource.getrusage(...).ru_maxrss``), read after every scan.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from spinemark.io.writers import DEFAULT_FORMATS


def synthetic_volumes(folder: str | Path, n: int = 10, shape: tuple[int, int, int] = (381, 381, 77),
                      spacing_mm: tuple[float, float, float] = (0.6, 0.6, 4.0), seed: int = 0,
                      preset: str = "lumbosacral") -> list[Path]:
    """Write ``n`` sagittal spine phantoms (:mod:`spinemark.synth`) of ``shape`` voxels as NIfTI into ``folder``.

    Slices are along array axis 2 (4 mm apart by default), as in a clinical sagittal series. Phantom ``k``
    uses seed ``seed + k``, so the batch is the same between versions and timings compare.
    """
    from spinemark.io.writers import nifti_bytes, write_files
    from spinemark.synth import make_phantom

    folder = Path(folder)
    out = {}
    for k in range(n):
        ph = make_phantom(preset, seed=seed + k, shape=shape, spacing_mm=spacing_mm, orientation="sagittal")
        out[folder / f"speed_{k:02d}.nii.gz"] = nifti_bytes(ph.image.data.astype(np.float32), ph.image.affine)
    return write_files(out, overwrite=True)


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 / 1024.0


def machine_info() -> dict:
    """CPU model, core count, memory, torch threads and library versions."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "cores_logical": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__}
    try:
        info["cores_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * size / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        pass
    try:
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                    cuda=torch.cuda.is_available())
    except ImportError:
        info["torch"] = None
    import spinemark

    info["spinemark"] = spinemark.__version__
    return info


def run_speed(method, inputs: Sequence[str | Path], out_dir: str | Path, warmup: int = 1,
              progress: Callable[[Iterable], Iterable] | None = None, formats: Sequence[str] = DEFAULT_FORMATS) -> dict:
    """Predict every input with ``method`` and write ``formats`` into ``out_dir`` (as ``spinemark predict`` does
    by default), timing each.

    Args:
        method: A method object (``predict(volume) -> Prediction``); build it once, outside the timing.
        inputs: Image files.
        out_dir: Where predictions are written (overwritten).
        warmup: Runs on the first input before timing starts (lazy initialisation, caches).
        formats: Output formats written (default: those of ``spinemark predict``).

    Returns:
        ``{"scans": [{"file", "total_s", "peak_rss_mb", <stage>_s...}], "stages": {stage: {mean, median, max}},
        "total_s": {...}, "peak_rss_mb": float, "baseline_rss_mb": float, "machine": {...}}``.
    """
    from spinemark.api import predict_file

    baseline = _peak_rss_mb()
    for _ in range(warmup if inputs else 0):
        predict_file(inputs[0], out_dir, method, formats=formats, overwrite=True)
    scans = []
    for f in progress(inputs) if progress else inputs:
        t0 = time.perf_counter()
        res = predict_file(f, out_dir, method, formats=formats, overwrite=True)
        total = time.perf_counter() - t0
        row = {"file": Path(f).name, "total_s": round(total, 4), "peak_rss_mb": round(_peak_rss_mb(), 1)}
        row.update({f"{k}_s": round(v, 4) for k, v in res.timings.items() if k != "total"})
        stage_sum = sum(v for k, v in res.timings.items() if k != "total")
        row["other_s"] = round(max(0.0, total - stage_sum), 4)
        scans.append(row)
    stages = sorted({k for r in scans for k in r if k.endswith("_s")})

    def stats(vals):
        v = np.asarray(vals, float)
        return {"mean": round(float(v.mean()), 4), "median": round(float(np.median(v)), 4), "max": round(float(v.max()), 4)}

    return {
        "n_scans": len(scans),
        "scans": scans,
        "stages": {k[:-2]: stats([r.get(k, 0.0) for r in scans]) for k in stages if k != "total_s"} if scans else {},
        "total_s": stats([r["total_s"] for r in scans]) if scans else {},
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "machine": machine_info(),
    }


def speed_markdown(result: dict, meta: dict) -> str:
    """A markdown report of :func:`run_speed`'s result."""
    from spinemark.evaluate.report import md_table

    lines = ["# spinemark speed benchmark", "", *(f"- {k}: `{v}`" for k, v in meta.items()), "", "## Machine", "",
             *(f"- {k}: {v}" for k, v in result["machine"].items()), "",
             f"## Per scan ({result['n_scans']} scans, seconds)", "",
             md_table(("stage", "mean", "median", "max"),
                      [[k, f"{v['mean']:.3f}", f"{v['median']:.3f}", f"{v['max']:.3f}"]
                       for k, v in [*result["stages"].items(), ("total", result["total_s"])] if v]), "",
             f"Peak resident memory: {result['peak_rss_mb']:.0f} MB (process, before the batch: "
             f"{result['baseline_rss_mb']:.0f} MB). `other` = wall time not claimed by a stage.", ""]
    return "\n".join(lines)
