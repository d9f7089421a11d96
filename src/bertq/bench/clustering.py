"""How long codebook quantization takes over every quantized weight of a BERT-sized model."""

from __future__ import annotations

import time

import numpy as np

from ..models.sources import PAPER_SIZES
from ..quantization.methods import quantize_weight

VOCABULARY, POSITIONS, TOKEN_TYPES = 30522, 512, 2


def bert_weight_shapes(size: str) -> list[tuple[str, tuple[int, int]]]:
    """Input-major shapes of the weights bertq quantizes in a BERT of a paper size: the three
    embedding tables and the six linears of every encoder layer."""
    layers, hidden, _, intermediate = PAPER_SIZES[size]
    shapes = [
        ("word_embeddings", (VOCABULARY, hidden)),
        ("position_embeddings", (POSITIONS, hidden)),
        ("token_type_embeddings", (TOKEN_TYPES, hidden)),
    ]
    for i in range(layers):
        shapes += [(f"layer.{i}.{n}", (hidden, hidden)) for n in ("query", "key", "value", "attention.output")]
        shapes += [(f"layer.{i}.intermediate", (hidden, intermediate)), (f"layer.{i}.output", (intermediate, hidden))]
    return shapes


def bert_like_weights(size: str, seed: int = 0):
    """Random weights of BERT's initialisation spread (normal, std 0.02), one tensor at a time."""
    rng = np.random.default_rng(seed)
    for name, shape in bert_weight_shapes(size):
        yield name, (rng.standard_normal(shape, dtype=np.float32) * 0.02)


def time_method(method: str, bits: int, size: str = "base", **params) -> dict:
    """Seconds to quantize every weight of a ``size`` model with ``method`` (one thread; JIT
    compilation done beforehand and timed separately)."""
    started = time.perf_counter()
    quantize_weight(method, np.random.default_rng(0).standard_normal((64, 64)), bits, **params)
    compile_s = time.perf_counter() - started
    total, slowest, count = 0.0, ("", 0.0), 0
    for name, w in bert_like_weights(size):
        t = time.perf_counter()
        quantize_weight(method, w, bits, **params)
        dt = time.perf_counter() - t
        total += dt
        count += w.size
        if dt > slowest[1]:
            slowest = (name, dt)
    return {
        "method": method,
        "bits": bits,
        "params": params,
        "size": size,
        "weights": count,
        "seconds": total,
        "first_call_seconds": compile_s,
        "slowest_tensor": slowest[0],
        "slowest_tensor_seconds": slowest[1],
    }
