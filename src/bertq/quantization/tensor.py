"""A quantized weight: integer codes plus the scale that maps them back (Hu et al., 2022, eq. 3).

Weights are kept in *input-major* orientation, ``W`` of shape ``(h, d)`` with ``Y = X W`` as in the
paper's section 3.2, so that an OCS split (eq. 6) appends rows. ``split_index[i]`` names the
original input channel that appended row ``h + i`` duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bits import SymmetricInt


@dataclass
class QuantizedTensor:
    codes: np.ndarray
    """int8 codes, shape ``(h + n_split, d)`` (input-major)."""
    scale: float
    """Step size: ``dequantized = codes * scale``."""
    int_type: SymmetricInt
    split_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """For OCS, the original input channel of each appended row; empty otherwise."""

    def __post_init__(self) -> None:
        self.split_index = np.ascontiguousarray(self.split_index, dtype=np.int64)
        self.codes = np.ascontiguousarray(self.codes)  # safetensors writes raw C-order memory
        if self.codes.dtype != np.int8:
            raise TypeError(f"codes must be int8, got {self.codes.dtype}")
        q = self.int_type.qmax
        if self.codes.size and (self.codes.max() > q or self.codes.min() < -q):
            raise ValueError(f"codes exceed the {self.int_type.bits}-bit range [-{q}, {q}]")

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
        return self.codes.astype(np.float32) * np.float32(self.scale)

    def dequantize(self) -> np.ndarray:
        """The effective weight in the original layout, split rows folded back onto their channel.

        ``[X, X_s] [W_a; W_b] = X (W_a + scatter(W_b))``, so folding is exact (eq. 6/7).
        """
        expanded = self.dequantize_expanded()
        h = self.in_channels
        folded = expanded[:h].copy()
        if self.n_split:
            np.add.at(folded, self.split_index, expanded[h:])
        return folded

    def storage_bits(self) -> int:
        """Bits needed to store this tensor: codes at their bit-width, a 32-bit scale, 32-bit split indices."""
        return int(self.codes.size) * self.bits + 32 + 32 * self.n_split
