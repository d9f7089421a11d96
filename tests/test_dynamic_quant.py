"""Dynamic int8 and TM-IQR (El-Kurdi et al., 2022): the math against an independent transcription
of eqs. 1-2 and Algorithm 2 (numpy, sorting), the signed kernels against exact integer sums on
every instruction path this CPU runs, and the engine against its torch twin, bit for bit, with a
sequence's result independent of its batch and padding."""

import copy

import numpy as np
import pytest
import torch

from bertq.engine.dynamic import apply_tm_iqr
from bertq.engine.model import quantize_modules
from bertq.kernels import int8_gemm, simd
from bertq.kernels.codebook import linear_codebook_a8, pack_codebook
from bertq.models.encoder import BertClassifier, EncoderConfig
from bertq.quantization.dynamic import (
    DynamicConfig,
    fake_quantize,
    quartiles,
    row_scales,
    sequence_ranges,
    tm_iqr_threshold,
    token_maxima,
)
from bertq.quantization.model import quantize_state

PATHS = simd.available_paths()


def algorithm2(a: np.ndarray, iqr_scale: float = 1.5) -> tuple[float, np.ndarray]:
    """Algorithm 2 as printed, for one ``(L, H)`` activation: token maxima, sort, quartiles
    (numpy's default linear interpolation), ``t``, clamp. Returns ``(t, clamped A)``."""
    m = np.sort(np.abs(a.astype(np.float64)).max(axis=1))
    q1, q3 = np.percentile(m, 25), np.percentile(m, 75)
    t = q3 + iqr_scale * (q3 - q1)
    t32 = np.float32(t)
    return t, np.minimum(np.maximum(a, -t32), t32)


def eq2(a: np.ndarray, bits: int = 8) -> tuple[np.ndarray, np.float32]:
    """Eqs. 1-2 for one tensor: ``QS = max |A|``, codes ``rint((2^b/2 - 1) / QS * A)`` in float32."""
    qs = np.float32(np.abs(a).max())
    levels = np.float32(2 ** (bits - 1) - 1)
    return np.clip(np.rint(a * (levels / qs)), -levels, levels), qs / levels


def _heavy_tailed(rng, shape):
    x = rng.standard_t(1.5, size=shape).astype(np.float32)
    x[rng.integers(0, shape[0], 2), rng.integers(0, shape[1], 2)] = 60.0  # a few outlier tokens
    return x


@pytest.mark.parametrize("channels", [1, 15, 16, 37, 768])
def test_token_maxima_are_max_abs_on_every_route(channels):
    rng = np.random.default_rng(channels)
    x = _heavy_tailed(rng, (9, channels)) if channels > 1 else rng.standard_normal((9, 1)).astype(np.float32)
    x[1] = 0.0  # an all-zero token
    x[2] = -np.abs(x[2]) - 1  # an all-negative one
    expected = np.abs(x).max(axis=1)
    t = torch.from_numpy(x)
    np.testing.assert_array_equal(token_maxima(t).numpy(), expected)  # the vectorised CPU pass
    np.testing.assert_array_equal(token_maxima(t.T.contiguous().T).numpy(), expected)  # strided: torch
    np.testing.assert_array_equal(token_maxima(t.double()).numpy(), expected)


@pytest.mark.parametrize("kind", ["normal", "heavy"])
@pytest.mark.parametrize("tokens", [1, 2, 3, 4, 7, 64])
def test_tm_iqr_matches_algorithm_2(kind, tokens):
    rng = np.random.default_rng(tokens)
    a = rng.standard_normal((tokens, 48)).astype(np.float32) if kind == "normal" else _heavy_tailed(rng, (tokens, 48))
    t_ref, clamped = algorithm2(a)
    t = tm_iqr_threshold(torch.from_numpy(a).abs().amax(-1))
    assert float(t) == pytest.approx(t_ref, rel=1e-12, abs=0)
    qs = sequence_ranges(torch.from_numpy(a)[None], None, 1.5)
    assert qs.dtype == torch.float32 and float(qs[0]) == np.abs(clamped).max()
    codes_ref, scale_ref = eq2(clamped)
    ours = fake_quantize(torch.from_numpy(a)[None], 8, None, 1.5)[0].numpy()
    np.testing.assert_array_equal(ours, codes_ref * scale_ref)  # the clamped tensor, quantized


def test_quartiles_are_type_7():
    values = torch.tensor([7.0, 1.0, 3.0, 10.0, 2.0])
    q1, q3 = quartiles(values)
    assert (float(q1), float(q3)) == (2.0, 7.0)  # sorted 1 2 3 7 10: positions 1 and 3 exactly
    q1, q3 = quartiles(torch.tensor([4.0, 1.0, 2.0, 3.0]))
    assert (float(q1), float(q3)) == (1.75, 3.25)  # h = 0.75 and 2.25
    assert float(tm_iqr_threshold(torch.tensor([4.0, 1.0, 2.0, 3.0]))) == 3.25 + 1.5 * 1.5


def test_tm_iqr_leaves_75_percent_of_token_maxima_unclipped():
    """The paper's guarantee: t >= q3, so at least 75% of the token maxima are below it."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = _heavy_tailed(rng, (int(rng.integers(4, 40)), 16))
        t, _ = algorithm2(a)
        m = np.abs(a).max(axis=1)
        assert (m <= t).mean() >= 0.75
        assert float(tm_iqr_threshold(torch.from_numpy(m))) == pytest.approx(t, rel=1e-12, abs=0)


@pytest.mark.parametrize("bits", [8, 6, 4])
def test_i8_is_eqs_1_and_2_per_sequence_over_real_tokens(bits):
    rng = np.random.default_rng(bits)
    x = rng.standard_normal((3, 10, 32)).astype(np.float32)
    mask = np.ones((3, 10), bool)
    mask[1, 6:] = False
    mask[2, 2:] = False
    x[~mask] = 1e4  # padding holds garbage: it must not set any sequence's scale
    ours = fake_quantize(torch.from_numpy(x), bits, torch.from_numpy(mask)).numpy()
    for b in range(3):
        real = x[b][mask[b]]
        codes, scale = eq2(real, bits)
        np.testing.assert_array_equal(ours[b][mask[b]], codes * scale)
    qs = sequence_ranges(torch.from_numpy(x), torch.from_numpy(mask)).numpy()
    np.testing.assert_array_equal(qs, [np.abs(x[b][mask[b]]).max() for b in range(3)])


def test_two_dimensional_inputs_are_one_sequence_per_row():
    x = torch.tensor([[1.0, -4.0], [0.5, 0.25], [0.0, 0.0]])
    qs = sequence_ranges(x, None)
    assert qs.tolist() == [4.0, 0.5, 0.0]
    scale, inv = row_scales(x, qs, 127)
    assert scale[2] == 1 and inv[2] == 1  # an all-zero row quantizes to zeros, not NaN
    assert torch.equal(fake_quantize(x)[2], x[2])


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", [(1, 384, 384), (13, 100, 37), (40, 1536, 96), (7, 3, 5)])
def test_signed_kernels_are_exact(path, shape):
    m, k, n = shape
    rng = np.random.default_rng(m * k + n)
    w = rng.integers(-127, 128, (k, n)).astype(np.int8)
    w[0, 0], w[-1, -1] = -127, 127
    x = (rng.standard_normal((m, k)) * 3).astype(np.float32)
    qs = np.abs(x).max(axis=1).astype(np.float32)
    scale, inv = qs / np.float32(127), np.float32(127) / qs
    packed = int8_gemm.pack_int8(w, path)
    a = int8_gemm.quantize_activations_symmetric(x, scale, inv, 127, packed.k_padded)
    w_scale, bias = rng.random(n).astype(np.float32), rng.random(n).astype(np.float32)
    y = int8_gemm.linear_int8(a, packed, w_scale, bias)
    native = int8_gemm.wide_code_dtype(path)  # int16 on the vpmaddubsw paths
    a_native = int8_gemm.quantize_activations_symmetric(x, scale, inv, 127, packed.k_padded, native)
    np.testing.assert_array_equal(a_native.codes, a.codes)
    np.testing.assert_array_equal(int8_gemm.linear_int8(a_native, packed, w_scale, bias), y)
    q = np.clip(np.rint(x * inv[:, None]), -127, 127).astype(np.int64)
    assert np.abs(q).max() == 127
    expected = (q @ w.astype(np.int64)).astype(np.float32) * (scale[:, None] * w_scale[None]) + bias
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("path", PATHS)
def test_signed_activations_take_any_int8_weight(path):
    w = np.full((8, 4), -128, np.int8)
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)
    one = np.ones(2, np.float32)
    packed = int8_gemm.pack_int8(w, path)
    a = int8_gemm.quantize_activations_symmetric(x * 127, one, one, 127, packed.k_padded)
    expected = np.rint(x * 127).astype(np.int64) @ w.astype(np.int64)
    np.testing.assert_array_equal(int8_gemm.linear_int8(a, packed, np.ones(4, np.float32)), expected)


def test_signed_activations_refuse_what_they_cannot_do_exactly():
    one = np.ones(2, np.float32)
    a = int8_gemm.quantize_activations_symmetric(np.ones((2, 8), np.float32), one, one, 127, 8)
    cb = pack_codebook(np.zeros((8, 4), np.uint8), np.linspace(-1, 1, 16, dtype=np.float32)[None], 4)
    with pytest.raises(ValueError, match="unsigned 7-bit"):
        linear_codebook_a8(a, cb)


def test_config_checks_name_the_key():
    DynamicConfig.from_dict({"tm_iqr": {}}).check()
    assert DynamicConfig.from_dict({"tm_iqr": {}}).tm_iqr.sites == ("*.ffn.intermediate",)
    for bad, key in [
        ({"bits": 9}, "dyn.bits"),
        ({"tm_iqr": {"scale": -1}}, "dyn.tm_iqr.scale"),
        ({"tm_iqr": {"sites": ["*.ffn.nowhere"]}}, r"dyn.tm_iqr.sites\[0\]"),
        ({"clip": 1}, "unknown key"),
    ]:
        with pytest.raises(ValueError, match=key):
            DynamicConfig.from_dict(bad).check("dyn")
    with pytest.raises(ValueError, match="unknown key"):
        DynamicConfig.from_dict({"tm_iqr": {"iqr": 2}})


def _tiny(seed=0, split=False):
    torch.manual_seed(seed)
    c = EncoderConfig(
        vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, num_labels=3
    )
    model = BertClassifier(c).eval()
    with torch.no_grad():  # an outlier channel in every FFN output, as in BERT
        for layer in model.bert.encoder.layer:
            layer.output.dense.bias[5] = 12.0
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    method, params = ("ocs", {"expand_ratio": 0.05}) if split else ("lq", None)
    return model, quantize_state(state, method, 8, params, scope="all")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("tm_iqr", [False, True])
def test_engine_equals_twin_and_ignores_batch_and_padding(path, tm_iqr):
    model, qm = _tiny(1, split=path == PATHS[-1])
    config = DynamicConfig.from_dict({"tm_iqr": {}} if tm_iqr else {})
    engine = quantize_modules(copy.deepcopy(model), qm, "i8", path=path)
    twin = quantize_modules(copy.deepcopy(model), qm, "i8_twin")
    clipped = apply_tm_iqr(engine, config)
    assert clipped == apply_tm_iqr(twin, config)
    assert clipped == (["bert.encoder.layer.0.output.dense", "bert.encoder.layer.1.output.dense"] if tm_iqr else [])
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(0, 300, (32, 20), generator=g)
    lengths = torch.randint(3, 21, (32,), generator=g)
    mask = (torch.arange(20)[None] < lengths[:, None]).long()
    ids = torch.where(mask.bool(), ids, torch.zeros_like(ids))
    with torch.no_grad():
        y_engine, y_twin, y_float = engine(ids, mask), twin(ids, mask), model(ids, mask)
        singles = torch.cat([engine(ids[i : i + 1, : lengths[i]]) for i in range(32)])
    assert torch.equal(y_engine, y_twin)
    # batch of 32 with padding = one at a time, unpadded: the same predictions, and logits equal
    # but for torch's float ops (LayerNorm, softmax) summing in another order on other shapes
    assert torch.equal(y_engine.argmax(-1), singles.argmax(-1))
    assert (y_engine - singles).abs().max() < 1e-3
    assert 1e-3 < (y_engine - y_float).abs().max() < 0.5


def test_tm_iqr_changes_only_the_clipped_linears():
    model, qm = _tiny(4)
    clipped = quantize_modules(copy.deepcopy(model), qm, "i8_twin")
    apply_tm_iqr(clipped, DynamicConfig.from_dict({"tm_iqr": {"sites": ["layer-1.ffn.intermediate"]}}))
    iqr = {n: m.iqr_scale for n, m in clipped.named_modules() if hasattr(m, "iqr_scale")}
    assert iqr.pop("bert.encoder.layer.1.output.dense") == 1.5
    assert set(iqr.values()) == {None}


# --- static W8A8 on the engine (Bondarenko et al., 2021, with calibrated per-tensor ranges) ------


def _calibrated(seed=5, peg=False):
    from bertq.models.encoder import build_inference_model
    from bertq.quantization.activation import ActivationConfig, apply_ranges, calibrate

    model, qm = _tiny(seed)
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    fake = build_inference_model(model.config, qm.dequantized_state(state))
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(3):
        ids = torch.randint(0, 300, (4, 12), generator=g)
        mask = torch.ones_like(ids)
        mask[0, 7:] = 0
        batches.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)})
    settings = {"estimator": "running_minmax", "batch_size": 4, "batches": 3}
    if peg:
        settings["peg"] = {"groups": 4}
    ranges = calibrate(fake, batches, ActivationConfig.from_dict(settings))
    return apply_ranges(fake, ranges), qm, ranges


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("peg", [False, True])
def test_static_w8a8_on_the_engine_equals_its_twin_and_fake_quant(path, peg):
    from bertq.engine.model import static_linears, static_products

    fake, qm, ranges = _calibrated(peg=peg)
    engine, twin = copy.deepcopy(fake), copy.deepcopy(fake)
    on_kernels = static_linears(engine, qm, ranges, "engine", path)
    assert on_kernels == static_linears(twin, qm, ranges, "twin")
    products = static_products(engine, ranges, "engine")
    assert products == static_products(twin, ranges, "twin")
    assert products == [
        f"bert.encoder.layer.{i}.attention.self.{p}_product" for i in range(2) for p in ("scores", "context")
    ]
    ffn_input = {f"bert.encoder.layer.{i}.intermediate.dense" for i in range(2)}  # reads attention.norm
    expected = {n for n, m in fake.named_modules() if isinstance(m, torch.nn.Linear)} - (ffn_input if peg else set())
    assert set(on_kernels) == expected  # PEG's per-group FFN input has no single grid: it stays fake
    ids = torch.randint(0, 300, (6, 12), generator=torch.Generator().manual_seed(9))
    mask = torch.ones_like(ids)
    mask[2, 5:] = 0
    with torch.no_grad():
        y_engine, y_twin, y_fake = engine(ids, mask), twin(ids, mask), fake(ids, mask)
    assert torch.equal(y_engine, y_twin)
    # the integer GEMMs are the fake-quant result up to float32 summation order
    assert (y_engine - y_fake).abs().max() < 1e-3 * max(1.0, y_fake.abs().max())


def test_attention_products_run_only_where_both_operands_have_grids():
    from bertq.engine.model import static_products

    fake, _, ranges = _calibrated()
    del ranges["layer1.attention.probs"]
    assert static_products(copy.deepcopy(fake), ranges) == [
        "bert.encoder.layer.0.attention.self.scores_product",
        "bert.encoder.layer.0.attention.self.context_product",
        "bert.encoder.layer.1.attention.self.scores_product",
    ]


@pytest.mark.parametrize("shape", [(3, 5, 7, 4), (24, 128, 64, 128), (2, 1, 1, 1)])
def test_batched_integer_product_is_exact(shape):
    from bertq.kernels.int_bmm import batched_product

    b, m, k, n = shape
    rng = np.random.default_rng(k)
    a = rng.integers(-255, 256, (b, m, k)).astype(np.int16)
    c = rng.integers(-255, 256, (b, k, n)).astype(np.int16)
    np.testing.assert_array_equal(batched_product(a, c), a.astype(np.int64) @ c.astype(np.int64))
    with pytest.raises(ValueError, match="do not multiply"):
        batched_product(a, np.concatenate([c, c], axis=1))
