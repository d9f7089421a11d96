"""Batched integer products of two activations (attention's ``Q K^T`` and ``P V`` on quantized
operands): int16 codes in, exact int32 sums out. Per batch entry a row of ``A`` scales rows of
``B`` into the output row (``c[m, :] += a[m, k] * b[k, :]``), which LLVM vectorizes along ``N``
on any instruction path; the batch entries (sequences x heads) run in parallel.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

MAX_CODE = 255
"""Codes up to this magnitude (centred 8-bit codes): ``255 * 255 * 4096 < 2**31`` keeps any
reduction up to 4,096 terms exact in int32."""


@njit(cache=True, parallel=True)
def _bmm(a, b, out):
    batch, m, k = a.shape
    n = b.shape[2]
    for i in prange(batch):
        for r in range(m):
            row = out[i, r]
            row[:] = 0
            for t in range(k):
                av = np.int32(a[i, r, t])
                if av != 0:
                    bt = b[i, t]
                    for c in range(n):
                        row[c] += av * np.int32(bt[c])


def batched_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` exactly in int32 for int16 ``a`` ``(batch, m, k)`` and ``b`` ``(batch, k, n)`` with
    entries of magnitude at most :data:`MAX_CODE` and ``k`` at most 4,096."""
    if a.dtype != np.int16 or b.dtype != np.int16 or a.ndim != 3 or b.ndim != 3:
        raise TypeError(f"expected 3-D int16 operands, got {a.dtype} {a.shape} and {b.dtype} {b.shape}")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"operands of shapes {a.shape} and {b.shape} do not multiply")
    if a.shape[2] > 4096:
        raise ValueError(f"a reduction over {a.shape[2]} terms may overflow int32")
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]), np.int32)
    _bmm(np.ascontiguousarray(a), np.ascontiguousarray(b), out)
    return out
