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


def trained_summary(base_summary: str | Path, tuned, state: dict, step: str, record: dict) -> dict:
    """The quantize job's summary of a variant's PTQ start (``base_summary``) after the training step
    ``step`` (``centroid_finetune``, ``qat``, ``adaround``) changed its weights to ``tuned`` (a
    :class:`~bertq.quantization.model.QuantizedModel`): each weight's error against the fp32 weight
    in ``state`` and the size counted again, the quantize job's provenance kept as ``quantized_by``
    (the training job adds its own), and ``record`` under ``step``."""
    import json

    import numpy as np

    from .model import to_input_major
    from .quantizer import mse

    for name, qt in tuned.tensors.items():
        tuned.layer_mse[name] = mse(to_input_major(name, state[name].astype(np.float64)), qt.dequantize())
    result = json.loads(Path(base_summary).read_text())
    result["quantized_by"] = result.pop("provenance", None)
    result.update(
        {k: v for k, v in tuned.summary().items() if k in ("size_bits", "size_bytes", "mean_layer_mse", "layer_mse")}
    )
    result[step] = record
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
