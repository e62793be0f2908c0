"""Save and load network weights: a plain state dict (``.pt``) beside a JSON metadata file.

Nothing is pickled but tensors: the state dict is read with ``torch.load(..., weights_only=True)``
and the architecture is rebuilt from the metadata (level names, width, dilations), so a checkpoint
never resolves a class by name.

Metadata fields (``<stem>.json``): ``format``, ``version``, ``architecture``, ``width``,
``bottleneck_dilations`` (absent: none),
``levels`` (head-1 level names), ``channels`` (all head-1 channels), ``spacing_mm``,
``normalisation`` (``{"kind": "percentile", "low": 1, "high": 99}``), ``patch_size``,
``sigma_mm``, and optional training information.

Example:
    >>> from spinemark.nets.io import read_metadata  # doctest: +SKIP
    >>> read_metadata("dualhead_v13.pt")["levels"]   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from spinemark.errors import InputError

FORMAT = "spinemark.weights/1"
ARCHITECTURE = "DualHeadUNet3D"


def metadata_path(weights_path: str | Path) -> Path:
    """The JSON metadata file that belongs to a ``.pt`` weights file."""
    p = Path(weights_path)
    return p.with_suffix(".json")


def sha256_of(path: str | Path) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_metadata(weights_path: str | Path) -> dict:
    """Read the metadata of a weights file (no torch needed).

    Raises:
        InputError: ``weights_path`` is a folder, or the metadata file (``.json``) instead of the weights.
        FileNotFoundError: The weights or metadata file is missing.
        ValueError: The metadata is not of a known format.
    """
    p = Path(weights_path)
    if p.is_dir():
        inside = p / "weights.pt"
        raise InputError(p, "is a folder, not a weights file" + (f"; give the weights file in it: {inside}"
                                                                  if inside.is_file() else ""))
    if p.suffix.lower() == ".json":
        raise InputError(p, f"not a weights file (it is their metadata); give the .pt next to it: {p.with_suffix('.pt')}")
    meta_file = metadata_path(weights_path)
    if not Path(weights_path).is_file():
        raise FileNotFoundError(f"weights file not found: {weights_path}")
    if not meta_file.is_file():
        raise FileNotFoundError(f"weights metadata not found: {meta_file} (expected beside {weights_path})")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT or meta.get("architecture") != ARCHITECTURE:
        raise ValueError(f"{meta_file}: not {FORMAT} metadata of a {ARCHITECTURE}")
    return meta


def save_weights(model, path: str | Path, metadata: dict) -> Path:
    """Write ``model``'s state dict to ``path`` and its metadata beside it (temporary names, then renamed).

    Args:
        model: A :class:`~spinemark.nets.unet3d.DualHeadUNet3D`.
        path: Target ``.pt`` file.
        metadata: Extra fields (spacing, normalisation, patch size, version, training info).

    Returns:
        The weights path.
    """
    import torch

    from spinemark.io.writers import write_files

    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    meta = dict(metadata)
    meta.update(
        format=FORMAT,
        architecture=ARCHITECTURE,
        width=model.config.width,
        bottleneck_dilations=list(model.config.bottleneck_dilations),
        in_channels=model.config.in_channels,
        levels=list(model.config.levels),
        channels=list(model.config.channel_names),
        n_parameters=sum(p.numel() for p in model.parameters()),
    )
    # both written in full to temporary names, then renamed one right after the other: an interrupt while writing
    # leaves the old pair, not new weights beside old metadata
    write_files({path: buffer.getvalue(), metadata_path(path): (json.dumps(meta, indent=2) + "\n").encode()},
                overwrite=True)
    return path


def load_model(path: str | Path):
    """Rebuild a network from its metadata and load its state dict (``weights_only=True``).

    Returns:
        ``(model, metadata)`` with the model in eval mode.
    """
    import torch

    from spinemark.nets.unet3d import DualHeadUNet3D, NetConfig

    meta = read_metadata(path)
    model = DualHeadUNet3D(NetConfig(levels=tuple(meta["levels"]), width=int(meta["width"]),
                                     in_channels=int(meta.get("in_channels", 1)),
                                     bottleneck_dilations=tuple(meta.get("bottleneck_dilations", ()))))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # an unpickling error, a zip or EOF error: not a state dict of tensors
        first = (str(exc).strip().splitlines() or ["unreadable"])[0]
        raise InputError(path, f"not a weights file spinemark can read ({exc.__class__.__name__}: {first})") from exc
    model.load_state_dict(state)
    model.eval()
    return model, meta
