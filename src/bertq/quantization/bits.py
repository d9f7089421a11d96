"""Integer types as values: a bit-width and the code range it gives (optimum-quanto style)."""

from __future__ import annotations

from dataclasses import dataclass

MIN_BITS, MAX_BITS = 2, 8


@dataclass(frozen=True)
class SymmetricInt:
    """A signed symmetric integer grid of ``bits`` bits: codes in [-qmax, qmax].

    The grid has ``2**bits - 1`` levels and no zero point (Hu et al., 2022, eq. 1 with z = 0).
    This is the grid of the OCS authors' code (Distiller's ``symmetric_linear_quantization``),
    which the paper uses; at 2 bits it is ternary.
    """

    bits: int

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or not MIN_BITS <= self.bits <= MAX_BITS:
            raise ValueError(f"bits must be an integer from {MIN_BITS} to {MAX_BITS}, got {self.bits!r}")

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1

    @property
    def qmin(self) -> int:
        return -self.qmax

    @property
    def levels(self) -> int:
        return 2 * self.qmax + 1


def int_type(bits: int) -> SymmetricInt:
    return SymmetricInt(bits)
