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
    widths, p = layer.space.bits, layer.probabilities().detach().double()
    brute = 0.0
    for combo in itertools.product(range(len(widths)), repeat=layer.space.groups):
        prob = math.prod(float(p[j, k]) for j, k in enumerate(combo))
        brute += prob * sum(widths[k] for k in combo) * (6 // 3) * 5
    assert float(expected_size([layer], fixed_bits=7.0).detach()) == pytest.approx(brute + 7.0, rel=1e-6)
    # the argmax assignment's size (eq. 5)
    chosen = [widths[k] for k in layer.logits.argmax(-1).tolist()]
    assert assigned_size([layer]) == sum(chosen) * 10


def test_minmax_quantization_is_eq_7_to_10():
    torch.manual_seed(2)
    w = torch.randn(3, 40, requires_grad=True)
    for bits in (1, 2, 4, 8):
        out = minmax_quantize(w, bits)
        x = w.detach().double().numpy()
        lo, hi = x.min(1, keepdims=True), x.max(1, keepdims=True)
        q = (2**bits - 1) / (hi - lo)
        reference = np.round(q * (x - lo)) / q + lo
        np.testing.assert_allclose(out.detach().double().numpy(), reference, rtol=0, atol=1e-6)
        assert np.all(np.abs(reference - x) <= 0.5 / q + 1e-9)
        levels = {len(np.unique(np.round(row, 5))) for row in reference}
        assert max(levels) <= 2**bits
        (g,) = torch.autograd.grad((out * torch.arange(40.0)).sum(), w)  # straight through
        torch.testing.assert_close(g, torch.arange(40.0).expand(3, 40))
    assert torch.equal(minmax_quantize(w, 0), torch.zeros_like(w))


def test_a_pruned_subgroup_contributes_nothing():
    layer = _layer(out=6, inp=5, bits=(0, 4, 8), groups=3).eval()
    layer.assignment = torch.tensor([1, 0, 2])  # 4 bits, pruned, 8 bits
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

    eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, flat).double())
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
