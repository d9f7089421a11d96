"""Dynamic per-token activation quantization in torch: the fake-quant twin of
:func:`bertq.kernels.int8_gemm.quantize_rows`.

It computes the same codes with the same float32 operations (range widened to contain 0,
``scale = (max - min) / 127``, ``zero = round(-min / scale)``, ``code = clamp(round(x * (1 /
scale)) + zero, 0, 127)``, round half to even), so a fake-quant model built on it sees exactly the
activations the integer engine multiplies, and the two differ only by float summation order.
"""

from __future__ import annotations

import torch

ACTIVATION_LEVELS = 127


def activation_codes(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(codes, scale, zero)`` per row of the last dimension, as float32 tensors."""
    x = x.float()
    zero_ = torch.zeros((), dtype=x.dtype)
    lo = torch.minimum(x.amin(dim=-1, keepdim=True), zero_)
    hi = torch.maximum(x.amax(dim=-1, keepdim=True), zero_)
    scale = (hi - lo) / ACTIVATION_LEVELS
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    zero = torch.clamp(torch.round(-lo / scale), 0, ACTIVATION_LEVELS)
    codes = torch.clamp(torch.round(x * (1.0 / scale)) + zero, 0, ACTIVATION_LEVELS)
    return codes, scale, zero


def fake_quantize_activations(x: torch.Tensor) -> torch.Tensor:
    """``scale * (code - zero)``: what the integer GEMM sees of ``x``."""
    codes, scale, zero = activation_codes(x)
    return ((codes - zero) * scale).to(x.dtype)
