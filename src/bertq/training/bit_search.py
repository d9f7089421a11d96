"""AQ-BERT's search loop (Zhao et al., 2021, Algorithm 1, sections 3.5-3.6, 4.1) on a bertq BERT
classifier.

Every encoder linear (query, key, value, attention output, FFN in and out of every layer) becomes a
:class:`~bertq.quantization.bit_search.MixedPrecisionLinear`. Per epoch:

1. the Gumbel-softmax temperature is set by eq. 12;
2. each training batch updates the weights on ``L_train`` (cross-entropy, or MSE for a regressor)
   with AdamW (the paper: learning rate 2e-5, here with BERT's linear warm-up and decay);
3. from epoch ``N_1`` on, each training step is followed by one step on the bit logits over a
   held-out batch of the *training* split (never the dev split): ``L_val = L_task + lambda L_size``
   (eqs. 3-6), SGD at 0.1 (section 4.1). This is eq. 14's first-order form (``xi = 0``), which the
   paper notes the update reduces to once the weights are near a local optimum (DARTS' first-order
   variant).

Then each subgroup takes its most probable width (the argmax, section 3.6 step 3) and the network
is trained again with that assignment fixed (``retrain_epochs``; the paper retrains the
assignment, here from the fine-tuned weights, as Q-BERT's quantization-aware fine-tuning does).

Sizes follow the paper's count: the encoder layers only (embeddings, pooler and head excluded, as
Tables 1 and 3 say), searched weights at their bits, every other encoder-layer parameter (biases,
LayerNorm) at 32 bits, in MiB (BERT-Base's 324.5 "MB" is its 85M encoder parameters in MiB).

Not given by the paper, chosen and configurable: ``lambda`` (``size_weight``), the tolerance
``eps``, and the temperature schedule, FBNet's (Wu et al., 2019: ``t_0 = 5``, ``eta = 0.045`` per
epoch), the differentiable-search schedule the paper builds on.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn

from ..models.families import FAMILIES, LINEAR_ROLES, bert_keys
from ..quantization.bit_search import (
    MIB_BITS,
    MixedPrecisionLinear,
    SearchSpace,
    assigned_size,
    check_target,
    expected_size,
    size_loss,
    temperature,
)
from .supervision import Supervision

SEARCH_DEFAULTS = {
    "bits": [0, 2, 4, 8],
    "groups": 128,
    "init_std": 0.1,
    "target_mb": None,
    "tolerance": 0.05,
    "size_weight": 1.0,
    "initial_temperature": 5.0,
    "temperature_decay": 0.045,
    "warmup_epochs": 0,
    "delay_epochs": 1,
    "epochs": 3,
    "learning_rate": 2e-5,
    "arch_learning_rate": 0.1,
    "batch_size": 32,
    "held_out": 0.1,
    "retrain_epochs": 1,
    "warmup_ratio": 0.1,
    "max_grad_norm": 1.0,
    "max_train_examples": None,
}
"""A search entry's settings where it gives none: the paper's optimisers (section 4.1), 128 groups
(Tables 1, 3), bits 0/2/4/8; ``target_mb`` must be given. ``init_std``: the bit logits start
from ``N(0, 0.1**2)`` rather than DARTS' ``N(0, 1e-3**2)``: the size loss pushes every
subgroup's logits alike, and the subgroups cross to another width one by one only if their
margins are spread (at 1e-3 whole layers flip together and the size jumps across the band)."""


def _mobile_linears(hidden: int, intermediate: int, config: dict) -> dict[str, tuple[int, int]]:
    """``{path: (in, out)}`` of a MobileBERT layer's linears (``config``: its ``config.json``)."""
    c = bert_keys({**config, "model_type": "mobilebert"})
    b, ffns = c["intra_bottleneck_size"], c["num_feedforward_networks"]
    shapes = {
        "bottleneck_input": (hidden, b),
        "bottleneck_attention": (hidden, b),
        "query": (b, b),
        "key": (b, b),
        "value": (hidden, b),
        "attention_output": (b, b),
        "stacked_ffn_in": (b, intermediate),
        "stacked_ffn_out": (intermediate, b),
        "ffn_in": (b, intermediate),
        "ffn_out": (intermediate, b),
        "bottleneck_output": (b, hidden),
    }
    return {path: shapes[role] for role, path in FAMILIES["mobilebert"].layer_linears(ffns)}


def searched_widths(hidden: int, intermediate: int, family: str = "bert", config: dict | None = None) -> dict[str, int]:
    """The output neurons of each linear of one encoder layer the search assigns bits to (the
    family's :attr:`~bertq.models.families.Family.linears`; what the subgroups divide); MobileBERT's
    from its ``config`` (bottleneck width, feed-forward networks)."""
    if FAMILIES[family].roles != LINEAR_ROLES:
        return {path: out for path, (_, out) in _mobile_linears(hidden, intermediate, config or {}).items()}
    return dict(zip(FAMILIES[family].linears, (hidden, hidden, hidden, hidden, intermediate, hidden)))


def encoder_size_range(
    hidden: int, intermediate: int, layers: int, bits, family: str = "bert", config: dict | None = None
) -> tuple[float, float]:
    """The smallest and largest size (bits, as the paper counts it) of a BERT encoder of this shape
    with every searched subgroup at the narrowest or the widest of ``bits``: per layer
    ``4h^2 + 2hf`` searched weights, and ``9h + f`` biases and LayerNorm parameters at 32 bits. In
    closed form, so that a config's target is checked before any job runs;
    :func:`~bertq.quantization.bit_search.size_range` on a built model gives the same. MobileBERT
    (``config``: bottleneck ``b``, ``F`` feed-forward networks): its linears' weights, and per
    layer their biases and the norms' ``2 (3b + F b + h)`` scales and shifts."""
    if FAMILIES[family].roles != LINEAR_ROLES:
        shapes = _mobile_linears(hidden, intermediate, config or {})
        c = bert_keys({**(config or {}), "model_type": "mobilebert"})
        b, ffns = c["intra_bottleneck_size"], c["num_feedforward_networks"]
        searched = layers * sum(i * o for i, o in shapes.values())
        fixed = 32 * layers * (sum(o for _, o in shapes.values()) + 2 * (3 * b + ffns * b + hidden))
    else:
        searched = layers * (4 * hidden * hidden + 2 * hidden * intermediate)
        fixed = 32 * layers * (9 * hidden + intermediate)
    return fixed + min(bits) * searched, fixed + max(bits) * searched


def attach_search(
    model: nn.Module, space: SearchSpace, init_std: float = SEARCH_DEFAULTS["init_std"], seed: int = 0
) -> dict[str, MixedPrecisionLinear]:
    """Replace every encoder linear of ``model`` (a bertq BERT) by a searchable one, in place, its
    bit logits drawn from ``N(0, init_std**2)``; returns them by module name
    (``bert.encoder.layer.<i>.<linear>``)."""
    space.check()
    generator = torch.Generator().manual_seed(seed)
    layers = {}
    family = model.config.family
    for i, layer in enumerate(model.layers):
        for _, sub in family.layer_linears(model.config.num_feedforward_networks):
            name = f"{family.body}.{family.layers}.{i}.{sub}"
            parent, _, child = sub.rpartition(".")
            owner = layer.get_submodule(parent)
            layers[name] = MixedPrecisionLinear(getattr(owner, child), space, name)
            with torch.no_grad():
                layers[name].logits.normal_(0.0, init_std, generator=generator)
            setattr(owner, child, layers[name])
    return layers


def fixed_bits(model: nn.Module, layers: dict[str, MixedPrecisionLinear]) -> float:
    """The encoder layers' parameters the search does not choose (biases, LayerNorm), at 32 bits."""
    searched = {id(m.weight) for m in layers.values()} | {id(m.logits) for m in layers.values()}
    return 32.0 * sum(p.numel() for p in model.layers.parameters() if id(p) not in searched)


def _batches(split, batch_size: int, rng: np.random.Generator):
    """Endless padded batches over ``split``, reshuffled at every pass."""
    while True:
        yield from split.batches(batch_size, rng.permutation(len(split)))


def search(
    model: nn.Module,
    layers: dict[str, MixedPrecisionLinear],
    train,
    held_out,
    supervision: Supervision,
    params: dict,
    rng: np.random.Generator,
    device: torch.device,
    log_every: int = 0,
) -> dict:
    """Algorithm 1's loop over ``params["epochs"]`` (see the module docstring); ``train`` and
    ``held_out`` are tokenised splits (or SQuAD windows), ``supervision`` their loss and targets.
    Leaves each layer's logits trained and returns a record."""
    from transformers import get_linear_schedule_with_warmup

    params = {**SEARCH_DEFAULTS, **params}
    if params["target_mb"] is None:
        raise ValueError("search.target_mb: the size to search for (MiB of the encoder layers) is not given")
    group = list(layers.values())
    fixed = fixed_bits(model, layers)
    target = float(params["target_mb"]) * MIB_BITS
    tolerance = float(params["tolerance"])
    check_target(group, target, tolerance, fixed)
    logits = [m.logits for m in group]
    logit_ids = {id(p) for p in logits}
    weights = [p for p in model.parameters() if id(p) not in logit_ids]
    decay = [p for p in weights if p.ndim >= 2]
    no_decay = [p for p in weights if p.ndim < 2]
    opt_w = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=params["learning_rate"],
    )
    opt_a = torch.optim.SGD(logits, lr=params["arch_learning_rate"])
    batch_size = params["batch_size"]
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = steps_per_epoch * int(params["epochs"])
    schedule = get_linear_schedule_with_warmup(opt_w, int(params["warmup_ratio"] * total), total)
    wrapped = supervision.wrap(model).to(device).train()
    validation = _batches(held_out, batch_size, rng)
    history, started, step = [], time.perf_counter(), 0
    for epoch in range(int(params["epochs"])):
        t = temperature(epoch, params["initial_temperature"], params["temperature_decay"], params["warmup_epochs"])
        for m in group:
            m.temperature = t
        for batch in train.batches(batch_size, rng.permutation(len(train))):
            loss = wrapped(**supervision.inputs(batch, device)).loss
            opt_w.zero_grad(set_to_none=True)
            loss.backward()
            for p in logits:  # the weights' step only
                p.grad = None
            torch.nn.utils.clip_grad_norm_(weights, params["max_grad_norm"])
            opt_w.step()
            schedule.step()
            entry = {"step": step + 1, "epoch": epoch, "temperature": t, "train_loss": float(loss.detach())}
            if epoch >= params["delay_epochs"]:
                task = wrapped(**supervision.inputs(next(validation), device)).loss
                expected = expected_size(group, fixed)
                penalty = size_loss(expected, assigned_size(group, fixed), target, tolerance)
                grads = torch.autograd.grad(task + params["size_weight"] * penalty, logits)
                for p, g in zip(logits, grads):
                    p.grad = g
                opt_a.step()
                entry.update(val_loss=float(task.detach()), size_loss=float(penalty.detach()))
            step += 1
            if log_every and (step % log_every == 0 or step == total):
                entry.update(assigned_mb=assigned_size(group, fixed) / MIB_BITS)
                entry["expected_mb"] = float(expected_size(group, fixed).detach()) / MIB_BITS
                history.append(entry)
    model.eval()
    return {
        "steps": step,
        "seconds": time.perf_counter() - started,
        "target_mb": params["target_mb"],
        "size_mb": assigned_size(group, fixed) / MIB_BITS,
        "expected_mb": float(expected_size(group, fixed).detach()) / MIB_BITS,
        "fixed_mb": fixed / MIB_BITS,
        "history": history,
    }


def fix_assignment(layers: dict[str, MixedPrecisionLinear]) -> dict[str, list[int]]:
    """Each subgroup's most probable width, fixed on its layer; returns the bits by layer."""
    assignment = {}
    for name, m in layers.items():
        m.assignment = m.logits.detach().argmax(-1)
        assignment[name] = m.chosen_bits().long().tolist()
    return assignment


def retrain(
    model: nn.Module,
    layers: dict[str, MixedPrecisionLinear],
    train,
    supervision: Supervision,
    params: dict,
    rng: np.random.Generator,
    device: torch.device,
) -> dict:
    """Train the weights with the fixed assignment (straight-through min-max quantization per
    subgroup) for ``retrain_epochs``; returns a record."""
    from .finetune import train as train_loop

    params = {**SEARCH_DEFAULTS, **params}
    if not params["retrain_epochs"]:
        return {"steps": 0, "seconds": 0.0}
    logit_ids = {id(m.logits) for m in layers.values()}
    for m in layers.values():
        m.logits.requires_grad_(False)
    weights = [p for p in model.parameters() if id(p) not in logit_ids]
    groups = [
        {"params": [p for p in weights if p.ndim >= 2], "weight_decay": 0.01},
        {"params": [p for p in weights if p.ndim < 2], "weight_decay": 0.0},
    ]
    loop = {**params, "epochs": params["retrain_epochs"], "amp": False}
    wrapped = supervision.wrap(model).to(device)
    log, steps, _, seconds = train_loop(
        wrapped, supervision.labelled(train), groups, loop, rng, device, desc="retrain", progress=False
    )
    model.eval()
    return {"steps": steps, "seconds": seconds, "final_loss": log[-1]["loss"] if log else None}
