"""The timing job: sequences per second of one (model, method, bits) on a fixed batch.

Baselines are timed in the same job, on the same batch and threads: torch fp32 and torch's
dynamic int8 (``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear``). A quantized
model runs on bertq's integer engine (:mod:`bertq.engine`) twice: with int8 weight codes on the
int8 kernels, and with the packed codes on the lookup-table kernels, both on the instruction path
the job records; the first call's time (JIT compile, or loading numba's cache) is reported apart
from the timed calls.
"""

from __future__ import annotations

import statistics
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from ..models.checkpoint import build_model
from ..pipeline.provenance import cpu_info

ENGINE_BACKEND = "bertq int8 engine"
CODEBOOK_BACKEND = "bertq codebook engine"


@torch.no_grad()
def time_backends(backends: dict[str, nn.Module], batch: dict, repeats: int, warmup: int) -> dict:
    """Median and best seconds per forward of each backend, timed round-robin (one call of each
    per round) so that a slow spell of the machine hits every backend alike."""
    for _ in range(warmup):
        for model in backends.values():
            model(**batch)
    seconds = {name: [] for name in backends}
    for _ in range(repeats):
        for name, model in backends.items():
            start = time.perf_counter()
            model(**batch)
            seconds[name].append(time.perf_counter() - start)
    n = batch["input_ids"].shape[0]
    return {
        name: {
            "median_seconds": statistics.median(s),
            "min_seconds": min(s),
            "repeats": repeats,
            "sequences_per_second": n / statistics.median(s),
        }
        for name, s in seconds.items()
    }


def run_throughput(
    finetuned_dir: str | Path,
    quantized: str | Path | None,
    *,
    batch_size: int,
    sequence_length: int,
    threads: int,
    repeats: int,
    warmup: int,
    kernel_path: str | None = None,
) -> dict:
    """Time every backend on one random batch; return the timings with the machine and settings."""
    import numba

    from ..engine.model import load_engine_model
    from ..kernels import int8_gemm, simd

    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    torch.manual_seed(0)
    fp32 = build_model(finetuned_dir)
    vocab = fp32.config.vocab_size
    ids = torch.randint(1000 if vocab > 2000 else 0, vocab, (batch_size, sequence_length))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    backends = {"torch fp32": fp32}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backends["torch dynamic int8"] = torch.ao.quantization.quantize_dynamic(
            build_model(finetuned_dir), {nn.Linear}, dtype=torch.qint8
        )
    engine = {}
    if quantized is not None:
        path = simd.resolve_path(kernel_path) if kernel_path else simd.default_path()
        model = load_engine_model(finetuned_dir, quantized, "int8", path=path)
        hits_before = sum(int8_gemm._gemm_affine.stats.cache_hits.values())
        with torch.no_grad():
            start = time.perf_counter()
            model(**batch)
            first = time.perf_counter() - start
        engine = {
            "kernel_path": path,
            "first_call_seconds": first,
            "numba_cache_hit": sum(int8_gemm._gemm_affine.stats.cache_hits.values()) > hits_before,
            "numba_threads": numba.get_num_threads(),
        }
        backends[ENGINE_BACKEND] = model
        lut_model = load_engine_model(finetuned_dir, quantized, "codebook", path=path)
        with torch.no_grad():
            start = time.perf_counter()
            lut_model(**batch)
            lut_first = time.perf_counter() - start
        backends[CODEBOOK_BACKEND] = lut_model
    results = time_backends(backends, batch, repeats, warmup)
    if engine:
        results[ENGINE_BACKEND].update(engine)
        results[CODEBOOK_BACKEND].update(
            kernel_path=path, first_call_seconds=lut_first, numba_threads=engine["numba_threads"]
        )
    return {
        "threads": threads,
        "batch_size": batch_size,
        "sequence_length": sequence_length,
        "torch": torch.__version__,
        "numba": numba.__version__,
        "cpu": cpu_info(),
        "kernel_paths_available": simd.available_paths(),
        "backends": results,
    }
