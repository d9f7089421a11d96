"""Codebook weights laid out for the lookup-table kernels: packed 1- to 8-bit codes plus a table.

The kernels take plain arrays (``codes``, ``codebook``, ``bits``) or their own packed layout
(:class:`PackedCodebook`); the logical type of such a weight is
:class:`bertq.quantization.tensor.CodebookTensor`. One format covers every weight quantizer of
the project: a weight ``W`` of shape ``(k, n)`` (input-major) is ``codebook[g(j), codes[i, j]]``,
with one codebook row per tensor, per output channel (``g(j) = j``) or per group of consecutive
output channels. A linear grid (LQ, ACIQ, OCS: ``scale * (code + qmin)``) and k-means centroids
(Zhao et al., 2021) are both codebooks.

For the integer kernels each codebook row also has an int8 form, ``levels * level_scale``: exact
for a linear grid, and for other codebooks the int8 rounding of the centroids on a max-abs
scale. Three kernels use it:

- :func:`linear_codebook_a8` (W*b*A8): codes are decoded panel by panel into the int8 layout of
  :mod:`bertq.kernels.int8_gemm` and multiplied by 7-bit activations on its micro-kernels;
- :func:`linear_codebook_gemv`: for a few rows (batch-1 decoding), 4-bit codes with one table per
  panel are decoded inside the micro-kernel (``vpshufb`` on nibbles), so only the codes are read;
- :func:`linear_codebook_f32`: weight-only, fp32 activations: panels decoded to float32 and
  multiplied by BLAS (the papers' weight-only setting).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from .int8_gemm import (
    PackedInt8,
    QuantizedActivations,
    _address,
    _padded,
    _quantize_rows_serial,
    affine_rows,
    default_path,
    quantize_activations,
    resolve_path,
)
from .packing import pack_codes
from .simd import PATHS, KernelPath, lut4_kernel_affine, nibble_decode, nibble_quads


def check_codebook(codes: np.ndarray, codebook: np.ndarray, bits: int) -> None:
    """Raise a clear error unless ``codes`` ``(k, n)`` (uint8, each below ``2**bits``) and
    ``codebook`` ``(groups, 2**bits)`` form a codebook weight whose groups split the ``n`` output
    channels equally (output channel ``j`` uses codebook row ``j // (n // groups)``)."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be from 1 to 8, got {bits!r}")
    if codes.ndim != 2 or codes.dtype != np.uint8:
        raise TypeError(f"codes must be a 2-D uint8 array, got {codes.dtype} {codes.shape}")
    if codebook.ndim != 2 or codebook.shape[1] != 1 << bits:
        raise ValueError(f"codebook must have shape (groups, {1 << bits}), got {codebook.shape}")
    n, g = codes.shape[1], codebook.shape[0]
    if not 1 <= g <= n or n % g:
        raise ValueError(f"{g} codebook rows do not divide {n} output channels into equal groups")
    if codes.size and int(codes.max()) >= 1 << bits:
        raise ValueError(f"a code exceeds {bits} bits")


def int8_levels(codebook: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(levels, level_scale)``: int8 ``(groups, 2**bits)`` and float32 ``(groups,)`` with
    ``codebook ~ levels * level_scale``. A row whose values are integer multiples of a step
    keeps them exactly; otherwise the step is ``max|row| / 127``."""
    levels = np.zeros(codebook.shape, np.int8)
    scale = np.ones(codebook.shape[0], np.float32)
    for g, row in enumerate(np.asarray(codebook, np.float64)):
        step = _integer_step(row)
        if step is None:
            top = np.abs(row).max()
            step = top / 127 if top > 0 else 1.0
        levels[g] = np.clip(np.rint(row / step), -128, 127).astype(np.int8)
        scale[g] = step
    return levels, scale


def _integer_step(row: np.ndarray) -> float | None:
    """A step ``s`` (the smallest nonzero magnitude over 1, 2, ... 127) with ``row / s`` integral
    in [-128, 127], if there is one."""
    nonzero = np.abs(row[row != 0])
    if nonzero.size == 0:
        return 1.0
    step = nonzero.min()
    for divisor in range(1, 128):
        s = step / divisor
        q = row / s
        if q.min() >= -128.5 and q.max() <= 127.5 and np.allclose(q, np.rint(q), rtol=0, atol=1e-4):
            return float(s)
    return None


@dataclass(frozen=True)
class PackedCodebook:
    """A codebook weight laid out for one kernel path.

    ``codes``: the codes in the int8 panel order of :class:`PackedInt8` (``[p, q, c, s]``),
    bit-packed per panel; ``lut``: ``(n_pad, 2**bits)`` int8 levels per output channel;
    ``w_scale``/``col_sums``: per output channel, for the epilogue. When every panel has a single
    table and ``bits <= 4`` on a SIMD path, ``nibbles``/``tables`` hold the 4-bit layout the
    fused GEMV kernel decodes in registers.
    """

    codes: np.ndarray
    lut: np.ndarray
    float_lut: np.ndarray
    w_scale: np.ndarray
    col_sums: np.ndarray
    bits: int
    k: int
    n: int
    kq: int
    n_panels: int
    path: str
    nibbles: np.ndarray | None
    tables: np.ndarray | None

    @property
    def spec(self) -> KernelPath:
        return PATHS[self.path]

    @property
    def k_padded(self) -> int:
        return 4 * self.kq

    @property
    def zero_bias(self) -> np.ndarray:
        return np.zeros(self.n_panels * self.spec.nr, np.float32)

    def panel_bytes(self) -> int:
        return self.kq * self.spec.nr * 4 * self.bits // 8

    def to_int8(self) -> PackedInt8:
        """Every panel decoded once: the plain int8 weight (more memory, no decoding per call)."""
        panels = np.empty((self.n_panels, self.kq, self.spec.nr, 4), np.int8)
        _decode_all(self.codes, self.bits, self.lut, self.spec.nr, self.kq, panels)
        return PackedInt8(panels, self.col_sums, self.k, self.n, self.path)


def pack_codebook(codes: np.ndarray, codebook: np.ndarray, bits: int, path: str | None = None) -> PackedCodebook:
    """Lay out a codebook weight (``codes`` ``(k, n)`` uint8, ``codebook`` ``(groups, 2**bits)``,
    see :func:`check_codebook`) for the kernels of ``path`` (default: the fastest this CPU runs)."""
    codes = np.ascontiguousarray(codes)
    codebook = np.ascontiguousarray(codebook, dtype=np.float32)
    check_codebook(codes, codebook, bits)
    spec = PATHS[resolve_path(path) if path is not None else default_path()]
    k, n = codes.shape
    group_size = n // codebook.shape[0]
    kq, n_panels = -(-k // 4), -(-n // spec.nr)
    nibble_form = bits <= 4 and spec.dot != "scalar"
    if nibble_form:  # whole block steps of the 4-bit layout (an extra zero k-quad at most)
        kq = -(-kq // nibble_quads(spec.vectors)) * nibble_quads(spec.vectors)
    n_pad = n_panels * spec.nr
    levels, level_scale = int8_levels(codebook)
    g_of = np.minimum(np.arange(n_pad) // group_size, codebook.shape[0] - 1)
    lut = levels[g_of]
    float_lut = codebook[g_of]
    w_scale = level_scale[g_of].astype(np.float32)
    w_scale[n:] = 0
    # padding decodes to code 0; pad with the code whose level is 0 where there is one, and make
    # padded rows contribute nothing by zeroing their activations (they are zero-padded) and
    # padded columns by zero scale
    zero_code = int(np.argmin(np.abs(levels[0].astype(np.int16))))
    padded = np.full((4 * kq, n_pad), zero_code, np.uint8)
    padded[:k, :n] = codes
    panel_order = padded.reshape(kq, 4, n_panels, spec.nr).transpose(2, 0, 3, 1)  # [p, q, c, s]
    stream = np.concatenate(
        [pack_codes(panel_order[p], bits) for p in range(n_panels)] + [np.zeros(1, np.uint8)]
    )  # one spare byte for two-byte reads
    decoded = np.take_along_axis(lut, padded.T.astype(np.intp), axis=1).T  # (k_pad, n_pad) int8 levels
    decoded[k:] = 0
    col_sums = decoded[: 4 * kq].sum(axis=0, dtype=np.int32)
    col_sums[n:] = 0
    nibbles = tables = None
    one_table = all(len({int(g) for g in g_of[p * spec.nr : (p + 1) * spec.nr]}) == 1 for p in range(n_panels))
    if nibble_form and one_table:
        nibbles, tables = _nibble_layout(panel_order, lut, spec)
    return PackedCodebook(
        stream, lut, float_lut, w_scale, col_sums, bits, k, n, kq, n_panels, spec.name, nibbles, tables
    )


def _nibble_layout(panel_order: np.ndarray, lut: np.ndarray, spec: KernelPath):
    """Codes of the panel's B vectors (``4 * lanes`` bytes each, in the order the kernel reads
    them) two by two in blocks of ``4 * lanes`` bytes: byte ``j`` holds code ``j`` of the first in
    its low nibble and code ``j`` of the second in its high nibble
    (:func:`bertq.kernels.simd.lut4_kernel_affine`). Tables: the panel's 16 int8 levels repeated in
    every 128-bit lane (``vpshufb`` looks up within a lane)."""
    n_panels, kq, nr, _ = panel_order.shape
    per_vec = 4 * spec.lanes
    pairs = panel_order.reshape(n_panels, kq * spec.vectors // 2, 2, per_vec)
    nibbles = (pairs[:, :, 0] | (pairs[:, :, 1] << 4)).astype(np.uint8)
    tables = np.zeros((n_panels, per_vec), np.int8)
    for p in range(n_panels):
        row = np.zeros(16, np.int8)
        row[: lut.shape[1]] = lut[p * nr]
        tables[p] = np.tile(row, per_vec // 16)
    return np.ascontiguousarray(nibbles), tables


@njit(inline="always")
def _decode_panel(stream, bits, lut, nr, kq, p, out):
    """Panel ``p`` of a bit-packed code stream into int8 levels ``out[kq, nr, 4]``."""
    mask = (1 << bits) - 1
    count = kq * nr * 4
    base = p * count * bits
    flat = out.reshape(count)
    for e in range(count):
        bit = base + e * bits
        byte = bit >> 3
        word = np.int32(stream[byte]) | (np.int32(stream[byte + 1]) << 8)
        code = (word >> (bit & 7)) & mask
        flat[e] = lut[p * nr + (e >> 2) % nr, code]


@njit(cache=True, parallel=True)
def _decode_all(stream, bits, lut, nr, kq, panels):
    for p in prange(panels.shape[0]):
        _decode_panel(stream, bits, lut, nr, kq, p, panels[p])


@njit(cache=True, parallel=True)
def _gemm_codebook(
    path,
    rows,
    nr,
    a,
    a_scale,
    a_zero,
    stream,
    bits,
    lut,
    nibbles,
    tables,
    kq,
    n_panels,
    col_sums,
    w_scale,
    bias,
    n,
    out,
):
    """W*b*A8: each panel decoded once (in registers from nibbles when there are any, else from
    the bit stream), then every row tile through the int8 affine micro-kernel."""
    m, lda = a.shape
    use_nibbles = nibbles.shape[0] > 0
    for p in prange(n_panels):
        panel = np.empty((kq, nr, 4), np.int8)
        if use_nibbles:
            nibble_decode(
                path,
                _address(nibbles) + p * nibbles.shape[1] * nibbles.shape[2],
                2 * nibbles.shape[1],
                _address(tables) + p * tables.shape[1],
                _address(panel),
            )
        else:
            _decode_panel(stream, bits, lut, nr, kq, p, panel)
        a_tile = np.zeros((rows, lda), np.uint8)
        c_tile = np.empty((rows, nr), np.float32)
        j0 = p * nr
        width = min(nr, n - j0)
        affine_rows(
            path,
            rows,
            nr,
            a,
            0,
            m,
            _address(panel),
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
            False,
        )


@njit(cache=True, parallel=True)
def _gemv_nibbles(path, rows, nr, a, a_scale, a_zero, nibbles, tables, col_sums, w_scale, bias, out):
    """Few rows x 4-bit codes decoded in registers (``lut4_kernel_affine``). ``a`` and the
    activation parameters are padded to whole row tiles, ``out`` to whole tiles and panels."""
    m_pad, lda = a.shape
    n_panels, kq = nibbles.shape[0], lda // 4
    per_panel = nibbles.shape[1] * nibbles.shape[2]
    ldc = out.shape[1]
    for p in prange(n_panels):
        j0 = p * nr
        for i0 in range(0, m_pad, rows):
            lut4_kernel_affine(
                path,
                rows,
                _address(a) + i0 * lda,
                lda,
                _address(nibbles) + p * per_panel,
                kq,
                _address(out) + 4 * (i0 * ldc + j0),
                ldc,
                _address(a_scale) + 4 * i0,
                _address(a_zero) + 4 * i0,
                _address(col_sums) + 4 * j0,
                _address(w_scale) + 4 * j0,
                _address(bias) + 4 * j0,
                _address(tables) + p * tables.shape[1],
            )


_gemv_nibbles_serial = njit(cache=True)(_gemv_nibbles.py_func)
"""For one thread: the same loop without the parallel region, whose launch a GEMV feels."""


@njit(cache=True)
def _gemv_from_float(path, rows, nr, x, k_padded, nibbles, tables, col_sums, w_scale, bias, out):
    """One thread, float rows in: :func:`~bertq.kernels.int8_gemm.quantize_activations`'s codes
    (the same function), padded to ``out``'s rows, then :func:`_gemv_nibbles_serial`; one call
    from Python instead of two and their glue, which a batch-1 GEMV of microseconds feels."""
    m, m_pad = x.shape[0], out.shape[0]
    q, s, z = _quantize_rows_serial(x, k_padded)
    codes = np.zeros((m_pad, k_padded), np.uint8)
    codes[:m] = q
    scale = np.zeros(m_pad, np.float32)
    scale[:m] = s
    zero = np.zeros(m_pad, np.int32)
    zero[:m] = z
    _gemv_nibbles_serial(path, rows, nr, codes, scale, zero, nibbles, tables, col_sums, w_scale, bias, out)


@njit(cache=True, parallel=True)
def _gemm_codebook_f32(x, stream, bits, float_lut, nr, kq, n_panels, k, bias, n, out):
    """Weight-only: each panel decoded to float32 ``(k, nr)`` and multiplied by BLAS."""
    mask = (1 << bits) - 1
    for p in prange(n_panels):
        panel = np.zeros((k, nr), np.float32)
        base = p * kq * nr * 4 * bits
        for q in range(kq):
            for c in range(nr):
                for s in range(4):
                    i = 4 * q + s
                    if i < k:
                        bit = base + ((q * nr + c) * 4 + s) * bits
                        word = np.int32(stream[bit >> 3]) | (np.int32(stream[(bit >> 3) + 1]) << 8)
                        panel[i, c] = float_lut[p * nr + c, (word >> (bit & 7)) & mask]
        y = np.dot(x, panel)
        j0 = p * nr
        for c in range(min(nr, n - j0)):
            for r in range(x.shape[0]):
                out[r, j0 + c] = y[r, c] + bias[j0 + c]


_NO_NIBBLES = np.zeros((0, 0, 0), np.uint8)
_NO_TABLES = np.zeros((0, 0), np.int8)

GEMV_MAX_ROWS = 8
"""Up to this many rows, 4-bit single-table weights take the fused in-register decode."""


def _activations(x, w: PackedCodebook) -> QuantizedActivations:
    if isinstance(x, QuantizedActivations):
        if x.wide:
            raise ValueError("the codebook kernels take unsigned 7-bit activations, not 8-bit codes")
        if x.k_padded != w.k_padded:
            raise ValueError(f"activations have {x.k_padded} padded columns, the weight {w.k_padded}")
        return x
    return quantize_activations(_float_rows(x, w), w.k_padded)


def _float_rows(x, w: PackedCodebook) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != w.k:
        raise ValueError(f"input of shape {x.shape} does not match a weight with {w.k} input rows")
    return x


def _bias(w: PackedCodebook, bias) -> np.ndarray:
    if bias is None:
        return w.zero_bias
    return _padded(np.asarray(bias, np.float32), w.n_panels * w.spec.nr, np.float32)


def linear_codebook_a8(x: np.ndarray, w: PackedCodebook, bias: np.ndarray | None = None) -> np.ndarray:
    """``x @ W + bias`` with 7-bit per-token activations and the int8 form of the codebook,
    decoding packed codes panel by panel; small batches of 4-bit single-table weights go to
    :func:`linear_codebook_gemv`."""
    m = x.m if isinstance(x, QuantizedActivations) else (np.shape(x) or (0,))[0]
    if w.nibbles is not None and m <= GEMV_MAX_ROWS:
        return linear_codebook_gemv(x, w, bias)
    a = _activations(x, w)
    spec = w.spec
    out = np.empty((a.m, w.n), np.float32)
    nibbles = w.nibbles if w.nibbles is not None else _NO_NIBBLES
    tables = w.tables if w.tables is not None else _NO_TABLES
    _gemm_codebook(
        spec,
        spec.rows,
        spec.nr,
        a.codes,
        a.scale,
        a.zero,
        w.codes,
        w.bits,
        w.lut,
        nibbles,
        tables,
        w.kq,
        w.n_panels,
        w.col_sums,
        w.w_scale,
        _bias(w, bias),
        w.n,
        out,
    )
    return out


def linear_codebook_gemv(x: np.ndarray, w: PackedCodebook, bias: np.ndarray | None = None) -> np.ndarray:
    """Batch-1 / small-batch product with 4-bit codes decoded in registers (``vpshufb``)."""
    if w.nibbles is None:
        raise ValueError(
            "in-register decoding needs codes of at most 4 bits, one codebook per panel and a SIMD kernel path"
        )
    serial = numba.get_num_threads() == 1
    fused = serial and not isinstance(x, QuantizedActivations)  # quantize and multiply in one call
    if fused:
        x = _float_rows(x, w)
        m = x.shape[0]
    else:
        a = _activations(x, w)
        m = a.m
    rows = next(r for r in (1, 2, 4, 8) if r >= min(m, GEMV_MAX_ROWS))
    m_pad, n_pad = -(-m // rows) * rows, w.n_panels * w.spec.nr
    out = np.empty((m_pad, n_pad), np.float32)
    spec, weight = w.spec, (w.nibbles, w.tables, w.col_sums, w.w_scale, _bias(w, bias), out)
    if fused:
        _gemv_from_float(spec, rows, spec.nr, x, w.k_padded, *weight)
    else:
        codes = a.codes
        if m_pad != m:
            codes = np.concatenate([codes, np.zeros((m_pad - m, codes.shape[1]), np.uint8)])
        kernel = _gemv_nibbles_serial if serial else _gemv_nibbles
        kernel(spec, rows, spec.nr, codes, a.scale[:m_pad], a.zero[:m_pad], *weight)
    return out if (m_pad, n_pad) == (m, w.n) else np.ascontiguousarray(out[:m, : w.n])


def linear_codebook_f32(x: np.ndarray, w: PackedCodebook, bias: np.ndarray | None = None) -> np.ndarray:
    """Weight-only ``x @ W + bias`` with float32 activations and the float codebook."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != w.k:
        raise ValueError(f"input of shape {x.shape} does not match a weight with {w.k} input rows")
    out = np.empty((x.shape[0], w.n), np.float32)
    _gemm_codebook_f32(x, w.codes, w.bits, w.float_lut, w.spec.nr, w.kq, w.n_panels, w.k, _bias(w, bias), w.n, out)
    return out
