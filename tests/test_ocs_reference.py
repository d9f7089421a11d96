"""OCS against the authors' code that Hu et al. (2022) used: ``ocs_wts`` and its caller in the
OCS authors' Distiller fork (cornell-zhang/dnn-quant-ocs, ``distiller/quantization/ocs_impl.py``
and ``ocs.py``), transcribed below in numpy on the torch layout ``(out, in)``, float64.

The caller runs ``ocs_wts`` twice: naively (``grid_aware=False``) to find the weight's max, which
sets ``w_scale = (2**(b-1) - 1) / max``, then quantization-aware with that scale; it rounds
``w_scale * w`` and clamps to ``[-2**(b-1), 2**(b-1) - 1]``. ``split_threshold`` is 0 there.
"""

import numpy as np
import pytest
import torch
from torch import nn

from bertq.engine.activations import fake_quantize_activations
from bertq.engine.linear import FakeQuantLinear, IntegerLinear
from bertq.quantization import ocs
from bertq.quantization.methods import quantize_weight


def reference_ocs_wts(weight_np, expand_ratio, split_threshold=0.0, w_scale=None, grid_aware=False):
    """``ocs_wts`` with ``axis=1`` on a 2-D (linear) weight ``(out, in)``, line for line."""
    weight_np = weight_np.copy()
    num_channels = weight_np.shape[1]
    ocs_channels = int(np.ceil(expand_ratio * num_channels))
    if ocs_channels == 0:
        return weight_np, []
    in_channels_to_copy = []
    orig_idx_dict = {}
    for c in range(ocs_channels):
        max_per_channel = np.max(np.abs(weight_np), axis=0)
        idxs = np.flip(np.argsort(max_per_channel), axis=0)
        split_idx = idxs[0]
        ch_slice = weight_np[:, split_idx : (split_idx + 1)].copy()
        ch_slice_half = ch_slice / 2.0
        ch_slice_zero = np.zeros_like(ch_slice)
        split_value = np.max(ch_slice) * split_threshold
        if not grid_aware:
            ch_slice_1 = np.where(np.abs(ch_slice) > split_value, ch_slice_half, ch_slice)
            ch_slice_2 = np.where(np.abs(ch_slice) > split_value, ch_slice_half, ch_slice_zero)
        else:
            ch_slice_half *= w_scale
            ch_slice_1 = np.where(np.abs(ch_slice) > split_value, ch_slice_half - 0.25, ch_slice * w_scale) / w_scale
            ch_slice_2 = np.where(np.abs(ch_slice) > split_value, ch_slice_half + 0.25, ch_slice_zero) / w_scale
        weight_np[:, split_idx : (split_idx + 1)] = ch_slice_1
        weight_np = np.concatenate((weight_np, ch_slice_2), axis=1)
        if split_idx < num_channels:
            in_channels_to_copy.append(split_idx)
            orig_idx_dict[num_channels + c] = split_idx
        else:
            idx_to_copy = orig_idx_dict[split_idx]
            in_channels_to_copy.append(idx_to_copy)
            orig_idx_dict[num_channels + c] = idx_to_copy
    return weight_np, in_channels_to_copy


def reference_scale(weight_oi, expand_ratio, bits):
    """``OCSParamLayerWrapper``: ``w_scale`` from the max of the naively split weight."""
    prelim, _ = reference_ocs_wts(weight_oi, expand_ratio, grid_aware=False)
    max_abs = max(abs(prelim.max().item()), abs(prelim.min().item()))
    return (2 ** (bits - 1) - 1) / max_abs


def reference_quantize(weight_oi, expand_ratio, bits, w_scale):
    """Codes ``(out, in + n)``, split channels, and the effective ``(out, in)`` weight: each appended
    column's ``q / w_scale`` added onto the input channel it duplicates."""
    split, channels = reference_ocs_wts(weight_oi, expand_ratio, w_scale=w_scale, grid_aware=True)
    q = np.clip(np.round(w_scale * split), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    h = weight_oi.shape[1]
    effective = q[:, :h] / w_scale
    for j, c in enumerate(channels):
        effective[:, c] += q[:, h + j] / w_scale
    return q, channels, effective


@pytest.fixture(scope="module", params=[(768, 768), (3072, 768)], ids=["768x768", "3072x768"])
def student_t(request):
    """A BERT-like heavy-tailed weight, input-major ``(h, d)``: Student-t, df = 3, times 0.02."""
    h, d = request.param
    return np.random.default_rng(h).standard_t(3, size=(h, d)) * 0.02


@pytest.mark.parametrize("ratio", [0.01, 0.05])
def test_ocs_equals_the_authors_code(student_t, ratio):
    weight_oi = student_t.T  # the reference splits the input channels of a torch (out, in) weight
    scale = reference_scale(weight_oi, ratio, 8)
    for bits in (8, 6, 4):
        w_scale = scale * (2 ** (bits - 1) - 1) / 127  # the naive max does not depend on the bits
        q, channels, effective = reference_quantize(weight_oi, ratio, bits, w_scale)
        qt = quantize_weight("ocs", student_t, bits, expand_ratio=ratio)
        assert len(channels) == int(np.ceil(ratio * student_t.shape[0]))
        assert qt.split_index.tolist() == channels  # the same channels, in the same order
        np.testing.assert_array_equal(qt.codes, q.T)
        np.testing.assert_allclose(qt.dequantize(), effective.T, rtol=0, atol=1e-6)
        assert qt.scale[0] == pytest.approx(1 / w_scale, rel=1e-12)
    if ratio == 0.05:  # at 5% some outlier channels are split more than once
        assert len(set(channels)) < len(channels)


def test_a_channel_split_twice_folds_back_onto_it():
    rng = np.random.default_rng(7)
    w = rng.normal(0, 0.05, size=(100, 24))
    w[5, 3] = -4.0  # more than 4x any other row: split, then its larger half split again
    w[60, 0] = 1.5
    qt = quantize_weight("ocs", w, 6, expand_ratio=0.03)
    q, channels, effective = reference_quantize(w.T, 0.03, 6, reference_scale(w.T, 0.03, 6))
    assert qt.split_index.tolist() == channels == [5, 5, 5]
    np.testing.assert_array_equal(qt.codes, q.T)
    np.testing.assert_allclose(qt.dequantize(), effective.T, rtol=0, atol=1e-6)
    # The -4 is spread over 4 rows: 3 appended, one of them the copy of a copy.
    assert np.count_nonzero(qt.codes[[5, 100, 101, 102], 3]) == 4
    assert abs(qt.dequantize()[5, 3] + 4.0) <= qt.scale[0] / 2
    # Before rounding the split keeps X W exactly (eq. 6/7), whichever row was split.
    grown, index = ocs.iterative_split(w, 3, step=0.01)
    x = rng.normal(size=(9, 100))
    np.testing.assert_allclose(ocs.expand_inputs(x, index) @ grown, x @ w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "h,ratio,expected", [(384, 0.01, 4), (768, 0.01, 8), (768, 0.05, 39), (50, 0.01, 1), (100, 0.0, 0)]
)
def test_split_count_is_the_ceiling(h, ratio, expected):
    assert ocs.channels_to_split(h, ratio) == expected
    w = np.random.default_rng(h).standard_t(3, size=(h, 8))
    assert quantize_weight("ocs", w, 8, expand_ratio=ratio).n_split == expected
    assert quantize_weight("ocs", w, 8, expand_ratio=ratio, split="once").n_split == int(ratio * h)


def test_once_keeps_the_former_distinct_channel_split():
    rng = np.random.default_rng(11)
    w = rng.standard_t(3, size=(300, 40)) * 0.02
    w[7, 2] = 3.0  # so large that the iterative split takes it again
    qt = quantize_weight("ocs", w, 4, expand_ratio=0.02, split="once", granularity=4)
    index = np.argsort(-np.max(np.abs(w), axis=1), kind="stable")[:6]
    assert qt.split_index.tolist() == index.tolist()
    scales = np.array([np.max(np.abs(ocs.naive_split(w, index)[:, g * 10 : (g + 1) * 10])) / 7 for g in range(4)])
    np.testing.assert_allclose(qt.scale, scales, rtol=1e-12)
    steps = np.repeat(scales, 10)
    grown = np.concatenate([w, (w[index] + steps / 2) / 2])
    grown[index] = (w[index] - steps / 2) / 2
    np.testing.assert_array_equal(qt.codes, np.clip(np.rint(grown / steps), -7, 7))
    iterative = quantize_weight("ocs", w, 4, expand_ratio=0.02, granularity=4)
    assert iterative.split_index.tolist().count(7) > 1


def test_unknown_split_mode_is_named():
    with pytest.raises(ValueError, match="OCS split must be one of iterative, once, got 'twice'"):
        quantize_weight("ocs", np.ones((8, 4)), 8, split="twice")


def test_engine_executes_repeated_split_rows():
    rng = np.random.default_rng(3)
    linear = nn.Linear(200, 40)
    with torch.no_grad():
        linear.weight[:, 17] *= 30.0  # one outlier input channel, split again and again
    qt = quantize_weight("ocs", linear.weight.detach().numpy().T.astype(np.float64), 6, expand_ratio=0.02)
    assert qt.split_index.tolist().count(17) >= 2
    x = torch.from_numpy((rng.standard_normal((2, 7, 200)) * 2).astype(np.float32))
    with torch.no_grad():
        y_int = IntegerLinear.from_float(linear, qt)(x)
        y_fake = FakeQuantLinear.from_float(linear, qt)(x)
    torch.testing.assert_close(y_int, y_fake, rtol=0, atol=0)
    # Gathering x[..., split_index] for the appended rows equals x times the folded weight.
    folded = fake_quantize_activations(x).double() @ torch.from_numpy(qt.dequantize()).double()
    torch.testing.assert_close(y_int.double(), folded + linear.bias.double(), rtol=1e-5, atol=1e-5)
