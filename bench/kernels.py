"""Benchmark bertq's integer kernels and engine against torch on this CPU; write JSON.

    python bench/kernels.py [--quick] [--out bench/out/kernels.json] [--path avx2]

One thread (torch and numba). Every ratio is against a baseline timed in the same run,
round-robin. The JSON holds every timing, the machine, and the issue #4 speed targets with
whether each was met.
"""

from __future__ import annotations

import argparse
import sys
import time

import numba
import torch

from bertq.bench import encoder, gemm, results
from bertq.kernels import simd


def targets(gemms: list[dict], codebooks: list[dict], end_to_end: dict) -> list[dict]:
    base_big = [g for g in gemms if g["size"] == "base" and g["m"] >= 1024]
    checks = []
    cb_big = [g for g in codebooks if g["size"] == "base" and g["m"] >= 1024]
    cb_gemv = [g for g in codebooks if g["size"] == "base" and g["m"] == 1]
    if cb_big:
        checks.append(
            {
                "target": "W4A8 codebook GEMM >= 1.5x torch fp32, BERT-Base shapes, M >= 1024 (worst shape; "
                "activation quantization included)",
                "value": min(g["vs_torch_fp32"]["bertq W4A8 codebook"] for g in cb_big),
                "threshold": 1.5,
            }
        )
    if cb_gemv:
        checks.append(
            {
                "target": "batch-1 GEMV with 4-bit codes >= 2x torch fp32, BERT-Base shapes (worst shape)",
                "value": min(g["vs_torch_fp32"]["bertq W4A8 codebook"] for g in cb_gemv),
                "threshold": 2.0,
            }
        )
    if base_big:
        worst_fp32 = min(g["vs_torch_fp32"]["bertq engine linear"] for g in base_big)
        worst_dyn = min(g["vs_torch_dynamic_int8"]["bertq engine linear"] for g in base_big)
        checks += [
            {
                "target": "int8 GEMM >= 1.8x torch fp32, BERT-Base shapes, M >= 1024 (worst shape; activation "
                "quantization and epilogue included)",
                "value": worst_fp32,
                "threshold": 1.8,
            },
            {
                "target": "int8 GEMM >= 1.0x torch dynamic int8, same shapes (worst shape)",
                "value": worst_dyn,
                "threshold": 1.0,
            },
        ]
    if end_to_end:
        checks += [
            {
                "target": "BERT-Base encoder (batch 8, length 128) >= 1.6x torch fp32",
                "value": end_to_end["vs_torch_fp32"]["bertq int8 engine"],
                "threshold": 1.6,
            },
            {
                "target": "BERT-Base encoder >= 1.0x torch dynamic int8",
                "value": end_to_end["vs_torch_dynamic_int8"]["bertq int8 engine"],
                "threshold": 1.0,
            },
        ]
    return [results.target(c["target"], c["value"], c["threshold"]) for c in checks]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench/out/kernels.json")
    ap.add_argument("--path", default=None, help=f"kernel path (default: fastest of {simd.available_paths()})")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="BERT-Base shapes only, M in (1, 128, 1024)")
    args = ap.parse_args(argv)
    if args.repeats < 5:
        ap.error("--repeats must be at least 5")
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    started = time.time()
    hiddens = {"base": 768} if args.quick else None
    tokens = (1, 128, 1024) if args.quick else gemm.TOKENS
    gemms = gemm.bench_all(hiddens, tokens, args.repeats, args.path, log=lambda s: print(s, flush=True))
    codebooks = gemm.bench_codebook_all(hiddens, tokens, 4, args.repeats, args.path, log=lambda s: print(s, flush=True))
    e2e = encoder.bench_encoder("base", 8, 128, args.repeats, path=args.path)
    print(
        f"BERT-Base encoder, batch 8 x 128: engine {e2e['vs_torch_fp32']['bertq int8 engine']:.2f}x torch fp32, "
        f"{e2e['vs_torch_dynamic_int8']['bertq int8 engine']:.2f}x torch dynamic int8 "
        f"(first call {e2e['engine_first_call_seconds']:.2f} s)",
        flush=True,
    )
    result = {
        "machine": results.machine(torch=torch.__version__, threads=1, kernel_paths_available=simd.available_paths()),
        "gemm": gemms,
        "codebook": codebooks,
        "encoder": e2e,
        "targets": targets(gemms, codebooks, e2e),
        "wall_seconds": time.time() - started,
    }
    results.write(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
