"""Symmetric linear quantization (Hu et al., 2022, eqs. 1-3 with zero point z = 0)."""

from __future__ import annotations

import numpy as np
from numba import njit

from .bits import SymmetricInt


def max_abs(w: np.ndarray) -> float:
    """``max(abs(X_f))``: the range of plain linear quantization (eq. 2)."""
    return float(np.max(np.abs(w))) if np.size(w) else 0.0


def scale_for_range(clip: float, int_type: SymmetricInt) -> float:
    """Step size that maps ``[-clip, clip]`` onto ``[-qmax, qmax]``.

    The paper's eq. 2 writes the reciprocal (codes per unit) with ``2**k - 1`` levels over
    ``max|X|``; for a signed symmetric grid the authors' code uses ``qmax = 2**(k-1) - 1`` codes on
    each side, which is what we do. A zero range gives a unit step (all codes are 0).
    """
    clip = float(clip)
    if not np.isfinite(clip) or clip < 0:
        raise ValueError(f"clipping value must be finite and non-negative, got {clip}")
    return clip / int_type.qmax if clip > 0 else 1.0


def quantize(x: np.ndarray, scale: float, int_type: SymmetricInt) -> np.ndarray:
    """Integer codes ``clamp(round(x / scale), -qmax, qmax)`` as int8 (eq. 1)."""
    codes = np.rint(np.asarray(x, dtype=np.float64) / scale)
    np.clip(codes, int_type.qmin, int_type.qmax, out=codes)
    return codes.astype(np.int8)


def dequantize(codes: np.ndarray, scale: float) -> np.ndarray:
    """``codes * scale`` (eq. 3)."""
    return codes.astype(np.float32) * np.float32(scale)


def fake_quantize(x: np.ndarray, clip: float, int_type: SymmetricInt) -> np.ndarray:
    scale = scale_for_range(clip, int_type)
    return dequantize(quantize(x, scale, int_type), scale)


def mse(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Mean square quantization error (eq. 4)."""
    d = np.asarray(x, dtype=np.float64) - np.asarray(x_hat, dtype=np.float64)
    return float(np.mean(d * d))


MSE_CANDIDATES = 100


def mse_clip(w: np.ndarray, int_type: SymmetricInt, candidates: int = MSE_CANDIDATES) -> float:
    """The MSE range estimator (Bondarenko et al., 2021, sec. 2, after Choukroun et al., 2019 and
    Banner et al., 2018), which that paper uses for every weight below 8 bits: of ``candidates``
    clipping values evenly spaced over ``(0, max|W|]``, the one whose symmetric grid gives the
    least squared error.

    The authors' estimator (``MSE_Estimator`` in qualcomm-ai-research/transformer-quantization)
    runs the same 100-point grid search over ``(0, max|W| + 0.5]``; for BERT weights, whose
    magnitudes stay far below 0.5, that margin leaves most candidates above ``max|W|``, where a
    symmetric grid only gets coarser, so we spend all of them below it.
    """
    w = np.ascontiguousarray(np.asarray(w, dtype=np.float64).ravel())
    top = max_abs(w)
    if top == 0.0:
        return 0.0
    clips = top * np.arange(1, candidates + 1) / candidates
    errors = _grid_errors(w, clips, float(int_type.qmax))
    return float(clips[int(np.argmin(errors))])


@njit(cache=True)
def _grid_errors(w, clips, qmax):
    """Squared error of ``w`` on the symmetric grid of each clipping value (eq. 1 and 3)."""
    out = np.zeros(clips.size)
    for c in range(clips.size):
        scale = clips[c] / qmax
        inv = 1.0 / scale
        acc = 0.0
        for i in range(w.size):
            q = np.rint(w[i] * inv)
            if q > qmax:
                q = qmax
            elif q < -qmax:
                q = -qmax
            d = w[i] - q * scale
            acc += d * d
        out[c] = acc
    return out
