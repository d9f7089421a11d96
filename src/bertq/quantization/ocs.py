"""Outlier channel splitting (Zhao et al., 2019), as used by Hu et al. (2022), eqs. 6-7.

For ``Y = X W`` with ``W`` of shape ``(h, d)``, duplicating input channel ``c`` and halving its
row leaves ``Y`` unchanged (eq. 6). Quantization-aware splitting (eq. 7) offsets the two halves by
half a quantization step, ``(w - delta/2)/2`` and ``(w + delta/2)/2``, so that they do not round
the same way. The channels split are those holding the largest magnitudes, ``floor(r * h)`` of them, with expansion ratio ``r = 0.01`` by default.

Choices the paper leaves open, following the authors' code (``ocs_wts`` in
cornell-zhang/dnn-quant-ocs): the grid is set by the largest magnitude *after* the naive split, and
eq. 7 is applied in units of that grid. Each channel is split at most once, so the channels split
are simply the ``n`` with the largest ``max |W[c, :]|``.
"""

from __future__ import annotations

import math

import numpy as np


def channels_to_split(h: int, expand_ratio: float) -> int:
    if not 0.0 <= expand_ratio <= 1.0:
        raise ValueError(f"OCS expand_ratio must be in [0, 1], got {expand_ratio}")
    if expand_ratio == 0.0:
        return 0
    return min(h, math.floor(expand_ratio * h + 1e-9))


def select_channels(w: np.ndarray, n_split: int) -> np.ndarray:
    """Indices of the ``n_split`` input channels (rows) with the largest magnitude, largest first."""
    if n_split == 0:
        return np.zeros(0, dtype=np.int64)
    peak = np.max(np.abs(w), axis=1)
    top = np.argpartition(-peak, n_split - 1)[:n_split]
    return top[np.argsort(-peak[top], kind="stable")].astype(np.int64)


def naive_split(w: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Eq. 6: halve the chosen rows and append their copies: ``[W; W[index]]`` with both halves ``W/2``."""
    w = np.asarray(w, dtype=np.float64)
    out = np.concatenate([w, w[index]], axis=0)
    out[index] *= 0.5
    out[w.shape[0]:] *= 0.5
    return out


def quantization_aware_split(w: np.ndarray, index: np.ndarray, step: float) -> np.ndarray:
    """Eq. 7 in a grid of step ``step``: rows become ``(w - step/2)/2`` and ``(w + step/2)/2``.

    Applied elementwise to the chosen rows; their sum is exactly ``w``.
    """
    w = np.asarray(w, dtype=np.float64)
    rows = w[index]
    out = np.concatenate([w, (rows + 0.5 * step) / 2.0], axis=0)
    out[index] = (rows - 0.5 * step) / 2.0
    return out


def expand_inputs(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``[X, X[:, index]]``: the input a split weight multiplies (eq. 6)."""
    return np.concatenate([x, x[..., index]], axis=-1)
