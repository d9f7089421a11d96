"""Which integer instruction path this CPU can run, and the register-tile micro-kernels for each.

Every path computes the same thing: an ``rows x nr`` tile of int32 sums
``C[i, j] = sum_k A[i, k] * B[k, j]`` with ``A`` unsigned bytes and ``B`` signed bytes, ``B``
packed in panels of ``nr`` columns whose four consecutive ``k`` sit in one 32-bit lane (the
layout of :func:`bertq.kernels.int8_gemm.pack_int8`). They differ in the instruction that does
four multiply-accumulates per 32-bit lane:

- ``avx512_vnni`` / ``avx_vnni``: ``vpdpbusd`` on 512- / 256-bit vectors (u8 x s8, summed in
  int32 with no intermediate saturation);
- ``avx512bw`` / ``avx2``: ``vpmaddubsw`` (u8 x s8 pairs summed into *saturating* int16) then
  ``vpmaddwd`` against ones. Exact as long as a pair sum fits int16, which holds for activations
  in ``[0, 127]``: ``2 * 127 * 128 = 32512``. That is why activations are quantized to unsigned
  7 bits on every path (the ``reduce_range`` of fbgemm / torch's x86 dynamic quantization).
  8-bit codes (:func:`microkernel_affine_wide`) go through ``vpmaddwd`` on int16 operands there,
  two ``k`` per lane, which issues as many multiplies per multiply-accumulate;
- ``portable``: a plain numba loop, for CPUs without these (or non-x86).

LLVM does not emit ``vpmaddubsw``/``vpdpbusd`` for a plain loop, so the x86 micro-kernels are
written in LLVM IR through numba's ``@intrinsic``: accumulators live in vector registers for the
whole ``k`` loop, ``A`` is broadcast four bytes at a time, ``B`` is loaded a vector at a time.
A path's IR is generated only when a kernel is compiled for it (literal dispatch), so a CPU never
compiles instructions it lacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import NativeValue, intrinsic, models, overload, register_model, typeof_impl, unbox

from ..errors import UnavailableHardware

PATH_ENV = "BERTQ_KERNEL_PATH"


@dataclass(frozen=True)
class KernelPath:
    name: str
    features: tuple[str, ...]
    """LLVM CPU features the path needs."""
    lanes: int
    """32-bit lanes per vector register."""
    rows: int
    """Rows of ``A`` per register tile (MR)."""
    vectors: int
    """Vectors of columns per register tile; the tile is ``rows x lanes * vectors``."""
    dot: str
    """``vnni``, ``maddubs`` or ``scalar``."""

    @property
    def nr(self) -> int:
        return self.lanes * self.vectors

    @property
    def exact_activation_max(self) -> int:
        """Largest activation byte for which the path is exact (with any int8 weight)."""
        return 127 if self.dot == "maddubs" else 255


PATHS: dict[str, KernelPath] = {
    p.name: p
    for p in (
        KernelPath("avx512_vnni", ("avx512vnni", "avx512bw", "avx512f"), 16, 8, 2, "vnni"),
        KernelPath("avx_vnni", ("avxvnni", "avx2"), 8, 4, 3, "vnni"),
        KernelPath("avx512bw", ("avx512bw", "avx512f"), 16, 8, 2, "maddubs"),
        KernelPath("avx2", ("avx2",), 8, 4, 3, "maddubs"),
        KernelPath("portable", (), 8, 4, 2, "scalar"),
    )
}
"""In order of preference. Tiles were chosen by timing on an AVX512-VNNI Xeon (bench/gemm.py)."""


@lru_cache(maxsize=1)
def host_features() -> frozenset[str]:
    """LLVM's view of this CPU's features (what numba compiles for); empty when numba targets a
    named CPU other than the host."""
    cpu_name = os.environ.get("NUMBA_CPU_NAME", "host")
    if cpu_name != "host":
        return frozenset()
    import llvmlite.binding as llvm

    return frozenset(f[1:] for f in llvm.get_host_cpu_features().flatten().split(",") if f.startswith("+"))


def available_paths() -> list[str]:
    have = host_features()
    return [p.name for p in PATHS.values() if all(f in have for f in p.features)]


def default_path() -> str:
    """The fastest path this CPU runs, or the one ``BERTQ_KERNEL_PATH`` names."""
    return resolve_path(os.environ.get(PATH_ENV) or None)


def resolve_path(name: str | None) -> str:
    available = available_paths()
    if name is None:
        return available[0]
    if name not in PATHS:
        raise ValueError(f"unknown kernel path {name!r}; known: {', '.join(PATHS)}")
    if name not in available:
        raise UnavailableHardware(
            f"kernel path {name!r} needs CPU features {list(PATHS[name].features)}, "
            f"which this CPU lacks; it can run: {', '.join(available)}"
        )
    return name


# --- a path as a numba type -------------------------------------------------------------------
# Kernels take a KernelPath argument; numba types it as PathType(name), so each path compiles and
# caches its own specialisation and a call dispatches on the argument's type, at no cost.


class PathType(types.Type):
    def __init__(self, path_name: str):
        self.path_name = path_name
        super().__init__(name=f"KernelPath({path_name})")


@cache
def _path_type(name: str) -> PathType:
    return PathType(name)


@typeof_impl.register(KernelPath)
def _typeof_path(value, context):
    return _path_type(value.name)  # cached: building a numba type costs microseconds per call


register_model(PathType)(models.OpaqueModel)


@unbox(PathType)
def _unbox_path(typ, obj, c):
    return NativeValue(c.context.get_dummy_value())


# --- micro-kernels --------------------------------------------------------------------------


def microkernel(path, a, lda, b, kq, c, ldc):
    """``C[0:rows, 0:nr] = A[0:rows, 0:4*kq] @ B_panel`` (int32, overwritten).

    ``a``/``b``/``c`` are addresses: ``a`` row-major uint8 with ``lda`` bytes per row, ``b`` one
    packed panel (``kq`` groups of ``nr`` x 4 bytes), ``c`` int32 with ``ldc`` elements per row.
    ``path`` is a :class:`KernelPath` (a numba type: see :class:`PathType`).
    """


def microkernel_affine(path, a, lda, b, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias):
    """The same tile, written as float32 ``C = s_a (acc - z_a colsum) * w_scale + bias`` in one pass.

    ``a_scale``/``a_zero`` address the tile's ``rows`` float32 / int32 activation parameters,
    ``col_sums``/``w_scale``/``bias`` the panel's ``nr`` int32 / float32 / float32 column values.
    Per element: ``float32(acc - z * colsum) * (s * w_scale) + bias``, in that order, no FMA.
    """


def microkernel_affine_wide(path, a, lda, b, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias):
    """:func:`microkernel_affine` for activation codes over the whole byte range ``[0, 255]``
    (8-bit codes: symmetric ones stored offset-binary, ``q + 128``, or static asymmetric ones).

    On the ``vpdpbusd`` paths and the portable one a byte is an exact unsigned operand, so this
    is :func:`microkernel_affine`. On the ``vpmaddubsw`` paths a byte above 127 could overflow a
    pair sum, so there (:func:`wide_int16`) ``a`` holds the codes as int16 and ``b`` the panel as
    int16, two consecutive ``k`` per 32-bit lane, and ``vpmaddwd`` multiplies them into int32
    pair sums: exact for any int8 weight, ``kq`` counting pairs of ``k`` and ``lda`` in bytes.
    It issues as many multiplies per multiply-accumulate as the 7-bit kernel (one ``vpmaddwd``
    per 16 against ``vpmaddubsw`` + ``vpmaddwd`` per 32), with no per-product sign fix-up.
    """


def wide_int16(path: KernelPath) -> bool:
    """Whether :func:`microkernel_affine_wide` on ``path`` reads int16 codes and int16 panels."""
    return path.dot == "maddubs"


@overload(microkernel, jit_options={"cache": True})
def _microkernel_overload(path, a, lda, b, kq, c, ldc):
    if not isinstance(path, PathType):
        return None
    spec = PATHS[path.path_name]
    if spec.dot == "scalar":
        kernel = _scalar_kernel(spec.rows, spec.nr)

        def impl(path, a, lda, b, kq, c, ldc):
            kernel(a, lda, b, kq, c, ldc, 0, 0, 0, 0, 0, False)
    else:
        kernel = _simd_kernel(spec.lanes, spec.rows, spec.vectors, spec.dot, False)

        def impl(path, a, lda, b, kq, c, ldc):
            kernel(a, lda, b, kq, c, ldc, 0, 0, 0, 0, 0, 0)

    return impl


def _affine_overload(path, wide: bool):
    """The implementation of :func:`microkernel_affine` (``wide``: of
    :func:`microkernel_affine_wide`) for ``path``'s numba type."""
    if not isinstance(path, PathType):
        return None
    spec = PATHS[path.path_name]
    if spec.dot == "scalar":
        kernel = _scalar_kernel(spec.rows, spec.nr)

        def impl(path, a, lda, b, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias):
            kernel(a, lda, b, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias, True)
    else:
        kernel = _simd_kernel(spec.lanes, spec.rows, spec.vectors, spec.dot, True, wide=wide and wide_int16(spec))

        def impl(path, a, lda, b, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias):
            kernel(a, lda, b, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias, 0)

    return impl


@overload(microkernel_affine, jit_options={"cache": True})
def _microkernel_affine_overload(path, a, lda, b, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias):
    return _affine_overload(path, wide=False)


@overload(microkernel_affine_wide, jit_options={"cache": True})
def _microkernel_affine_wide_overload(path, a, lda, b, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias):
    return _affine_overload(path, wide=True)


def lut4_kernel_affine(path, rows, a, lda, nibbles, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias, table):
    """:func:`microkernel_affine` for ``rows`` (1, 2, 4 or 8) rows, with the panel given as 4-bit
    codes decoded in registers: each block of ``4 * lanes`` bytes holds two consecutive B vectors
    (low nibbles the first, high nibbles the second; ``bertq.kernels.codebook``), split with one
    mask and one shift, then ``vpshufb`` into the panel's 16-entry int8 ``table``. ``kq`` must be
    a multiple of :func:`nibble_quads`."""


def nibble_quads(vectors: int) -> int:
    """k-quads per block step of the 4-bit layout: 1, or 2 when a k-quad has an odd number of
    vectors (two vectors share a block)."""
    return 1 if vectors % 2 == 0 else 2


LUT4_ROWS = (1, 2, 4, 8)


@overload(lut4_kernel_affine, jit_options={"cache": True})
def _lut4_overload(path, rows, a, lda, nibbles, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias, table):
    if not isinstance(path, PathType) or PATHS[path.path_name].dot == "scalar":
        return None
    spec = PATHS[path.path_name]
    k1, k2, k4, k8 = (_simd_kernel(spec.lanes, r, spec.vectors, spec.dot, True, True) for r in LUT4_ROWS)

    def impl(path, rows, a, lda, nibbles, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias, table):
        if rows == 1:
            k1(a, lda, nibbles, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias, table)
        elif rows == 2:
            k2(a, lda, nibbles, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias, table)
        elif rows == 4:
            k4(a, lda, nibbles, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias, table)
        else:
            k8(a, lda, nibbles, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias, table)

    return impl


def nibble_decode(path, nibbles, n_vectors, table, out):
    """Decode ``n_vectors`` (even) vectors of 4-bit codes, two per block of ``4 * lanes`` bytes (see
    :func:`lut4_kernel_affine`), into int8 levels (``4 * lanes`` bytes each) at ``out``, with the
    16-entry ``table`` (``vpshufb``)."""


@overload(nibble_decode, jit_options={"cache": True})
def _nibble_decode_overload(path, nibbles, n_vectors, table, out):
    if not isinstance(path, PathType):
        return None
    spec = PATHS[path.path_name]
    if spec.dot == "scalar":
        from numba import carray

        width = 4 * spec.lanes

        def scalar_impl(path, nibbles, n_vectors, table, out):
            src = carray(_as_ptr_u8(nibbles), (n_vectors // 2 * width,))
            lut = carray(_as_ptr_i8(table), (width,))
            dst = carray(_as_ptr_i8(out), (n_vectors * width,))
            for b in range(n_vectors // 2):
                for j in range(width):
                    byte = src[b * width + j]
                    dst[2 * b * width + j] = lut[byte & 15]
                    dst[(2 * b + 1) * width + j] = lut[byte >> 4]

        return scalar_impl
    decode = _nibble_decoder(spec.lanes)

    def impl(path, nibbles, n_vectors, table, out):
        decode(nibbles, n_vectors, table, out)

    return impl


@cache
def _nibble_decoder(lanes: int):
    i8 = ir.IntType(8)
    vbyte = ir.VectorType(i8, 4 * lanes)
    name = "llvm.x86.avx512.pshuf.b.512" if lanes == 16 else "llvm.x86.avx2.pshuf.b"

    @intrinsic
    def decode(typingctx, nibbles, n_vectors, table, out):
        sig = types.void(nibbles, n_vectors, table, out)

        def codegen(context, builder, signature, args):
            nib_addr, n, t_addr, out_addr = args
            pshufb = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vbyte, [vbyte, vbyte]), name)
            src = builder.inttoptr(nib_addr, vbyte.as_pointer())
            dst = builder.inttoptr(out_addr, vbyte.as_pointer())
            lut = builder.load(builder.inttoptr(t_addr, vbyte.as_pointer()), align=1)
            low = ir.Constant(vbyte, [15] * (4 * lanes))
            four = ir.Constant(vbyte, [4] * (4 * lanes))
            two = ir.Constant(n.type, 2)
            with cgutils.for_range(builder, builder.udiv(n, two)) as loop:
                raw = builder.load(builder.gep(src, [loop.index]), align=1)
                first = builder.mul(loop.index, two)
                builder.store(builder.call(pshufb, [lut, builder.and_(raw, low)]), builder.gep(dst, [first]), align=1)
                high = builder.and_(builder.lshr(raw, four), low)
                second = builder.add(first, ir.Constant(n.type, 1))
                builder.store(builder.call(pshufb, [lut, high]), builder.gep(dst, [second]), align=1)
            return context.get_dummy_value()

        return sig, codegen

    return decode


@cache
def _scalar_kernel(rows: int, nr: int):
    from numba import carray

    @njit(inline="always")
    def kernel(a, lda, b, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias, affine):
        av = carray(_as_ptr_u8(a), (rows * lda,))
        bv = carray(_as_ptr_i8(b), (kq * nr * 4,))
        acc = np.zeros((rows, nr), np.int32)
        for q in range(kq):
            for i in range(rows):
                a0 = np.int32(av[i * lda + 4 * q])
                a1 = np.int32(av[i * lda + 4 * q + 1])
                a2 = np.int32(av[i * lda + 4 * q + 2])
                a3 = np.int32(av[i * lda + 4 * q + 3])
                base = q * nr * 4
                for j in range(nr):
                    o = base + 4 * j
                    acc[i, j] += (
                        a0 * np.int32(bv[o])
                        + a1 * np.int32(bv[o + 1])
                        + a2 * np.int32(bv[o + 2])
                        + a3 * np.int32(bv[o + 3])
                    )
        if affine:
            cf = carray(_as_ptr_f32(c), ((rows - 1) * ldc + nr,))
            s_a = carray(_as_ptr_f32(a_scale), (rows,))
            z_a = carray(_as_ptr_i32(a_zero), (rows,))
            cs = carray(_as_ptr_i32(col_sums), (nr,))
            ws = carray(_as_ptr_f32(w_scale), (nr,))
            bs = carray(_as_ptr_f32(bias), (nr,))
            for i in range(rows):
                for j in range(nr):
                    cf[i * ldc + j] = np.float32(acc[i, j] - z_a[i] * cs[j]) * (s_a[i] * ws[j]) + bs[j]
        else:
            ci = carray(_as_ptr_i32(c), ((rows - 1) * ldc + nr,))
            for i in range(rows):
                for j in range(nr):
                    ci[i * ldc + j] = acc[i, j]

    return kernel


def _pointer_cast(target):
    @intrinsic
    def cast(typingctx, address):
        sig = types.CPointer(target)(address)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

        return sig, codegen

    return cast


_as_ptr_u8 = _pointer_cast(types.uint8)
_as_ptr_i8 = _pointer_cast(types.int8)
_as_ptr_i32 = _pointer_cast(types.int32)
_as_ptr_f32 = _pointer_cast(types.float32)


@cache
def _simd_kernel(lanes: int, rows: int, vectors: int, dot: str, affine: bool, lut4: bool = False, wide: bool = False):
    i8, i16, i32 = ir.IntType(8), ir.IntType(16), ir.IntType(32)
    f32 = ir.FloatType()
    vi32, vi16, vi8 = ir.VectorType(i32, lanes), ir.VectorType(i16, 2 * lanes), ir.VectorType(i8, 4 * lanes)
    vf32 = ir.VectorType(f32, lanes)
    bits = 32 * lanes

    @intrinsic
    def kernel(typingctx, a, lda, b, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias, table):
        sig = types.void(a, lda, b, kq, c, ldc, a_scale, a_zero, col_sums, w_scale, bias, table)

        def codegen(context, builder, signature, args):
            a_addr, lda_v, b_addr, kq_v, c_addr, ldc_v, sa_addr, za_addr, cs_addr, ws_addr, bias_addr, t_addr = args
            idx = lda_v.type
            module = builder.module
            if dot == "vnni":
                vpdpbusd = cgutils.get_or_insert_function(
                    module, ir.FunctionType(vi32, [vi32, vi32, vi32]), f"llvm.x86.avx512.vpdpbusd.{bits}"
                )

                def mac(acc, av, bv):
                    return builder.call(vpdpbusd, [acc, av, bv])
            else:
                prefix = "llvm.x86.avx512." if bits == 512 else "llvm.x86.avx2."
                maddubs = cgutils.get_or_insert_function(
                    module,
                    ir.FunctionType(vi16, [vi8, vi8]),
                    prefix + ("pmaddubs.w.512" if bits == 512 else "pmadd.ub.sw"),
                )
                maddwd = cgutils.get_or_insert_function(
                    module,
                    ir.FunctionType(vi32, [vi16, vi16]),
                    prefix + ("pmaddw.d.512" if bits == 512 else "pmadd.wd"),
                )
                ones = ir.Constant(vi16, [1] * (2 * lanes))

                def mac(acc, av, bv):
                    if wide:  # int16 codes x int16 weights, pair sums in int32
                        pairs = builder.call(maddwd, [builder.bitcast(av, vi16), builder.bitcast(bv, vi16)])
                        return builder.add(acc, pairs)
                    pairs = builder.call(maddubs, [builder.bitcast(av, vi8), builder.bitcast(bv, vi8)])
                    return builder.add(acc, builder.call(maddwd, [pairs, ones]))

            def splat(value, vec_type):
                v = builder.insert_element(ir.Constant(vec_type, ir.Undefined), value, i32(0))
                return builder.shuffle_vector(v, ir.Constant(vec_type, ir.Undefined), ir.Constant(vi32, [0] * lanes))

            accs = [
                [cgutils.alloca_once_value(builder, ir.Constant(vi32, None)) for _ in range(vectors)]
                for _ in range(rows)
            ]
            a_ptr = builder.inttoptr(a_addr, i8.as_pointer())
            quads = 1  # k-quads per loop step
            if lut4:
                # B vectors from 4-bit codes, two vectors per block of 4 * lanes bytes (low
                # nibbles the first, high nibbles the second): with an odd number of vectors per
                # k-quad a step covers two k-quads
                quads = nibble_quads(vectors)
                b_ptr = builder.inttoptr(b_addr, vi8.as_pointer())
                table = builder.load(builder.inttoptr(t_addr, vi8.as_pointer()), align=1)
                pshufb = cgutils.get_or_insert_function(
                    module,
                    ir.FunctionType(vi8, [vi8, vi8]),
                    "llvm.x86.avx512.pshuf.b.512" if bits == 512 else "llvm.x86.avx2.pshuf.b",
                )
                low_mask = ir.Constant(vi8, [15] * (4 * lanes))
                shift = ir.Constant(vi8, [4] * (4 * lanes))
                blocks = quads * vectors // 2

                def load_step(step):
                    out = []
                    for j in range(blocks):
                        at = builder.add(builder.mul(step, ir.Constant(idx, blocks)), ir.Constant(idx, j))
                        raw = builder.load(builder.gep(b_ptr, [at]), align=1)
                        for codes in (builder.and_(raw, low_mask), builder.and_(builder.lshr(raw, shift), low_mask)):
                            out.append(builder.bitcast(builder.call(pshufb, [table, codes]), vi32))
                    return out
            else:
                b_ptr = builder.inttoptr(b_addr, vi32.as_pointer())

                def load_step(step):
                    base = builder.mul(step, ir.Constant(idx, vectors))
                    return [
                        builder.load(builder.gep(b_ptr, [builder.add(base, ir.Constant(idx, p))]), align=1)
                        for p in range(vectors)
                    ]

            steps = kq_v if quads == 1 else builder.udiv(kq_v, ir.Constant(idx, quads))
            with cgutils.for_range(builder, steps) as loop:
                b_all = load_step(loop.index)
                for s in range(quads):
                    q = builder.add(builder.mul(loop.index, ir.Constant(idx, quads)), ir.Constant(idx, s))
                    b_vecs = b_all[s * vectors : (s + 1) * vectors]
                    for i in range(rows):
                        offset = builder.add(
                            builder.mul(ir.Constant(idx, i), lda_v), builder.mul(q, ir.Constant(idx, 4))
                        )
                        word = builder.load(builder.bitcast(builder.gep(a_ptr, [offset]), i32.as_pointer()), align=1)
                        av = splat(word, vi32)
                        for p in range(vectors):
                            builder.store(mac(builder.load(accs[i][p]), av, b_vecs[p]), accs[i][p])
            if affine:
                c_ptr = builder.inttoptr(c_addr, f32.as_pointer())
                sa = builder.inttoptr(sa_addr, f32.as_pointer())
                za = builder.inttoptr(za_addr, i32.as_pointer())
                cs = builder.inttoptr(cs_addr, vi32.as_pointer())
                ws = builder.inttoptr(ws_addr, vf32.as_pointer())
                bs = builder.inttoptr(bias_addr, vf32.as_pointer())
                col_sum = [builder.load(builder.gep(cs, [ir.Constant(idx, p)]), align=4) for p in range(vectors)]
                w_scale = [builder.load(builder.gep(ws, [ir.Constant(idx, p)]), align=4) for p in range(vectors)]
                bias_v = [builder.load(builder.gep(bs, [ir.Constant(idx, p)]), align=4) for p in range(vectors)]
            else:
                c_ptr = builder.inttoptr(c_addr, i32.as_pointer())
            for i in range(rows):
                if affine:
                    z = splat(builder.load(builder.gep(za, [ir.Constant(idx, i)])), vi32)
                    s = splat(builder.load(builder.gep(sa, [ir.Constant(idx, i)])), vf32)
                for p in range(vectors):
                    offset = builder.add(builder.mul(ir.Constant(idx, i), ldc_v), ir.Constant(idx, p * lanes))
                    acc = builder.load(accs[i][p])
                    if affine:
                        centred = builder.sub(acc, builder.mul(z, col_sum[p]))
                        value = builder.fmul(builder.sitofp(centred, vf32), builder.fmul(s, w_scale[p]))
                        value = builder.fadd(value, bias_v[p])
                        builder.store(value, builder.bitcast(builder.gep(c_ptr, [offset]), vf32.as_pointer()), align=4)
                    else:
                        builder.store(acc, builder.bitcast(builder.gep(c_ptr, [offset]), vi32.as_pointer()), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return kernel
