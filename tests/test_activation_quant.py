"""Activation quantization (Bondarenko et al., 2021, sections 2 and 4, Appendix B.2): range
estimators, the asymmetric grid (eqs. 1-2), per-embedding-group ranges (eq. 5), calibration over
real tokens, batch invariance, the training-split-only calibrate job and config errors. Every
reference is computed here in plain numpy, not by the code under test."""

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from bertq.data.tokenized import TokenizedSplit, save_tokenized
from bertq.models.encoder import BertClassifier, EncoderConfig
from bertq.models.sites import site_modules
from bertq.quantization.activation import (
    ActivationConfig,
    PegConfig,
    SiteRange,
    apply_ranges,
    calibrate,
    real_rows,
)
from bertq.quantization.affine import quantize_range
from bertq.quantization.calibration import run_calibrate
from bertq.quantization.estimators import make_estimator, peg_groups

CONFIG = EncoderConfig(
    vocab_size=50,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=40,
    num_labels=3,
)
PAD = 0


# ----------------------------------------------------------------------------- numpy references


def np_grid(lo, hi, bits, dtype=np.float32):
    """Eqs. 1-2 with the authors' widening to contain 0: ``(scale, zero)``."""
    lo = np.minimum(np.asarray(lo, dtype), dtype(0))
    hi = np.maximum(np.asarray(hi, dtype), dtype(1e-8))
    qmax = dtype(2**bits - 1)
    scale = np.maximum((hi - lo) / qmax, dtype(1e-8))
    zero = np.clip(np.round(-lo / scale), 0, qmax)
    return scale, zero


def np_fake_quant(x, lo, hi, bits, dtype=np.float32):
    """``s * (clip(round(x / s) + z, 0, 2**b - 1) - z)`` (eqs. 1-2), numpy, in ``dtype``."""
    x = np.asarray(x, dtype)
    scale, zero = np_grid(lo, hi, bits, dtype)
    codes = np.clip(np.round(x / scale) + zero, 0, dtype(2**bits - 1))
    return (codes - zero) * scale


def sq_error(x, lo, hi, bits):
    """Exact squared error (summed in float64) of quantizing float32 ``x`` on the grid over
    ``[lo, hi]`` as the deployed quantizer does: range stored as float32, grid in float32. (The
    authors' symmetric candidates put ``-lo / s`` exactly on a rounding tie, so the zero point of
    a candidate is only defined once its range is rounded to what the quantizer stores.)"""
    x = np.asarray(x, np.float32)
    q = np_fake_quant(x, np.float32(lo), np.float32(hi), bits, np.float32)
    return float(((x.astype(np.float64) - q.astype(np.float64)) ** 2).sum())


def authors_candidates(data, bits, candidates=100, margin=0.5):
    """The candidate ranges of the authors' ``MSE_Estimator`` grid search (Qualcomm's
    transformer-quantization, ``_define_search_range``, ``_perform_1D_search``,
    ``_perform_2D_search``), written out from their code."""
    data = np.asarray(data, np.float64)
    out = []
    if data.min() >= 0:  # one-sided: [0, step * i]
        max_pos = max(abs(data.min()), data.max()) + margin
        step = max_pos / candidates
        for i in range(1, candidates + 1):
            out.append((0.0, step * i))
        return out
    max_pos, max_neg = data.max() + margin, data.min() - margin
    step = max(abs(max_pos), abs(max_neg)) / candidates
    for i in range(1, candidates + 1):
        start, finish = -step * i, step * i
        delta = (finish - start) / (2**bits - 1)
        for shift in range((2**bits) // 4):
            for reverse in range(2):
                skew = (-1) ** reverse * shift * delta
                out.append((max(start + skew, max_neg), min(finish + skew, max_pos)))
    return out


# ----------------------------------------------------------------------------- tiny model helpers


def tiny_model(seed=0, pad_spike=None):
    torch.manual_seed(seed)
    model = BertClassifier(CONFIG).eval()
    if pad_spike is not None:
        # The padding token's embedding is huge along channel 0, and layer 0's keys read channel 0
        # twenty times louder: padded positions, and the scores of padded keys, fall far outside
        # the real tokens' ranges, so counting them in would show.
        with torch.no_grad():
            model.bert.embeddings.word_embeddings.weight[PAD] = 0.0
            model.bert.embeddings.word_embeddings.weight[PAD, 0] = pad_spike
            model.bert.encoder.layer[0].attention.self.key.weight[:, 0] *= 20
    return model


def sequences(n, seed, lo=3, hi=12):
    rng = np.random.default_rng(seed)
    return [rng.integers(1, CONFIG.vocab_size, size=int(rng.integers(lo, hi))) for _ in range(n)]


def padded(seqs, width=None, pad=PAD):
    width = width or max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), pad, np.int64)
    mask = np.zeros((len(seqs), width), np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], mask[i, : len(s)] = s, 1
    types = np.zeros_like(ids)
    types[:, 2:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types * mask}


def capture(model, batches, sites=None):
    """Every site's (or ``sites``') fp32 output per batch: ``{site: [array per batch]}`` (sites left
    as identities). A hook on the attention scores or probabilities makes the encoder run attention
    as three explicit steps rather than fused, which may move values in the last bit: to compare
    exactly with a pass that observes only some sites, observe the same ones."""
    chosen = {n: m for n, m in site_modules(model).items() if sites is None or n in sites}
    seen = {n: [] for n in chosen}
    handles = []
    for name, (_, module) in chosen.items():
        handles.append(module.register_forward_hook(lambda m, i, o, name=name: seen[name].append(o.detach().numpy())))
    with torch.no_grad():
        for b in batches:
            model(*(torch.as_tensor(b[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))
    for h in handles:
        h.remove()
    return seen


def np_real_values(x, mask):
    """Values of ``x`` at real tokens, written out by hand per layout, as rows ``(n, channels)``."""
    mask = np.asarray(mask, bool)
    if x.ndim == 3:  # (batch, tokens, channels)
        return np.concatenate([x[b, mask[b]] for b in range(len(x))])
    if x.ndim == 4:  # (batch, heads, queries, keys): real query and real key
        return np.concatenate([x[b][:, mask[b]][:, :, mask[b]].reshape(-1, 1) for b in range(len(x))])
    return x.reshape(-1, x.shape[-1])


# ----------------------------------------------------------------------------- 1. current min-max


def test_current_minmax_is_the_last_batch_min_and_max():
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((int(rng.integers(5, 40)), 12)).astype(np.float32) * (i + 1) for i in range(4)]
    est = make_estimator("current_minmax", 8)
    for b in batches:
        lo, hi = est.update(torch.from_numpy(b))
        assert float(lo[0]) == b.min() and float(hi[0]) == b.max()
    lo, hi = est.result()
    assert lo.tolist() == [batches[-1].min()] and hi.tolist() == [batches[-1].max()]


@pytest.mark.parametrize("groups", [1, 3, 4, 12])
def test_current_minmax_per_group(groups):
    rng = np.random.default_rng(groups)
    scales = rng.uniform(0.1, 20, size=12).astype(np.float32)
    batches = [rng.standard_normal((30, 12)).astype(np.float32) * scales for _ in range(3)]
    est = make_estimator("current_minmax", 8, peg_groups(12, groups), groups)
    for b in batches:
        est.update(torch.from_numpy(b))
    lo, hi = est.result()
    size = 12 // groups
    last = batches[-1]
    expect_lo = [last[:, g * size : (g + 1) * size].min() for g in range(groups)]
    expect_hi = [last[:, g * size : (g + 1) * size].max() for g in range(groups)]
    np.testing.assert_array_equal(lo.numpy(), expect_lo)
    np.testing.assert_array_equal(hi.numpy(), expect_hi)


def test_peg_groups_permuted_are_contiguous_in_sorted_range_order():
    rng = np.random.default_rng(3)
    ranges = rng.uniform(0, 10, size=24)
    order = np.argsort(ranges, kind="stable")
    expect = np.empty(24, np.int64)
    expect[order] = np.arange(24) // 6  # the j-th narrowest channel is in group j // 6
    np.testing.assert_array_equal(peg_groups(24, 4, torch.from_numpy(ranges)).numpy(), expect)
    np.testing.assert_array_equal(peg_groups(24, 4).numpy(), np.arange(24) // 6)
    assert set(expect[np.argsort(ranges)[-6:]]) == {3}  # the widest share the last group


# ----------------------------------------------------------------------------- 2. running min-max


@pytest.mark.parametrize("groups", [None, 4])
def test_running_minmax_is_the_exponential_average(groups):
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((20, 8)) * rng.uniform(0.5, 5)).astype(np.float32) for _ in range(5)]
    index = None if groups is None else peg_groups(8, groups)
    est = make_estimator("running_minmax", 8, index, groups or 1)
    for b in batches:
        est.update(torch.from_numpy(b))
    lo, hi = est.result()

    def mins(b):
        return np.array([b.min()]) if groups is None else b.reshape(len(b), groups, -1).min(axis=(0, 2))

    def maxs(b):
        return np.array([b.max()]) if groups is None else b.reshape(len(b), groups, -1).max(axis=(0, 2))

    ref_lo, ref_hi = mins(batches[0]).astype(np.float64), maxs(batches[0]).astype(np.float64)
    for b in batches[1:]:
        ref_lo = 0.9 * ref_lo + 0.1 * mins(b)
        ref_hi = 0.9 * ref_hi + 0.1 * maxs(b)
    np.testing.assert_allclose(lo.numpy(), ref_lo, rtol=1e-6)
    np.testing.assert_allclose(hi.numpy(), ref_hi, rtol=1e-6)
    # and it is not the last batch's nor the overall min-max
    assert abs(float(hi[0]) - maxs(batches[-1])[0]) > 1e-3


# ----------------------------------------------------------------------------- 3. MSE


def heavy_tailed(kind, rng, n):
    if kind == "student_t":
        return rng.standard_t(3, size=n)
    if kind == "laplace_outliers":
        x = rng.laplace(size=n)
        x[rng.choice(n, 5, replace=False)] = rng.choice([-40.0, 60.0], size=5)
        return x
    if kind == "one_sided":  # a GELU/softmax-like nonnegative activation with a long tail
        return np.abs(rng.standard_t(3, size=n))
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["student_t", "laplace_outliers", "one_sided"])
@pytest.mark.parametrize("bits", [8, 4])
def test_mse_is_no_worse_than_minmax_on_heavy_tails(kind, bits):
    rng = np.random.default_rng(bits)
    batches = [heavy_tailed(kind, rng, 3000).astype(np.float32).reshape(-1, 6) for _ in range(4)]
    est = make_estimator("mse", bits)
    for b in batches:
        est.update(torch.from_numpy(b))
    lo, hi = (float(v[0]) for v in est.result())
    data = np.concatenate([b.ravel() for b in batches])
    err_mse = sq_error(data, lo, hi, bits)
    err_minmax = sq_error(data, data.min(), data.max(), bits)
    assert err_mse <= err_minmax * (1 + 1e-9)
    if bits == 4 and kind != "laplace_outliers":  # 4 bits on t(3) tails: clipping pays, by far
        assert err_mse < 0.6 * err_minmax
        assert hi - lo < 0.7 * (data.max() - data.min())


@pytest.mark.parametrize(
    "kind,bits",
    [
        ("student_t", 8),
        ("laplace_outliers", 8),
        ("one_sided", 8),
        ("student_t", 4),  # candidates on a .5 zero-point tie: scored as they are applied
        ("laplace_outliers", 4),
        ("one_sided", 4),
    ],
)
def test_mse_matches_a_brute_force_search_over_the_authors_candidates(kind, bits):
    rng = np.random.default_rng(10 + bits)
    data = heavy_tailed(kind, rng, 600).astype(np.float32)
    est = make_estimator("mse", bits)
    est.update(torch.from_numpy(data.reshape(-1, 1)))
    lo, hi = (float(v[0]) for v in est.result())
    got = sq_error(data, lo, hi, bits)
    authors = min(sq_error(data, a, b, bits) for a, b in authors_candidates(data, bits))
    # bertq adds the data's min-max range as one more candidate
    best = min(authors, sq_error(data, data.min(), data.max(), bits))
    assert got <= authors * (1 + 2e-3)
    assert got <= best * (1 + 2e-3)
    assert got >= best * (1 - 2e-3)  # the exact optimum over the candidate set bounds it below


# ----------------------------------------------------------------------------- 4. percentile


@pytest.mark.parametrize("p", [99.0, 99.99, 100.0])
def test_percentile_is_numpys(p):
    rng = np.random.default_rng(4)
    batches = [rng.standard_t(4, size=(500, 7)).astype(np.float32) for _ in range(3)]
    est = make_estimator("percentile", 8, percentile=p)
    for b in batches:
        est.update(torch.from_numpy(b))
    lo, hi = est.result()
    last = batches[-1].astype(np.float64).ravel()
    np.testing.assert_allclose(float(lo[0]), np.percentile(last, 100 - p), rtol=1e-6)
    np.testing.assert_allclose(float(hi[0]), np.percentile(last, p), rtol=1e-6)


# ----------------------------------------------------------------------------- 5. the affine grid


@pytest.mark.parametrize("bits", range(2, 17))
@pytest.mark.parametrize("lo,hi", [(-3.0, 5.0), (0.5, 7.0), (-9.0, -1.0), (-0.01, 250.0)])
def test_fake_quant_error_is_at_most_half_a_step_and_zero_is_on_the_grid(bits, lo, hi):
    rng = np.random.default_rng(bits)
    x = rng.uniform(lo, hi, size=4000).astype(np.float32)
    x[:2] = lo, hi
    q = quantize_range(torch.from_numpy(x), torch.tensor(lo), torch.tensor(hi), bits).numpy()
    assert q.dtype == np.float32
    glo, ghi = min(lo, 0.0), max(hi, 0.0)  # the grid always contains 0
    step = (ghi - glo) / (2**bits - 1)
    err = np.abs(q.astype(np.float64) - x.astype(np.float64))
    # half a step, plus the float32 rounding of the output (and of the scale) near the largest value
    assert err.max() <= step / 2 + 2 * np.spacing(np.float32(max(abs(glo), abs(ghi))))
    assert len(np.unique(q)) <= 2**bits
    zero = quantize_range(torch.zeros(3), torch.tensor(lo), torch.tensor(hi), bits)
    assert torch.equal(zero, torch.zeros(3))  # zero maps to exactly zero (padding stays zero)
    # and the grid is numpy's eqs. 1-2
    np.testing.assert_array_equal(q, np_fake_quant(x, lo, hi, bits))


# ----------------------------------------------------------------------------- 6. PEG


def _single_site_calibration(model, site, batches, peg):
    config = ActivationConfig(bits=8, sites=(site,), peg=peg)
    return calibrate(model, batches, config)[site]


def test_peg_with_k_equal_to_hidden_is_per_dimension_quantization():
    model = tiny_model(1)
    site = "layer1.attention.norm"
    batch = padded(sequences(6, 1))
    r = _single_site_calibration(model, site, [batch], PegConfig(groups=CONFIG.hidden_size, sites=(site,)))
    x = capture(model, [batch], sites=[site])[site][0]
    rows = np_real_values(x, batch["attention_mask"])
    cmin, cmax = rows.min(0), rows.max(0)
    lo, hi = (np.asarray(v)[r.index] for v in (r.lo, r.hi))
    np.testing.assert_array_equal(lo, cmin)
    np.testing.assert_array_equal(hi, cmax)

    quantized = apply_ranges(tiny_model(1), {site: r})
    got = {}
    module = site_modules(quantized)[site][1]
    module.register_forward_hook(lambda m, i, o: got.update(x=i[0].numpy(), y=o.numpy()))
    with torch.no_grad():
        quantized(*(torch.as_tensor(batch[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))
    np.testing.assert_array_equal(got["x"], x)
    np.testing.assert_allclose(got["y"], np_fake_quant(x, cmin, cmax, 8), rtol=0, atol=1e-6)
    # per-dimension ranges beat one range for the tensor
    per_tensor = np_fake_quant(x, rows.min(), rows.max(), 8)
    real = batch["attention_mask"].astype(bool)
    assert ((got["y"] - x)[real] ** 2).sum() < ((per_tensor - x)[real] ** 2).sum()


@pytest.mark.parametrize("estimator", ["current_minmax", "running_minmax"])
def test_peg_with_permutation_groups_channels_sorted_by_range(estimator):
    model = tiny_model(2)
    with torch.no_grad():  # give the channels very different ranges
        scale = torch.from_numpy(np.random.default_rng(0).uniform(0.1, 30, CONFIG.hidden_size).astype(np.float32))
        model.bert.encoder.layer[0].output.dense.weight.mul_(scale[:, None])
    site, groups = "layer0.ffn.output", 4
    batches = [padded(sequences(5, s)) for s in (10, 11, 12)]
    config = ActivationConfig(
        estimator=estimator, bits=8, sites=(site,), peg=PegConfig(groups=groups, permute=True, sites=(site,))
    )
    r = calibrate(model, batches, config)[site]

    xs = capture(model, batches)[site]
    rows = [np_real_values(x, b["attention_mask"]) for x, b in zip(xs, batches)]
    everything = np.concatenate(rows)
    ranges = everything.max(0) - everything.min(0)
    order = np.argsort(ranges.astype(np.float64), kind="stable")
    group = np.empty(CONFIG.hidden_size, np.int64)
    group[order] = np.arange(CONFIG.hidden_size) // (CONFIG.hidden_size // groups)
    np.testing.assert_array_equal(r.index, group)
    ref_lo = ref_hi = None
    for b in rows:
        glo = np.array([b[:, group == g].min() for g in range(groups)], np.float64)
        ghi = np.array([b[:, group == g].max() for g in range(groups)], np.float64)
        if ref_lo is None or estimator == "current_minmax":
            ref_lo, ref_hi = glo, ghi
        else:
            ref_lo, ref_hi = 0.9 * ref_lo + 0.1 * glo, 0.9 * ref_hi + 0.1 * ghi
    np.testing.assert_allclose(r.lo, ref_lo, rtol=1e-6)
    np.testing.assert_allclose(r.hi, ref_hi, rtol=1e-6)

    quantized = apply_ranges(model, {site: r})
    got = {}
    site_modules(quantized)[site][1].register_forward_hook(lambda m, i, o: got.update(y=o.numpy()))
    b = batches[0]
    with torch.no_grad():
        quantized(*(torch.as_tensor(b[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))
    lo_c = np.asarray(r.lo, np.float32)[group]
    hi_c = np.asarray(r.hi, np.float32)[group]
    np.testing.assert_allclose(got["y"], np_fake_quant(xs[0], lo_c, hi_c, 8), rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------- 7. padding


def _all_site_names():
    return list(site_modules(tiny_model()))


@pytest.mark.parametrize("site", _all_site_names())
def test_a_sites_range_comes_from_real_tokens_only(site):
    """A padded batch (padding embeddings huge) against the same sequences run one at a time,
    unpadded: current min-max over all of them."""
    model = tiny_model(3, pad_spike=500.0)
    seqs = sequences(5, 3, lo=2, hi=14)
    batch = padded(seqs, width=16)
    r = calibrate(model, [batch], ActivationConfig(bits=8, sites=(site,)))[site]
    alone = capture(model, [padded([s]) for s in seqs])[site]
    ref = np.concatenate([x.reshape(-1) for x in alone])
    np.testing.assert_allclose(r.lo[0], ref.min(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r.hi[0], ref.max(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "site", ["embeddings.sum", "embeddings.output", "layer0.attention.scores", "layer0.attention.probs"]
)
def test_padding_would_change_these_ranges(site):
    """The check above can fail: counting padded positions (and padded keys) moves these ranges."""
    model = tiny_model(3, pad_spike=500.0)
    batch = padded(sequences(5, 3, lo=2, hi=14), width=16)
    x = capture(model, [batch])[site][0]
    real = np_real_values(x, batch["attention_mask"])
    if site.endswith("probs"):
        assert x.min() == 0 and real.min() > 0  # padded keys have probability exactly 0
    else:
        assert x.min() < real.min() - 0.5 or x.max() > real.max() + 0.5


def test_all_sites_at_once_ignore_padding():
    """Every site quantized together: more padding, and padding with huge embeddings, leave every
    range as it was."""
    seqs = sequences(6, 4, lo=2, hi=12)
    config = ActivationConfig(bits=16, sites=("*",))
    plain = calibrate(tiny_model(4, pad_spike=1.0), [padded(seqs)], config)
    huge = calibrate(tiny_model(4, pad_spike=1000.0), [padded(seqs, width=20)], config)
    assert plain.keys() == huge.keys() and len(plain) == len(_all_site_names())
    for n in plain:
        width = plain[n].hi[0] - plain[n].lo[0]
        np.testing.assert_allclose(huge[n].lo, plain[n].lo, rtol=0, atol=1e-4 * width + 1e-6, err_msg=n)
        np.testing.assert_allclose(huge[n].hi, plain[n].hi, rtol=0, atol=1e-4 * width + 1e-6, err_msg=n)


def test_real_rows_by_layout():
    """Hand-made tensors: padded tokens, and attention entries of a padded query or key, are out."""
    rng = np.random.default_rng(7)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]], bool)
    x3 = rng.standard_normal((2, 5, 4)).astype(np.float32)
    x3[~mask] = 1e6
    x4 = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    x4[:, :, :, 3:] = 1e6  # padded keys (of both sequences)
    x4[1, :, :, 2] = -1e6  # sequence 1's own padded key
    x4[1, :, 2:, :] = -1e6  # sequence 1's padded queries
    m = torch.from_numpy(mask)
    np.testing.assert_array_equal(real_rows(torch.from_numpy(x3), m).numpy(), np_real_values(x3, mask))
    rows4 = real_rows(torch.from_numpy(x4), m).numpy()
    assert rows4.shape == (3 * (9 + 4), 1) and np.abs(rows4).max() < 10
    np.testing.assert_array_equal(np.sort(rows4.ravel()), np.sort(np_real_values(x4, mask).ravel()))
    x2 = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(real_rows(torch.from_numpy(x2), m).numpy(), x2)


# ----------------------------------------------------------------------------- 8. batch invariance


@pytest.mark.parametrize("bits", [8, 4])
def test_calibrated_model_is_batch_invariant(bits):
    model = tiny_model(5)
    calib = [padded(sequences(8, s)) for s in (20, 21)]
    ranges = calibrate(model, calib, ActivationConfig(estimator="running_minmax", bits=bits, batches=2, batch_size=8))
    apply_ranges(model, ranges)
    seqs = sequences(32, 22, lo=2, hi=20)
    with torch.no_grad():
        b = padded(seqs)
        batched = model(*(torch.as_tensor(b[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))
        single = []
        for s in seqs:
            b1 = padded([s])
            single.append(model(*(torch.as_tensor(b1[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))))
    single = torch.cat(single)
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-6)
    assert torch.equal(batched.argmax(-1), single.argmax(-1))
    # and quantization did something
    with torch.no_grad():
        fp32 = tiny_model(5)(*(torch.as_tensor(b[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))
    assert (fp32 - batched).abs().max() > 1e-4


# ----------------------------------------------------------------------------- 9. training data only


def _split(rng, n, lo=3, hi=12, vocab=CONFIG.vocab_size):
    lengths = rng.integers(lo, hi, size=n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = rng.integers(1, vocab, size=offsets[-1]).astype(np.int32)
    return TokenizedSplit(ids, np.zeros(offsets[-1], np.int8), offsets, rng.integers(0, 3, size=n).astype(np.int64))


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("bert")
    state = {k: v.detach().numpy().copy() for k, v in tiny_model(6).state_dict().items()}
    save_file(state, str(path / "model.safetensors"))
    (path / "config.json").write_text(json.dumps({"model_type": "bert", **CONFIG.__dict__}))
    return path


def test_calibration_reads_the_training_split_only(bert_dir, tmp_path):
    train = _split(np.random.default_rng(0), 40)
    dev = _split(np.random.default_rng(1), 20)
    garbage = _split(np.random.default_rng(2), 25, vocab=10**6)  # ids no embedding has: unrunnable
    other_train = _split(np.random.default_rng(3), 40)
    files = {
        "dev": {"train": train, "dev": dev},
        "garbage": {"train": train, "dev": garbage},
        "no_dev": {"train": train},
        "other_train": {"train": other_train, "dev": dev},
    }
    acts = {"estimator": "running_minmax", "bits": 8, "batch_size": 4, "batches": 3}
    docs = {}
    for name, splits in files.items():
        save_tokenized(splits, tmp_path / f"{name}.safetensors", {"task": "x"})
        docs[name] = run_calibrate(bert_dir, None, tmp_path / f"{name}.safetensors", acts, seed=0)
    assert docs["dev"]["calibration"]["split"] == "train"
    assert docs["dev"]["sites"] == docs["garbage"]["sites"] == docs["no_dev"]["sites"]
    assert docs["other_train"]["sites"] != docs["dev"]["sites"]
    assert docs["dev"]["calibration"]["sequences"] == 12
    # and the tokens counted are those of 12 distinct training sequences
    assert docs["dev"]["calibration"]["tokens"] <= int(np.sort(train.lengths())[-12:].sum())
    with pytest.raises(ValueError, match=r"4 x 11 = 44 sequences, but the training split has 40"):
        run_calibrate(bert_dir, None, tmp_path / "dev.safetensors", {**acts, "batches": 11}, seed=0)


# ----------------------------------------------------------------------------- 10. config errors


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"estimator": "entropy"}, r"activations\.estimator: unknown range estimator 'entropy'.*current_minmax"),
        ({"bits": 1}, r"activations\.bits: .*2 to 16, not 1"),
        ({"bits": 17}, r"activations\.bits: .*not 17"),
        ({"bits": 8.5}, r"activations\.bits: .*not 8\.5"),
        ({"sites": ("layer0.ffn.residual",)}, r"sites\[0\]: .*matches no site; valid sites are .*ffn\.residual_sum"),
        ({"site_bits": {"*.ffn.residual_sum": 1}}, r"site_bits\..*not 1"),
        ({"estimator": "mse", "peg": PegConfig(groups=4)}, r"peg: the mse estimator gives per-tensor ranges only"),
        ({"estimator": "percentile", "peg": PegConfig(groups=4)}, r"peg: the percentile estimator"),
        ({"peg": PegConfig(groups=2, sites=("*.attention.scores",))}, r"peg\.sites\[0\].*attention\.scores"),
        ({"peg": PegConfig(groups=0)}, r"peg\.groups: expected a positive integer"),
    ],
)
def test_config_errors_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ActivationConfig(**kwargs).check()


def test_good_configs_pass_the_check():
    ActivationConfig().check()
    ActivationConfig(bits=16, estimator="running_minmax", peg=PegConfig(groups=8, permute=True)).check()
    ActivationConfig(bits=2, sites=("layer-1.*",), site_bits={"*.ffn.residual_sum": 16}).check()


def test_peg_groups_that_do_not_divide_the_hidden_size():
    with pytest.raises(ValueError, match=r"\b3\b.*\b16\b"):
        peg_groups(16, 3)
    batch = padded(sequences(3, 0))
    config = ActivationConfig(sites=("layer0.ffn.output",), peg=PegConfig(groups=3, sites=("layer0.ffn.output",)))
    with pytest.raises(ValueError, match=r"\b3\b.*\b16\b"):
        calibrate(tiny_model(), [batch], config)
    # the FFN's intermediate width (32) counts for ffn.intermediate: 8 divides it
    config = ActivationConfig(sites=("layer0.ffn.intermediate",), peg=PegConfig(groups=8, sites=("*.intermediate",)))
    r = calibrate(tiny_model(), [batch], config)["layer0.ffn.intermediate"]
    assert len(r.lo) == 8 and len(r.index) == CONFIG.intermediate_size


def test_site_range_round_trips_through_json(tmp_path):
    from bertq.quantization.activation import load_ranges, save_ranges

    ranges = {
        "layer0.ffn.output": SiteRange(8, [-1.5, -2.0], [3.0, 0.5], [0, 1] * 8),
        "head.output": SiteRange(16, [-1.0], [1.0]),
    }
    save_ranges(ranges, tmp_path / "r.json")
    assert load_ranges(tmp_path / "r.json") == ranges
