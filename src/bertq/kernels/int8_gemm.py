"""int8 GEMM on CPU: unsigned 7-bit activations x signed 8-bit weights, int32 accumulation, with
the activation scale and zero point, the weight scale and the bias applied in the same pass.

``Y = X W + b`` with ``X ~ s_x[i] (q_x[i, k] - z_x[i])`` (per token, dynamic) and
``W ~ q_w[k, j] s_w[j]`` (per output channel, or one scale for all) becomes

    ``Y[i, j] = s_x[i] s_w[j] (sum_k q_x[i, k] q_w[k, j] - z_x[i] colsum_j(q_w)) + b[j]``

(Hu et al., 2022, eq. 3 applied to both operands; Jacob et al., 2018, eq. 7). The integer sum runs
in the register-tile micro-kernels of :mod:`bertq.kernels.simd`; this module packs weights,
quantizes activations, blocks the loops and applies that epilogue.

Activations are asymmetric unsigned 7-bit (``[0, 127]``), one scale and zero point per row (per
token). Seven bits is fbgemm's ``reduce_range`` on x86: it keeps ``vpmaddubsw`` exact, so every
path gives bit-identical results; per-token ranges keep BERT's outlier tokens from flattening the
rest. The numba cache (``cache=True``) stores compiled kernels per path beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit, prange

from .simd import (
    PATHS,
    KernelPath,
    default_path,
    microkernel,
    microkernel_affine,
    microkernel_affine_wide,
    resolve_path,
    wide_int16,
)
from .vector import range_with_zero

ACTIVATION_LEVELS = 127
"""Activation codes are ``0..127`` (unsigned 7-bit)."""
ROW_BLOCK_BYTES = 1 << 19
"""Rows of ``A`` are processed in blocks of about this many bytes (fits L2 with a weight panel)."""


@dataclass(frozen=True)
class PackedInt8:
    """An int8 weight ``(k, n)`` (input-major) in the micro-kernel's panel layout.

    ``panels[p, q, c, s]`` holds ``W[4 q + s, p nr + c]``, zero beyond ``k`` and ``n``;
    ``col_sums[j]`` is ``sum_k W[k, j]`` for the zero-point correction.
    """

    panels: np.ndarray
    col_sums: np.ndarray
    k: int
    n: int
    path: str

    @property
    def spec(self) -> KernelPath:
        return PATHS[self.path]

    @property
    def k_padded(self) -> int:
        return 4 * self.panels.shape[1]

    @cached_property
    def panels16(self) -> np.ndarray:
        """The panels as int16, two consecutive ``k`` per 32-bit lane (``[p, 2 q + h, c, s]`` holds
        ``W[4 q + 2 h + s, p nr + c]``), viewed as bytes ``(p, 2 kq, nr, 4)``: what the 8-bit
        activation kernel of the ``vpmaddubsw`` paths reads (:func:`bertq.kernels.simd.wide_int16`).
        Built on first use."""
        p, kq, nr, _ = self.panels.shape
        pairs = self.panels.astype(np.int16).reshape(p, kq, nr, 2, 2).transpose(0, 1, 3, 2, 4)
        return np.ascontiguousarray(pairs).reshape(p, 2 * kq, nr, 2).view(np.int8)

    def unpack(self) -> np.ndarray:
        """The int8 weight ``(k, n)`` back (for tests and dequantization)."""
        p, kq, nr, _ = self.panels.shape
        w = self.panels.transpose(1, 3, 0, 2).reshape(4 * kq, p * nr)
        return np.ascontiguousarray(w[: self.k, : self.n])


def pack_int8(w: np.ndarray, path: str | None = None) -> PackedInt8:
    """Pack an int8 ``(k, n)`` weight for ``path`` (default: the fastest this CPU runs)."""
    w = np.asarray(w)
    if w.ndim != 2 or w.dtype != np.int8:
        raise TypeError(f"expected a 2-D int8 weight, got {w.dtype} of shape {w.shape}")
    spec = PATHS[resolve_path(path) if path is not None else default_path()]
    k, n = w.shape
    kq, n_panels = -(-k // 4), -(-n // spec.nr)
    padded = np.zeros((4 * kq, n_panels * spec.nr), np.int8)
    padded[:k, :n] = w
    panels = np.ascontiguousarray(padded.reshape(kq, 4, n_panels, spec.nr).transpose(2, 0, 3, 1))
    col_sums = padded.sum(axis=0, dtype=np.int32)
    return PackedInt8(panels, col_sums, k, n, spec.name)


@njit(cache=True, parallel=True)
def quantize_rows(x, k_padded):
    """Per-row asymmetric 7-bit codes of a float ``(m, k)`` array: ``(codes, scale, zero)``.

    The range of each row is widened to contain 0 (so padding and exact zeros stay exact);
    ``scale = (max - min) / 127``, ``zero = round(-min / scale)``, ``code = clamp(round(x *
    (1 / scale)) + zero, 0, 127)`` with round-half-even, all in float32. Columns from ``k`` to
    ``k_padded`` are 0 and multiply zero-padded weights. Inputs must be finite.
    """
    m, k = x.shape
    codes = np.zeros((m, k_padded), np.uint8)
    scale = np.empty(m, np.float32)
    zero = np.empty(m, np.int32)
    for i in prange(m):
        row = x[i]
        lo, hi = range_with_zero(row)
        s = (hi - lo) / np.float32(ACTIVATION_LEVELS)
        if s == 0:
            s = np.float32(1.0)
        z = np.float32(min(max(np.rint(-lo / s), 0), ACTIVATION_LEVELS))
        inv = np.float32(1.0) / s
        out = codes[i]
        for t in range(k):
            q = min(max(np.rint(row[t] * inv) + z, np.float32(0)), np.float32(ACTIVATION_LEVELS))
            out[t] = np.uint8(np.int32(q))
        scale[i] = s
        zero[i] = np.int32(z)
    return codes, scale, zero


@njit(cache=True, parallel=True)
def quantize_rows_symmetric(x, inv, levels, codes):
    """Signed symmetric codes of a float ``(m, k)`` array with one multiplier per row, into
    ``codes`` ``(m, k_padded)`` (uint8 or int16): ``q = clamp(rint(x * inv[i]), -levels, levels)``
    (El-Kurdi et al., 2022, eq. 2 with ``inv = (2**b / 2 - 1) / QS``; round half to even, float32),
    stored offset-binary (``q + 128``). Columns from ``k`` on hold the code 0 (128)."""
    m, k = x.shape
    top = np.float32(levels)
    for i in prange(m):
        row = x[i]
        s = inv[i]
        out = codes[i]
        for t in range(k):
            q = min(max(np.rint(row[t] * s), -top), top)
            out[t] = np.int32(q) + 128
        out[k:] = 128


_quantize_rows_serial = njit(cache=True)(quantize_rows.py_func)
""":func:`quantize_rows` without the parallel region, whose launch costs more than a few rows take."""


def dequantize_rows(codes: np.ndarray, scale: np.ndarray, zero: np.ndarray, k: int) -> np.ndarray:
    """``s (q - z)``: the float activations the integer GEMM sees (the fake-quant reference)."""
    return (codes[:, :k].astype(np.float32) - zero[:, None]) * scale[:, None]


@njit(inline="always")
def _address(array):
    """An array's address as a signed integer (numba adds ``uintp + intp`` as float64)."""
    return np.int64(array.ctypes.data)


@njit(inline="always")
def _row_block(m, lda, rows):
    """Rows per block: about ROW_BLOCK_BYTES of activations, split evenly over ``m`` rows (no
    ragged last block) and rounded up to whole register tiles."""
    target = max(1, ROW_BLOCK_BYTES // max(lda, 1))
    n_blocks = max(1, -(-m // target))
    per_block = -(-m // n_blocks)
    return max(rows, -(-per_block // rows) * rows)


@njit(inline="always")
def _tile(path, a, i0, rows, nr, panels, p, a_tile, c_tile):
    """One ``rows x nr`` int32 tile at row ``i0`` of ``a`` and panel ``p`` into ``c_tile``."""
    m, lda = a.shape
    kq = panels.shape[1]
    b_addr = _address(panels) + p * kq * nr * 4
    if i0 + rows <= m:
        microkernel(path, _address(a) + i0 * lda, lda, b_addr, kq, _address(c_tile), nr)
    else:  # the last, short block of rows goes through a zero-padded copy
        a_tile[:] = 0
        a_tile[: m - i0] = a[i0:]
        microkernel(path, _address(a_tile), lda, b_addr, kq, _address(c_tile), nr)


@njit(cache=True, parallel=True)
def _gemm_int32(path, rows, nr, a, panels, n, out):
    m, lda = a.shape
    n_panels = panels.shape[0]
    block = _row_block(m, lda, rows)
    for b0 in range(0, m, block):
        b1 = min(m, b0 + block)
        for p in prange(n_panels):
            a_tile = np.zeros((rows, lda), np.uint8)
            c_tile = np.empty((rows, nr), np.int32)
            j0 = p * nr
            width = min(nr, n - j0)
            for i0 in range(b0, b1, rows):
                _tile(path, a, i0, rows, nr, panels, p, a_tile, c_tile)
                for r in range(min(rows, m - i0)):
                    for c in range(width):
                        out[i0 + r, j0 + c] = c_tile[r, c]


@njit(cache=True)
def affine_rows(
    path,
    rows,
    nr,
    a,
    i_start,
    i_end,
    b_addr,
    kq,
    a_scale,
    a_zero,
    col_sums,
    w_scale,
    bias,
    j0,
    width,
    a_tile,
    c_tile,
    out,
    wide,
):
    """Rows ``[i_start, i_end)`` of one panel (columns ``j0 .. j0 + width``, the panel's int8
    weights at ``b_addr``) through the fused micro-kernel: full tiles are written straight into
    ``out``; a last partial row tile goes through the zero-padded ``a_tile``, a partial panel
    through ``c_tile``. ``wide``: 8-bit codes, through
    :func:`bertq.kernels.simd.microkernel_affine_wide` (``a`` and the panel as int16 bytes on the
    ``vpmaddubsw`` paths)."""
    m, lda = a.shape
    n = out.shape[1]
    cols = (_address(col_sums) + 4 * j0, _address(w_scale) + 4 * j0, _address(bias) + 4 * j0)
    for i0 in range(i_start, i_end, rows):
        height = min(rows, m - i0)
        a_addr = _address(a) + i0 * lda
        if height < rows:
            a_tile[:] = 0  # rows beyond ``m``: never copied out
            a_tile[:height] = a[i0:]
            a_addr = _address(a_tile)
        scales = (_address(a_scale) + 4 * i0, _address(a_zero) + 4 * i0)
        full = height == rows and width == nr
        target, ld = (_address(out) + 4 * (i0 * n + j0), n) if full else (_address(c_tile), nr)
        if wide:
            microkernel_affine_wide(
                path, a_addr, lda, b_addr, kq, target, ld, scales[0], scales[1], cols[0], cols[1], cols[2]
            )
        else:
            microkernel_affine(
                path, a_addr, lda, b_addr, kq, target, ld, scales[0], scales[1], cols[0], cols[1], cols[2]
            )
        if not full:
            for r in range(height):
                for c in range(width):
                    out[i0 + r, j0 + c] = c_tile[r, c]


@njit(cache=True, parallel=True)
def _gemm_affine(path, rows, nr, a, a_scale, a_zero, panels, col_sums, w_scale, bias, n, out, wide):
    """``out = affine(a @ W)``; ``a_scale``/``a_zero`` padded to whole row tiles and
    ``col_sums``/``w_scale``/``bias`` to whole panels. Full tiles are written straight into ``out``."""
    m, lda = a.shape
    n_panels, kq = panels.shape[0], panels.shape[1]
    block = _row_block(m, lda, rows)
    for b0 in range(0, m, block):
        b1 = min(m, b0 + block)
        for p in prange(n_panels):
            a_tile = np.zeros((rows, lda), np.uint8)
            c_tile = np.empty((rows, nr), np.float32)
            j0 = p * nr
            width = min(nr, n - j0)
            b_addr = _address(panels) + p * kq * nr * 4
            affine_rows(
                path,
                rows,
                nr,
                a,
                b0,
                b1,
                b_addr,
                kq,
                a_scale,
                a_zero,
                col_sums,
                w_scale,
                bias,
                j0,
                width,
                a_tile,
                c_tile,
                out,
                wide,
            )


def gemm_int32(a: np.ndarray, w: PackedInt8) -> np.ndarray:
    """Exact ``a @ W`` in int32 for uint8 ``a`` of shape ``(m, k)`` (or ``(m, k_padded)``).

    On the ``vpmaddubsw`` paths ``a`` must be at most 127 (see :mod:`bertq.kernels.simd`).
    """
    a = _padded_activations(a, w)
    limit = w.spec.exact_activation_max
    if a.size and int(a.max()) > limit:
        raise ValueError(f"kernel path {w.path!r} is exact only for activations <= {limit}")
    out = np.empty((a.shape[0], w.n), np.int32)
    _gemm_int32(w.spec, w.spec.rows, w.spec.nr, a, w.panels, w.n, out)
    return out


def _padded_activations(a: np.ndarray, w: PackedInt8) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or a.dtype != np.uint8:
        raise TypeError(f"expected 2-D uint8 activations, got {a.dtype} of shape {a.shape}")
    if a.shape[1] == w.k_padded:
        return np.ascontiguousarray(a)
    if a.shape[1] != w.k:
        raise ValueError(f"activations have {a.shape[1]} columns, the weight has {w.k} rows")
    padded = np.zeros((a.shape[0], w.k_padded), np.uint8)
    padded[:, : w.k] = a
    return padded


MAX_TILE_ROWS = 8
"""No path's register tile has more rows; activation parameters are padded to a multiple."""


@dataclass(frozen=True)
class QuantizedActivations:
    """7-bit per-row codes ``(m, k_padded)`` with their scales and zero points (padded with 0 to
    a multiple of :data:`MAX_TILE_ROWS` rows), ready for any kernel with that ``k_padded``."""

    codes: np.ndarray
    scale: np.ndarray
    zero: np.ndarray
    wide: bool = False
    """8-bit codes over ``[0, 255]`` (:func:`quantize_rows_symmetric`'s offset-binary ones, zero
    point 128, or static asymmetric ones), run through
    :func:`bertq.kernels.simd.microkernel_affine_wide`; ``codes`` may then be int16 (what that
    kernel reads on the ``vpmaddubsw`` paths: :func:`wide_code_dtype`)."""

    @property
    def m(self) -> int:
        return self.codes.shape[0]

    @property
    def k_padded(self) -> int:
        return self.codes.shape[1]


def quantize_activations(x: np.ndarray, k_padded: int) -> QuantizedActivations:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] > k_padded:
        raise ValueError(f"input of shape {x.shape} does not fit {k_padded} padded columns")
    rows = quantize_rows if x.shape[0] > MAX_TILE_ROWS else _quantize_rows_serial
    codes, scale, zero = rows(x, k_padded)
    m_pad = -(-x.shape[0] // MAX_TILE_ROWS) * MAX_TILE_ROWS
    return QuantizedActivations(codes, _padded(scale, m_pad, np.float32), _padded(zero, m_pad, np.int32))


def wide_code_dtype(path: str) -> type:
    """The dtype in which 8-bit activation codes reach ``path``'s kernel without a conversion."""
    return np.int16 if wide_int16(PATHS[path]) else np.uint8


def quantize_activations_symmetric(
    x: np.ndarray, scale: np.ndarray, inv: np.ndarray, levels: int, k_padded: int, dtype=np.uint8
) -> QuantizedActivations:
    """Signed symmetric codes of ``x`` ``(m, k)`` with the per-row dequantization ``scale`` and
    multiplier ``inv`` (both float32, length ``m``) computed by the caller: dynamic per-sequence
    scales (El-Kurdi et al., 2022, eqs. 1-2) repeat one value over a sequence's rows. ``dtype``
    (uint8 or int16, :func:`wide_code_dtype`) is how the codes are stored."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] > k_padded:
        raise ValueError(f"input of shape {x.shape} does not fit {k_padded} padded columns")
    if not 1 <= levels <= 127:
        raise ValueError(f"symmetric codes need 1 <= levels <= 127, got {levels}")
    if np.dtype(dtype) not in (np.uint8, np.int16):
        raise TypeError(f"8-bit codes are stored as uint8 or int16, not {np.dtype(dtype)}")
    m = x.shape[0]
    scale, inv = (np.ascontiguousarray(v, dtype=np.float32).reshape(-1) for v in (scale, inv))
    if scale.shape != (m,) or inv.shape != (m,):
        raise ValueError(f"expected {m} row scales, got {scale.shape} and {inv.shape}")
    codes = np.empty((m, k_padded), dtype)
    quantize_rows_symmetric(x, inv, levels, codes)
    m_pad = -(-m // MAX_TILE_ROWS) * MAX_TILE_ROWS
    zero = np.full(m_pad, 128, np.int32)
    return QuantizedActivations(codes, _padded(scale, m_pad, np.float32), zero, wide=True)


def linear_int8(x, w: PackedInt8, w_scale: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``x @ (q_w * w_scale) + bias`` through 7-bit per-token activation quantization and the
    integer GEMM; ``x`` float32 ``(m, k)`` (or its :class:`QuantizedActivations`), ``w_scale`` of
    length 1 or ``n``."""
    a = x if isinstance(x, QuantizedActivations) else None
    if a is None:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != w.k:
            raise ValueError(f"input of shape {x.shape} does not match a weight with {w.k} input rows")
        a = quantize_activations(x, w.k_padded)
    elif a.k_padded != w.k_padded:
        raise ValueError(f"activations have {a.k_padded} padded columns, the weight {w.k_padded}")
    w_scale = np.ascontiguousarray(w_scale, dtype=np.float32).reshape(-1)
    if w_scale.shape[0] not in (1, w.n):
        raise ValueError(f"w_scale has {w_scale.shape[0]} entries; expected 1 or {w.n}")
    n_pad = w.panels.shape[0] * w.spec.nr
    w_scale = _padded(np.broadcast_to(w_scale, (w.n,)), n_pad, np.float32)
    bias = _padded(np.zeros(w.n, np.float32) if bias is None else bias, n_pad, np.float32)
    codes, panels = a.codes, w.panels
    if a.wide and wide_int16(w.spec):
        codes = (codes if codes.dtype == np.int16 else codes.astype(np.int16)).view(np.uint8)
        panels = w.panels16
    elif codes.dtype != np.uint8:
        raise TypeError(f"int16 activation codes are for the wide kernel of a vpmaddubsw path, not {w.path!r}")
    out = np.empty((a.m, w.n), np.float32)
    _gemm_affine(
        w.spec, w.spec.rows, w.spec.nr, codes, a.scale, a.zero, panels, w.col_sums, w_scale, bias, w.n, out, a.wide
    )
    return out


def _padded(v: np.ndarray, length: int, dtype) -> np.ndarray:
    out = np.zeros(length, dtype)
    out[: len(v)] = v
    return out
