"""Portable LLVM vector IR for the loops LLVM won't vectorize from numba on its own.

A min/max reduction written as a numba loop stays scalar (about 1 ns per element here); the
same reduction over explicit 16 x float32 vectors runs ten times faster and needs no particular
instruction set: LLVM legalises the vector width for whatever CPU it compiles for.
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

WIDTH = 16


@intrinsic
def _vector_range(typingctx, address, n_vectors):
    """``(min, max)`` over ``n_vectors * 16`` float32 at ``address``, both started at 0."""
    sig = types.UniTuple(types.float32, 2)(address, n_vectors)

    def codegen(context, builder, signature, args):
        addr, n = args
        f32 = ir.FloatType()
        vec = ir.VectorType(f32, WIDTH)
        ptr = builder.inttoptr(addr, vec.as_pointer())
        lo = cgutils.alloca_once_value(builder, ir.Constant(vec, None))
        hi = cgutils.alloca_once_value(builder, ir.Constant(vec, None))
        with cgutils.for_range(builder, n) as loop:
            v = builder.load(builder.gep(ptr, [loop.index]), align=4)
            low, high = builder.load(lo), builder.load(hi)
            builder.store(builder.select(builder.fcmp_ordered("<", v, low), v, low), lo)
            builder.store(builder.select(builder.fcmp_ordered(">", v, high), v, high), hi)
        low, high = builder.load(lo), builder.load(hi)
        lane = ir.IntType(32)
        r_lo, r_hi = builder.extract_element(low, lane(0)), builder.extract_element(high, lane(0))
        for j in range(1, WIDTH):
            e = builder.extract_element(low, lane(j))
            r_lo = builder.select(builder.fcmp_ordered("<", e, r_lo), e, r_lo)
            e = builder.extract_element(high, lane(j))
            r_hi = builder.select(builder.fcmp_ordered(">", e, r_hi), e, r_hi)
        return context.make_tuple(builder, signature.return_type, [r_lo, r_hi])

    return sig, codegen


@njit(cache=True)
def row_absmax(x, out):
    """``out[i] = max |x[i]|`` for a C-contiguous float32 ``(m, k)`` array: one vectorised pass
    per row (:func:`range_with_zero`), where ``max(max x, -min x)`` in torch takes two."""
    for i in range(x.shape[0]):
        lo, hi = range_with_zero(x[i])
        out[i] = max(hi, -lo)


@njit(inline="always")
def range_with_zero(row):
    """``(min(row, 0), max(row, 0))`` of a contiguous float32 vector."""
    k = row.shape[0]
    lo, hi = _vector_range(row.ctypes.data, k // WIDTH)
    for t in range(k - k % WIDTH, k):
        v = row[t]
        lo = v if v < lo else lo
        hi = v if v > hi else hi
    return lo, hi
