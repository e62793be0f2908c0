"""What this installation has: versions, compute devices, methods and the models shipped in the package."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata, resources
from pathlib import Path


def shipped_models() -> list[dict]:
    """Metadata of every model in ``spinemark/weights`` (one ``<name>.json`` beside ``<name>.pt``)."""
    from spinemark.nets.io import sha256_of

    models = []
    folder = resources.files("spinemark") / "weights"
    if not folder.is_dir():
        return models
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        meta = json.loads(entry.read_text())
        weights = folder / entry.name.replace(".json", ".pt")
        levels = meta.get("levels") or ["?"]
        summary = (f"{meta.get('architecture', '')} v{meta.get('version', '?')}, {meta.get('n_parameters', '?')} parameters, "
                   f"levels {levels[0]}..{levels[-1]}, {meta.get('spacing_mm', '?')} mm; card: weights/{entry.name[:-5]}.md")
        row = {"name": entry.name[:-5], "summary": summary}
        if weights.is_file():
            row["sha256"] = sha256_of(Path(str(weights)))
            row["size_bytes"] = Path(str(weights)).stat().st_size
        models.append(row)
    return models


def git_commit() -> str:
    """Commit of the spinemark source tree, ``+dirty`` when its tracked package code differs from it.

    ``"unknown"`` for an installation outside a git checkout. Recorded by training runs and benchmarks.
    """
    package = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package, capture_output=True, text=True, timeout=10)
        if head.returncode or not head.stdout.strip():
            return "unknown"
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "."], cwd=package, capture_output=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.returncode else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def system_info() -> dict:
    """Versions, devices, methods and shipped models, as a JSON-able dict."""
    from spinemark import __version__
    from spinemark.methods import available_methods

    packages = {}
    for name in ("numpy", "scipy", "nibabel", "SimpleITK", "torch", "matplotlib"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    devices = ["cpu"]
    try:
        import torch

        devices[0] = f"cpu ({torch.get_num_threads()} threads)"
        if torch.cuda.is_available():
            devices += [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return {
        "spinemark": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": packages,
        "devices": devices,
        "methods": available_methods(),
        "models": shipped_models(),
    }
