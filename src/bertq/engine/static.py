"""Static W8A8 linears on the integer kernels (Bondarenko et al., 2021): the input of a quantized
linear is quantized with its input site's calibrated per-tensor range, asymmetric,
``u = clip(round(x / s) + z, 0, 2**b - 1)`` (eqs. 1-2, :mod:`bertq.quantization.affine`), and the
linear multiplies the codes ``u - z`` by its weight codes in integers.

The site quantizer in front of the linear keeps fake-quantizing (the residual sums and LayerNorms
read its values), so the linear sees ``s (u - z)`` and recovers exactly ``u``; the integer GEMM then
gives the fake-quant result up to float summation order. Sites with per-embedding-group ranges
(PEG) or more than 8 bits have no single integer grid per row: their linears stay in fake
quantization (:func:`bertq.engine.model.load_static_model` says which ran where).

- :class:`StaticIntegerLinear` (backend ``static_int8``) runs 8-bit codes on the kernels
  (:class:`~bertq.kernels.int8_gemm.QuantizedActivations` with ``wide`` codes);
- :class:`StaticTwinLinear` (backend ``static_twin``) is its torch twin, equal bit for bit.

Attention's activation x activation products (scores ``Q K^T``, context ``P V``) run in integers
too when both operand sites have such grids: :class:`IntegerProduct` multiplies the centred codes
exactly (:func:`bertq.kernels.int_bmm.batched_product`, or float64 in its twin) and applies
``s_a s_b``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..quantization.affine import levels
from ..quantization.tensor import QuantizedWeight
from .linear import Int8Twin, Int8Weight, _check_shape, _gather_index, exact_matmul, register


class _StaticInput(nn.Module):
    """What both static linears share: the weight's shape and OCS gather, and the input's grid
    (float32 ``scale``, integer ``zero``, ``bits``)."""

    def __init__(self, qt: QuantizedWeight, bias: torch.Tensor | None, scale, zero, bits: int):
        super().__init__()
        if not 2 <= bits <= 8:
            raise ValueError(f"static integer linears take 2- to 8-bit inputs, not {bits}")
        self.in_features, self.out_features = qt.in_channels, qt.codes.shape[1]
        self.bits, self.qmax = bits, levels(bits)
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).reshape(()))
        self.register_buffer("zero", torch.as_tensor(zero, dtype=torch.float32).reshape(()))
        self.gather = _gather_index(qt)

    @classmethod
    def from_float(cls, linear: nn.Linear, qt: QuantizedWeight, **options):
        _check_shape(linear, qt)
        return cls(qt, linear.bias, **options)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """``u`` per row of the input (float32 ``(m, k)``), eq. 1 on the site's grid."""
        rows = x.detach().float().reshape(-1, x.shape[-1])
        if self.gather is not None:
            rows = rows.index_select(1, self.gather)
        return torch.clamp(torch.round(rows / self.scale) + self.zero, 0, self.qmax)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, w8a{self.bits} static "
            f"(scale={float(self.scale):.3g}, zero={int(self.zero)})"
        )


@register(nn.Linear, "static_int8")
class StaticIntegerLinear(Int8Weight, _StaticInput):
    """``y = x W + b`` with ``x`` on its site's static grid, on the int8 kernels of ``path``."""

    def __init__(self, qt, bias, scale, zero, bits: int = 8, path: str | None = None):
        super().__init__(qt, bias, scale, zero, bits)
        self._set_weight(qt, bias, path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from ..kernels.int8_gemm import MAX_TILE_ROWS, QuantizedActivations, wide_code_dtype

        u = self.codes(x)
        m, k = u.shape
        m_pad = -(-m // MAX_TILE_ROWS) * MAX_TILE_ROWS
        codes = np.zeros((m, self.packed.k_padded), wide_code_dtype(self.path))
        codes[:, :k] = u.numpy()
        scale = np.full(m_pad, float(self.scale), np.float32)
        zero = np.full(m_pad, int(self.zero), np.int32)
        return self._run(QuantizedActivations(codes, scale, zero, wide=True), x)


@register(nn.Linear, "static_twin")
class StaticTwinLinear(Int8Twin, _StaticInput):
    """The torch twin of :class:`StaticIntegerLinear`: ``float32(sum (u - z) q_w) * (s * s_w) + b``."""

    def __init__(self, qt, bias, scale, zero, bits: int = 8):
        super().__init__(qt, bias, scale, zero, bits)
        self._set_weight(qt, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = self.codes(x) - self.zero
        return self._epilogue(exact_matmul(centred, self.weight_codes, self.qmax), self.scale, x)


def _grid_codes(x: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, qmax: int) -> torch.Tensor:
    """``u - z`` of a site's fake-quantized values on its grid (eq. 1), float32."""
    return torch.clamp(torch.round(x.detach().float() / scale) + zero, 0, qmax) - zero


class IntegerProduct(nn.Module):
    """``a @ b`` of two activations on static per-tensor grids, as ``s_a s_b sum (u_a - z_a)(u_b -
    z_b)`` with the sum exact: on the integer kernel (``twin`` False) or in float64 (``twin``)."""

    def __init__(self, product: str, grid_a: tuple, grid_b: tuple, twin: bool = False):
        super().__init__()
        self.product, self.twin = product, twin
        (sa, za, ba), (sb, zb, bb) = grid_a, grid_b
        for name, value in (("scale_a", sa), ("zero_a", za), ("scale_b", sb), ("zero_b", zb)):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32).reshape(()))
        self.qmax_a, self.qmax_b = levels(ba), levels(bb)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ca = _grid_codes(a, self.scale_a, self.zero_a, self.qmax_a)
        cb = _grid_codes(b, self.scale_b, self.zero_b, self.qmax_b)
        if self.twin:
            acc = (ca.double() @ cb.double()).float()
        else:
            from ..kernels.int_bmm import batched_product

            lead = ca.shape[:-2]
            acc = batched_product(
                ca.reshape(-1, *ca.shape[-2:]).to(torch.int16).numpy(),
                cb.reshape(-1, *cb.shape[-2:]).to(torch.int16).numpy(),
            )
            acc = torch.from_numpy(acc).reshape(*lead, acc.shape[-2], acc.shape[-1]).float()
        return (acc * (self.scale_a * self.scale_b)).to(a.dtype)

    def extra_repr(self) -> str:
        return f"{self.product}, integer{' (twin)' if self.twin else ''}"
