"""Outlier channel splitting (Zhao et al., 2019), as used by Hu et al. (2022), eqs. 6-7.

For ``Y = X W`` with ``W`` of shape ``(h, d)``, duplicating input channel ``c`` and halving its
row leaves ``Y`` unchanged (eq. 6). Quantization-aware splitting (eq. 7) offsets the two halves by
half a quantization step, ``(w - delta/2)/2`` and ``(w + delta/2)/2``, so that they do not round
the same way. Expansion ratio ``r = 0.01`` by default.

Two ways to choose the rows, named by ``split``:

- ``"iterative"`` (default) is the authors' code that Hu et al. used (``ocs_wts`` in
  cornell-zhang/dnn-quant-ocs, ``distiller/quantization/ocs_impl.py``): ``ceil(r * h)`` splits, each
  of the row with the largest ``max |w|`` of the weight *grown so far*, so a channel, or a copy of
  it, can be split again; every appended row records the original input channel it duplicates.
  Ties go to the first entry of ``np.flip(np.argsort(peaks))``, as there; entries equal to 0 are
  not offset (the reference splits ``|w| > 0`` with its ``split_threshold = 0``).
- ``"once"``: the ``floor(r * h)`` distinct channels with the largest ``max |W[c, :]|``, each
  split once, eq. 7 on every entry of the row.

Either way the grid is set by the largest magnitude of the *naively* split weight (eq. 6, the
reference's preliminary ``ocs_wts(..., grid_aware=False)`` run) and eq. 7 is applied in units of
that grid.
"""

from __future__ import annotations

import math

import numpy as np

SPLIT_MODES = ("iterative", "once")


def check_split_mode(split: str) -> None:
    if split not in SPLIT_MODES:
        raise ValueError(f"OCS split must be one of {', '.join(SPLIT_MODES)}, got {split!r}")


def channels_to_split(h: int, expand_ratio: float, split: str = "iterative") -> int:
    """How many rows to append: ``ceil(r * h)`` as the reference computes it (``"iterative"``), or
    ``floor(r * h)`` (``"once"``)."""
    check_split_mode(split)
    if isinstance(expand_ratio, bool) or not 0.0 <= expand_ratio <= 1.0:
        raise ValueError(f"OCS expand_ratio must be in [0, 1], got {expand_ratio}")
    if expand_ratio == 0.0:
        return 0
    if split == "iterative":
        return int(np.ceil(expand_ratio * h))  # the reference's expression, float rounding and all
    return min(h, math.floor(expand_ratio * h + 1e-9))


def iterative_split(
    w: np.ndarray, n_split: int, step: np.ndarray | float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The reference's ``ocs_wts`` loop on an input-major weight: ``n_split`` times, split the row
    with the largest ``max |.|`` of the grown weight into a kept row and an appended one.

    ``step=None`` splits naively (eq. 6: both halves ``w/2``); a step (a float, or one per output
    column) splits quantization-aware (eq. 7: ``w/2 - step/4`` stays, ``w/2 + step/4`` is appended).
    Entries equal to 0 stay 0 in both rows. Returns the ``(h + n_split, d)`` weight and, for each
    appended row, the *original* input channel it duplicates (a split copy passes on its origin).
    """
    w = np.asarray(w, dtype=np.float64)
    h, d = w.shape
    out = np.empty((h + n_split, d))
    out[:h] = w
    peak = np.empty(h + n_split)
    peak[:h] = np.max(np.abs(w), axis=1) if d else 0.0
    origin = np.empty(n_split, dtype=np.int64)
    for c in range(n_split):
        rows = h + c
        i = int(np.flip(np.argsort(peak[:rows]))[0])
        row = out[i]
        nonzero = np.abs(row) > 0
        half = row / 2.0
        offset = 0.0 if step is None else np.asarray(step, dtype=np.float64) / 4.0
        kept = np.where(nonzero, half - offset, row)
        out[rows] = np.where(nonzero, half + offset, 0.0)
        out[i] = kept
        peak[i] = np.max(np.abs(kept)) if d else 0.0
        peak[rows] = np.max(np.abs(out[rows])) if d else 0.0
        origin[c] = i if i < h else origin[i - h]
    return out, origin


def select_channels(w: np.ndarray, n_split: int) -> np.ndarray:
    """``"once"``: the ``n_split`` input channels (rows) with the largest magnitude, largest first."""
    if n_split == 0:
        return np.zeros(0, dtype=np.int64)
    peak = np.max(np.abs(w), axis=1)
    top = np.argpartition(-peak, n_split - 1)[:n_split]
    return top[np.argsort(-peak[top], kind="stable")].astype(np.int64)


def naive_split(w: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Eq. 6 on distinct rows: halve the chosen rows and append their copies: ``[W; W[index]]`` with
    both halves ``W/2``."""
    w = np.asarray(w, dtype=np.float64)
    out = np.concatenate([w, w[index]], axis=0)
    out[index] *= 0.5
    out[w.shape[0] :] *= 0.5
    return out


def quantization_aware_split(w: np.ndarray, index: np.ndarray, step: float) -> np.ndarray:
    """Eq. 7 on distinct rows in a grid of step ``step``: rows become ``(w - step/2)/2`` and
    ``(w + step/2)/2``. Applied elementwise to the chosen rows; their sum is exactly ``w``."""
    w = np.asarray(w, dtype=np.float64)
    rows = w[index]
    out = np.concatenate([w, (rows + 0.5 * step) / 2.0], axis=0)
    out[index] = (rows - 0.5 * step) / 2.0
    return out


def expand_inputs(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``[X, X[:, index]]``: the input a split weight multiplies (eq. 6)."""
    return np.concatenate([x, x[..., index]], axis=-1)
