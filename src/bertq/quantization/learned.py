"""Quantizers with trainable ranges, for quantization-aware training (Bondarenko et al., 2021,
section 4, "QAT with learnable ranges for both weights and activations", after Esser et al., 2019
and Jain et al., 2019).

Both follow the authors' quantizers (``quantization/quantizers.py`` of Qualcomm's
transformer-quantization, with ``learn_ranges``): rounding passes its gradient straight through
(:func:`round_ste`, Bengio et al., 2013), clamping passes it only inside the grid, and the range
parameters get whatever autograd derives from that forward:

- :class:`LearnedWeightQuantizer`, symmetric: ``w_hat = s clamp(round(w / s), -q, q)`` with the
  step ``s`` trainable (one per group of output channels, as the PTQ weight it starts from). Hence
  ``d w_hat / d w = 1`` inside the grid and 0 outside, and ``d w_hat / d s = round(w/s) - w/s``
  inside, ``+-q`` outside (LSQ's gradient, Esser et al., eq. 3, without its gradient scale, as the
  authors' code). The grid is bertq's ``[-q, q]`` with ``q = 2**(b-1) - 1`` (the authors' signed
  grid has one more negative code), so the result is a :class:`~bertq.quantization.tensor.QuantizedTensor`
  that the kernels, the size count and the engine take as a PTQ weight.
- :class:`LearnedActivationQuantizer`, asymmetric (eqs. 1-2): ``x_hat = s (clamp(round(x/s) + z,
  0, 2**b - 1) - z)`` with ``z = clamp(round(z_f), 0, 2**b - 1)``; the step ``s`` and the real-valued
  zero point ``z_f`` are trainable, initialised from a calibrated range as
  :func:`~bertq.quantization.affine.affine_grid` sets them (``s = (hi - lo) / (2**b - 1)``,
  ``z_f = -lo / s``). Then ``d x_hat / d z_f = -s`` where ``x`` is clamped and 0 inside. It
  exports the range ``[-z s, (2**b - 1 - z) s]``, whose grid is the trained one, for evaluation
  (:class:`~bertq.quantization.activation.SiteRange`). Per-embedding-group ranges (eq. 5) train
  one ``(s, z_f)`` per group.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .activation import SiteRange
from .affine import EPS, levels
from .bits import SymmetricInt
from .tensor import QuantizedTensor


class _RoundStraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` (half to even) forward, the identity backward (the straight-through estimator)."""
    return _RoundStraightThrough.apply(x)


class _AsymmetricFakeQuant(torch.autograd.Function):
    """``s (clamp(round(x/s) + z, 0, n) - z)`` with the gradients autograd derives from the authors'
    formulation (``round`` straight through, ``clamp`` passing inside ``[0, n]``), in a few passes:
    with ``m`` the inside mask, ``dx = g m``, ``ds = sum(g (x_hat - x m)) / s`` (that is
    ``round(x/s) - x/s`` inside and ``clamp(...) - z`` outside), ``dz = -s sum(g (1 - m))``. ``s`` and
    ``z`` are a scalar or per channel (the last dimension); their gradients are summed to that shape."""

    @staticmethod
    def forward(ctx, x, s, z, top):
        codes = torch.round(x / s).add_(z)
        clamped = codes.clamp(0, top)
        inside = clamped == codes
        out = clamped.sub_(z).mul_(s)
        ctx.save_for_backward(x, out, inside, s)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out, inside, s = ctx.saved_tensors
        gx = g * inside
        if s.dim() == 0:
            g_out = torch.dot(g.reshape(-1), out.reshape(-1))
            gx_x = torch.dot(gx.reshape(-1), x.reshape(-1))
            outside = g.sum() - gx.sum()
        else:
            channels = s.shape[-1]
            g_out = (g * out).reshape(-1, channels).sum(0)
            gx_x = (gx * x).reshape(-1, channels).sum(0)
            outside = g.reshape(-1, channels).sum(0) - gx.reshape(-1, channels).sum(0)
        return gx, (g_out - gx_x) / s, -s * outside, None


class LearnedWeightQuantizer(nn.Module):
    """A parametrization ``weight -> w_hat`` (:mod:`torch.nn.utils.parametrize`) of a linear's or an
    embedding's weight, with a trainable step per group of output channels. ``output_dim`` is the
    weight's dimension of output channels in its torch layout (0 for ``nn.Linear``'s ``(out, in)``,
    1 for an embedding table ``(rows, hidden)``, whose hidden channels are bertq's output channels)."""

    def __init__(self, scale: np.ndarray, bits: int, channels: int, output_dim: int):
        super().__init__()
        self.int_type = SymmetricInt(bits)
        scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        if channels % scale.size:
            raise ValueError(f"{scale.size} scales do not split {channels} output channels into equal groups")
        self.delta = nn.Parameter(torch.tensor(scale, dtype=torch.float32))
        self.register_buffer("group", torch.arange(channels) // (channels // scale.size))
        self.output_dim = output_dim

    def step(self) -> torch.Tensor:
        """The step of every output channel, shaped to broadcast against the weight."""
        s = torch.clamp(self.delta, min=EPS)[self.group]
        return s[:, None] if self.output_dim == 0 else s[None, :]

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        s = self.step()
        q = self.int_type.qmax
        return s * torch.clamp(round_ste(w / s), -q, q)

    def quantized(self, w: torch.Tensor) -> QuantizedTensor:
        """The trained weight as codes and steps, input-major (bertq's layout)."""
        with torch.no_grad():
            s = self.step()
            q = self.int_type.qmax
            codes = torch.clamp(torch.round(w / s), -q, q).to(torch.int8).cpu().numpy()
        codes = codes.T if self.output_dim == 0 else codes
        scale = torch.clamp(self.delta.detach(), min=EPS).double().cpu().numpy()
        return QuantizedTensor(np.ascontiguousarray(codes), scale, self.int_type)


class LearnedActivationQuantizer(nn.Module):
    """One activation site with a trainable asymmetric grid (module docstring), in place of its
    :class:`~bertq.models.sites.Site` or static quantizer; ``kind`` names the site."""

    def __init__(self, kind: str, r: SiteRange):
        super().__init__()
        self.kind, self.bits = kind, r.bits
        lo = torch.minimum(torch.tensor(r.lo, dtype=torch.float32), torch.zeros(()))
        hi = torch.maximum(torch.tensor(r.hi, dtype=torch.float32), torch.full((), EPS))
        delta = (hi - lo) / levels(r.bits)
        self.delta = nn.Parameter(delta)
        self.zero_float = nn.Parameter(-lo / delta)
        self.register_buffer("index", None if r.index is None else torch.tensor(r.index, dtype=torch.long))

    def grid(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(s, z)`` per channel (or one pair for the tensor), ``z`` rounded straight through."""
        s = torch.clamp(self.delta, min=EPS)
        z = torch.clamp(round_ste(self.zero_float), 0, levels(self.bits))
        if self.index is None:
            return s.reshape(()), z.reshape(())
        return s[self.index], z[self.index]

    def forward(self, x):
        s, z = self.grid()
        return _AsymmetricFakeQuant.apply(x, s.to(x.dtype), z.to(x.dtype), levels(self.bits))

    def site_range(self) -> SiteRange:
        """The range whose grid is the trained one: ``lo = -z s``, ``hi = (2**b - 1 - z) s``."""
        with torch.no_grad():
            s = torch.clamp(self.delta, min=EPS).double()
            z = torch.clamp(torch.round(self.zero_float), 0, levels(self.bits)).double()
            lo, hi = -z * s, (levels(self.bits) - z) * s
        index = None if self.index is None else self.index.tolist()
        return SiteRange(self.bits, lo.reshape(-1).tolist(), hi.reshape(-1).tolist(), index)

    def extra_repr(self) -> str:
        groups = self.delta.numel()
        return f"{self.kind}, a{self.bits}, learned range" + (f", {groups} groups" if groups > 1 else "")
