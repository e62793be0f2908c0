"""A trained :class:`~spinemark.nets.unet3d.DualHeadUNet3D` rearranged for fast inference on CPU.

Three things make the plain network slow on a CPU, each measured on the shipped model (two cores,
the 104x80x80 canonical input of a 381x381x77 scan; ``benchmarks/inference_ab.py``):

* PyTorch's choice of convolution kernel: for the small quarter-resolution maps and for dilated
  3D convolutions it takes its slow reference kernels (the bottleneck's 34->68 convolution 56 ms,
  each wide block's dilated one 19 ms), where oneDNN's take 10 and 2 ms. :class:`DirectConv3d` calls
  oneDNN directly for float32 CPU tensors.
* The heads: four 1x1x1 convolutions over full-resolution maps with 17..34 channels, and then a
  copy of the channels-last output into the channel-first layout that decoding reads (270 ms in
  all). :class:`FastDualHead` computes them as matrix products over blocks of voxels that fit in
  cache and writes the channel-first result directly (110 ms).
* BatchNorm, folded into the convolutions (:func:`~spinemark.nets.unet3d.fuse_batchnorm`).

Fresh memory for every full-resolution map is the fourth cost; :func:`reuse_freed_memory` (process-wide,
called by ``spinemark predict`` and ``spinemark train``) removes it.

Outputs equal the plain network's up to float rounding. Inference only: the result cannot be trained.

Example:
    >>> import torch
    >>> from spinemark.nets.unet3d import DualHeadUNet3D, NetConfig
    >>> from spinemark.nets.fast import FastDualHead
    >>> fast = FastDualHead(DualHeadUNet3D(NetConfig(levels=("L5", "S1"), width=4)).eval())
    >>> levels, s1 = fast(torch.zeros(1, 1, 8, 8, 8))
    >>> tuple(levels.shape), tuple(s1.shape)
    ((1, 3, 8, 8, 8), (1, 1, 8, 8, 8))
"""

from __future__ import annotations

import copy
import ctypes
import sys

import torch
from torch import nn
from torch.nn import functional as F

from spinemark.nets.unet3d import DualHeadUNet3D, fuse_batchnorm

VOXEL_BLOCK = 16384
"""Voxels per block of the head products (the 2*width hidden values of a block stay in cache)."""


_KEEP_BYTES = 1 << 30


def reuse_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks up to 1 GB for reuse instead of handing them back to the system.

    By default every freed block over 32 MB goes back to the system at once, so each full-resolution feature
    map of the network (45..90 MB) arrives as fresh pages that the kernel must fault in and zero: with it,
    the shipped network runs in about 0.95 s instead of 1.3 s on two cores (``benchmarks/inference_ab.py``).
    The process then keeps its peak working set until it exits. Affects the whole process; returns False
    (and changes nothing) off glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, _KEEP_BYTES)) and bool(libc.mallopt(m_trim_threshold, _KEEP_BYTES))
    except (OSError, AttributeError):
        return False


class DirectConv3d(nn.Module):
    """Stand-in for a zero-padded :class:`torch.nn.Conv3d` that runs oneDNN's kernel on float32 CPU
    tensors whatever their size or dilation (elsewhere, the ordinary convolution)."""

    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("DirectConv3d needs numeric zero padding")
        self.weight = nn.Parameter(conv.weight.detach().clone())
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone())
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cpu and x.dtype == torch.float32 and torch.backends.mkldnn.is_available():
            return torch.ops.aten.mkldnn_convolution(x, self.weight, self.bias, list(self.padding), list(self.stride),
                                                     list(self.dilation), self.groups)
        return F.conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


def _head_weights(head: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    first, act, last = head
    assert isinstance(act, nn.ReLU) and first.kernel_size == last.kernel_size == (1, 1, 1)
    return first.weight.flatten(1), first.bias, last.weight.flatten(1), last.bias


class FastDualHead(nn.Module):
    """``model`` (in eval mode; it is copied, not changed) with BatchNorm folded, every convolution a
    :class:`DirectConv3d` and both heads one blockwise matrix product.

    Called like the model, on ``(1, C, X, Y, Z)``; returns ``(levels, s1)`` of the model's shapes,
    in the contiguous channel-first layout.
    """

    def __init__(self, model: DualHeadUNet3D):
        super().__init__()
        if model.training:
            raise ValueError("FastDualHead needs a model in eval mode")
        net = fuse_batchnorm(copy.deepcopy(model))
        for parent in list(net.modules()):
            for name, child in parent.named_children():
                if isinstance(child, nn.Conv3d):
                    setattr(parent, name, DirectConv3d(child))
        self.net = net.requires_grad_(False)
        w1a, b1a, w2a, b2a = _head_weights(model.head_levels)
        w1b, b1b, w2b, b2b = _head_weights(model.head_s1)
        # hidden layers side by side; output layer block-diagonal (levels from their hidden half, S1 from its)
        w2 = torch.zeros(w2a.shape[0] + w2b.shape[0], w2a.shape[1] + w2b.shape[1])
        w2[: w2a.shape[0], : w2a.shape[1]] = w2a
        w2[w2a.shape[0]:, w2a.shape[1]:] = w2b
        self.register_buffer("hidden_weight", torch.cat([w1a, w1b]).t().contiguous().detach())
        self.register_buffer("hidden_bias", torch.cat([b1a, b1b]).detach())
        self.register_buffer("out_weight", w2.detach())
        self.register_buffer("out_bias", torch.cat([b2a, b2b])[:, None].detach())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[0] != 1:
            raise ValueError("FastDualHead takes one volume at a time")
        d1 = self.net.features(x)
        spatial = d1.shape[2:]
        voxels = d1[0].permute(1, 2, 3, 0).reshape(-1, d1.shape[1])  # a view for channels-last features
        out = torch.empty(self.out_weight.shape[0], voxels.shape[0], dtype=d1.dtype, device=d1.device)
        for start in range(0, voxels.shape[0], VOXEL_BLOCK):
            block = slice(start, start + VOXEL_BLOCK)
            hidden = torch.addmm(self.hidden_bias, voxels[block], self.hidden_weight).relu_()
            torch.addmm(self.out_bias, self.out_weight, hidden.t(), out=out[:, block])
        out = out.view(1, -1, *spatial)
        return out[:, :-1], out[:, -1:]
