"""Codebook weights (:class:`CodebookTensor`) and the lookup-table kernels against brute force:
gathered levels and int64 matmuls, on every instruction path this CPU runs."""

import numba
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bertq.kernels import codebook as kernels
from bertq.kernels import simd
from bertq.kernels.codebook import GEMV_MAX_ROWS, linear_codebook_a8, linear_codebook_f32, linear_codebook_gemv
from bertq.kernels.int8_gemm import quantize_rows
from bertq.kernels.packing import pack_codes, unpack_codes
from bertq.quantization.methods import quantize_weight
from bertq.quantization.tensor import CodebookTensor

PATHS = simd.available_paths()


def _random_weight(rng, k, n, bits, groups):
    codes = rng.integers(0, 1 << bits, (k, n)).astype(np.uint8)
    codebook = rng.standard_normal((groups, 1 << bits)).astype(np.float32)
    return CodebookTensor(codes, codebook, bits)


def pack_codebook(w: CodebookTensor, path=None):
    return kernels.pack_codebook(w.codes, w.codebook, w.bits, path)


def _a8_reference(x, w: CodebookTensor, bias):
    """The int8 codebook gathered per element, 7-bit activations, int64 sums, the float32 epilogue."""
    levels, level_scale = w.int8_levels()
    k, n = w.codes.shape
    col_levels = np.repeat(levels, w.group_size, axis=0)
    wi = col_levels[np.arange(n)[None, :], w.codes].astype(np.int64)
    q, s, z = quantize_rows(x, k)
    acc = q.astype(np.int64) @ wi - z[:, None].astype(np.int64) * wi.sum(axis=0)
    ws = np.repeat(level_scale, w.group_size)
    y = acc.astype(np.float32) * (s[:, None] * ws[None, :])
    return y + bias if bias is not None else y


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "bits,groups,m,k,n",
    [
        (4, 1, 1, 100, 70),
        (4, 1, 5, 768, 96),
        (4, 2, 3, 64, 64),
        (3, 70, 9, 100, 70),
        (2, 7, 20, 130, 70),
        (8, 1, 16, 64, 33),
        (1, 1, 3, 40, 32),
        (5, 4, 33, 65, 48),
        (4, 1, 40, 257, 33),
    ],
)
def test_a8_kernels_are_exact(path, bits, groups, m, k, n):
    rng = np.random.default_rng(bits * 100 + m)
    w = _random_weight(rng, k, n, bits, groups)
    packed = pack_codebook(w, path)
    x = (rng.standard_normal((m, k)) * 2).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    np.testing.assert_array_equal(linear_codebook_a8(x, packed, bias), _a8_reference(x, w, bias))
    np.testing.assert_array_equal(
        packed.to_int8().unpack(), np.repeat(w.int8_levels()[0], w.group_size, 0)[np.arange(n)[None, :], w.codes]
    )


@settings(max_examples=40, deadline=None)
@given(
    bits=st.integers(1, 8),
    m=st.integers(1, 24),
    k=st.integers(1, 150),
    n_groups=st.sampled_from([1, 2, 3]),
    group=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    path=st.sampled_from(PATHS),
)
def test_a8_property(bits, m, k, n_groups, group, seed, path):
    rng = np.random.default_rng(seed)
    w = _random_weight(rng, k, n_groups * group, bits, n_groups)
    x = rng.standard_normal((m, k)).astype(np.float32)
    np.testing.assert_array_equal(linear_codebook_a8(x, pack_codebook(w, path)), _a8_reference(x, w, None))


@pytest.mark.parametrize("path", [p for p in PATHS if p != "portable"])
@pytest.mark.parametrize("m", [1, 2, 3, 5, 8])
def test_gemv_decodes_nibbles_in_registers(path, m):
    rng = np.random.default_rng(m)
    w = _random_weight(rng, 300, 100, 4, 1)
    packed = pack_codebook(w, path)
    assert packed.nibbles is not None and m <= GEMV_MAX_ROWS
    x = rng.standard_normal((m, 300)).astype(np.float32)
    expected = _a8_reference(x, w, None)
    np.testing.assert_array_equal(linear_codebook_gemv(x, packed), expected)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # one call: quantization and the serial kernel fused
    try:
        np.testing.assert_array_equal(linear_codebook_gemv(x, packed), expected)
        np.testing.assert_array_equal(linear_codebook_a8(x, packed), expected)
    finally:
        numba.set_num_threads(threads)


def test_gemv_needs_one_table_per_panel_and_simd():
    rng = np.random.default_rng(0)
    per_channel = pack_codebook(_random_weight(rng, 16, 64, 4, 64), PATHS[0])
    assert per_channel.nibbles is None
    with pytest.raises(ValueError, match="one codebook per panel"):
        linear_codebook_gemv(np.ones((1, 16), np.float32), per_channel)
    assert pack_codebook(_random_weight(rng, 16, 64, 4, 1), "portable").nibbles is None
    assert pack_codebook(_random_weight(rng, 16, 64, 5, 1), PATHS[0]).nibbles is None


@pytest.mark.parametrize("bits,groups", [(4, 1), (3, 5), (8, 1)])
def test_weight_only_f32_kernel(bits, groups):
    rng = np.random.default_rng(bits)
    w = _random_weight(rng, 130, 45, bits, groups)
    x = rng.standard_normal((17, 130)).astype(np.float32)
    bias = rng.standard_normal(45).astype(np.float32)
    y = linear_codebook_f32(x, pack_codebook(w), bias)
    expected = x.astype(np.float64) @ w.dequantize().astype(np.float64) + bias
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("method,bits", [("lq", 4), ("aciq", 3), ("ocs", 6)])
def test_linear_grids_are_codebooks_with_exact_int8_levels(method, bits):
    rng = np.random.default_rng(bits)
    qt = quantize_weight(method, rng.normal(0, 0.05, (300, 40)), bits)
    w = qt.as_codebook()
    assert w.granularity == "tensor" and w.codebook.shape == (1, 1 << bits)
    np.testing.assert_allclose(w.dequantize_expanded(), qt.dequantize_expanded(), rtol=1e-6)
    np.testing.assert_allclose(w.dequantize(), qt.dequantize(), rtol=1e-6)  # OCS rows folded back alike
    assert (w.n_split, w.in_channels, w.numel) == (qt.n_split, qt.in_channels, qt.numel)
    np.testing.assert_array_equal(w.int8_form()[0], qt.int8_form()[0])
    levels, scale = w.int8_levels()
    assert scale[0] == pytest.approx(qt.scale, rel=1e-6)
    np.testing.assert_array_equal(levels[0][w.codes], qt.codes)  # levels are the integer grid itself


def test_int8_levels_of_an_arbitrary_codebook():
    codebook = np.array([[-0.3137, -0.0213, 0.0571, 0.4]], np.float32)  # on no integer grid
    w = CodebookTensor(np.zeros((2, 2), np.uint8), codebook, 2)
    levels, scale = w.int8_levels()
    assert scale[0] == pytest.approx(0.4 / 127)
    assert np.abs(levels[0] * scale[0] - codebook[0]).max() <= scale[0] / 2 + 1e-7
    assert levels[0, 3] == 127


def test_packed_codes_round_trip_and_validation():
    rng = np.random.default_rng(0)
    w = _random_weight(rng, 13, 6, 3, 3)
    stream = pack_codes(w.codes, 3)
    np.testing.assert_array_equal(unpack_codes(stream, 3, w.codes.size).reshape(13, 6), w.codes)
    assert stream.size == -(-13 * 6 * 3 // 8)
    with pytest.raises(ValueError, match="do not divide 6 output channels"):
        CodebookTensor(w.codes, np.zeros((4, 8), np.float32), 3)
    with pytest.raises(ValueError, match=r"shape \(groups, 8\)"):
        CodebookTensor(w.codes, np.zeros((1, 4), np.float32), 3)
    with pytest.raises(ValueError, match="exceeds 2 bits"):
        CodebookTensor(np.full((2, 2), 5, np.uint8), np.zeros((1, 4), np.float32), 2)
    with pytest.raises(ValueError, match="exceeds 2 bits"):  # the kernels check the arrays they are given
        kernels.pack_codebook(np.full((2, 2), 5, np.uint8), np.zeros((1, 4), np.float32), 2)
    with pytest.raises(ValueError, match="does not match a weight with 13 input rows"):
        linear_codebook_a8(np.ones((1, 12), np.float32), pack_codebook(w))


@pytest.mark.parametrize("method,bits", [("lq", 4), ("ocs", 4), ("aciq", 8)])
def test_codebook_engine_equals_the_int8_engine(method, bits):
    from bertq.engine.linear import CodebookLinear, IntegerLinear

    rng = np.random.default_rng(bits)
    linear = torch.nn.Linear(256, 48)
    qt = quantize_weight(method, rng.normal(0, 0.05, (256, 48)), bits)
    for m in (1, 3, 40):  # the in-register GEMV and the panel-decoding GEMM
        x = torch.from_numpy(rng.standard_normal((m, 256)).astype(np.float32))
        with torch.no_grad():
            torch.testing.assert_close(
                CodebookLinear.from_float(linear, qt)(x), IntegerLinear.from_float(linear, qt)(x), rtol=0, atol=0
            )
