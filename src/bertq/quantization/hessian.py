"""Q-BERT's Hessian-based bit assignment (Shen et al., 2020, "Q-BERT: Hessian Based Ultra Low
Precision Quantization of BERT", section 3), the baseline of AQ-BERT (Zhao et al., 2021, Tables 1-2).

- The sensitivity of an encoder layer is the top eigenvalue of the Hessian of the task loss with
  respect to that layer's weights, found by power iteration on Hessian-vector products (Q-BERT's
  Algorithm 1: ``v <- Hv / ||Hv||``, ``lambda = v^T H v``), without forming the Hessian.
- Q-BERT computes it on several training batches and uses ``Omega = |mean(lambda)| + std(lambda)``
  (section 3.2), so that a layer whose curvature varies a lot across data counts as sensitive.
- Bits follow the ranking: a more sensitive layer never gets fewer bits than a less sensitive
  one. Q-BERT sets the assignment by hand from the ranking; under a size budget bertq takes, of the
  assignments that respect the ranking and fit the budget, the one with the least second-order
  loss estimate ``sum_i Omega_i n_i / (2**b_i - 1)**2`` (the Hessian-weighted quantization noise of
  a ``b``-bit uniform grid, ``||dW||^2 ~ n Delta^2``, as HAWQ's criterion), found by enumeration.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch


def hessian_vector_product(loss: torch.Tensor, params: Sequence[torch.Tensor], vector) -> list[torch.Tensor]:
    """``H v`` of ``loss`` with respect to ``params`` by double backward (Pearlmutter's trick)."""
    grads = torch.autograd.grad(loss, params, create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(grads, vector))
    return [h.detach() for h in torch.autograd.grad(dot, params)]


def top_eigenvalue(
    loss_fn: Callable[[], torch.Tensor],
    params: Sequence[torch.Tensor],
    iterations: int = 100,
    tolerance: float = 1e-4,
    seed: int = 0,
) -> float:
    """The Hessian eigenvalue of largest magnitude of ``loss_fn()`` over ``params`` by power
    iteration from a random start, stopping when it changes by less than ``tolerance`` (relative)."""
    generator = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=generator).to(p) for p in params]
    norm = math.sqrt(sum(float((x * x).sum()) for x in v))
    v = [x / norm for x in v]
    eigenvalue = None
    for _ in range(iterations):
        hv = hessian_vector_product(loss_fn(), params, v)
        estimate = sum(float((h * x).sum()) for h, x in zip(hv, v))
        norm = math.sqrt(sum(float((h * h).sum()) for h in hv))
        if norm == 0.0:
            return 0.0
        v = [h / norm for h in hv]
        if eigenvalue is not None and abs(estimate - eigenvalue) <= tolerance * abs(eigenvalue):
            return estimate
        eigenvalue = estimate
    return eigenvalue


def sensitivity(eigenvalues: Sequence[float]) -> float:
    """Q-BERT's ``Omega = |mean(lambda)| + std(lambda)`` over batches."""
    values = np.asarray(eigenvalues, dtype=np.float64)
    return float(abs(values.mean()) + values.std())


def noise_estimate(sensitivities: Sequence[float], weights: Sequence[int], bits: Sequence[int]) -> float:
    """``sum_i Omega_i n_i / (2**b_i - 1)**2``: the second-order loss estimate of an assignment."""
    return float(sum(s * n / (2**b - 1) ** 2 for s, n, b in zip(sensitivities, weights, bits)))


def ranked_assignment(
    sensitivities: Sequence[float], weights: Sequence[int], choices: Sequence[int], budget_bits: float
) -> list[int]:
    """Bits per layer, non-decreasing with sensitivity, at most ``budget_bits`` in all (weights x
    bits), with the least :func:`noise_estimate`; an error names the smallest size when none fits."""
    choices = sorted(set(choices))
    if not choices or choices[0] < 1:
        raise ValueError(f"Q-BERT assigns 1 to 8 bits per layer (no pruning), not {choices}")
    order = np.argsort(sensitivities, kind="stable")  # least sensitive first
    best, best_cost = None, math.inf
    for ranked in itertools.combinations_with_replacement(choices, len(order)):
        bits = [0] * len(order)
        for layer, b in zip(order, ranked):
            bits[layer] = b
        if sum(n * b for n, b in zip(weights, bits)) > budget_bits:
            continue
        cost = noise_estimate(sensitivities, weights, bits)
        if cost < best_cost:
            best, best_cost = bits, cost
    if best is None:
        smallest = choices[0] * sum(weights)
        raise ValueError(
            f"no assignment of {choices} bits fits {budget_bits:.6g} bits; the smallest is {smallest:.6g} "
            f"(every layer at {choices[0]} bits)"
        )
    return best
