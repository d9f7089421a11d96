"""Dynamic int8 linears (El-Kurdi et al., 2022): the activation at each quantized linear's input is
quantized at run time, symmetric, one scale per sequence over its real tokens (eqs. 1-2),
optionally clipped by TM-IQR first (Algorithm 2); the math is :mod:`bertq.quantization.dynamic`.

- :class:`DynamicIntegerLinear` (backend ``i8``) runs the signed codes on the integer kernels
  (:func:`bertq.kernels.int8_gemm.quantize_activations_symmetric`), scales and bias in the same
  pass.
- :class:`DynamicTwinLinear` (backend ``i8_twin``) is its torch twin: the same codes, the integer
  sums done exactly (float32 matmuls over chunks whose partial sums are integers below 2**24,
  added in float64) and the engine's float32 epilogue ``float32(acc) * (s_x * s_w) + b``; it
  equals the engine bit for bit, on any device.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.sites import linear_input_site, select, site_names
from ..models.tokens import current_mask
from ..quantization.dynamic import DynamicConfig, row_scales, sequence_ranges, symmetric_codes
from ..quantization.tensor import QuantizedWeight
from .linear import SHARED_INPUT, Int8Twin, Int8Weight, _check_shape, _gather_index, exact_matmul, register


class _DynamicInput(nn.Module):
    """What both dynamic linears share: the weight's shape and OCS gather, the bits and the
    TM-IQR scale (``None``: no clipping) of the input, and the per-row ``(rows, scale, inv)`` of
    an input."""

    def __init__(self, qt: QuantizedWeight, bias: torch.Tensor | None, bits: int = 8):
        super().__init__()
        self.in_features, self.out_features = qt.in_channels, qt.codes.shape[1]
        self.bits, self.n_split = bits, qt.n_split
        self.levels = 2 ** (bits - 1) - 1
        self.iqr_scale: float | None = None
        self.gather = _gather_index(qt)

    @classmethod
    def from_float(cls, linear: nn.Linear, qt: QuantizedWeight, **options):
        _check_shape(linear, qt)
        return cls(qt, linear.bias, **options)

    def rows(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        qs = sequence_ranges(x, current_mask(), self.iqr_scale)
        scale, inv = row_scales(x, qs, self.levels)
        rows = x.detach().float().reshape(-1, x.shape[-1])
        if self.gather is not None:
            rows = rows.index_select(1, self.gather)
        return rows, scale, inv

    def extra_repr(self) -> str:
        clip = "" if self.iqr_scale is None else f", TM-IQR x{self.iqr_scale}"
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, w8a{self.bits} dynamic "
            f"symmetric per sequence{clip}, split={self.n_split}"
        )


@register(nn.Linear, "i8")
class DynamicIntegerLinear(Int8Weight, _DynamicInput):
    """``y = x W + b`` with ``x`` quantized per sequence at run time, on the int8 kernels of
    ``path`` (default: the fastest this CPU runs)."""

    def __init__(self, qt: QuantizedWeight, bias: torch.Tensor | None, bits: int = 8, path: str | None = None):
        super().__init__(qt, bias, bits)
        self._set_weight(qt, bias, path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(self._codes(x), x)

    def _codes(self, x: torch.Tensor):
        """The input's signed codes; Q, K and V read one tensor and share them
        (:data:`~bertq.engine.linear.SHARED_INPUT`)."""
        from ..kernels.int8_gemm import quantize_activations_symmetric, wide_code_dtype

        mask = current_mask()
        key = ("per-sequence symmetric", self.levels, self.iqr_scale, self.packed.k_padded, self.path, mask)
        value = None if self.gather is not None else SHARED_INPUT.get(x, key)
        if value is not None:
            return value
        rows, scale, inv = self.rows(x)
        value = quantize_activations_symmetric(
            rows.numpy(), scale.numpy(), inv.numpy(), self.levels, self.packed.k_padded, wide_code_dtype(self.path)
        )
        if self.gather is None:
            SHARED_INPUT.put(x, key, value)
        return value


@register(nn.Linear, "i8_twin")
class DynamicTwinLinear(Int8Twin, _DynamicInput):
    """The torch twin of :class:`DynamicIntegerLinear` (module docstring)."""

    def __init__(self, qt: QuantizedWeight, bias: torch.Tensor | None, bits: int = 8):
        super().__init__(qt, bias, bits)
        self._set_weight(qt, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, scale, inv = self.rows(x)
        codes = symmetric_codes(rows, inv, self.levels).to(self.weight_codes.device)
        return self._epilogue(exact_matmul(codes, self.weight_codes), scale.to(codes.device)[:, None], x)


def apply_tm_iqr(model: nn.Module, config: DynamicConfig) -> list[str]:
    """Give TM-IQR clipping to every dynamic linear whose input site the config selects; returns
    the names of those linears."""
    if config.tm_iqr is None:
        return []
    layers, ffns = model.config.num_hidden_layers, getattr(model.config, "num_feedforward_networks", 1)
    head = getattr(model, "head", "sequence")
    names = site_names(layers, "sequence", model.config)
    chosen = set(select(config.tm_iqr.sites, names + ["pooler.output"] * ("pooler.output" not in names), layers))
    clipped = []
    for name, module in model.named_modules():
        if isinstance(module, _DynamicInput) and linear_input_site(f"{name}.weight", layers, ffns, head=head) in chosen:
            module.iqr_scale = float(config.tm_iqr.scale)
            clipped.append(name)
    return clipped
