"""Quantized replacements for ``nn.Linear``, registered per float module type (optimum-quanto
style), built from a quantized weight of :mod:`bertq.quantization.tensor`.

- :class:`IntegerLinear` runs the integer path: 7-bit per-token activations x int8 weight codes on
  the CPU kernels of :mod:`bertq.kernels.int8_gemm`, scales and bias applied in the same pass.
- :class:`FakeQuantLinear` is its torch twin: the same codes and the same arithmetic in torch
  (integer sums done exactly in float64), equal to the engine bit for bit, on any device.

OCS weights (Hu et al., 2022, eq. 6) carry extra input rows that duplicate the channels in
``split_index``; both modules gather those activation columns (``[X, X[:, split_index]]``) and
multiply the expanded weight as stored, so the split is executed, not folded back.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..quantization.tensor import QuantizedWeight
from .activations import activation_codes

EXACT_CHUNK = 1024
"""``127 * 127 * 1024 < 2**24``: a float32 dot product of that many 7-bit x 7-bit codes is exact."""

QUANTIZED_MODULES: dict[tuple[type[nn.Module], str], type[nn.Module]] = {}
"""``(float module type, backend) -> quantized module type``."""


def register(float_type: type[nn.Module], backend: str):
    def wrap(cls):
        QUANTIZED_MODULES[(float_type, backend)] = cls
        return cls

    return wrap


def _gather_index(qt: QuantizedWeight) -> torch.Tensor | None:
    if not qt.n_split:
        return None
    return torch.as_tensor(np.concatenate([np.arange(qt.in_channels), qt.split_index]), dtype=torch.long)


class SharedInput:
    """The codes of the last input a linear quantized without an OCS gather. Q, K and V of an
    attention block read one hidden-state tensor: the second and third reuse the first one's
    codes. The strong reference keeps the tensor (and so its identity) alive, torch bumps
    ``_version`` on any in-place change, and the key (the quantizer's settings, and the token mask
    by identity) must match, so a hit is always the same codes."""

    def __init__(self):
        self._entry: tuple = (None, -1, (), None)

    def get(self, x: torch.Tensor, key: tuple):
        tensor, version, last_key, value = self._entry
        hit = tensor is x and version == x._version and len(key) == len(last_key)
        return value if hit and all(_same(a, b) for a, b in zip(key, last_key)) else None

    def put(self, x: torch.Tensor, key: tuple, value) -> None:
        self._entry = (x, x._version, key, value)


def _same(a, b) -> bool:
    """Tensors (token masks) by identity, settings by value."""
    tensors = isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor)
    return a is b or (not tensors and a == b)


SHARED_INPUT = SharedInput()
"""One for every kernel-backed linear: the key names the kind of codes."""


def _quantized_input(x: torch.Tensor, gather: torch.Tensor | None, k_padded: int):
    from ..kernels.int8_gemm import quantize_activations

    key = ("per-token 7-bit", k_padded)
    value = None if gather is not None else SHARED_INPUT.get(x, key)
    if value is not None:
        return value
    x2 = x.reshape(-1, x.shape[-1])
    if gather is not None:
        x2 = x2.index_select(1, gather)
    value = quantize_activations(x2.detach().float().contiguous().numpy(), k_padded)
    if gather is None:
        SHARED_INPUT.put(x, key, value)
    return value


def exact_matmul(codes: torch.Tensor, weight_codes: torch.Tensor, max_code: int = 127) -> torch.Tensor:
    """``codes @ weight_codes`` of integer-valued float32 tensors, exactly, in float64: float32
    matmuls over chunks of input channels whose partial sums are integers below 2**24 in any
    summation order (:data:`EXACT_CHUNK` for codes up to 127 in magnitude against int8 weights,
    half that up to 255: ``255 * 128 * 512 < 2**24``), added in float64."""
    if max_code > 255:
        raise ValueError(f"codes up to {max_code} do not sum exactly in float32 chunks")
    k = codes.shape[-1]
    chunk = EXACT_CHUNK if max_code <= 127 else EXACT_CHUNK // 2
    return sum((codes[..., i : i + chunk] @ weight_codes[i : i + chunk]).double() for i in range(0, k, chunk))


def _check_shape(linear: nn.Linear, qt: QuantizedWeight) -> None:
    if (qt.in_channels, qt.codes.shape[1]) != (linear.in_features, linear.out_features):
        raise ValueError(
            f"quantized weight of {qt.in_channels} x {qt.codes.shape[1]} (input-major) does "
            f"not fit nn.Linear({linear.in_features}, {linear.out_features})"
        )


class Int8Weight:
    """The weight side of a linear on the int8 kernels (dynamic and static activations): packed
    panels for ``path``, column scales, the bias, and the call that runs a quantized input."""

    def _set_weight(self, qt: QuantizedWeight, bias: torch.Tensor | None, path: str | None) -> None:
        from ..kernels.int8_gemm import pack_int8

        codes, self.w_scale = qt.int8_form()
        self.packed = pack_int8(codes, path)
        self.bias_array = None if bias is None else bias.detach().float().cpu().numpy().copy()

    @property
    def path(self) -> str:
        return self.packed.path

    def _run(self, a, x: torch.Tensor) -> torch.Tensor:
        """``a`` (:class:`~bertq.kernels.int8_gemm.QuantizedActivations` of ``x``'s rows) times the
        weight, shaped as ``x`` with ``out_features`` channels."""
        from ..kernels.int8_gemm import linear_int8

        y = linear_int8(a, self.packed, self.w_scale, self.bias_array)
        return torch.from_numpy(y).reshape(*x.shape[:-1], self.out_features).to(x.dtype)


class Int8Twin:
    """The weight side of a torch twin: int8 codes as float32, column scales and bias as buffers,
    and the engine's epilogue ``float32(acc) * (s_x * s_w) + b``."""

    def _set_weight(self, qt: QuantizedWeight, bias: torch.Tensor | None) -> None:
        int8_codes, w_scale = qt.int8_form()
        self.register_buffer("weight_codes", torch.from_numpy(int8_codes.astype(np.float32)))
        self.register_buffer("w_scale", torch.from_numpy(np.ascontiguousarray(w_scale, np.float32)))
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

    def _epilogue(self, acc: torch.Tensor, scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        y = acc.float() * (scale * self.w_scale)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features).to(x.dtype)


class _KernelLinear(nn.Module):
    """What the two kernel-backed linears share: shapes, bias, the OCS gather, the per-token
    7-bit activations (shared by Q, K and V), and the reshaping around a 2-D kernel call."""

    weight_form = ""

    def __init__(self, qt: QuantizedWeight, bias: torch.Tensor | None, path: str | None = None):
        super().__init__()
        self.packed = self._pack(qt, path)
        self.in_features, self.out_features = qt.in_channels, qt.codes.shape[1]
        self.bits, self.n_split = qt.bits, qt.n_split
        self.bias_array = None if bias is None else bias.detach().float().cpu().numpy().copy()
        self.gather = _gather_index(qt)

    @classmethod
    def from_float(cls, linear: nn.Linear, qt: QuantizedWeight, path: str | None = None):
        _check_shape(linear, qt)
        return cls(qt, linear.bias, path)

    @property
    def path(self) -> str:
        return self.packed.path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = _quantized_input(x, self.gather, self.packed.k_padded)
        y = self._kernel(a)
        return torch.from_numpy(y).reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"w{self.bits}a7 ({self.weight_form}), path={self.path}, split={self.n_split}"
        )


@register(nn.Linear, "int8")
class IntegerLinear(_KernelLinear):
    """``y = x W + b`` on the integer kernels; ``path`` picks the instruction path (default:
    the fastest this CPU runs)."""

    weight_form = "weight codes in int8"

    def _pack(self, qt: QuantizedWeight, path: str | None):
        from ..kernels.int8_gemm import pack_int8

        codes, self.w_scale = qt.int8_form()
        return pack_int8(codes, path)

    def _kernel(self, a):
        from ..kernels.int8_gemm import linear_int8

        return linear_int8(a, self.packed, self.w_scale, self.bias_array)


@register(nn.Linear, "codebook")
class CodebookLinear(_KernelLinear):
    """``y = x W + b`` on the lookup-table kernels: the weight stays as packed ``bits``-bit codes
    plus a codebook (:mod:`bertq.kernels.codebook`); few-row calls with 4-bit codes decode in
    registers, others decode panel by panel into the int8 kernels. For a linear grid the int8
    codebook is the grid itself, so the result equals :class:`IntegerLinear` bit for bit."""

    weight_form = "packed codes + codebook"

    def _pack(self, qt: QuantizedWeight, path: str | None):
        from ..kernels.codebook import pack_codebook

        cb = qt.as_codebook()  # split rows stay appended; forward gathers their inputs
        return pack_codebook(cb.codes, cb.codebook, cb.bits, path)

    def _kernel(self, a):
        from ..kernels.codebook import linear_codebook_a8

        return linear_codebook_a8(a, self.packed, self.bias_array)


@register(nn.Linear, "fake")
class FakeQuantLinear(nn.Module):
    """The torch twin of :class:`IntegerLinear`, for checking it and for running its arithmetic
    on any device.

    It takes the same 7-bit activation codes, sums ``codes x weight codes`` exactly (float32
    matmuls over chunks of ``EXACT_CHUNK`` input channels, whose partial sums are integers below
    2**24 in any summation order, added in float64), subtracts the zero-point term, and applies
    the engine's float32 epilogue ``float32(acc - z colsum) * (s_x * s_w) + b`` with the same
    operations in the same order, so it reproduces the engine bit for bit. (A float32 fake-quant
    linear would differ in summation order; in an activation-quantized network such differences
    push a few activations across a rounding boundary, and those flips compound layer by layer.)
    """

    def __init__(self, qt: QuantizedWeight, bias: torch.Tensor | None):
        super().__init__()
        self.in_features, self.out_features = qt.in_channels, qt.codes.shape[1]
        int8_codes, w_scale = qt.int8_form()
        codes = torch.from_numpy(int8_codes.astype(np.float32))
        self.register_buffer("weight_codes", codes)
        self.register_buffer("col_sums", codes.double().sum(dim=0))
        self.register_buffer("w_scale", torch.from_numpy(np.ascontiguousarray(w_scale, np.float32)))
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.gather = _gather_index(qt)

    @classmethod
    def from_float(cls, linear: nn.Linear, qt: QuantizedWeight) -> FakeQuantLinear:
        _check_shape(linear, qt)
        return cls(qt, linear.bias)

    def dequantized_weight(self) -> torch.Tensor:
        """The expanded weight in ``nn.Linear`` layout ``(out, in + n_split)``."""
        return (self.weight_codes.float() * self.w_scale).T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gather is not None:
            x = x.index_select(-1, self.gather)
        codes, scale, zero = activation_codes(x)
        acc = exact_matmul(codes, self.weight_codes) - zero.double() * self.col_sums
        y = acc.float() * (scale * self.w_scale)
        if self.bias is not None:
            y = y + self.bias
        return y.to(x.dtype)
