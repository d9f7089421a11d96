"""Quantized weights: integer codes plus what maps them back to values.

Three kinds, with one interface (``dequantize``, ``storage_bits``, ``mean_bits``, ``as_codebook``,
``int8_form``):

- :class:`QuantizedTensor`: a symmetric linear grid, ``codes * scale`` (Hu et al., 2022, eq. 3),
  with one scale per group of output channels (:mod:`bertq.quantization.granularity`);
- :class:`CodebookTensor`: ``codebook[group, code]`` with any ``2**bits`` values per group, as
  linear clustering and k-means give (Zhao et al., 2021);
- :class:`MixedPrecisionTensor`: a bit-width per group of output channels (0: pruned), each group
  on its own min-max grid, as AQ-BERT's search assigns (Zhao et al., 2021, eqs. 7-8).

Weights are kept in *input-major* orientation, ``W`` of shape ``(h, d)`` with ``Y = X W`` as in the
paper's section 3.2, so that an OCS split (eq. 6) appends rows. ``split_index[i]`` names the
original input channel that appended row ``h + i`` duplicates.

These are the logical types; the kernels of :mod:`bertq.kernels` take their arrays and keep only
packed layouts (:func:`bertq.kernels.codebook.pack_codebook`, :func:`bertq.kernels.int8_gemm.pack_int8`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bits import SymmetricInt
from .granularity import per_column


@dataclass
class QuantizedTensor:
    codes: np.ndarray
    """int8 codes, shape ``(h + n_split, d)`` (input-major)."""
    scale: np.ndarray
    """Step sizes, one per group of output channels (a float is one group): ``codes * scale``."""
    int_type: SymmetricInt
    split_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """For OCS, the original input channel of each appended row; empty otherwise."""

    def __post_init__(self) -> None:
        self.split_index = np.ascontiguousarray(self.split_index, dtype=np.int64)
        self.codes = np.ascontiguousarray(self.codes)  # safetensors writes raw C-order memory
        self.scale = np.ascontiguousarray(self.scale, dtype=np.float64).reshape(-1)
        if self.codes.dtype != np.int8:
            raise TypeError(f"codes must be int8, got {self.codes.dtype}")
        q = self.int_type.qmax
        if self.codes.size and (self.codes.max() > q or self.codes.min() < -q):
            raise ValueError(f"codes exceed the {self.int_type.bits}-bit range [-{q}, {q}]")
        d = self.codes.shape[1]
        if not 1 <= self.scale.size <= d or d % self.scale.size:
            raise ValueError(f"{self.scale.size} scales do not split {d} output channels into equal groups")

    @property
    def groups(self) -> int:
        return int(self.scale.size)

    def column_scales(self) -> np.ndarray:
        """float64 ``(d,)``: the step of every output channel."""
        return per_column(self.scale, self.codes.shape[1])

    @property
    def bits(self) -> int:
        return self.int_type.bits

    @property
    def n_split(self) -> int:
        return int(self.split_index.size)

    @property
    def in_channels(self) -> int:
        """Input channels of the original (unsplit) weight."""
        return self.codes.shape[0] - self.n_split

    @property
    def numel(self) -> int:
        """Elements of the original weight."""
        return self.in_channels * int(np.prod(self.codes.shape[1:]))

    def dequantize_expanded(self) -> np.ndarray:
        """``codes * scale`` in the split layout: the weight that multiplies ``[X, X[:, split_index]]``."""
        return self.codes.astype(np.float32) * self.column_scales().astype(np.float32)

    def dequantize(self) -> np.ndarray:
        """The effective weight in the original layout, split rows folded back onto their channel.

        ``[X, X_s] [W_a; W_b] = X (W_a + scatter(W_b))``, so folding is exact (eq. 6/7).
        """
        return _fold_split(self.dequantize_expanded(), self.split_index)

    def storage_bits(self) -> int:
        """Bits needed to store this tensor: codes at their bit-width, a 32-bit scale per group,
        32-bit split indices."""
        return int(self.codes.size) * self.bits + 32 * self.groups + 32 * self.n_split

    @property
    def mean_bits(self) -> float:
        """The bit-width of a multiply-accumulate, averaged over output channels (ACE)."""
        return float(self.bits)

    def as_codebook(self) -> CodebookTensor:
        """The same weight as a :class:`CodebookTensor` (split rows and all): ``code = q - qmin``
        and ``codebook[g] = scale[g] * (code + qmin)``. The symmetric grid has ``2**bits - 1``
        levels; the one unused code maps to 0."""
        t = self.int_type
        codes = (self.codes.astype(np.int16) - t.qmin).astype(np.uint8)
        grid = (np.arange(1 << t.bits) + t.qmin).astype(np.float64)
        grid[t.levels :] = 0.0
        return CodebookTensor(codes, (self.scale[:, None] * grid[None, :]).astype(np.float32), t.bits, self.split_index)

    def int8_form(self) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, column scales)`` for the int8 kernels: int8 ``(h + n_split, d)`` and float32 ``(d,)``."""
        return self.codes, self.column_scales().astype(np.float32)


@dataclass
class CodebookTensor:
    """``W[i, j] = codebook[j // group_size, codes[i, j]]``: ``bits``-bit codes (uint8, input-major
    ``(h + n_split, d)``) and a float32 codebook of ``2**bits`` values per group of output channels
    (Zhao et al., 2021); OCS rows, if any, are appended as in :class:`QuantizedTensor`."""

    codes: np.ndarray
    codebook: np.ndarray
    bits: int
    split_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        from ..kernels.codebook import check_codebook

        self.codes = np.ascontiguousarray(self.codes)
        self.codebook = np.ascontiguousarray(self.codebook, dtype=np.float32)
        self.split_index = np.ascontiguousarray(self.split_index, dtype=np.int64).reshape(-1)
        check_codebook(self.codes, self.codebook, self.bits)
        if self.split_index.size >= max(self.codes.shape[0], 1):
            raise ValueError(f"{self.split_index.size} split rows leave no original rows of {self.codes.shape[0]}")

    @property
    def groups(self) -> int:
        return int(self.codebook.shape[0])

    @property
    def group_size(self) -> int:
        return self.codes.shape[1] // self.groups

    @property
    def granularity(self) -> str:
        g = self.groups
        return "tensor" if g == 1 else "channel" if g == self.codes.shape[1] else f"{g} groups"

    @property
    def n_split(self) -> int:
        return int(self.split_index.size)

    @property
    def in_channels(self) -> int:
        return int(self.codes.shape[0]) - self.n_split

    @property
    def numel(self) -> int:
        return self.in_channels * int(self.codes.shape[1])

    def as_codebook(self) -> CodebookTensor:
        return self

    def column_codebooks(self) -> np.ndarray:
        """``(d, 2**bits)``: the codebook row of every output channel."""
        return np.repeat(self.codebook, self.group_size, axis=0)

    def dequantize_expanded(self) -> np.ndarray:
        """``codebook[group, codes]`` in the stored (split) layout."""
        return self.column_codebooks()[np.arange(self.codes.shape[1])[None, :], self.codes].astype(np.float32)

    def dequantize(self) -> np.ndarray:
        """The effective weight in the original layout (split rows folded back, as eq. 6/7)."""
        return _fold_split(self.dequantize_expanded(), self.split_index)

    def storage_bits(self) -> int:
        """Codes at their bit-width, the codebooks at 32 bits per entry, 32-bit split indices."""
        return int(self.codes.size) * self.bits + 32 * int(self.codebook.size) + 32 * self.n_split

    @property
    def mean_bits(self) -> float:
        return float(self.bits)

    def int8_levels(self) -> tuple[np.ndarray, np.ndarray]:
        """The codebook as int8 ``levels * level_scale`` per group
        (:func:`bertq.kernels.codebook.int8_levels`: exact where the codebook is an integer grid)."""
        from ..kernels.codebook import int8_levels

        return int8_levels(self.codebook)

    def int8_form(self) -> tuple[np.ndarray, np.ndarray]:
        """The codebook rounded to int8 on a per-group scale, decoded: int8 ``(h + n_split, d)``
        codes and float32 ``(d,)`` column scales."""
        levels, level_scale = self.int8_levels()
        group = np.arange(self.codes.shape[1]) // self.group_size
        return levels[group[None, :], self.codes], level_scale[group].astype(np.float32)


@dataclass
class MixedPrecisionTensor:
    """AQ-BERT's weight (Zhao et al., 2021, eqs. 7-8): the output channels in ``G`` equal groups,
    group ``g`` with ``group_bits[g]`` bits on the min-max grid ``lo[g] + code * step[g]``
    (``step = (max - min) / (2**b - 1)``, ``lo`` the group's minimum rounded to a whole number of
    steps, so that 0 is on the grid); a 0-bit group is pruned (no codes, no MACs, value 0).
    Codes are uint8, input-major ``(h, d)``; no OCS rows."""

    codes: np.ndarray
    group_bits: np.ndarray
    lo: np.ndarray
    step: np.ndarray
    split_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        self.codes = np.ascontiguousarray(self.codes)
        self.group_bits = np.ascontiguousarray(self.group_bits, dtype=np.int64).reshape(-1)
        self.lo = np.ascontiguousarray(self.lo, dtype=np.float32).reshape(-1)
        self.step = np.ascontiguousarray(self.step, dtype=np.float32).reshape(-1)
        self.split_index = np.ascontiguousarray(self.split_index, dtype=np.int64).reshape(-1)
        if self.codes.dtype != np.uint8 or self.codes.ndim != 2:
            raise TypeError(f"codes must be 2-D uint8, got {self.codes.ndim}-D {self.codes.dtype}")
        g, d = self.group_bits.size, self.codes.shape[1]
        if not 1 <= g <= d or d % g or self.lo.size != g or self.step.size != g:
            raise ValueError(f"{g} group bit-widths, {self.lo.size} minima, {self.step.size} steps for {d} channels")
        if self.split_index.size:
            raise ValueError("a mixed-precision weight has no OCS split rows")
        if self.group_bits.min() < 0 or self.group_bits.max() > 8:
            raise ValueError(f"group bit-widths must be 0 (pruned) to 8, got {sorted(set(self.group_bits.tolist()))}")
        limit = (1 << self.group_bits) - 1
        top = self.codes.reshape(self.codes.shape[0], g, d // g).max(axis=(0, 2), initial=0)
        if np.any(top > limit):
            raise ValueError(f"codes exceed their group's grid (group {int(np.argmax(top > limit))})")

    @property
    def bits(self) -> int:
        """The widest group's bit-width."""
        return int(self.group_bits.max())

    @property
    def groups(self) -> int:
        return int(self.group_bits.size)

    @property
    def group_size(self) -> int:
        return self.codes.shape[1] // self.groups

    @property
    def n_split(self) -> int:
        return 0

    @property
    def in_channels(self) -> int:
        return int(self.codes.shape[0])

    @property
    def numel(self) -> int:
        return int(self.codes.size)

    @property
    def mean_bits(self) -> float:
        """A multiply-accumulate's bits averaged over output channels: a pruned group adds none."""
        return float(self.group_bits.mean())

    def pruned_channels(self) -> np.ndarray:
        """Indices of the output channels of 0-bit groups."""
        return np.flatnonzero(np.repeat(self.group_bits == 0, self.group_size))

    def as_codebook(self) -> CodebookTensor:
        """The grids as codebooks of ``2**bits`` entries per group (beyond a group's own ``2**b``
        levels, and everywhere for a pruned group, 0)."""
        k = np.arange(1 << max(self.bits, 1))
        book = self.lo[:, None] + k[None, :] * self.step[:, None]
        book[k[None, :] >= (1 << self.group_bits)[:, None]] = 0.0
        book[self.group_bits == 0] = 0.0
        return CodebookTensor(self.codes, book.astype(np.float32), max(self.bits, 1))

    def dequantize_expanded(self) -> np.ndarray:
        return self.as_codebook().dequantize_expanded()

    def dequantize(self) -> np.ndarray:
        return self.dequantize_expanded()

    def storage_bits(self) -> int:
        """Each group's codes at its bit-width and its minimum and step at 32 bits; a pruned group
        stores nothing (its bit-width, 4 bits per group, is counted)."""
        kept = self.group_bits > 0
        codes = int(self.group_bits.sum()) * self.in_channels * self.group_size
        return codes + 64 * int(kept.sum()) + 4 * self.groups

    def int8_form(self) -> tuple[np.ndarray, np.ndarray]:
        return self.as_codebook().int8_form()


def _fold_split(expanded: np.ndarray, split_index: np.ndarray) -> np.ndarray:
    """``[X, X_s] [W_a; W_b] = X (W_a + scatter(W_b))``: the appended rows added onto the input
    channels they duplicate (exact, Hu et al., 2022, eq. 6)."""
    h = expanded.shape[0] - split_index.size
    folded = expanded[:h].copy()
    if split_index.size:
        np.add.at(folded, split_index, expanded[h:])
    return folded


QuantizedWeight = QuantizedTensor | CodebookTensor | MixedPrecisionTensor
"""Any kind of quantized weight."""
