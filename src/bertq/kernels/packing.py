"""Bit-packing of 1- to 8-bit codes: ``n`` codes of ``b`` bits in ``ceil(n b / 8)`` bytes.

Code ``i`` occupies bits ``i b .. i b + b - 1`` of the byte stream, least significant bit first
(the order of ``numpy.packbits(..., bitorder="little")``), so a 4-bit stream holds two codes per
byte, low nibble first, and a 3-bit stream lets codes straddle bytes.
"""

from __future__ import annotations

import numpy as np


def packed_size(n: int, bits: int) -> int:
    return -(-n * bits // 8)


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned codes (any shape, each ``< 2**bits``) to a flat uint8 stream, C order."""
    _check_bits(bits)
    codes = np.ascontiguousarray(codes).reshape(-1)
    if codes.size and (codes.min() < 0 or codes.max() >= 1 << bits):
        raise ValueError(
            f"codes must lie in [0, {(1 << bits) - 1}] to pack in {bits} bits, got [{codes.min()}, {codes.max()}]"
        )
    if bits == 8:
        return codes.astype(np.uint8)
    bit_planes = np.unpackbits(codes.astype(np.uint8)[:, None], axis=1, count=bits, bitorder="little")
    return np.packbits(bit_planes.reshape(-1), bitorder="little")


def unpack_codes(stream: np.ndarray, bits: int, n: int) -> np.ndarray:
    """The first ``n`` codes of a stream written by :func:`pack_codes`, as uint8."""
    _check_bits(bits)
    stream = np.ascontiguousarray(stream, dtype=np.uint8).reshape(-1)
    if stream.size < packed_size(n, bits):
        raise ValueError(f"a stream of {stream.size} bytes holds fewer than {n} codes of {bits} bits")
    if bits == 8:
        return stream[:n].copy()
    bit_planes = np.unpackbits(stream, count=n * bits, bitorder="little").reshape(n, bits)
    return np.packbits(bit_planes, axis=1, bitorder="little").reshape(n)


def _check_bits(bits: int) -> None:
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be an integer from 1 to 8, got {bits!r}")
