"""The evaluate job: fine-tuned (and optionally quantized) weights scored on the dev split(s)."""

from __future__ import annotations

import time
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
    dynamic: dict | None = None,
) -> dict:
    """Score one variant and return the task's metrics; SQuAD results also carry the split used and
    the predicted answers.

    ``qa_decoding`` holds ``n_best_size`` and ``max_answer_length`` for SQuAD; ``ranges`` is a
    calibrate job's output: the activation sites it names are quantized with its static ranges;
    ``dynamic`` (:class:`~bertq.quantization.dynamic.DynamicConfig` settings) runs every quantized
    linear with dynamic int8 activations, on the integer engine's kernels or on their torch twin
    as it says, and the result records which (``scored_on``, ``kernel_path``).
    """
    torch.set_num_threads(threads)
    started = time.perf_counter()
    scored = {"scored_on": "float" if quantized is None and ranges is None else "fake-quant"}
    if dynamic is not None:
        model, scored = _dynamic_model(finetuned_dir, quantized, dynamic, threads)
    else:
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
    scored["scoring_seconds"] = time.perf_counter() - started
    return {"task": spec.name, "metric": spec.metric, **metrics, **scored}


def _dynamic_model(finetuned_dir, quantized, dynamic: dict, threads: int):
    """The dynamic int8 model, on the engine (numba threads as the job's) or its twin, and what
    the result records of it."""
    from ..engine.model import load_dynamic_model

    if quantized is None:
        raise ValueError("dynamic quantization runs on quantized linears: the variant has no quantized checkpoint")
    if not dynamic.get("engine", True):
        return load_dynamic_model(finetuned_dir, quantized, dynamic, "twin"), {"scored_on": "torch twin"}
    import numba

    from ..kernels.simd import default_path

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    path = default_path()
    model = load_dynamic_model(finetuned_dir, quantized, dynamic, "engine", path=path)
    return model, {"scored_on": "integer engine", "kernel_path": path}
