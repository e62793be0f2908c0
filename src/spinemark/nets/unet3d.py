"""Dual-head 3D U-Net for vertebral body centre heatmaps.

A light encoder-decoder (about 400K parameters at the default width of 17) with one
shared encoder and decoder and two heads:

* head 1 (``levels``): one Gaussian heatmap channel per vertebral level the model covers
  (the list of level names travels with the weights), plus one "any vertebra centre"
  channel, class-agnostic, which the decoder uses to find candidate centres (it is
  trained on every labelled body, so it sees far more positives than any single level);
* head 2 (``s1``): a dedicated S1 heatmap, the anchor of the labelling.

The plain network's output at a voxel depends on 46 input voxels along each axis (about 140 mm
at 3 mm voxels). Optional wide blocks after the bottleneck (:attr:`NetConfig.bottleneck_dilations`,
:class:`WideBlock`, about 10K parameters each at width 17) let it see farther (94 voxels, about
280 mm, with dilations 2 and 4), for level names that depend on bodies outside that window;
:func:`with_wide_blocks` adds them to trained weights; :func:`with_levels` gives trained weights other levels.

Example:
    >>> import torch
    >>> from spinemark.nets.unet3d import DualHeadUNet3D, NetConfig
    >>> net = DualHeadUNet3D(NetConfig(levels=("L4", "L5", "S1"), width=4))
    >>> levels, s1 = net(torch.zeros(1, 1, 16, 16, 16))
    >>> tuple(levels.shape), tuple(s1.shape)
    ((1, 4, 16, 16, 16), (1, 1, 16, 16, 16))
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn

from spinemark import anatomy

DEFAULT_LEVELS: tuple[str, ...] = (
    "T8", "T9", "T10", "T11", "T12", "T13", "L1", "L2", "L3", "L4", "L5", "L6", "S1", "S2", "S3", "S4", "S5",
)
"""Levels covered by the default model: lower thoracic to sacrum, with the T13 and L6 variants."""

ANY_CHANNEL = "any"
"""Name of the class-agnostic "any vertebra centre" channel (the last channel of head 1)."""


@dataclass(frozen=True)
class NetConfig:
    """Architecture of :class:`DualHeadUNet3D`.

    Attributes:
        levels: Level names of head 1, cranial to caudal (from :mod:`spinemark.anatomy`).
        width: Channels of the first stage; stages have ``width``, ``2*width``, ``4*width``.
        in_channels: Input channels (1 for one MRI contrast).
        bottleneck_dilations: One :class:`WideBlock` after the bottleneck per entry, with that dilation
            (in bottleneck voxels, along the anterior and superior axes). Each widens the receptive
            field by ``8 * dilation`` input voxels along those axes (2 and 4 take it from 46 to 94 voxels,
            about 140 to 280 mm at 3 mm); empty: the plain U-Net.
    """

    levels: tuple[str, ...] = field(default=DEFAULT_LEVELS)
    width: int = 17
    in_channels: int = 1
    bottleneck_dilations: tuple[int, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "bottleneck_dilations", tuple(int(d) for d in self.bottleneck_dilations))
        names = tuple(anatomy.level(n).name for n in self.levels)
        if len(set(names)) != len(names):
            raise ValueError("level names must be unique")
        object.__setattr__(self, "levels", tuple(anatomy.sort_names(names)))

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Channel names of head 1: the levels then :data:`ANY_CHANNEL`."""
        return (*self.levels, ANY_CHANNEL)


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    """Two 3x3x3 Conv-BN layers with an identity (or 1x1x1 projected) shortcut, then ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
            nn.Conv3d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout),
        )
        self.skip = nn.Identity() if cin == cout else nn.Sequential(nn.Conv3d(cin, cout, 1, bias=False),
                                                                    nn.BatchNorm3d(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        out += self.skip(x)  # in place: no new full-size map (the body's last output is not needed by autograd)
        return self.act(out)


class WideBlock(nn.Module):
    """Residual block that looks far: 1x1x1 squeeze to a quarter of the channels, one dilated 3x3x3
    convolution (dilation 1 along the left-right axis, which sagittal scans cover thinly, ``dilation``
    along the other two), 1x1x1 expansion.

    The expansion starts at zero, so a new block is an identity: added to trained weights, it leaves
    the network's output unchanged until fine-tuning teaches it to use the wider context.
    """

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        mid = max(channels // 4, 1)
        self.body = nn.Sequential(
            nn.Conv3d(channels, mid, 1, bias=False), nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
            nn.Conv3d(mid, mid, 3, padding=(1, dilation, dilation), dilation=(1, dilation, dilation), bias=False),
            nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
            nn.Conv3d(mid, channels, 1),
        )
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DualHeadUNet3D(nn.Module):
    """Shared 3D U-Net encoder-decoder with a level-heatmap head and an S1 head.

    Input ``(B, C, X, Y, Z)`` with every spatial size a multiple of 4. Output a pair
    ``(levels, s1)`` of shapes ``(B, len(levels) + 1, X, Y, Z)`` and ``(B, 1, X, Y, Z)``,
    raw (no activation): the targets are Gaussians with peak 1.
    """

    def __init__(self, config: NetConfig | None = None):
        super().__init__()
        self.config = config or NetConfig()
        w = self.config.width
        self.stem = _conv_bn_relu(self.config.in_channels, w)
        self.enc1 = ResBlock(w, w)
        self.enc2 = ResBlock(w, 2 * w)
        self.bottleneck = ResBlock(2 * w, 4 * w)
        self.wide = nn.Sequential(*[WideBlock(4 * w, d) for d in self.config.bottleneck_dilations])
        self.pool = nn.MaxPool3d(2)
        self.up2 = nn.ConvTranspose3d(4 * w, 2 * w, 2, stride=2)
        self.dec2 = ResBlock(4 * w, 2 * w)
        self.up1 = nn.ConvTranspose3d(2 * w, w, 2, stride=2)
        self.dec1 = ResBlock(2 * w, w)
        self.head_levels = nn.Sequential(nn.Conv3d(w, 2 * w, 1), nn.ReLU(inplace=True),
                                         nn.Conv3d(2 * w, len(self.config.channel_names), 1))
        self.head_s1 = nn.Sequential(nn.Conv3d(w, 2 * w, 1), nn.ReLU(inplace=True), nn.Conv3d(2 * w, 1, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's full-resolution features, which both heads read."""
        e1 = self.enc1(self.stem(x))
        e2 = self.enc2(self.pool(e1))
        b = self.wide(self.bottleneck(self.pool(e2)))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        return self.dec1(torch.cat([self.up1(d2), e1], dim=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d1 = self.features(x)
        return self.head_levels(d1), self.head_s1(d1)


def with_wide_blocks(model: DualHeadUNet3D, dilations: tuple[int, ...]) -> DualHeadUNet3D:
    """``model`` with the wide blocks of ``dilations`` after its bottleneck, for fine-tuning.

    A model without wide blocks gives a copy with new (identity) ones, so the copy computes what
    ``model`` did; a model that already has these blocks, or empty ``dilations``, gives ``model``
    itself (like its width, the architecture of starting weights wins); other blocks
    raise ``ValueError``.
    """
    have = model.config.bottleneck_dilations
    if have == tuple(dilations) or not dilations:
        return model
    if have:
        raise ValueError(f"the starting weights have wide blocks {list(have)}, the config asks for {list(dilations)}")
    grown = DualHeadUNet3D(replace(model.config, bottleneck_dilations=tuple(dilations)))
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("wide.") for k in missing), (missing, unexpected)
    return grown


def with_levels(model: DualHeadUNet3D, levels) -> DualHeadUNet3D:
    """``model`` naming ``levels`` in head 1, for fine-tuning to other levels.

    The channel of a level ``model`` already names, and the "any vertebra" channel, keep their weights; a new
    level's channel starts at zero (a heatmap of background, which fine-tuning then teaches); a level ``model``
    names and ``levels`` lacks is dropped. Same levels: ``model`` itself.
    """
    wanted = NetConfig(levels=tuple(levels)).levels
    if wanted == model.config.levels:
        return model
    grown = DualHeadUNet3D(replace(model.config, levels=wanted))
    state = model.state_dict()
    last = f"head_levels.{len(model.head_levels) - 1}"
    old_rows = {name: i for i, name in enumerate(model.config.channel_names)}
    for key in (f"{last}.weight", f"{last}.bias"):
        rows = torch.zeros_like(grown.state_dict()[key])
        for i, name in enumerate(grown.config.channel_names):
            if name in old_rows:
                rows[i] = state[key][old_rows[name]]
        state[key] = rows
    grown.load_state_dict(state)
    return grown


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm that follows a convolution into that convolution, in place (inference only).

    An eval-mode BatchNorm is an affine map per channel, so the convolution before it can absorb
    it; the BatchNorm becomes an identity. Outputs change by float rounding only (at most 1.2e-6
    on dualhead_v6) and the network runs 5..13% faster on two CPU cores (one pass fewer over every
    feature map; ``benchmarks/inference_ab.py``). The model must not be trained afterwards.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if model.training:
        raise ValueError("fuse_batchnorm needs a model in eval mode")
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            if isinstance(seq[i], nn.Conv3d) and isinstance(seq[i + 1], nn.BatchNorm3d):
                seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                seq[i + 1] = nn.Identity()
    return model


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
