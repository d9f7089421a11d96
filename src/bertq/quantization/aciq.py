"""ACIQ range estimator (Banner et al., 2019): the analytical clipping of Hu et al. (2022), eq. 5."""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from .quantizer import max_abs

PRIORS = ("gaussian", "laplace")


def gaussian_mse_derivative(alpha: float, sigma: float, bits: int) -> float:
    """Half the derivative of ACIQ's expected MSE for N(0, sigma^2) clipped at ``alpha`` (eq. 5).

    The expected MSE is ``(a^2 + s^2)(1 - erf(a / (sqrt2 s))) - sqrt(2/pi) a s exp(-a^2/2s^2)``
    for the clipped tails plus ``a^2 / (3 * 4^k)`` for rounding on ``2^k`` levels. Halved, its
    derivative is eq. 5's ``a[1 - erf(a/(sqrt2 s))] - 2 s exp(-a^2/2s^2)/sqrt(2 pi)`` plus
    ``a / (3 * 2^(2k))``. Eq. 5 as printed has ``2a / (3 * 2^(2k))`` in the last term, which
    is not the derivative of that MSE; we follow the ACIQ code the authors used, whose optimal
    ``a / s`` at 2..8 bits (1.71, 2.15, 2.55, 2.93, 3.28, 3.61, 3.92) this root reproduces.
    """
    a, s = alpha, sigma
    tail = a * (1.0 - math.erf(a / (math.sqrt(2.0) * s)))
    density = (s * s * math.exp(-a * a / (2 * s * s))) / (math.sqrt(2 * math.pi) * s)
    density += s * math.exp(-a * a / (2 * s * s)) / math.sqrt(2 * math.pi)
    return tail - density + a / (3.0 * 2 ** (2 * bits))


def laplace_mse_derivative(alpha: float, b: float, bits: int) -> float:
    """Half the derivative of ACIQ's expected MSE for Laplace(0, b): ``2 b^2 exp(-a/b) + a^2/(3*4^k)``."""
    return -b * math.exp(-alpha / b) + alpha / (3.0 * 2 ** (2 * bits))


@cache
def optimal_clip_ratio(prior: str, bits: int) -> float:
    """Root of the MSE derivative for a unit-scale prior: ``alpha / sigma`` (Gaussian) or ``alpha / b``."""
    from scipy.optimize import brentq  # here, not at import: only an ACIQ job pays for scipy

    if prior == "gaussian":
        return brentq(gaussian_mse_derivative, 1e-3, 40.0, args=(1.0, bits), xtol=1e-12)
    if prior == "laplace":
        return brentq(laplace_mse_derivative, 1e-3, 100.0, args=(1.0, bits), xtol=1e-12)
    raise ValueError(f"unknown ACIQ prior {prior!r}; choose one of {PRIORS}")


def aciq_clip(w: np.ndarray, bits: int, prior: str = "gaussian") -> float:
    """ACIQ clipping value for ``w``: the optimal ratio times the fitted scale.

    Gaussian: ``sigma`` is the standard deviation of ``w``; Laplace: ``b = E|w - mean|``. The
    clip never exceeds ``max|w|`` (clipping above the largest weight only coarsens the grid).
    """
    w = np.asarray(w, dtype=np.float64)
    if w.size == 0:
        return 0.0
    if prior == "gaussian":
        spread = float(w.std())
    elif prior == "laplace":
        spread = float(np.mean(np.abs(w - w.mean())))
    else:
        raise ValueError(f"unknown ACIQ prior {prior!r}; choose one of {PRIORS}")
    if spread == 0.0:
        return max_abs(w)
    return min(optimal_clip_ratio(prior, bits) * spread, max_abs(w))
