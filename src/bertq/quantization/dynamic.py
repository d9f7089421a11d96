"""Dynamic symmetric activation quantization with TM-IQR clipping (El-Kurdi et al., 2022).

**I8** (section 2.1.1): at the input of every linear layer the activation ``A`` is quantized at
run time to ``int((2^b/2 - 1) / QS * A)`` with ``QS = max |A|`` (eqs. 1-2), symmetric, codes in
``[-127, 127]`` at 8 bits. "Per tensor" is taken per sequence over its real tokens (the tensor one
input produces), so that no input's result depends on the others of its batch or on padding; a
``(batch, channels)`` input (pooler, classifier) is one row per sequence. The paper's ``int`` is
"e.g. a floor function"; like the field's kernels (fbgemm, torch) we round to nearest, half to
even.

**TM-IQR** (Algorithm 2): per token the maximum ``|A|`` over the hidden dimension; ``q1``/``q3``
the quartiles of those maxima; ``t = q3 + iqr_scale (q3 - q1)`` (``iqr_scale`` = 1.5, Tukey's);
``A`` clamped to ``[-t, t]`` before ``QS`` is taken, so ``QS = min(max |A|, t)``. The paper sorts
the maxima and names no interpolation: :func:`quartiles` is the sample quantile of Hyndman & Fan's
type 7 (numpy's and torch's default, ``linear``) on the sorted maxima, in float64.

Whether a variant is scored on the integer engine or its torch twin is the method entry's
``engine`` (:mod:`bertq.pipeline.config`). The functions here compute the per-row ``scale = QS /
L`` and multiplier ``inv = L / QS`` (``L = 2^b/2 - 1``) in float32 and the codes ``clamp(rint(A
inv), -L, L)``; the integer engine (:mod:`bertq.engine.dynamic`) feeds the same scales to the
kernels, so the torch twin and the engine see identical codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..models.sites import check_pattern

IQR_SCALE = 1.5
"""Tukey's outlier fence (El-Kurdi et al., 2022, Algorithm 2, line 5)."""
FF2_INPUT = "*.ffn.intermediate"
"""The site the FFN's second linear (FF2) reads: where the paper applies TM-IQR (section 3.1)."""
QUARTILE_INTERPOLATION = "linear"
"""Hyndman & Fan type 7: ``q(p) = s[j] + (h - j) (s[j+1] - s[j])`` with ``h = p (n - 1)``,
``j = floor(h)``, ``s`` sorted."""


@dataclass(frozen=True)
class TmIqrConfig:
    """Where TM-IQR clips (site globs of :mod:`bertq.models.sites`, matched against the site each
    linear reads) and the IQR scale."""

    sites: tuple[str, ...] = (FF2_INPUT,)
    scale: float = IQR_SCALE


@dataclass(frozen=True)
class DynamicConfig:
    """Dynamic symmetric activation quantization at the input of every quantized linear: ``bits``
    (2 to 8) and optional TM-IQR clipping."""

    bits: int = 8
    tm_iqr: TmIqrConfig | None = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def levels(self) -> int:
        return 2 ** (self.bits - 1) - 1

    @classmethod
    def from_dict(cls, d: dict | None) -> DynamicConfig:
        d = dict(d or {})
        known = {"bits", "tm_iqr"}
        extra = {k: v for k, v in d.items() if k not in known}
        tm = d.get("tm_iqr")
        if tm is not None:
            if not isinstance(tm, dict):
                raise TypeError(f"tm_iqr: expected a mapping (sites, scale), got {tm!r}")
            unknown = set(tm) - {"sites", "scale"}
            if unknown:
                raise ValueError(f"tm_iqr: unknown key(s) {sorted(unknown)}; it takes sites and scale")
            tm = TmIqrConfig(tuple(tm.get("sites", (FF2_INPUT,))), tm.get("scale", IQR_SCALE))
        return cls(d.get("bits", 8), tm, extra)

    def to_dict(self) -> dict:
        tm = None if self.tm_iqr is None else {"sites": list(self.tm_iqr.sites), "scale": self.tm_iqr.scale}
        return {"bits": self.bits, "tm_iqr": tm}

    def check(self, where: str = "dynamic") -> None:
        """Raise ``ValueError`` naming ``where`` and the key at fault."""
        if self.extra:
            raise ValueError(f"{where}: unknown key(s) {sorted(self.extra)}; dynamic takes bits, tm_iqr and engine")
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 2 <= self.bits <= 8:
            raise ValueError(f"{where}.bits: expected an integer from 2 to 8, got {self.bits!r}")
        if self.tm_iqr is not None:
            scale = self.tm_iqr.scale
            if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale >= 0:
                raise ValueError(f"{where}.tm_iqr.scale: expected a number >= 0, got {scale!r}")
            if not self.tm_iqr.sites or not all(isinstance(p, str) for p in self.tm_iqr.sites):
                raise ValueError(f"{where}.tm_iqr.sites: expected a non-empty list of site patterns")
            for i, pattern in enumerate(self.tm_iqr.sites):
                try:
                    check_pattern(pattern)
                except ValueError as exc:
                    raise ValueError(f"{where}.tm_iqr.sites[{i}]: {exc}") from None


def _type7(s: torch.Tensor, n: torch.Tensor, p: float) -> torch.Tensor:
    """Per row of ``s`` (sorted ascending, its first ``n`` entries the sample), the type-7 sample
    quantile ``p`` (:data:`QUARTILE_INTERPOLATION`), in float64."""
    h = p * (n - 1).clamp(min=0).double()
    j = h.floor().long()
    upper = torch.minimum(j + 1, (n - 1).clamp(min=0))
    lo, hi = s.gather(1, j[:, None])[:, 0], s.gather(1, upper[:, None])[:, 0]
    return lo + (h - j.double()) * (hi - lo)


def quartiles(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(q1, q3)`` of a 1-D tensor, type 7 (:data:`QUARTILE_INTERPOLATION`), in float64."""
    if values.numel() == 0:
        raise ValueError("quartiles of no values")
    s = values.double().sort().values[None]
    n = torch.tensor([values.numel()])
    return _type7(s, n, 0.25)[0], _type7(s, n, 0.75)[0]


def tm_iqr_threshold(token_maxima: torch.Tensor, iqr_scale: float = IQR_SCALE) -> torch.Tensor:
    """Algorithm 2, lines 2-5: ``t = q3 + iqr_scale (q3 - q1)`` of one sequence's token maxima
    (float64)."""
    q1, q3 = quartiles(token_maxima)
    return q3 + iqr_scale * (q3 - q1)


def tm_iqr_thresholds(maxima: torch.Tensor, real: torch.Tensor, iqr_scale: float) -> torch.Tensor:
    """:func:`tm_iqr_threshold` of every sequence at once (``(b, t)`` token maxima, the real ones
    marked), in float64; 0 for a sequence without real tokens."""
    s = torch.where(real, maxima.double(), torch.full_like(maxima, float("inf"), dtype=torch.float64))
    s = s.sort(dim=1).values  # the real maxima first, ascending
    n = real.sum(dim=1)
    q1, q3 = _type7(s, n, 0.25), _type7(s, n, 0.75)
    t = q3 + iqr_scale * (q3 - q1)
    return torch.where(n > 0, t, torch.zeros_like(t))


def token_maxima(x: torch.Tensor) -> torch.Tensor:
    """``max |x|`` over the last dimension, float32: on the CPU in one vectorised pass
    (:func:`bertq.kernels.vector.row_absmax`), elsewhere as ``max(max x, -min x)`` (two passes, no
    temporary). Both are exact, so they agree bit for bit."""
    x = x.detach()
    if x.device.type == "cpu" and x.dtype == torch.float32 and x.is_contiguous() and x.numel():
        from ..kernels.vector import row_absmax

        rows = x.reshape(-1, x.shape[-1]).numpy()
        out = np.empty(rows.shape[0], np.float32)
        row_absmax(rows, out)
        return torch.from_numpy(out).reshape(x.shape[:-1])
    return torch.maximum(x.amax(dim=-1), -x.amin(dim=-1)).float()


def _row_groups(x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(token maxima (b, t), real (b, t))`` of ``(b, t, h)``, or of ``(b, h)`` as ``(b, 1)``."""
    if x.dim() not in (2, 3):
        raise ValueError(f"expected a (batch, tokens, channels) or (batch, channels) input, got {tuple(x.shape)}")
    maxima = token_maxima(x)
    if x.dim() == 2:
        return maxima[:, None], torch.ones_like(maxima, dtype=torch.bool)[:, None]
    real = torch.ones_like(maxima, dtype=torch.bool) if mask is None else mask.to(maxima.device).bool()
    if real.shape != maxima.shape:
        raise ValueError(f"token mask of shape {tuple(real.shape)} does not fit an input of {tuple(x.shape)}")
    return maxima, real


def sequence_ranges(x: torch.Tensor, mask: torch.Tensor | None, iqr_scale: float | None = None) -> torch.Tensor:
    """``QS`` per sequence (float32, ``(b,)``): eq. 1 over the real tokens, clipped at the TM-IQR
    threshold when ``iqr_scale`` is given (Algorithm 2 on those tokens' maxima)."""
    maxima, real = _row_groups(x, mask)
    qs = torch.where(real, maxima, torch.zeros_like(maxima)).amax(dim=1)
    if iqr_scale is not None:
        qs = torch.minimum(qs, tm_iqr_thresholds(maxima, real, iqr_scale).to(torch.float32))
    return qs


def row_scales(x: torch.Tensor, qs: torch.Tensor, levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of ``x`` (its tokens, flattened) the float32 ``(scale, inv)``: ``QS / L`` and
    ``L / QS`` of the row's sequence (eq. 2); a sequence with ``QS = 0`` gets 1 and 1."""
    top = torch.tensor(float(levels), dtype=torch.float32)
    zero = qs == 0
    safe = torch.where(zero, torch.ones_like(qs), qs)
    scale = torch.where(zero, torch.ones_like(qs), safe / top)
    inv = torch.where(zero, torch.ones_like(qs), top / safe)
    tokens = 1 if x.dim() == 2 else x.shape[1]
    return scale.repeat_interleave(tokens), inv.repeat_interleave(tokens)


def symmetric_codes(rows: torch.Tensor, inv: torch.Tensor, levels: int) -> torch.Tensor:
    """Eq. 2: ``clamp(rint(A inv), -L, L)`` per row of a float32 ``(m, k)`` tensor."""
    return torch.clamp(torch.round(rows.float() * inv[:, None]), -levels, levels)


def fake_quantize(
    x: torch.Tensor, bits: int = 8, mask: torch.Tensor | None = None, iqr_scale: float | None = None
) -> torch.Tensor:
    """``scale * code`` of ``x``: what the integer GEMM multiplies (same shape and dtype)."""
    levels = 2 ** (bits - 1) - 1
    qs = sequence_ranges(x, mask, iqr_scale)
    scale, inv = row_scales(x, qs, levels)
    rows = x.reshape(-1, x.shape[-1])
    return (symmetric_codes(rows, inv, levels) * scale[:, None]).reshape(x.shape).to(x.dtype)
