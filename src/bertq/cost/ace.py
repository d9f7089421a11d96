"""Arithmetic Computation Effort (Zhang et al., 2021; Hu et al., 2022, eq. 8).

``ACE = sum_{i,j} n_ij * i * j`` over the multiply-accumulates (MACs) of one forward pass, where
``n_ij`` counts MACs between an ``i``-bit and a ``j``-bit operand. The MACs are counted exactly by
running the encoder on the meta device (no arithmetic is done) under torch's flop counter: every
``nn.Linear`` is hooked for its own count, and what remains are the activation-by-activation
matmuls of attention (scores ``Q K^T`` and context ``P V``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..models.encoder import EncoderConfig, model_class
from ..models.sites import ATTENTION_OPERANDS, feedforward_networks, linear_input_site


@dataclass
class MacCount:
    sequence_length: int
    linear: dict[str, int] = field(default_factory=dict)
    """MACs of each ``nn.Linear``, keyed by its weight's state-dict name."""
    in_features: dict[str, int] = field(default_factory=dict)
    attention: int = 0
    """MACs of the activation x activation matmuls (attention scores and context)."""
    head: str = "sequence"
    """The model's head kind (what its logits' linear reads, :func:`~bertq.models.sites.linear_input_site`)."""

    @property
    def total(self) -> int:
        return sum(self.linear.values()) + self.attention


def count_macs(config: EncoderConfig, sequence_length: int, batch_size: int = 1, head: str = "sequence") -> MacCount:
    """Exact MAC count of one forward pass of ``batch_size`` sequences of ``sequence_length`` tokens
    through the encoder with its ``head``: ``sequence`` (pooler and classifier on ``[CLS]``),
    ``span`` (a start/end linear on every token, no pooler) or ``token`` (a classifier on every
    token, no pooler)."""
    with torch.device("meta"):
        model = model_class(head)(config).eval()
    return count_model_macs(model, sequence_length, config.max_position_embeddings, batch_size)


def count_model_macs(model: nn.Module, sequence_length: int, max_positions: int, batch_size: int = 1) -> MacCount:
    """The MAC count of any encoder module (built on the meta device) whose forward takes token
    ids: each ``nn.Linear`` counted at every execution (a layer shared across depth, as in
    ALBERT, once per use), the rest attributed to attention."""
    if sequence_length < 1 or sequence_length > max_positions:
        raise ValueError(f"sequence_length must be in [1, {max_positions}], got {sequence_length}")
    with torch.device("meta"):
        ids = torch.zeros(batch_size, sequence_length, dtype=torch.long)
    count = MacCount(sequence_length, head=getattr(model, "head", "sequence"))
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):

            def hook(mod, inputs, output, key=f"{name}.weight"):
                rows = inputs[0].numel() // mod.in_features
                count.linear[key] = count.linear.get(key, 0) + rows * mod.in_features * mod.out_features

            hooks.append(module.register_forward_hook(hook))
            count.in_features[f"{name}.weight"] = module.in_features
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            model(ids)
    finally:
        for h in hooks:
            h.remove()
    total_macs = counter.get_total_flops() // 2
    count.attention = total_macs - sum(count.linear.values())
    return count


def ace(
    macs: MacCount,
    weight_bits: dict[str, float],
    activation_bits: int | Mapping[str, int] = 32,
    split_channels: dict[str, int] | None = None,
    default_weight_bits: int = 32,
) -> float:
    """Eq. 8. Linear MACs cost ``bits_w * bits_a``; attention matmuls ``bits_a * bits_a``.

    ``weight_bits`` maps a linear's weight name to its bit-width (unlisted ones, such as the task
    head, stay at ``default_weight_bits``); with bits per group of output channels (AQ-BERT), the
    mean over channels, as every output channel does the same MACs. An OCS-split linear with
    ``n`` duplicated input channels does ``(in + n) / in`` times the MACs of the original.
    ``activation_bits`` is one width for every activation or, per activation site
    (:mod:`bertq.models.sites`; a site not listed is 32 bits), the bits each site actually has:
    a linear counts its input site's, the attention scores ``bits_Q * bits_K`` and the context
    ``bits_P * bits_V`` of their layer (the attention MACs split evenly over layers and the two
    matmuls).
    """
    split_channels = split_channels or {}
    if isinstance(activation_bits, Mapping):
        layers = sorted({int(n[5 : n.index(".")]) for n in activation_bits if n.startswith("layer")})
        if not layers:
            raise ValueError("per-site activation bits name no encoder layer sites")
        per_matmul = float(macs.attention) / (2 * len(layers))
        total = 0.0
        for i in layers:
            for a, b in ATTENTION_OPERANDS:
                bits_a, bits_b = (activation_bits.get(f"layer{i}.{site}", 32) for site in (a, b))
                total += per_matmul * bits_a * bits_b

        ffns = feedforward_networks(macs.linear)

        def bits_a(name):
            site = linear_input_site(name, len(layers), ffns, head=macs.head)
            return activation_bits.get(site, 32) if site is not None else 32
    else:
        total = float(macs.attention) * activation_bits * activation_bits

        def bits_a(name):
            return activation_bits

    for name, n in macs.linear.items():
        growth = (macs.in_features[name] + split_channels.get(name, 0)) / macs.in_features[name]
        total += n * growth * weight_bits.get(name, default_weight_bits) * bits_a(name)
    return total
