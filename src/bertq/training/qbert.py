"""Q-BERT's per-layer bit assignment (Shen et al., 2020, section 3), the baseline AQ-BERT compares
with (Zhao et al., 2021, Tables 1-2), on a bertq BERT classifier.

Each encoder layer's sensitivity is the top Hessian eigenvalue of the task loss with respect to the
weights of its six linears (:func:`bertq.quantization.hessian.top_eigenvalue`), computed on several
training batches and summarised as ``Omega = |mean| + std`` (Q-BERT, section 3.2). Bits per layer
then follow the ranking under the size budget (:func:`bertq.quantization.hessian.ranked_assignment`),
every subgroup of a layer's linears at the layer's bits (group-wise min-max quantization, Q-BERT's
128 groups), which :func:`bertq.training.bit_search.retrain` fine-tunes with the assignment fixed
(Q-BERT's quantization-aware fine-tuning).
"""

from __future__ import annotations

import torch
from torch import nn

from ..quantization.bit_search import MixedPrecisionLinear
from ..quantization.hessian import ranked_assignment, sensitivity, top_eigenvalue
from .supervision import Supervision


def layer_weights(model: nn.Module, index: int) -> list[torch.Tensor]:
    """The weights of encoder layer ``index``'s linears (BERT's six, MobileBERT's all)."""
    layer = model.layers[index]
    linears = model.config.family.layer_linears(model.config.num_feedforward_networks)
    return [layer.get_submodule(sub).weight for _, sub in linears]


def layer_eigenvalues(
    model: nn.Module,
    batches: list[dict],
    supervision: Supervision,
    iterations: int = 20,
    tolerance: float = 1e-3,
    seed: int = 0,
) -> list[list[float]]:
    """The top Hessian eigenvalue of every encoder layer's weights, one per batch: ``[layer][batch]``.
    The model runs in eval mode (no dropout: the Hessian of one deterministic loss), attention on
    the math kernel (the fused ones have no second derivative)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    wrapped = supervision.wrap(model).eval()
    device = next(model.parameters()).device
    out = []
    for i in range(len(model.layers)):
        params = layer_weights(model, i)
        values = []
        for b, batch in enumerate(batches):
            inputs = supervision.inputs(batch, device)
            loss = lambda inputs=inputs: wrapped(**inputs).loss
            with sdpa_kernel(SDPBackend.MATH):
                values.append(top_eigenvalue(loss, params, iterations, tolerance, seed + b))
        out.append(values)
    return out


def qbert_bits(
    model: nn.Module, eigenvalues: list[list[float]], choices, budget_bits: float, fixed_bits: float = 0.0
) -> list[int]:
    """Bits per encoder layer: ranked by ``Omega`` (:func:`~bertq.quantization.hessian.sensitivity`),
    within ``budget_bits`` for the searched weights plus ``fixed_bits``."""
    weights = [sum(w.numel() for w in layer_weights(model, i)) for i in range(len(eigenvalues))]
    omegas = [sensitivity(v) for v in eigenvalues]
    return ranked_assignment(omegas, weights, choices, budget_bits - fixed_bits)


def fix_layer_bits(layers: dict[str, MixedPrecisionLinear], bits: list[int]) -> dict[str, list[int]]:
    """Put every subgroup of layer ``i``'s searchable linears at ``bits[i]``; returns the assignment."""
    assignment = {}
    for name, m in layers.items():
        i = int(name.split(".")[3])
        if bits[i] not in m.bits:
            raise ValueError(f"{name}: layer {i}'s {bits[i]} bits are not among the space's {sorted(m.bits)}")
        m.assignment = torch.full((m.space.groups,), m.bits.index(bits[i]), dtype=torch.long)
        assignment[name] = [bits[i]] * m.space.groups
    return assignment
