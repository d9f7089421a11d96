"""Model size and ACE of a (possibly quantized) checkpoint, as the reports need them."""

from __future__ import annotations

from pathlib import Path

import torch

from ..models.checkpoint import empty_model, is_albert_config, read_config
from ..models.encoder import head_of
from ..models.families import FAMILIES
from ..quantization.bit_search import MIB_BITS
from .ace import ace, count_macs, count_model_macs

LAYER_ROOTS = sorted({family.layers.split(".")[0] for family in FAMILIES.values()})
"""Where each family's layers sit (``encoder``, DistilBERT's ``transformer``)."""


def encoder_size_bits(state: dict, quantized=None) -> float:
    """The model's size as Zhao et al. (2021) count it ("All model sizes reported here exclude the
    embedding layer", Tables 1 and 3): every parameter of the encoder layers, a quantized weight at
    its bits per weight (``mean_bits``: a pruned group adds none; its grid's scales not counted),
    every other parameter (biases, LayerNorm) at 32 bits. AQ-BERT's size targets count the same."""
    tensors = quantized.tensors if quantized is not None else {}
    total = 0.0
    for name, value in state.items():
        if any(f".{root}." in f".{name}" for root in LAYER_ROOTS):
            qt = tensors.get(name)
            total += int(value.size) * (qt.mean_bits if qt is not None else 32.0)
    return total


def cost_summary(config, state: dict, quantized, sequence_length: int, activation_bits, activations=None) -> dict:
    """``size_bytes`` counts what would be stored (see ``QuantizedModel.size_bits``); ``ace`` is
    eq. 8 at ``sequence_length`` tokens with ``activation_bits``-bit activations (32: the paper
    quantizes weights only), counted for the head the checkpoint has (classifier or span); with
    ``activations`` (an :class:`~bertq.quantization.activation.ActivationConfig` dict), at the bits
    each activation site has under it, 32 at the sites it leaves float; with ``{"dynamic_bits":
    b}`` (dynamic quantization, :mod:`bertq.quantization.dynamic`), ``b`` at the input site of
    every quantized linear.
    ``encoder_size_mib`` is the size as Zhao et al. (2021) count it (:func:`encoder_size_bits`).
    ``config``: the checkpoint's config (:func:`bertq.models.checkpoint.load_finetuned`) or the
    path of its ``config.json``."""
    if isinstance(config, (str, Path)):
        config = read_config(config)
    head = head_of(state, config)
    if is_albert_config(config):
        with torch.device("meta"):
            model = empty_model(config, head)
        macs = count_model_macs(model, sequence_length, config.max_position_embeddings)
    else:
        macs = count_macs(config, sequence_length, head=head)
    weight_bits, splits = {}, {}
    if quantized is not None:
        for name, qt in quantized.tensors.items():
            if name in macs.linear:
                weight_bits[name] = qt.mean_bits  # mixed precision: pruned groups do no MACs
                splits[name] = qt.n_split
    site_bits = None
    if activations is not None:
        if is_albert_config(config):
            raise ValueError("activation quantization needs a BERT encoder (bertq.models.encoder), not ALBERT")
        from ..models.sites import linear_input_site, site_names
        from ..quantization.activation import ActivationConfig

        layers = config.num_hidden_layers
        names = site_names(layers, head, config)
        if "dynamic_bits" in activations:
            site_bits = dict.fromkeys(names, 32)
            for name in weight_bits:
                site = linear_input_site(name, layers, config.num_feedforward_networks, head=head)
                if site is not None:
                    site_bits[site] = activations["dynamic_bits"]
        else:
            site_bits = ActivationConfig.from_dict(activations).site_bits_of(names, layers)
        activation_bits = site_bits
    total = int(sum(a.size for a in state.values()))
    return {
        "fp32_size_bytes": 4.0 * total,
        "encoder_size_mib": encoder_size_bits(state, quantized) / MIB_BITS,
        "ace": ace(macs, weight_bits, activation_bits, splits),
        "fp32_ace": ace(macs, {}, 32),
        "macs": macs.total,
        "attention_macs": macs.attention,
        "cost_sequence_length": sequence_length,
        "activation_bits": activation_bits if site_bits is None else None,
        "site_activation_bits": site_bits,
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "head": head,
    }
