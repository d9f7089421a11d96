"""The timing job: sequences per second of one (model, method, bits) on a fixed batch.

Baselines are timed in the same job, on the same batch and threads: torch fp32 and torch's
dynamic int8 (``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear``). Until the
integer kernels land, a quantized model runs as fp32 with dequantized weights, and is labelled so.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from ..evaluation.job import load_inference_model

SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
              "avx512_vnni", "avx_vnni", "amx_int8", "neon", "asimd", "asimddp")


def cpu_info() -> dict:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model", "cpu model") and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key in ("flags", "Features"):
                flags.update(value.split())
    except OSError:
        pass
    return {"model": model, "machine": platform.machine(), "simd_flags": sorted(flags & set(SIMD_FLAGS))}


@torch.no_grad()
def time_forward(model: nn.Module, batch: dict, repeats: int, warmup: int) -> dict:
    for _ in range(warmup):
        model(**batch)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(**batch)
        seconds.append(time.perf_counter() - start)
    n = batch["input_ids"].shape[0]
    median = statistics.median(seconds)
    return {"median_seconds": median, "min_seconds": min(seconds), "repeats": repeats,
            "sequences_per_second": n / median}


def run_throughput(finetuned_dir: str | Path, quantized: str | Path | None, *, batch_size: int,
                   sequence_length: int, threads: int, repeats: int, warmup: int,
                   output: str | Path, labels: dict) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    fp32 = load_inference_model(finetuned_dir, None)
    vocab = fp32.config.vocab_size
    ids = torch.randint(1000 if vocab > 2000 else 0, vocab, (batch_size, sequence_length))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    backends = {"torch fp32": fp32}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backends["torch dynamic int8"] = torch.ao.quantization.quantize_dynamic(
            load_inference_model(finetuned_dir, None), {nn.Linear}, dtype=torch.qint8)
    if quantized is not None:
        backends["fake-quant (fp32, dequantized weights)"] = load_inference_model(finetuned_dir, quantized)
    results = {name: time_forward(m, batch, repeats, warmup) for name, m in backends.items()}
    out = {**labels, "threads": threads, "batch_size": batch_size, "sequence_length": sequence_length,
           "torch": torch.__version__, "cpu": cpu_info(), "backends": results}
    Path(output).write_text(json.dumps(out, indent=1))
    return out
