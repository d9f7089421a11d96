"""The integer kernels against brute-force references: int64 matmuls and the equations in float64.

Every instruction path this CPU can run is checked (on an AVX512-VNNI machine that is all five),
so the portable path is tested everywhere and the SIMD paths wherever they exist.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bertq.engine.activations import activation_codes
from bertq.kernels import simd
from bertq.kernels.int8_gemm import dequantize_rows, gemm_int32, linear_int8, pack_int8, quantize_rows
from bertq.kernels.packing import pack_codes, packed_size, unpack_codes

PATHS = simd.available_paths()
SHAPES = [(1, 1, 1), (1, 768, 3072), (7, 33, 17), (9, 130, 77), (16, 64, 32), (33, 257, 65), (3, 5, 1)]


def _reference(a, w):
    return a.astype(np.int64) @ w.astype(np.int64)


def test_portable_path_is_always_available():
    assert PATHS[-1] == "portable"
    assert simd.resolve_path(None) == PATHS[0]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_gemm_is_exact_on_random_inputs(path, m, k, n):
    rng = np.random.default_rng(m * 1000 + k + n)
    a = rng.integers(0, 128, (m, k), dtype=np.uint8)
    w = rng.integers(-128, 128, (k, n), dtype=np.int8)
    out = gemm_int32(a, pack_int8(w, path))
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, _reference(a, w))


@pytest.mark.parametrize("path", PATHS)
def test_gemm_is_exact_at_the_extremes(path):
    """127 x -128 everywhere is the largest product sum; K = 4099 is not a multiple of 4 or 32."""
    m, k, n = 5, 4099, 19
    a = np.full((m, k), 127, np.uint8)
    a[1] = 0
    a[2, ::2] = 0
    w = np.full((k, n), -128, np.int8)
    w[:, 1] = 127
    w[::3, 2] = 127
    out = gemm_int32(a, pack_int8(w, path))
    np.testing.assert_array_equal(out, _reference(a, w))
    assert out[0, 0] == 127 * -128 * k


@pytest.mark.parametrize("path", [p for p in PATHS if simd.PATHS[p].exact_activation_max == 255])
def test_vnni_and_portable_paths_take_full_bytes(path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (6, 99), dtype=np.uint8)
    a[0] = 255
    w = rng.integers(-128, 128, (99, 40), dtype=np.int8)
    w[:, 0] = -128
    np.testing.assert_array_equal(gemm_int32(a, pack_int8(w, path)), _reference(a, w))


@pytest.mark.parametrize("path", [p for p in PATHS if simd.PATHS[p].exact_activation_max == 127])
def test_maddubs_paths_refuse_bytes_they_would_saturate(path):
    w = pack_int8(np.ones((8, 8), np.int8), path)
    with pytest.raises(ValueError, match="exact only for activations <= 127"):
        gemm_int32(np.full((2, 8), 200, np.uint8), w)


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 40),
    k=st.integers(1, 200),
    n=st.integers(1, 70),
    seed=st.integers(0, 2**32 - 1),
    path=st.sampled_from(PATHS),
)
def test_gemm_property(m, k, n, seed, path):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 128, (m, k), dtype=np.uint8)
    w = rng.integers(-128, 128, (k, n), dtype=np.int8)
    packed = pack_int8(w, path)
    np.testing.assert_array_equal(packed.unpack(), w)
    np.testing.assert_array_equal(gemm_int32(a, packed), _reference(a, w))


def test_pack_layout():
    """``panels[p, q, c, s] == W[4q + s, p nr + c]`` and column sums for the zero point."""
    path = simd.PATHS["portable"]
    w = np.arange(-50, 50, dtype=np.int8).reshape(10, 10)
    packed = pack_int8(w, "portable")
    assert packed.panels.shape == (1, 3, path.nr, 4)
    assert packed.panels[0, 1, 3, 2] == w[6, 3]
    assert packed.panels[0, 2, 9, 1] == w[9, 9]
    assert packed.panels[0, 2, 9, 2] == 0  # beyond k
    np.testing.assert_array_equal(packed.col_sums[:10], w.sum(axis=0))


def test_quantize_rows_closed_form():
    x = np.array([[-1.0, 0.0, 0.5, 1.54], [0.0, 0.0, 0.0, 0.0], [2.0, 4.0, 6.0, 8.0]], np.float32)
    codes, scale, zero = quantize_rows(x, 8)
    assert codes.shape == (3, 8) and not codes[:, 4:].any()
    s = np.float32(2.54) / np.float32(127)
    assert scale[0] == pytest.approx(s) and zero[0] == 50  # round(1 / 0.02)
    np.testing.assert_array_equal(codes[0, :4], [0, 50, 75, 127])
    assert scale[1] == 1 and zero[1] == 0 and not codes[1].any()  # a zero row stays zero
    assert zero[2] == 0 and codes[2, 3] == 127  # the range is widened to include 0
    deq = dequantize_rows(codes, scale, zero, 4)
    assert np.abs(deq - x).max() <= scale.max() / 2 + 1e-6


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 20),
    k=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    magnitude=st.sampled_from([1e-3, 1.0, 30.0]),
)
def test_quantize_rows_matches_the_torch_twin(m, k, seed, magnitude):
    x = (np.random.default_rng(seed).standard_normal((m, k)) * magnitude).astype(np.float32)
    codes, scale, zero = quantize_rows(x, k)
    t_codes, t_scale, t_zero = activation_codes(torch.from_numpy(x))
    np.testing.assert_array_equal(codes, t_codes.numpy().astype(np.uint8))
    np.testing.assert_array_equal(scale, t_scale.numpy()[:, 0])
    np.testing.assert_array_equal(zero, t_zero.numpy()[:, 0].astype(np.int32))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("per_channel,with_bias", [(True, True), (False, False)])
def test_linear_applies_the_affine_epilogue_exactly(path, per_channel, with_bias):
    """``s_x (acc - z_x colsum) s_w + b`` in float32, bit for bit, on every path."""
    rng = np.random.default_rng(3)
    m, k, n = 21, 97, 45
    x = (rng.standard_normal((m, k)) * 3).astype(np.float32)
    w = rng.integers(-127, 128, (k, n), dtype=np.int8)
    w_scale = rng.uniform(0.01, 0.1, n if per_channel else 1).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32) if with_bias else None
    y = linear_int8(x, pack_int8(w, path), w_scale, bias)
    codes, s, z = quantize_rows(x, k)
    acc = _reference(codes, w) - z[:, None].astype(np.int64) * w.astype(np.int64).sum(axis=0)
    ws = np.broadcast_to(w_scale, (n,))
    expected = acc.astype(np.float32) * (s[:, None] * ws[None, :])
    if bias is not None:
        expected = expected + bias
    np.testing.assert_array_equal(y, expected)
    # ... which is the float product of the dequantized operands, up to float32 rounding
    float_ref = dequantize_rows(codes, s, z, k).astype(np.float64) @ (w * ws).astype(np.float64)
    np.testing.assert_allclose(y, float_ref + (0 if bias is None else bias), rtol=1e-5, atol=1e-4)


def test_bad_inputs_are_named():
    w = pack_int8(np.ones((8, 4), np.int8))
    with pytest.raises(TypeError, match="2-D int8"):
        pack_int8(np.ones((8, 4), np.float32))
    with pytest.raises(ValueError, match="does not match a weight with 8 input rows"):
        linear_int8(np.ones((2, 9), np.float32), w, np.ones(1, np.float32))
    with pytest.raises(ValueError, match="w_scale has 3 entries"):
        linear_int8(np.ones((2, 8), np.float32), w, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="activations have 5 columns"):
        gemm_int32(np.ones((2, 5), np.uint8), w)
    with pytest.raises(ValueError, match="unknown kernel path 'sse9'"):
        simd.resolve_path("sse9")


def test_unavailable_path_is_refused(monkeypatch):
    monkeypatch.setattr(simd, "host_features", lambda: frozenset({"avx2"}))
    assert simd.available_paths() == ["avx2", "portable"]
    with pytest.raises(ValueError, match="avx512_vnni.*lacks.*avx2, portable"):
        simd.resolve_path("avx512_vnni")
    monkeypatch.setenv(simd.PATH_ENV, "portable")
    assert simd.default_path() == "portable"


@pytest.mark.parametrize("bits", range(1, 9))
def test_bit_packing_round_trip(bits):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 1 << bits, 1001).astype(np.uint8)
    stream = pack_codes(codes, bits)
    assert stream.size == packed_size(1001, bits) == -(-1001 * bits // 8)
    np.testing.assert_array_equal(unpack_codes(stream, bits, 1001), codes)


def test_bit_packing_layout_and_errors():
    assert pack_codes(np.array([1, 2, 3, 15], np.uint8), 4).tolist() == [0x21, 0xF3]  # low nibble first
    assert pack_codes(np.array([1, 0, 1, 1, 0, 0, 0, 0, 1], np.uint8), 1).tolist() == [0b1101, 1]
    assert pack_codes(np.array([7, 1, 2], np.uint8), 3).tolist() == [0b10001111, 0]  # 7 | 1<<3 | 2<<6
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 7\]"):
        pack_codes(np.array([8], np.uint8), 3)
    with pytest.raises(ValueError, match="bits must be an integer from 1 to 8"):
        pack_codes(np.array([0], np.uint8), 9)
    with pytest.raises(ValueError, match="fewer than 9 codes"):
        unpack_codes(np.zeros(1, np.uint8), 1, 9)


def test_results_do_not_depend_on_the_thread_count():
    """Panels are split across numba threads (prange); each output element is computed by one
    thread in a fixed order, so any thread count gives the same bits."""
    import numba

    from bertq.kernels.codebook import linear_codebook_a8, pack_codebook

    rng = np.random.default_rng(5)
    x = rng.standard_normal((37, 200)).astype(np.float32)
    w = pack_int8(rng.integers(-127, 128, (200, 150), dtype=np.int8))
    cb = pack_codebook(
        rng.integers(0, 8, (200, 150)).astype(np.uint8), rng.standard_normal((1, 8)).astype(np.float32), 3
    )
    scale = np.full(150, 0.02, np.float32)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = linear_int8(x, w, scale), linear_codebook_a8(x, cb)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        many = linear_int8(x, w, scale), linear_codebook_a8(x, cb)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_array_equal(one[1], many[1])
