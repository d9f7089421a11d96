"""AQ-BERT's differentiable bit-width search (Zhao et al., 2021, "Automatic Mixed-Precision
Quantization Search of BERT", sections 3.2-3.6).

Every searched linear splits its output neurons into ``G`` equal subgroups; subgroup ``j`` of layer
``i`` picks one of ``K`` bit-widths ``b_k`` (0 bits prunes it: its weights, its bias and its MACs
are gone). The choice is relaxed (eq. 11) by a Gumbel-softmax sample ``O^{i,j}`` over the logits
``log beta^{i,j}``, and the layer's weight is the mixture ``sum_k O_k Q_{b_k}(W_j)`` of the
subgroup's weights quantized at each width:

- ``Q_b`` is asymmetric min-max quantization of the subgroup (eqs. 7-8): ``q = (2**b - 1) /
  (max - min)`` and ``Q(a) = clamp(round(q a) - round(q min), 0, 2**b - 1)``, with the value
  ``(Q(a) + round(q min)) / q`` and the straight-through gradient of eq. 10. The paper quantizes
  "similar to Q-BERT", and this is the asymmetric quantizer of the Q-BERT group's public code
  (ZeroQ's and HAWQ's ``asymmetric_linear_quantization_params`` with ``integral_zero_point``,
  ``linear_quantize``, ``linear_dequantize``): eq. 8 with the offset ``q min`` rounded to an
  integer, so that 0 is on the grid. Rounding ``q (a - min)`` as eq. 8 prints it puts the level
  nearest 0 up to half a step off, the same for every small weight of a subgroup: a bias on each
  output neuron, not noise. On the fine-tuned MiniLM-L6 (Rotten Tomatoes, 80.5 in fp32, 128
  groups) eq. 8 as printed scores 54.9 at 4 bits and 55.5 at 3, the rounded offset 80.3 and 76.1
  (issue 16);
- the size of an assignment is ``C_O = sum_{i,j} b_{k(i,j)} n_{i,j}`` bits (eq. 5; ``n`` the
  subgroup's weights), its expectation under the logits' softmax ``p`` is ``E[C_O] =
  sum_{i,j,k} p_k b_k n_{i,j}`` (eq. 6), and the size loss (eq. 4) is ``log E[C_O]`` when ``C_O``
  is above ``(1 + eps) V``, ``-log E[C_O]`` below ``(1 - eps) V`` and 0 between. ``C_O`` is
  judged on the assignment the search would output now (each subgroup's most probable width),
  "the actual size of the model": read with the relaxed sample ``O`` of eq. 11 instead, it sits
  near the uniform mixture's size at the warm temperatures and never tells where the output is;
- the temperature anneals exponentially after ``N_0`` warm-up epochs (eq. 12):
  ``t = t_0 exp(-eta (epoch - N_0))``.

The relaxation samples with :func:`torch.nn.functional.gumbel_softmax` (eq. 11 with
``log beta`` as its logits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .tensor import MixedPrecisionTensor

MAX_BITS = 8
"""The widest choice: the engine's int8 codes."""
MIB_BITS = 8 * 2**20
"""Bits per MiB: Zhao et al.'s (2021) "MB" (BERT-Base's 324.5 MB are its 85M encoder parameters in MiB)."""


@dataclass(frozen=True)
class SearchSpace:
    """The bit-widths a subgroup may take (0 prunes it) and the subgroups per layer (``G``)."""

    bits: tuple[int, ...] = (0, 2, 4, 8)
    groups: int = 128

    def check(self, key: str = "search") -> None:
        bits = list(self.bits)
        if not bits or any(isinstance(b, bool) or not isinstance(b, int) or not 0 <= b <= MAX_BITS for b in bits):
            raise ValueError(f"{key}.bits: bit-widths are integers from 0 (pruned) to {MAX_BITS}, not {bits}")
        if len(set(bits)) != len(bits):
            raise ValueError(f"{key}.bits: {bits} repeats a width")
        if max(bits) == 0:
            raise ValueError(f"{key}.bits: {bits} has no usable width (0 prunes; give at least one of 1-{MAX_BITS})")
        if isinstance(self.groups, bool) or not isinstance(self.groups, int) or self.groups < 1:
            raise ValueError(f"{key}.groups: a positive number of subgroups per layer, not {self.groups!r}")

    def check_layer(self, name: str, out_features: int, key: str = "search") -> None:
        if out_features % self.groups:
            raise ValueError(
                f"{key}.groups: {self.groups} subgroups do not divide {name}'s {out_features} output neurons"
            )


def temperature(epoch: float, t0: float, eta: float, warmup_epochs: float) -> float:
    """Eq. 12: ``t_0`` through the warm-up, then ``t_0 exp(-eta (epoch - N_0))``."""
    return t0 * math.exp(-eta * max(0.0, epoch - warmup_epochs))


def minmax_quantize(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Eqs. 7-10 per row of ``w`` (one row per subgroup): the values on the ``bits``-bit grid over
    the row's ``[min, max]`` with its offset a whole number of steps (0 on the grid; see the module
    docstring), with straight-through gradients; 0 bits gives zeros (pruned), a constant row itself."""
    if bits == 0:
        return torch.zeros_like(w)
    lo = w.detach().amin(-1, keepdim=True)
    hi = w.detach().amax(-1, keepdim=True)
    levels = 2**bits - 1
    step = (hi - lo) / levels
    flat = step == 0
    step = torch.where(flat, torch.ones_like(step), step)
    zero = torch.round(lo / step)
    codes = torch.clamp(torch.round(w.detach() / step) - zero, 0, levels)
    value = torch.where(flat, lo, (codes + zero) * step)
    return w + (value - w).detach()


def subgroup_rows(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """``(out, in)`` as ``(groups, out/groups * in)``: a row per subgroup of output neurons."""
    return weight.reshape(groups, -1)


class MixedPrecisionLinear(nn.Module):
    """A linear layer whose ``G`` subgroups of output neurons each choose a bit-width of ``space``:
    relaxed by a Gumbel-softmax sample at :attr:`temperature` in training mode (eq. 11), the
    argmax choice in eval mode (or a fixed :attr:`assignment`)."""

    def __init__(self, linear: nn.Linear, space: SearchSpace, name: str = "linear"):
        super().__init__()
        space.check()
        space.check_layer(name, linear.out_features)
        self.space, self.name = space, name
        self.bits = tuple(sorted(space.bits, reverse=True))  # widest first: untrained (tied) logits choose it
        self.weight = nn.Parameter(linear.weight.detach().clone())
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone())
        self.logits = nn.Parameter(torch.zeros(space.groups, len(self.bits)))  # log beta: uniform start
        self.register_buffer("widths", torch.tensor(self.bits, dtype=torch.float32), persistent=False)
        self.temperature = 1.0
        self.assignment: torch.Tensor | None = None

    @property
    def group_weights(self) -> int:
        """``n``: weights per subgroup."""
        return self.weight.numel() // self.space.groups

    def probabilities(self) -> torch.Tensor:
        """``p^{i,j}_k``: the softmax of the logits, ``(G, K)``."""
        return F.softmax(self.logits, -1)

    def choice(self) -> torch.Tensor:
        """The index (in :attr:`bits`, widest first) of each subgroup's chosen width: the fixed
        assignment, else the argmax."""
        return self.assignment if self.assignment is not None else self.logits.detach().argmax(-1)

    def chosen_bits(self) -> torch.Tensor:
        return self.widths[self.choice()]

    def mixture(self) -> torch.Tensor:
        """``(G, K)`` weights of the widths, ``O`` of eq. 11: a Gumbel-softmax sample in training,
        else one-hot."""
        if self.training and self.assignment is None:
            return F.gumbel_softmax(self.logits, tau=self.temperature)
        return F.one_hot(self.choice(), len(self.bits)).to(self.weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.mixture()
        rows = subgroup_rows(self.weight, self.space.groups)
        weight = sum(o[:, k : k + 1] * minmax_quantize(rows, b) for k, b in enumerate(self.bits))
        weight = weight.reshape_as(self.weight)
        bias = self.bias
        if bias is not None and 0 in self.bits:  # a pruned subgroup has no bias either
            kept = 1.0 - o[:, self.bits.index(0)]
            bias = bias * torch.repeat_interleave(kept, self.weight.shape[0] // self.space.groups)
        return F.linear(x, weight, bias)

    def expected_bits(self) -> torch.Tensor:
        """Eq. 6 for this layer: ``sum_{j,k} p_k b_k n``, differentiable in the logits."""
        return (self.probabilities() * self.widths).sum() * self.group_weights

    def assigned_bits(self) -> float:
        """Eq. 5 for this layer: the bits of the chosen (argmax or fixed) assignment."""
        return float(self.chosen_bits().sum()) * self.group_weights

    def quantized(self) -> MixedPrecisionTensor:
        """The weight at the chosen assignment, as stored."""
        return mixed_tensor(self.weight.detach(), self.chosen_bits().long().tolist())


def mixed_tensor(weight: torch.Tensor, group_bits) -> MixedPrecisionTensor:
    """``weight`` (``(out, in)``, torch layout) on each output subgroup's grid at its bits, as
    :func:`minmax_quantize` puts it (eqs. 7-8, the offset a whole number of steps; 0: pruned), as a
    :class:`~bertq.quantization.tensor.MixedPrecisionTensor`."""
    group_bits = np.asarray(group_bits, dtype=np.int64)
    rows = weight.detach().double().reshape(group_bits.size, -1).cpu().numpy()
    lo, hi = rows.min(1), rows.max(1)
    levels = (1 << group_bits) - 1
    step = np.where(levels > 0, (hi - lo) / np.maximum(levels, 1), 0.0)
    safe = np.where(step > 0, step, 1.0)
    zero = np.where(step > 0, np.round(lo / safe), 0.0)
    codes = np.clip(np.round(rows / safe[:, None]) - zero[:, None], 0, levels[:, None])
    codes = np.where(step[:, None] > 0, codes, 0).astype(np.uint8).reshape(weight.shape)
    offset = np.where(group_bits > 0, np.where(step > 0, zero * step, lo), 0.0)
    return MixedPrecisionTensor(np.ascontiguousarray(codes.T), group_bits, offset, step)


def searched_layers(model: nn.Module) -> dict[str, MixedPrecisionLinear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, MixedPrecisionLinear)}


def expected_size(layers, fixed_bits: float = 0.0) -> torch.Tensor:
    """``E[C_O]`` (eq. 6) in bits, plus what the search does not choose (``fixed_bits``)."""
    return fixed_bits + sum(layer.expected_bits() for layer in layers)


def assigned_size(layers, fixed_bits: float = 0.0) -> float:
    """``C_O`` (eq. 5) in bits of the chosen (argmax or fixed) assignment, plus ``fixed_bits``."""
    return fixed_bits + sum(layer.assigned_bits() for layer in layers)


def size_loss(expected: torch.Tensor, size: float, target: float, tolerance: float) -> torch.Tensor:
    """Eq. 4: ``log E[C]`` when the size ``C_O`` is above ``(1 + eps) V``, ``-log E[C]`` below
    ``(1 - eps) V``, zero inside the band (sizes in any one unit)."""
    if size > (1 + tolerance) * target:
        return torch.log(expected)
    if size < (1 - tolerance) * target:
        return -torch.log(expected)
    return expected.new_zeros(())


def size_range(layers, fixed_bits: float = 0.0) -> tuple[float, float]:
    """The smallest and largest size (bits) an assignment can have: every subgroup at the
    narrowest, or at the widest, width."""
    lo = fixed_bits + sum(min(layer.space.bits) * layer.weight.numel() for layer in layers)
    hi = fixed_bits + sum(max(layer.space.bits) * layer.weight.numel() for layer in layers)
    return lo, hi


def check_target(layers, target_bits: float, tolerance: float, fixed_bits: float = 0.0, key: str = "search") -> None:
    """An unreachable size target is an error naming the reachable range (in MiB)."""
    lo, hi = size_range(layers, fixed_bits)
    if (1 + tolerance) * target_bits < lo or (1 - tolerance) * target_bits > hi:
        raise ValueError(
            f"{key}.target_mb: {target_bits / MIB_BITS:.3g} MiB is out of reach: assignments of this space "
            f"range from {lo / MIB_BITS:.3g} MiB (every subgroup at {min(layers[0].space.bits)} bits) "
            f"to {hi / MIB_BITS:.3g} MiB (at {max(layers[0].space.bits)} bits)"
        )
