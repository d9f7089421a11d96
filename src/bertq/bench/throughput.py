"""The timing job: sequences per second of every backend of one model, timed together.

One job per model builds each backend once: torch fp32, torch's dynamic int8
(``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear``), torchao's dynamic int8 where
torchao imports (int8 per-token activations x int8 per-channel weights), and for each timed
(method, bits) variant the bertq models :func:`engine_backends` names. They are timed interleaved,
round-robin (one call of each per round, after warmup rounds), so that a slow spell of a shared
machine hits every backend alike. Each backend keeps its per-round seconds; its speed against
torch fp32 is a paired ratio, taken per round (that round's fp32 seconds / that round's backend
seconds), reported as the median of the ratios with their quartiles. An engine model's first call
(JIT compile, or loading numba's cache) is timed apart, before the rounds.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..models.checkpoint import build_model
from ..pipeline.layout import FP32
from ..pipeline.provenance import cpu_info
from .timing import paired_ratios

TORCH_FP32 = "torch fp32"
TORCH_DYNAMIC_INT8 = "torch dynamic int8"
TORCHAO_DYNAMIC_INT8 = "torchao dynamic int8"
ENGINE_BACKEND = "bertq int8 engine"
CODEBOOK_BACKEND = "bertq codebook engine"
DYNAMIC_BACKEND = "bertq dynamic int8 engine"
BASELINES = {TORCH_FP32: "ratio_to_torch_fp32", TORCH_DYNAMIC_INT8: "ratio_to_torch_dynamic_int8"}
"""The backends every other one is compared with, round by round, and the record key of each ratio."""


@dataclass(frozen=True)
class TimedVariant:
    """One timed (method, bits): ``method`` names its ``quantization.methods`` entry, ``record`` is
    that entry resolved (what :func:`engine_backends` reads its kind from), ``checkpoint`` its
    quantized weights."""

    method: str
    bits: int
    record: dict
    checkpoint: Path


@dataclass(frozen=True)
class Backend:
    """One timed model: its backend label and the (method, bits) whose weights it runs."""

    backend: str
    method: str
    bits: int
    model: nn.Module


def engine_backends(variant: TimedVariant, finetuned_dir: str | Path, path: str) -> dict[str, nn.Module]:
    """The bertq models that time ``variant``, by backend label: its int8 weight codes on the int8
    kernels (7-bit per-token activations, int32 accumulation) and its packed codes on the
    lookup-table kernels, both on instruction path ``path``; a dynamic variant (El-Kurdi et al.,
    2022) runs as it is scored, with 8-bit per-sequence activations (and its TM-IQR clipping)."""
    from ..engine.model import load_dynamic_model, load_engine_model

    if variant.record.get("dynamic") is not None:
        model = load_dynamic_model(finetuned_dir, variant.checkpoint, variant.record["dynamic"], "engine", path=path)
        return {DYNAMIC_BACKEND: model}
    return {
        ENGINE_BACKEND: load_engine_model(finetuned_dir, variant.checkpoint, "int8", path=path),
        CODEBOOK_BACKEND: load_engine_model(finetuned_dir, variant.checkpoint, "codebook", path=path),
    }


def torchao_dynamic_int8(finetuned_dir: str | Path, batch: dict) -> tuple[nn.Module | None, dict]:
    """torchao's dynamic int8 (``Int8DynamicActivationInt8WeightConfig`` on every ``nn.Linear``)
    and what the job records of it; ``None`` with the reason where torchao does not import or the
    quantized model does not run here (an optional backend never fails the job)."""
    try:
        import torchao
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    except Exception as exc:  # not installed, or built for another torch
        return None, {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    try:
        model = build_model(finetuned_dir)
        quantize_(model, Int8DynamicActivationInt8WeightConfig())
        with torch.no_grad():
            model(**batch)
    except Exception as exc:
        return None, {"available": False, "version": torchao.__version__, "reason": f"{type(exc).__name__}: {exc}"}
    return model, {"available": True, "version": torchao.__version__}


def time_interleaved(
    calls: Sequence[Callable[[], object]], rounds: int, warmup: int, clock: Callable[[], float] = time.perf_counter
) -> list[list[float]]:
    """Seconds of each call in each round: ``warmup`` untimed rounds, then ``rounds`` timed ones,
    every round calling each of ``calls`` once, in order."""
    for _ in range(warmup):
        for call in calls:
            call()
    seconds = [[] for _ in calls]
    for _ in range(rounds):
        for call, times in zip(calls, seconds):
            start = clock()
            call()
            times.append(clock() - start)
    return seconds


def spread(values: Sequence[float]) -> dict:
    """Median, extremes and quartiles (linear interpolation between order statistics) of ``values``."""
    q1, median, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return {
        "median": float(median),
        "min": float(min(values)),
        "max": float(max(values)),
        "q1": float(q1),
        "q3": float(q3),
        "iqr": float(q3 - q1),
    }


def summarize(labels: Sequence[tuple[str, str, int]], seconds: Sequence[Sequence[float]], batch_size: int) -> list:
    """One record per timed (backend, method, bits): its per-round seconds and their spread,
    sequences per second at the median, and its paired ratios to each of :data:`BASELINES`."""
    baselines = {backend: s for (backend, _, _), s in zip(labels, seconds) if backend in BASELINES}
    records = []
    for (backend, method, bits), s in zip(labels, seconds):
        t = spread(s)
        record = {
            "backend": backend,
            "method": method,
            "bits": bits,
            "seconds": list(s),
            **{f"{k}_seconds": v for k, v in t.items()},
            "sequences_per_second": batch_size / t["median"],
        }
        for baseline, key in BASELINES.items():
            if baseline in baselines:
                ratios = paired_ratios(baselines[baseline], s)
                record[key] = {"per_round": ratios, **spread(ratios)}
        records.append(record)
    return records


def run_throughput(
    finetuned_dir: str | Path,
    variants: Sequence[dict],
    checkpoints: Sequence[str | Path],
    *,
    batch_size: int,
    sequence_length: int,
    threads: int,
    repeats: int,
    warmup: int,
    kernel_path: str | None = None,
) -> dict:
    """Time every backend of one model on one random batch, interleaved; ``variants`` are the
    timed variants (``method``, ``bits``, ``record``: the method entry resolved), ``checkpoints``
    their quantized weights, in the same order. Returns the per-backend records with the machine
    and the settings."""
    import numba

    from ..kernels import int8_gemm, simd

    if len(checkpoints) != len(variants):
        raise ValueError(f"{len(variants)} timed variants but {len(checkpoints)} quantized checkpoints")
    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    torch.manual_seed(0)
    fp32 = build_model(finetuned_dir)
    vocab = fp32.config.vocab_size
    ids = torch.randint(1000 if vocab > 2000 else 0, vocab, (batch_size, sequence_length))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    method, bits = FP32
    backends = [Backend(TORCH_FP32, method, bits, fp32)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantize_dynamic is deprecated upstream, still working
        dynamic = torch.ao.quantization.quantize_dynamic(build_model(finetuned_dir), {nn.Linear}, dtype=torch.qint8)
    backends.append(Backend(TORCH_DYNAMIC_INT8, method, bits, dynamic))
    torchao_model, torchao_record = torchao_dynamic_int8(finetuned_dir, batch)
    if torchao_model is not None:
        backends.append(Backend(TORCHAO_DYNAMIC_INT8, method, bits, torchao_model))
    engine = {}
    if variants:
        path = simd.resolve_path(kernel_path) if kernel_path else simd.default_path()
        hits_before = sum(int8_gemm._gemm_affine.stats.cache_hits.values())
        for v, checkpoint in zip(variants, checkpoints):
            variant = TimedVariant(v["method"], int(v["bits"]), v["record"], Path(checkpoint))
            for label, model in engine_backends(variant, finetuned_dir, path).items():
                with torch.no_grad():
                    start = time.perf_counter()
                    model(**batch)
                    first = time.perf_counter() - start
                backends.append(Backend(label, variant.method, variant.bits, model))
                engine[len(backends) - 1] = {"kernel_path": path, "first_call_seconds": first}
        cache_hit = sum(int8_gemm._gemm_affine.stats.cache_hits.values()) > hits_before
    with torch.no_grad():
        calls = [lambda model=b.model: model(**batch) for b in backends]
        seconds = time_interleaved(calls, repeats, warmup)
    records = summarize([(b.backend, b.method, b.bits) for b in backends], seconds, batch_size)
    for i, extra in engine.items():
        records[i].update(extra, numba_threads=numba.get_num_threads())
    return {
        "threads": threads,
        "batch_size": batch_size,
        "sequence_length": sequence_length,
        "rounds": repeats,
        "warmup_rounds": warmup,
        "order": [f"{b.backend} {b.method} w{b.bits}" for b in backends],
        "torch": torch.__version__,
        "numba": numba.__version__,
        "torchao": torchao_record,
        "cpu": cpu_info(),
        "kernel_paths_available": simd.available_paths(),
        "kernel_path": path if variants else None,
        "numba_cache_hit": cache_hit if variants else None,
        "numba_threads": numba.get_num_threads(),
        "backends": records,
    }
