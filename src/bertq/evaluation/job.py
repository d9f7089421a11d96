"""The evaluate job: fine-tuned (and optionally quantized) weights scored on the dev split(s)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.numpy import load_file

from ..data.tasks import TaskSpec
from ..data.tokenized import load_tokenized
from ..models.encoder import BertClassifier, EncoderConfig
from ..quantization.model import load_quantized
from .classify import score


def load_inference_model(finetuned_dir: str | Path, quantized: str | Path | None) -> BertClassifier:
    """The encoder with fp32 weights, or with every quantized weight replaced by its dequantized
    value (fake quantization; integer kernels plug in elsewhere)."""
    finetuned_dir = Path(finetuned_dir)
    state = load_file(str(finetuned_dir / "model.safetensors"))
    if quantized is not None:
        state = load_quantized(quantized).dequantized_state(state)
    return BertClassifier.from_state(EncoderConfig.from_json(finetuned_dir / "config.json"), state)


def run_evaluate(finetuned_dir: str | Path, quantized: str | Path | None, tokenized: str | Path,
                 spec: TaskSpec, *, batch_size: int, threads: int, output: str | Path,
                 labels: dict) -> dict:
    torch.set_num_threads(threads)
    model = load_inference_model(finetuned_dir, quantized)
    splits, _ = load_tokenized(tokenized)
    metrics = score(model, spec, splits, batch_size)
    result = {**labels, "task": spec.name, "metric": spec.metric, **metrics}
    Path(output).write_text(json.dumps(result, indent=1))
    return result
