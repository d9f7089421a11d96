"""The two mixed-precision jobs (Zhao et al., 2021): AQ-BERT's search and the Q-BERT baseline, each
from a fine-tuned checkpoint to a bit assignment, the network retrained with it, and the result as
every other variant has it: a checkpoint directory (the retrained float weights) and the quantized
weights in the packed format (:class:`~bertq.quantization.tensor.MixedPrecisionTensor` for the
encoder linears, the token embeddings at ``embedding_bits`` on a linear grid, "uniformly quantized
embedding by 8-bit" in the paper), with a summary of what was assigned.

Both use only the training split: AQ-BERT holds out ``held_out`` of it for the bit logits
(``L_val``), Q-BERT draws its Hessian batches from it.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..models.checkpoint import build_model, load_state
from ..quantization.bit_search import SearchSpace
from ..quantization.model import QuantizedModel, quantize_state, save_quantized, to_input_major
from ..quantization.quantizer import mse
from .bit_search import MIB_BITS, SEARCH_DEFAULTS, attach_search, fix_assignment, fixed_bits, retrain, search
from .finetune import changed_float_tensors
from .qbert import fix_layer_bits, layer_eigenvalues, qbert_bits
from .supervision import Supervision

QBERT_DEFAULTS = {
    **{k: SEARCH_DEFAULTS[k] for k in ("target_mb", "retrain_epochs", "learning_rate", "batch_size")},
    **{k: SEARCH_DEFAULTS[k] for k in ("warmup_ratio", "max_grad_norm", "max_train_examples")},
    "bits": [2, 3, 4, 8],
    "groups": 128,
    "hessian_batches": 4,
    "hessian_batch_size": 32,
    "power_iterations": 20,
}
"""Q-BERT's settings where an entry gives none: 128 groups per layer (its group-wise setting),
bits 2/3/4/8 per layer, the top eigenvalue on 4 batches of 32 training sequences."""

EMBEDDING_BITS = 8
"""The token embeddings' bits where an entry gives none: "uniformly quantized embedding by 8-bit"."""


def _training_data(spec, tokenized, params: dict, seed: int):
    """The training split (sequences, or SQuAD windows of ``max_train_examples`` questions), its
    supervision and the job's generator."""
    from .objectives import load_objective

    objective = load_objective(spec, tokenized, params)
    rng = np.random.default_rng(seed)
    if params.get("max_train_examples"):
        objective.subsample(rng, params["max_train_examples"])
    return objective.train, Supervision.of(spec), rng


def _export(model, layers, finetuned: dict, embedding_bits: int, method: str) -> QuantizedModel:
    """The retrained model as quantized weights (the searched linears at their assignment, the
    token embeddings at ``embedding_bits``, symmetric per tensor) and float tensors (every other
    parameter that differs from the fine-tuned state ``finetuned``)."""
    state = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items() if not k.endswith(".logits")}
    embeddings = quantize_state(
        {k: v for k, v in state.items() if k.endswith("word_embeddings.weight")}, "lq", embedding_bits
    )
    tensors = {f"{name}.weight": m.quantized() for name, m in layers.items()}
    errors = {n: mse(to_input_major(n, state[n].astype(np.float64)), t.dequantize()) for n, t in tensors.items()}
    quantized = {**embeddings.tensors, **tensors}
    floats = changed_float_tensors(model, finetuned, quantized)
    return QuantizedModel(
        method,
        int(max(m.bits[0] for m in layers.values())),
        {},
        quantized,
        {**embeddings.layer_mse, **errors},
        sum(int(a.size) for a in state.values()),
        embedding_bits,
        float_tensors=floats,
    )


def _summary(method: str, assignment: dict, quantized: QuantizedModel, records: dict) -> dict:
    bits = np.concatenate([np.asarray(b) for b in assignment.values()])
    return {
        **quantized.summary(),
        "method": method,
        "groups_per_width": {int(b): int((bits == b).sum()) for b in sorted(set(bits.tolist()))},
        "pruned_groups": int((bits == 0).sum()),
        "layer_mean_bits": {n: float(np.mean(b)) for n, b in assignment.items()},
        "assignment": assignment,
        **records,
    }


def run_aq_bert(
    finetuned_dir, spec, tokenized, params: dict, seed: int, *, quantized_out, device="cpu", threads=1
) -> tuple[dict, QuantizedModel]:
    """AQ-BERT (:mod:`bertq.training.bit_search`) with ``params`` over
    :data:`~bertq.training.bit_search.SEARCH_DEFAULTS` (and ``embedding_bits``, default 8)."""
    from ..models.device import pick_device
    from .finetune import seed_everything

    torch.set_num_threads(threads)
    seed_everything(seed)
    params = {**SEARCH_DEFAULTS, "embedding_bits": EMBEDDING_BITS, **params}
    dev = pick_device(device)
    split, supervision, rng = _training_data(spec, tokenized, params, seed)
    order = rng.permutation(len(split))
    n_held = max(1, int(round(params["held_out"] * len(split))))
    held_out, train = split.subset(np.sort(order[:n_held])), split.subset(np.sort(order[n_held:]))
    model = build_model(finetuned_dir)
    layers = attach_search(model, SearchSpace(tuple(params["bits"]), params["groups"]), params["init_std"], seed)
    model.to(dev)
    searched = search(model, layers, train, held_out, supervision, params, rng, dev)
    assignment = fix_assignment(layers)
    retrained = retrain(model, layers, split, supervision, params, rng, dev)
    model.cpu()
    quantized = _export(model, layers, load_state(finetuned_dir), params["embedding_bits"], "aq_bert")
    save_quantized(quantized, quantized_out)
    records = {"search": searched, "retrain": retrained, "params": params, "device": str(dev)}
    return _summary("aq_bert", assignment, quantized, records), quantized


def run_q_bert(
    finetuned_dir, spec, tokenized, params: dict, seed: int, *, quantized_out, device="cpu", threads=1
) -> tuple[dict, QuantizedModel]:
    """Q-BERT (:mod:`bertq.training.qbert`) with ``params`` over :data:`QBERT_DEFAULTS` (and
    ``embedding_bits``, default 8)."""
    from ..models.device import pick_device
    from ..quantization.calibration import calibration_batches
    from .finetune import seed_everything

    torch.set_num_threads(threads)
    seed_everything(seed)
    params = {**QBERT_DEFAULTS, "embedding_bits": EMBEDDING_BITS, **params}
    dev = pick_device(device)
    split, supervision, rng = _training_data(spec, tokenized, params, seed)
    model = build_model(finetuned_dir).to(dev)
    batches = calibration_batches(split, params["hessian_batch_size"], params["hessian_batches"], seed)
    eigenvalues = layer_eigenvalues(model, batches, supervision, params["power_iterations"], seed=seed)
    layers = attach_search(model.cpu(), SearchSpace(tuple(params["bits"]), params["groups"]), 0.0, seed)
    fixed = fixed_bits(model, layers)
    target = float(params["target_mb"]) * MIB_BITS
    layer_bits = qbert_bits(model, eigenvalues, params["bits"], target, fixed)
    assignment = fix_layer_bits(layers, layer_bits)
    model.to(dev)
    retrained = retrain(model, layers, split, supervision, params, rng, dev)
    model.cpu()
    quantized = _export(model, layers, load_state(finetuned_dir), params["embedding_bits"], "q_bert")
    save_quantized(quantized, quantized_out)
    records = {
        "eigenvalues": eigenvalues,
        "layer_bits": layer_bits,
        "retrain": retrained,
        "params": params,
        "device": str(dev),
    }
    return _summary("q_bert", assignment, quantized, records), quantized


SEARCH_METHODS = {"aq_bert": (SEARCH_DEFAULTS, run_aq_bert), "q_bert": (QBERT_DEFAULTS, run_q_bert)}
"""The mixed-precision methods a ``quantization.methods`` entry may name (its ``search`` settings
default to the first element; the second runs it)."""


def run_search(
    finetuned_dir,
    method: str,
    spec,
    tokenized,
    params: dict,
    seed: int,
    *,
    checkpoint,
    cost_sequence_length: int,
    activation_bits: int,
    embedding_bits: int | None = None,
    activations: dict | None = None,
    device: str = "cpu",
    threads: int = 1,
) -> dict:
    """The search job: ``method`` (a key of :data:`SEARCH_METHODS`) from the fine-tuned checkpoint
    in ``finetuned_dir``, its packed weights to ``checkpoint``, and the summary every quantized
    variant has (size, ACE with ``activations`` as :func:`~bertq.cost.summary.cost_summary` counts
    it, the encoder's size as the paper counts it) with the assignment and the search's records."""
    from ..cost.summary import cost_summary

    try:
        run = SEARCH_METHODS[method][1]
    except KeyError:
        raise ValueError(f"unknown mixed-precision method {method!r}; known: {', '.join(SEARCH_METHODS)}") from None
    params = {**params, "embedding_bits": EMBEDDING_BITS if embedding_bits is None else embedding_bits}
    started = time.perf_counter()
    summary, quantized = run(
        finetuned_dir, spec, tokenized, params, seed, quantized_out=checkpoint, device=device, threads=threads
    )
    # the search (or the Hessian ranking) and the export; the retraining is the tuning step
    summary["quantization_seconds"] = time.perf_counter() - started - summary["retrain"]["seconds"]
    state = load_state(finetuned_dir)
    config = Path(finetuned_dir) / "config.json"
    summary.update(cost_summary(config, state, quantized, cost_sequence_length, activation_bits, activations))
    return summary
