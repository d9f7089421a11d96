"""The evaluate job: fine-tuned (and optionally quantized) weights scored on the dev split(s)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..data.tasks import TaskSpec
from ..models.checkpoint import build_model


def run_evaluate(
    finetuned_dir: str | Path,
    quantized: str | Path | None,
    tokenized: str | Path,
    spec: TaskSpec,
    *,
    batch_size: int,
    threads: int,
    qa_decoding: dict | None = None,
    ranges: str | Path | None = None,
) -> dict:
    """Score one variant and return the task's metrics; SQuAD results also carry the split used and
    the predicted answers.

    ``qa_decoding`` holds ``n_best_size`` and ``max_answer_length`` for SQuAD; ``ranges`` is a
    calibrate job's output: the activation sites it names are quantized with its static ranges.
    """
    torch.set_num_threads(threads)
    model = build_model(finetuned_dir, quantized)  # fake quantization: dequantized weights
    if ranges is not None:
        from ..quantization.activation import apply_ranges, load_ranges

        apply_ranges(model, load_ranges(ranges))
    if spec.is_span:
        from ..data.tokenized_squad import load_squad_features
        from .qa import score_squad

        decoding = qa_decoding or {}
        feats, examples, meta = load_squad_features(tokenized)
        metrics, predictions = score_squad(
            model,
            feats["dev"],
            examples,
            batch_size=batch_size,
            n_best=decoding.get("n_best_size", 20),
            max_answer_length=decoding.get("max_answer_length", 30),
        )
        metrics.update({"split": meta["split"], "predictions": predictions})
    else:
        from ..data.tokenized import load_tokenized
        from .classify import score

        splits, _ = load_tokenized(tokenized)
        metrics = score(model, spec, splits, batch_size)
    return {"task": spec.name, "metric": spec.metric, **metrics}
