"""Static range estimators for activations (Bondarenko et al., 2021, section 2 and Appendix B.2),
as the authors' ``range_estimators.py`` (Qualcomm's transformer-quantization) computes them.

An estimator sees the calibration batches one by one as ``(rows, channels)`` tensors of a site's
real (non-padding) values, and gives a range ``(lo, hi)`` per group of channels: one group for
per-tensor quantization, ``K`` for per-embedding-group ranges (eq. 5; :func:`peg_groups`).

- ``current_minmax``: min and max of the last batch.
- ``running_minmax``: the first batch's min and max, then ``m * previous + (1 - m) * batch``
  (exponential average, ``m = 0.9``).
- ``mse``: the range whose asymmetric grid has the least squared error over all calibration data:
  the authors' grid search (100 symmetric widths, each shifted by up to ``2**b / 4`` grid steps
  either way, limited to the data's range plus a margin of 0.5; one-sided data searches
  ``[0, w]``), with the loss summed over batches. The search spans every batch's data (the authors' spans the
  first batch's); bertq sums each candidate's loss over a
  32768-bin histogram of the calibration data with per-bin count, sum and sum of squares (exact
  but for the bins a grid cell's boundary cuts), searches once after the last batch (the authors
  search after each), adds the data's own min-max range as a candidate (so MSE is never worse
  than min-max), and above 10 bits searches the widths unshifted. While calibrating, an MSE site
  passes each batch on quantized over that batch's min-max range.
- ``percentile`` (beyond the paper; PyTorch's and NNCF's calibrators offer it): the last batch's
  ``100 - p`` and ``p`` percentiles.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .affine import EPS, levels

MOMENTUM = 0.9
"""Bondarenko et al., Appendix B.2: running min-max with momentum 0.9."""
MSE_BINS = 1 << 15
MSE_MAX_SHIFTED_BITS = 10
"""Above this many bits the search tries symmetric widths only (and the min-max range)."""
MSE_MARGIN = 0.5
"""The authors' ``range_margin``: the search may reach 0.5 beyond the data's min and max."""


def peg_groups(channels: int, groups: int, ranges: torch.Tensor | None = None) -> torch.Tensor:
    """The group of each channel for ``groups`` evenly sized per-embedding groups (eq. 5): contiguous
    channels, or with ``ranges`` (range-based permutation) contiguous in ``argsort(ranges)`` order,
    so the widest channels share the last group. ``groups`` must divide ``channels``."""
    if groups < 1 or channels % groups:
        raise ValueError(f"{groups} embedding groups do not divide {channels} channels evenly")
    size = channels // groups
    position = torch.arange(channels)
    if ranges is not None:
        order = torch.argsort(torch.as_tensor(ranges, dtype=torch.float64), stable=True)
        position = torch.empty(channels, dtype=torch.long)
        position[order] = torch.arange(channels)
    return position // size


def group_minmax(rows: torch.Tensor, index: torch.Tensor | None, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Min and max of ``rows`` per group of channels (``index`` None: over the whole tensor)."""
    if index is None:
        return rows.min().reshape(1).float(), rows.max().reshape(1).float()
    cmin, cmax = rows.amin(0).float(), rows.amax(0).float()
    lo = torch.full((groups,), math.inf).scatter_reduce(0, index, cmin, "amin")
    hi = torch.full((groups,), -math.inf).scatter_reduce(0, index, cmax, "amax")
    return lo, hi


class Estimator:
    """A range per group from batches of rows; ``update`` returns the range to quantize that batch
    with, ``result`` the final one."""

    name = ""
    per_group = True
    """Whether it supports per-embedding-group ranges."""

    def __init__(self, bits: int, index: torch.Tensor | None = None, groups: int = 1, **options):
        self.bits, self.index, self.groups = bits, index, groups
        self.lo = self.hi = None

    def update(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.lo is None:
            raise ValueError("the estimator saw no data")
        return self.lo, self.hi


class CurrentMinMax(Estimator):
    name = "current_minmax"

    def update(self, rows):
        self.lo, self.hi = group_minmax(rows, self.index, self.groups)
        return self.lo, self.hi


class RunningMinMax(Estimator):
    name = "running_minmax"

    def __init__(self, bits, index=None, groups=1, momentum: float = MOMENTUM, **options):
        super().__init__(bits, index, groups)
        self.momentum = momentum

    def update(self, rows):
        lo, hi = group_minmax(rows, self.index, self.groups)
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            m = self.momentum
            self.lo, self.hi = (1 - m) * lo + m * self.lo, (1 - m) * hi + m * self.hi
        return self.lo, self.hi


class Percentile(Estimator):
    name = "percentile"
    per_group = False

    def __init__(self, bits, index=None, groups=1, percentile: float = 99.99, **options):
        super().__init__(bits, index, groups)
        if not 50 < percentile <= 100:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.percentile = percentile

    def update(self, rows):
        values = rows.detach().double().reshape(-1).cpu().numpy()
        lo, hi = np.percentile(values, (100 - self.percentile, self.percentile))
        self.lo, self.hi = torch.tensor([lo], dtype=torch.float32), torch.tensor([hi], dtype=torch.float32)
        return self.lo, self.hi


class MeanSquaredError(Estimator):
    name = "mse"
    per_group = False

    def __init__(self, bits, index=None, groups=1, candidates: int = 100, **options):
        super().__init__(bits, index, groups)
        self.candidates = candidates
        self.edges = None
        self.data_min, self.data_max = math.inf, -math.inf

    def update(self, rows):
        x = rows.detach().reshape(-1).double()
        lo, hi = float(x.min()), float(x.max())
        if self.edges is None:
            self.one_sided = lo >= 0
            self.moments = torch.zeros(3, MSE_BINS + 2, dtype=torch.float64)
        if self.edges is None or lo < self.data_min or hi > self.data_max:
            self._widen(min(lo, self.data_min), max(hi, self.data_max))
        self._add(x, torch.ones_like(x))
        return torch.tensor([lo], dtype=torch.float32), torch.tensor([hi], dtype=torch.float32)

    def _widen(self, lo: float, hi: float) -> None:
        """Span the search (and the histogram) over ``[lo, hi]`` plus the margin; the mass seen so
        far moves to the new bins at each old bin's mean."""
        self.data_min, self.data_max = lo, hi
        if self.one_sided and lo >= 0:
            self.search_lo, self.search_hi = 0.0, max(abs(lo), hi) + MSE_MARGIN
        else:
            self.one_sided = False
            self.search_lo, self.search_hi = lo - MSE_MARGIN, hi + MSE_MARGIN
        old = self.moments
        self.edges = torch.linspace(self.search_lo, self.search_hi, MSE_BINS + 1, dtype=torch.float64)
        self.moments = torch.zeros_like(old)
        seen = old[0] > 0
        if seen.any():
            n, s, q = old[:, seen]
            self._add(s / n, n, s, q)

    def _add(self, at, n, s=None, q=None) -> None:
        """Add count ``n`` (sum ``s``, sum of squares ``q``; by default those of values ``at``) to
        the bins of ``at``."""
        s = at * n if s is None else s
        q = at * at * n if q is None else q
        lo, width = float(self.edges[0]), float(self.edges[1] - self.edges[0])
        b = torch.floor((at - lo) / width).long().add_(1).clamp_(1, MSE_BINS)  # evenly spaced: no search
        for i, w in enumerate((n, s, q)):
            self.moments[i] += torch.bincount(b, weights=w, minlength=MSE_BINS + 2)

    def candidate_ranges(self) -> np.ndarray:
        """``(n, 2)`` candidate ``(lo, hi)``: the authors' grid, then the data's min-max."""
        qmax = levels(self.bits)
        if self.one_sided:
            k = np.arange(1, self.candidates + 1) * self.search_hi / self.candidates
            cands = np.stack([np.zeros_like(k), k], axis=1)
        else:
            width = max(abs(self.search_hi), abs(self.search_lo))
            k = np.arange(1, self.candidates + 1) * width / self.candidates
            if self.bits > MSE_MAX_SHIFTED_BITS:
                shift = np.zeros(1)
            else:
                shift = np.arange((1 << self.bits) // 4, dtype=np.float64)
                shift = np.concatenate([shift, -shift[1:]])
            skew = shift[None, :] * (2 * k / qmax)[:, None]
            lo = np.maximum(-k[:, None] + skew, self.search_lo).reshape(-1)
            hi = np.minimum(k[:, None] + skew, self.search_hi).reshape(-1)
            cands = np.stack([lo, hi], axis=1)
        return np.concatenate([cands, [[self.data_min, self.data_max]]])

    def losses(self, cands: np.ndarray) -> np.ndarray:
        """Each candidate's squared error summed over the calibration data: per grid cell
        ``sum (x - v_c)**2 = Q - 2 v_c S + N v_c**2`` from prefix sums of the histogram's count,
        sum and sum of squares, each bin falling into the cell its centre rounds to."""
        prefix = np.concatenate([np.zeros((3, 1)), np.cumsum(self.moments.numpy(), axis=1)], axis=1)
        edge0, width = float(self.edges[0]), float(self.edges[1] - self.edges[0])
        qmax = levels(self.bits)
        codes = np.arange(qmax + 1, dtype=np.float64)
        out = np.empty(len(cands))
        chunk = max(1, (1 << 21) // (qmax + 1))
        for start in range(0, len(cands), chunk):
            # the grid exactly as affine_grid builds it from a float32 range (a zero point on a .5
            # tie must round the same way here as when the range is applied)
            c = cands[start : start + chunk].astype(np.float32)
            lo, hi = np.minimum(c[:, :1], np.float32(0)), np.maximum(c[:, 1:], np.float32(EPS))
            scale = np.maximum((hi - lo) / np.float32(qmax), np.float32(EPS))
            zero = np.clip(np.round(-lo / scale), 0, qmax)
            scale, zero = scale.astype(np.float64), zero.astype(np.float64)
            # cell c holds x with round(x / s) + z = c: up to the boundary (c - z + 0.5) s
            bounds = (codes[None, :-1] - zero + 0.5) * scale
            k = np.clip(np.round((bounds - edge0) / width) + 1, 0, MSE_BINS + 2).astype(np.int64)
            k = np.concatenate([np.zeros((len(c), 1), np.int64), k, np.full((len(c), 1), MSE_BINS + 2)], axis=1)
            n, s, q = (np.diff(prefix[i][k], axis=1) for i in range(3))
            v = (codes[None, :] - zero) * scale
            out[start : start + chunk] = (q - 2 * v * s + n * v * v).sum(axis=1)
        return out

    def result(self):
        if self.edges is None:
            raise ValueError("the estimator saw no data")
        cands = self.candidate_ranges()
        best = cands[int(np.argmin(self.losses(cands)))]
        return torch.tensor([best[0]], dtype=torch.float32), torch.tensor([best[1]], dtype=torch.float32)


ESTIMATORS: dict[str, type[Estimator]] = {
    e.name: e for e in (CurrentMinMax, RunningMinMax, MeanSquaredError, Percentile)
}


def make_estimator(name: str, bits: int, index=None, groups: int = 1, **options) -> Estimator:
    try:
        cls = ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown range estimator {name!r}; known: {', '.join(ESTIMATORS)}") from None
    if index is not None and not cls.per_group:
        raise ValueError(f"the {name} estimator gives per-tensor ranges only, not per-embedding-group ones")
    return cls(bits, index, groups, **options)
