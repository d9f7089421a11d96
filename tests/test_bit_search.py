"""AQ-BERT's search (Zhao et al., 2021, eqs. 4-12) and Q-BERT's Hessian sensitivity: the relaxation's
samples against the softmax, the expected size against enumeration, min-max quantization against
its equation, pruned subgroups, the size loss's direction, the power iteration against the full
Hessian, and the ranked assignment against brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bertq.quantization.bit_search import (
    MixedPrecisionLinear,
    SearchSpace,
    assigned_size,
    check_target,
    expected_size,
    minmax_quantize,
    size_loss,
    temperature,
)
from bertq.quantization.hessian import noise_estimate, ranked_assignment, sensitivity, top_eigenvalue


def _layer(out=6, inp=5, bits=(0, 2, 4), groups=3, seed=0) -> MixedPrecisionLinear:
    torch.manual_seed(seed)
    layer = MixedPrecisionLinear(nn.Linear(inp, out), SearchSpace(bits, groups), "tiny")
    with torch.no_grad():
        layer.logits.copy_(torch.randn(layer.logits.shape))
    return layer


def test_gumbel_samples_are_one_hot_at_low_temperature_with_the_softmax_frequencies():
    layer = _layer(out=8, bits=(0, 2, 4, 8), groups=4)
    layer.train()
    layer.temperature = 1e-5
    torch.manual_seed(1)
    n = 20000
    counts = torch.zeros_like(layer.logits)
    near_one_hot = 0
    for _ in range(n // 100):
        samples = torch.stack([layer.mixture() for _ in range(100)]).detach()
        near_one_hot += int((samples.max(-1).values > 1 - 1e-3).sum())
        counts += F.one_hot(samples.argmax(-1), 4).sum(0)
    assert near_one_hot >= 0.9995 * n * 4  # one-hot but for Gumbel draws within ~1e-4 of each other
    p = layer.probabilities().detach()
    # each frequency within 4.5 binomial standard deviations of its probability (|z| > 4.5: p < 1e-5)
    sigma = torch.sqrt(p * (1 - p) / n)
    assert torch.all((counts / n - p).abs() < 4.5 * sigma + 1e-4), (counts / n, p)


def test_expected_size_is_the_enumerated_expectation():
    layer = _layer(out=6, bits=(0, 3, 8), groups=3)
    widths, p = layer.bits, layer.probabilities().detach().double()
    assert widths == (8, 3, 0)  # widest first
    brute = 0.0
    for combo in itertools.product(range(len(widths)), repeat=layer.space.groups):
        prob = math.prod(float(p[j, k]) for j, k in enumerate(combo))
        brute += prob * sum(widths[k] for k in combo) * (6 // 3) * 5
    assert float(expected_size([layer], fixed_bits=7.0).detach()) == pytest.approx(brute + 7.0, rel=1e-6)
    # the argmax assignment's size (eq. 5)
    chosen = [widths[k] for k in layer.logits.argmax(-1).tolist()]
    assert assigned_size([layer]) == sum(chosen) * 10


def _zeroq_asymmetric(x: np.ndarray, bits: int) -> np.ndarray:
    """The Q-BERT group's asymmetric quantizer, transcribed from ZeroQ's (and HAWQ's) quant_utils
    per row: ``scale = n / (max - min)``, ``zero_point = round(scale * min) + 2**(b-1)`` (signed,
    ``integral_zero_point``), ``round(scale * x - zero_point)`` clamped to ``[-2**(b-1),
    2**(b-1) - 1]``, then ``(q + zero_point) / scale``."""
    n = 2**bits - 1
    lo, hi = x.min(1, keepdims=True), x.max(1, keepdims=True)
    scale = n / np.maximum(hi - lo, 1e-8)
    zero_point = np.round(scale * lo) + 2 ** (bits - 1)
    q = np.clip(np.round(scale * x - zero_point), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return (q + zero_point) / scale


def test_minmax_quantization_is_eq_7_to_10_as_the_q_bert_groups_code_does_it():
    torch.manual_seed(2)
    w = torch.randn(3, 40, requires_grad=True)
    for bits in (1, 2, 3, 4, 8):
        out = minmax_quantize(w, bits)
        x = w.detach().double().numpy()
        reference = _zeroq_asymmetric(x, bits)
        np.testing.assert_allclose(out.detach().double().numpy(), reference, rtol=0, atol=1e-6)
        step = (x.max(1, keepdims=True) - x.min(1, keepdims=True)) / (2**bits - 1)
        assert np.all(np.abs(reference - x) <= step + 1e-9)  # half a step, or one at a clipped end
        assert max(len(np.unique(np.round(row, 5))) for row in reference) <= 2**bits
        np.testing.assert_allclose(reference / step, np.round(reference / step), atol=1e-6)  # 0 is on the grid
        # a weight at 0 stays 0 (eq. 8 rounding q (a - min) would move it up to half a step)
        zeroed = w.detach().clone()
        zeroed[:, 0] = 0.0
        assert torch.all(minmax_quantize(zeroed, bits)[:, 0] == 0)
        (g,) = torch.autograd.grad((out * torch.arange(40.0)).sum(), w)  # straight through
        torch.testing.assert_close(g, torch.arange(40.0).expand(3, 40))
    assert torch.equal(minmax_quantize(w, 0), torch.zeros_like(w))
    constant = torch.full((2, 5), 0.3)
    torch.testing.assert_close(minmax_quantize(constant, 4), constant)


def test_a_pruned_subgroup_contributes_nothing():
    layer = _layer(out=6, inp=5, bits=(0, 4, 8), groups=3).eval()
    layer.assignment = torch.tensor([1, 2, 0])  # of (8, 4, 0): 4 bits, pruned, 8 bits
    x = torch.randn(7, 5)
    y = layer(x)
    assert torch.equal(y[:, 2:4], torch.zeros(7, 2))  # weights and bias gone
    rows = layer.weight.detach().reshape(3, -1)
    expected_w = torch.cat([minmax_quantize(rows[:1], 4), torch.zeros(1, 10), minmax_quantize(rows[2:], 8)])
    torch.testing.assert_close(y[:, [0, 1, 4, 5]], F.linear(x, expected_w.reshape(6, 5), layer.bias)[:, [0, 1, 4, 5]])
    assert layer.assigned_bits() == (4 + 0 + 8) * 10


@pytest.mark.parametrize("above", [True, False])
def test_the_size_loss_moves_the_expected_size_towards_the_target(above):
    layer = _layer(out=8, bits=(0, 2, 4, 8), groups=4)
    size = assigned_size([layer])
    target = size / 2 if above else size * 2
    expected = expected_size([layer])
    loss = size_loss(expected, size, target, tolerance=0.1)
    assert float(loss.detach()) == pytest.approx((1 if above else -1) * math.log(float(expected.detach())))
    loss.backward()
    with torch.no_grad():
        layer.logits -= 0.5 * layer.logits.grad
    moved = float(expected_size([layer]).detach()) - float(expected.detach())
    assert (moved < 0) if above else (moved > 0)
    inside = size_loss(expected_size([layer]), size, size * 1.05, tolerance=0.1)
    assert float(inside) == 0.0


def test_temperature_is_eq_12():
    assert temperature(0, 5.0, 0.3, 2) == 5.0 and temperature(2, 5.0, 0.3, 2) == 5.0
    assert temperature(4, 5.0, 0.3, 2) == pytest.approx(5.0 * math.exp(-0.6))


@pytest.mark.parametrize(
    "space, message",
    [
        (SearchSpace((0,), 2), "no usable width"),
        (SearchSpace((0, 2, 2), 2), "repeats"),
        (SearchSpace((0, 9), 2), "0 \\(pruned\\) to 8"),
        (SearchSpace((2, 4), 0), "positive number"),
        (SearchSpace((2, 4), 4), "4 subgroups do not divide tiny's 6"),
    ],
)
def test_bad_search_space_is_named(space, message):
    with pytest.raises(ValueError, match=message):
        MixedPrecisionLinear(nn.Linear(5, 6), space, "tiny")


def test_an_unreachable_size_target_is_named():
    layer = _layer(out=6, inp=5, bits=(2, 4), groups=3)  # 60 to 120 bits, plus 40 fixed
    check_target([layer], 130.0, 0.05, fixed_bits=40.0)
    with pytest.raises(ValueError, match="out of reach"):
        check_target([layer], 50.0, 0.05, fixed_bits=40.0)
    with pytest.raises(ValueError, match="out of reach"):
        check_target([layer], 200.0, 0.05, fixed_bits=40.0)


def test_power_iteration_finds_the_top_hessian_eigenvalue():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    params = list(net[0].parameters())
    shapes = [p.shape for p in params]
    flat = torch.cat([p.detach().reshape(-1) for p in params])

    def loss_of(vector):
        pieces, i = [], 0
        for s in shapes:
            pieces.append(vector[i : i + math.prod(s)].reshape(s))
            i += math.prod(s)
        hidden = torch.tanh(F.linear(x, *pieces))
        return F.cross_entropy(net[2](hidden), y)

    eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, flat, vectorize=True).double())
    top = float(eigenvalues[eigenvalues.abs().argmax()])
    ours = top_eigenvalue(lambda: F.cross_entropy(net(x), y), params, iterations=500, tolerance=1e-7)
    assert ours == pytest.approx(top, rel=0.01)
    assert sensitivity([1.0, 3.0]) == pytest.approx(2.0 + 1.0)


def test_ranked_assignment_is_the_best_ranked_one_within_budget():
    rng = np.random.default_rng(4)
    omega = rng.uniform(0.1, 5.0, 5).tolist()
    weights = [100, 100, 200, 100, 300]
    choices = [2, 3, 4, 8]
    budget = 3.5 * sum(weights)
    ours = ranked_assignment(omega, weights, choices, budget)
    order = np.argsort(omega)
    best = None
    for bits in itertools.product(choices, repeat=5):  # brute force over every assignment
        ranked = all(bits[order[i]] <= bits[order[i + 1]] for i in range(4))
        if ranked and sum(n * b for n, b in zip(weights, bits)) <= budget:
            cost = noise_estimate(omega, weights, bits)
            if best is None or cost < best[0]:
                best = (cost, list(bits))
    assert ours == best[1]
    with pytest.raises(ValueError, match="smallest is 1600"):
        ranked_assignment(omega, weights, choices, 1000)


# --- the stored type: MixedPrecisionTensor -------------------------------------------------------


def _tiny_bert(tmp_path):
    from bertq.models.encoder import BertClassifier, EncoderConfig

    torch.manual_seed(5)
    config = EncoderConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=24,
        num_labels=2,
    )
    model = BertClassifier(config).eval()
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return config, model, state


def test_the_stored_weight_is_the_searched_layers_weight_and_round_trips(tmp_path):
    from bertq.quantization.bit_search import mixed_tensor
    from bertq.quantization.model import QuantizedModel, from_input_major, load_quantized, save_quantized

    layer = _layer(out=8, inp=6, bits=(0, 2, 4, 8), groups=4).eval()
    layer.assignment = torch.tensor([0, 3, 2, 1])  # of (8, 4, 2, 0): 8, pruned, 2, 4 bits
    qt = layer.quantized()
    assert qt.group_bits.tolist() == [8, 0, 2, 4] and qt.mean_bits == 3.5
    x = torch.randn(5, 6)
    bias = layer.bias.detach().clone()
    bias[2:4] = 0
    stored = torch.from_numpy(from_input_major("x.weight", qt.dequantize()))
    torch.testing.assert_close(layer(x), F.linear(x, stored, bias), rtol=0, atol=1e-5)
    # eq. 8's codes: each group's grid spans its own min and max (within a step) and holds 0
    rows = layer.weight.detach().double().reshape(4, -1).numpy()
    for g, b in enumerate([8, 0, 2, 4]):
        if b:
            np.testing.assert_allclose(
                stored.double().numpy().reshape(4, -1)[g], _zeroq_asymmetric(rows[g : g + 1], b)[0], atol=1e-6
            )
            values = np.unique(stored.double().numpy().reshape(4, -1)[g])
            assert len(values) <= 2**b and qt.lo[g] / qt.step[g] == pytest.approx(round(qt.lo[g] / qt.step[g]))
    model = QuantizedModel("aq_bert", 8, {}, {"x.weight": qt}, {}, total_params=48 + 8)
    save_quantized(model, tmp_path / "q.safetensors")
    back = load_quantized(tmp_path / "q.safetensors").tensors["x.weight"]
    for part in ("codes", "group_bits", "lo", "step"):
        np.testing.assert_array_equal(getattr(back, part), getattr(qt, part), err_msg=part)
    assert mixed_tensor(layer.weight, [0, 0, 0, 0]).dequantize().max() == 0.0


def test_a_pruned_group_adds_nothing_to_output_size_or_ace(tmp_path):
    from bertq.cost.summary import cost_summary
    from bertq.models.checkpoint import model_from_state
    from bertq.quantization.bit_search import mixed_tensor
    from bertq.quantization.model import QuantizedModel, to_input_major

    config, model, state = _tiny_bert(tmp_path)
    name = "bert.encoder.layer.0.intermediate.dense.weight"  # 32 outputs in 4 groups of 8, 16 inputs
    w = torch.from_numpy(state[name])

    def variant(bits):
        qt = mixed_tensor(w, bits)
        qm = QuantizedModel("aq_bert", 8, {}, {name: qt}, {}, sum(a.size for a in state.values()))
        return qt, qm

    kept_qt, kept = variant([4, 4, 4, 4])
    pruned_qt, pruned = variant([4, 0, 4, 4])
    # output: the pruned neurons are 0 before GELU; the model is otherwise unchanged
    deq = pruned.dequantized_state(state)
    assert np.all(deq[name][8:16] == 0) and np.all(deq[name.replace("weight", "bias")][8:16] == 0)
    hidden = {}
    m = model_from_state(config, deq)
    m.bert.encoder.layer[0].intermediate.dense.register_forward_hook(lambda mod, i, o: hidden.setdefault("h", o))
    ids = torch.randint(0, 50, (2, 7))
    with torch.no_grad():
        m(ids)
    assert torch.equal(hidden["h"][..., 8:16], torch.zeros(2, 7, 8))
    # stored size: the group's codes, its minimum and step, and its neurons' biases are gone
    n = 8 * 16
    assert kept_qt.storage_bits() - pruned_qt.storage_bits() == 4 * n + 64
    assert kept.size_bits() - pruned.size_bits() == 4 * n + 64 + 32 * 8
    # ACE: a quarter of the layer's MACs at 4 bits x 8-bit activations are gone
    tokens = 12
    ace_kept = cost_summary(config, state, kept, tokens, 8)["ace"]
    ace_pruned = cost_summary(config, state, pruned, tokens, 8)["ace"]
    assert ace_kept - ace_pruned == pytest.approx(tokens * 16 * 8 * 4 * 8)
    assert to_input_major(name, state[name]).shape == (16, 32)


def test_layer_eigenvalues_are_the_top_eigenvalue_of_each_layers_hessian():
    from torch.func import functional_call
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from bertq.models.encoder import BertClassifier, EncoderConfig
    from bertq.training.qbert import layer_eigenvalues, layer_weights, qbert_bits
    from bertq.training.supervision import Supervision

    torch.manual_seed(6)
    config = EncoderConfig(
        vocab_size=30,
        hidden_size=8,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
        num_labels=3,
    )
    model = BertClassifier(config).eval()
    g = np.random.default_rng(7)
    batch = {
        "input_ids": g.integers(1, 30, (6, 9)),
        "attention_mask": np.ones((6, 9), dtype=np.int64),
        "token_type_ids": np.zeros((6, 9), dtype=np.int64),
        "labels": g.integers(0, 3, 6),
    }
    ours = layer_eigenvalues(model, [batch], Supervision(), iterations=300, tolerance=1e-7)
    inputs = {k: torch.as_tensor(v) for k, v in batch.items() if k != "labels"}
    for i in range(2):
        names = [n for n, p in model.named_parameters() if any(p is w for w in layer_weights(model, i))]
        shapes = [model.get_parameter(n).shape for n in names]
        flat = torch.cat([model.get_parameter(n).detach().reshape(-1) for n in names])

        def loss_of(vector, names=names, shapes=shapes):
            pieces, at = {}, 0
            for n, s in zip(names, shapes):
                pieces[n] = vector[at : at + math.prod(s)].reshape(s)
                at += math.prod(s)
            logits = functional_call(model, pieces, (), inputs, strict=False)
            return F.cross_entropy(logits, torch.as_tensor(batch["labels"]))

        assert flat.numel() == 4 * 64 + 2 * 128
        with sdpa_kernel(SDPBackend.MATH):  # the fused attention has no second derivative
            hessian = torch.autograd.functional.hessian(loss_of, flat, vectorize=True)
        eigenvalues = torch.linalg.eigvalsh(hessian.double())
        top = float(eigenvalues[eigenvalues.abs().argmax()])
        assert ours[i][0] == pytest.approx(top, rel=0.01), (i, ours[i][0], top)
    # the more sensitive layer gets more bits when the budget allows only one of them at 8
    bits = qbert_bits(model, [[1.0], [5.0]], [2, 4, 8], budget_bits=(8 + 4) * 512)
    assert bits == [4, 8]
