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
    engine: bool = False,
) -> dict:
    """Score one variant and return the task's metrics; span tasks' results (SQuAD, TyDi QA, NQ)
    also carry the split used and the predicted answers.

    ``qa_decoding`` holds ``n_best_size`` and ``max_answer_length`` for span tasks; ``ranges`` is a
    calibrate job's output: the activation sites it names are quantized with its static ranges;
    ``dynamic`` (:class:`~bertq.quantization.dynamic.DynamicConfig` settings) runs every quantized
    linear with dynamic int8 activations; ``engine`` runs the dynamic linears, or the static ones
    whose input site has a per-tensor range, on the integer engine's kernels (else dynamic ones on
    their torch twin, static ones in fake quantization); the result records how
    (``scored_on``, ``kernel_path``, ``integer_ops``: linears and attention products on the
    kernels, of all).
    """
    torch.set_num_threads(threads)
    started = time.perf_counter()
    model, scored = _model(finetuned_dir, quantized, ranges, dynamic, engine, threads)
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
            metric=spec.metric,
        )
        metrics.update({"split": meta["split"], "predictions": predictions})
    else:
        from ..data.tokenized import load_tokenized
        from .classify import score

        splits, _ = load_tokenized(tokenized)
        metrics = score(model, spec, splits, batch_size)
    scored["scoring_seconds"] = time.perf_counter() - started
    return {"task": spec.name, "metric": spec.metric, **metrics, **scored}


def _model(finetuned_dir, quantized, ranges, dynamic: dict | None, engine: bool, threads: int):
    """The model to score and what the result records of how it ran: in float, in fake
    quantization (dequantized weights, static activation ranges), or on the integer engine's
    kernels (numba threads as the job's) or their torch twin."""
    from ..engine import model as engine_model
    from ..models.encoder import MatMul

    if dynamic is None and (ranges is None or not engine):
        model = build_model(finetuned_dir, quantized)  # fake quantization: dequantized weights
        if ranges is not None:
            from ..quantization.activation import apply_ranges, load_ranges

            apply_ranges(model, load_ranges(ranges))
        return model, {"scored_on": "float" if quantized is None and ranges is None else "fake-quant"}
    if quantized is None:
        raise ValueError("the integer engine runs quantized linears: the variant has no quantized checkpoint")
    backend, path, scored = "twin", None, {"scored_on": "torch twin"}
    if engine:
        import numba

        from ..kernels.simd import default_path

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        backend, path = "engine", default_path()
        scored = {"scored_on": "integer engine", "kernel_path": path}
    if dynamic is not None:
        return engine_model.load_dynamic_model(finetuned_dir, quantized, dynamic, backend, path=path), scored
    from ..quantization.activation import load_ranges

    model, on_kernels = engine_model.load_static_model(finetuned_dir, quantized, load_ranges(ranges), backend, path)
    floats = sum(isinstance(m, torch.nn.Linear | MatMul) for m in model.modules())
    return model, {**scored, "integer_ops": f"{len(on_kernels)} of {len(on_kernels) + floats}"}
