"""Asymmetric (affine) uniform quantization of activations, Bondarenko et al. (2021), eqs. 1-2:

``x_Z = clip(round(x / s) + z, 0, 2**b - 1)``, ``x_hat = s * (x_Z - z)``.

The grid follows the authors' ``AsymmetricUniformQuantizer.set_quant_range`` (Qualcomm's
transformer-quantization): the range is widened to contain 0 (``lo = min(lo, 0)``,
``hi = max(hi, eps)``), ``s = (hi - lo) / (2**b - 1)`` and ``z = clip(round(-lo / s), 0, 2**b - 1)``.
Rounding is torch's (half to even). ``lo``/``hi`` may be vectors over the last dimension
(per-embedding-group ranges, eq. 5, expanded to one entry per channel).
"""

from __future__ import annotations

import torch

EPS = 1e-8
"""The authors' floor on ``hi`` and on the scale."""


def levels(bits: int) -> int:
    """``2**b - 1``: the largest code of a ``bits``-bit unsigned grid."""
    return (1 << bits) - 1


def affine_grid(lo: torch.Tensor, hi: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, zero)`` of the grid over ``[lo, hi]`` (float32 tensors of ``lo``'s shape)."""
    lo = torch.minimum(torch.as_tensor(lo, dtype=torch.float32), torch.zeros(()))
    hi = torch.maximum(torch.as_tensor(hi, dtype=torch.float32), torch.full((), EPS))
    qmax = levels(bits)
    scale = torch.clamp((hi - lo) / qmax, min=EPS)
    zero = torch.clamp(torch.round(-lo / scale), 0, qmax)
    return scale, zero


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, bits: int) -> torch.Tensor:
    """``s * (clip(round(x / s) + z, 0, 2**b - 1) - z)`` (eqs. 1-2), in ``x``'s dtype."""
    codes = torch.clamp(torch.round(x / scale) + zero, 0, levels(bits))
    return ((codes - zero) * scale).to(x.dtype)


def quantize_range(x: torch.Tensor, lo, hi, bits: int) -> torch.Tensor:
    """``x`` fake-quantized on the grid over ``[lo, hi]``."""
    scale, zero = affine_grid(lo, hi, bits)
    return fake_quantize(x, scale.to(x.device), zero.to(x.device), bits)
