"""The quantize job: a fine-tuned checkpoint in, codes + scales and a cost summary out."""

from __future__ import annotations

import time
from pathlib import Path

from ..cost.summary import cost_summary
from ..models.checkpoint import load_state
from .model import quantize_state, save_quantized


def run_quantize(
    finetuned_dir: str | Path,
    method: str,
    bits: int,
    params: dict,
    *,
    cost_sequence_length: int,
    activation_bits: int,
    checkpoint: str | Path,
    embedding_bits: int | None = None,
    scope: str = "encoder",
    activations: dict | None = None,
) -> dict:
    """Quantize the weights of ``scope`` of a fine-tuned checkpoint, write the codes and scales to
    ``checkpoint``, and return the summary: the quantization's settings, size and layer errors,
    and the cost (ACE, eq. 8; with ``activations``, at each activation site's bits)."""
    finetuned_dir = Path(finetuned_dir)
    state = load_state(finetuned_dir)
    started = time.perf_counter()
    qm = quantize_state(state, method, bits, params, embedding_bits, scope)
    seconds = time.perf_counter() - started
    save_quantized(qm, checkpoint)
    result = qm.summary()
    result["quantization_seconds"] = seconds
    result.update(
        cost_summary(finetuned_dir / "config.json", state, qm, cost_sequence_length, activation_bits, activations)
    )
    return result


def run_baseline_cost(
    finetuned_dir: str | Path, *, cost_sequence_length: int, activation_bits: int, activations: dict | None = None
) -> dict:
    """The size and ACE of the model with fp32 weights (with ``activations``, its activations
    quantized so), in the same format as a quantized summary."""
    finetuned_dir = Path(finetuned_dir)
    state = load_state(finetuned_dir)
    total = int(sum(a.size for a in state.values()))
    result = {
        "method": "fp32",
        "bits": 32,
        "params": {},
        "total_params": total,
        "quantized_params": 0,
        "quantization_ratio": 0.0,
        "split_channels": {},
        "size_bits": 32 * total,
        "size_bytes": 4.0 * total,
        "mean_layer_mse": 0.0,
        "layer_mse": {},
    }
    result.update(
        cost_summary(finetuned_dir / "config.json", state, None, cost_sequence_length, activation_bits, activations)
    )
    return result
