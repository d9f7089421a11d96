"""GEMM benchmarks on the linear shapes of every BERT size: bertq's int8 kernels against torch
fp32 (``F.linear``) and torch's dynamic int8 (``quantize_dynamic``'s ``Linear``: fbgemm on x86),
timed round-robin in the same run.

Shapes: for each hidden size ``h`` the three linear kinds of a BERT layer, ``h -> h`` (Q, K, V,
attention output), ``h -> 4h`` (intermediate) and ``4h -> h`` (output), with ``M`` tokens
(batch x sequence length) rows. ``engine`` is the whole quantized linear (7-bit activation
quantization, int8 GEMM, scales and bias); ``gemm`` the integer GEMM on already-quantized
activations.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .timing import ratios, time_round_robin

BERT_HIDDEN = {"tiny": 128, "mini": 256, "small": 512, "base": 768, "large": 1024}
TOKENS = (1, 8, 128, 1024, 4096)


def linear_shapes(hidden: int) -> dict[str, tuple[int, int]]:
    return {"attention": (hidden, hidden), "intermediate": (hidden, 4 * hidden), "output": (4 * hidden, hidden)}


def bench_int8_linear(m: int, k: int, n: int, repeats: int = 5, path: str | None = None, seed: int = 0) -> dict:
    """One shape: seconds of each backend and speed-ups over torch fp32 and torch dynamic int8."""
    from ..kernels.int8_gemm import gemm_int32, linear_int8, pack_int8, quantize_rows

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, k)).astype(np.float32)
    linear = torch.nn.Linear(k, n)
    codes = rng.integers(-127, 128, (k, n), dtype=np.int8)
    packed = pack_int8(codes, path)
    w_scale = np.full(n, 0.01, np.float32)
    bias = linear.bias.detach().numpy().copy()
    a_codes = quantize_rows(x, packed.k_padded)[0]
    xt = torch.from_numpy(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dynamic = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(linear), {torch.nn.Linear}, dtype=torch.qint8
        )
    with torch.no_grad():
        candidates = {
            "torch fp32": lambda: torch.nn.functional.linear(xt, linear.weight, linear.bias),
            "torch dynamic int8": lambda: dynamic(xt),
            "bertq engine linear": lambda: linear_int8(x, packed, w_scale, bias),
            "bertq int8 gemm": lambda: gemm_int32(a_codes, packed),
        }
        t = time_round_robin(candidates, repeats, warmup=1, min_seconds=0.02 if m * k * n < 1e7 else 0.0)
    return {
        "m": m,
        "k": k,
        "n": n,
        "kernel_path": packed.path,
        "seconds": t,
        "vs_torch_fp32": ratios(t, "torch fp32"),
        "vs_torch_dynamic_int8": ratios(t, "torch dynamic int8"),
    }


def bench_codebook_linear(
    m: int, k: int, n: int, bits: int = 4, repeats: int = 5, path: str | None = None, seed: int = 0
) -> dict:
    """A ``bits``-bit codebook weight (one table per tensor, the LQ/ACIQ/OCS form) on the lookup-table
    kernels (W*b*A8, activation quantization included; in-register decoding up to 8 rows) and
    weight-only with fp32 activations, against torch fp32 on the dequantized weight."""
    from ..kernels.codebook import linear_codebook_a8, linear_codebook_f32, pack_codebook
    from ..quantization.tensor import CodebookTensor

    rng = np.random.default_rng(seed)
    weight = CodebookTensor(
        rng.integers(0, 1 << bits, (k, n)).astype(np.uint8),
        (rng.standard_normal((1, 1 << bits)) * 0.05).astype(np.float32),
        bits,
    )
    packed = pack_codebook(weight.codes, weight.codebook, bits, path)
    x = rng.standard_normal((m, k)).astype(np.float32)
    xt = torch.from_numpy(x)
    w_t = torch.from_numpy(np.ascontiguousarray(weight.dequantize().T))
    bias = torch.zeros(n)
    candidates = {
        "torch fp32": lambda: torch.nn.functional.linear(xt, w_t, bias),
        f"bertq W{bits}A8 codebook": lambda: linear_codebook_a8(x, packed),
        f"bertq W{bits} weight-only fp32": lambda: linear_codebook_f32(x, packed),
    }
    with torch.no_grad():
        t = time_round_robin(candidates, repeats, warmup=1, min_seconds=0.02 if m * k * n < 1e7 else 0.0)
    return {
        "m": m,
        "k": k,
        "n": n,
        "bits": bits,
        "kernel_path": packed.path,
        "in_register_decode": packed.nibbles is not None and m <= 8,
        "seconds": t,
        "vs_torch_fp32": ratios(t, "torch fp32"),
    }


def bench_all(hiddens=None, tokens=TOKENS, repeats: int = 5, path: str | None = None, log=print) -> list[dict]:
    results = []
    for size, hidden in (hiddens or BERT_HIDDEN).items():
        for kind, (k, n) in linear_shapes(hidden).items():
            for m in tokens:
                r = bench_int8_linear(m, k, n, repeats, path)
                r.update(size=size, kind=kind)
                results.append(r)
                fp32, dyn = r["vs_torch_fp32"], r["vs_torch_dynamic_int8"]
                log(
                    f"{size:5s} {kind:12s} M={m:5d} K={k:5d} N={n:5d}  engine {fp32['bertq engine linear']:5.2f}x "
                    f"fp32, {dyn['bertq engine linear']:5.2f}x dyn-int8; gemm {fp32['bertq int8 gemm']:5.2f}x fp32"
                )
    return results


def bench_codebook_all(
    hiddens=None, tokens=TOKENS, bits: int = 4, repeats: int = 5, path: str | None = None, log=print
) -> list[dict]:
    results = []
    for size, hidden in (hiddens or BERT_HIDDEN).items():
        for kind, (k, n) in linear_shapes(hidden).items():
            for m in tokens:
                r = bench_codebook_linear(m, k, n, bits, repeats, path)
                r.update(size=size, kind=kind)
                results.append(r)
                v = r["vs_torch_fp32"]
                a8, weight_only = v[f"bertq W{bits}A8 codebook"], v[f"bertq W{bits} weight-only fp32"]
                log(
                    f"{size:5s} {kind:12s} M={m:5d} K={k:5d} N={n:5d}  W{bits}A8 {a8:5.2f}x fp32, "
                    f"W{bits} weight-only {weight_only:5.2f}x fp32"
                )
    return results
