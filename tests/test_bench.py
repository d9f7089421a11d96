"""Benchmark plumbing: round-robin timing, ratios against a baseline from the same run, the JSON
records and the speed-target checks (the speeds themselves live in bench/, not in tests)."""

import importlib.util
import os
import time
from pathlib import Path

import pytest

from bertq.bench.gemm import bench_codebook_linear, bench_int8_linear, linear_shapes
from bertq.bench.timing import ratios, time_round_robin


def test_round_robin_times_every_candidate_each_round():
    calls = []
    t = time_round_robin(
        {"a": lambda: calls.append("a"), "b": lambda: (calls.append("b"), time.sleep(0.002))}, repeats=5, warmup=1
    )
    assert calls[:2] == ["a", "b"] and calls.count("a") == calls.count("b") == 1 + 1 + 5  # warmup, calibration, 5
    assert calls[-10:] == ["a", "b"] * 5  # interleaved
    assert t["b"]["best_seconds"] >= 0.002 and t["b"]["best_seconds"] <= t["b"]["median_seconds"]
    assert t["a"]["repeats"] == 5


def test_ratios_are_baseline_over_candidate():
    t = {"base": {"best_seconds": 2.0, "median_seconds": 3.0}, "fast": {"best_seconds": 0.5, "median_seconds": 1.0}}
    assert ratios(t, "base") == {"base": 1.0, "fast": 4.0}
    assert ratios(t, "base", "median_seconds")["fast"] == 3.0


def test_bert_linear_shapes():
    assert linear_shapes(768) == {"attention": (768, 768), "intermediate": (768, 3072), "output": (3072, 768)}


def test_benchmark_records():
    r = bench_int8_linear(3, 40, 24, repeats=5, path="portable")
    assert r["kernel_path"] == "portable"
    assert set(r["seconds"]) == {"torch fp32", "torch dynamic int8", "bertq engine linear", "bertq int8 gemm"}
    assert r["vs_torch_fp32"]["torch fp32"] == 1.0 and r["vs_torch_dynamic_int8"]["torch dynamic int8"] == 1.0
    c = bench_codebook_linear(1, 40, 24, bits=4, repeats=5)
    assert set(c["vs_torch_fp32"]) == {"torch fp32", "bertq W4A8 codebook", "bertq W4 weight-only fp32"}


def _load_bench_script():
    spec = importlib.util.spec_from_file_location("bench_kernels", Path(__file__).parents[1] / "bench" / "kernels.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_importing_the_benchmark_script_leaves_the_environment_alone():
    # numba re-reads NUMBA_* variables at every compilation; a NUMBA_NUM_THREADS that changes
    # after its thread pool started makes every later compilation in the process fail.
    before = dict(os.environ)
    _load_bench_script()
    assert dict(os.environ) == before


def test_speed_targets_are_checked_on_the_worst_shape():
    mod = _load_bench_script()
    gemms = [
        {
            "size": "base",
            "m": m,
            "vs_torch_fp32": {"bertq engine linear": v},
            "vs_torch_dynamic_int8": {"bertq engine linear": v / 3},
        }
        for m, v in ((1024, 2.0), (4096, 1.7), (1, 0.1))
    ]
    cbs = [{"size": "base", "m": 1, "vs_torch_fp32": {"bertq W4A8 codebook": 2.5}}]
    e2e = {"vs_torch_fp32": {"bertq int8 engine": 1.7}, "vs_torch_dynamic_int8": {"bertq int8 engine": 0.9}}
    checks = mod.targets(gemms, cbs, e2e)

    def check(start):
        (found,) = [c for c in checks if c["target"].startswith(start)]
        return found

    assert check("int8 GEMM >= 1.8x")["value"] == pytest.approx(1.7)  # the M=1 shape is not counted
    assert not check("int8 GEMM >= 1.8x")["met"]
    assert check("int8 GEMM >= 1.0x torch dynamic")["value"] == pytest.approx(1.7 / 3)
    assert check("batch-1 GEMV")["met"]
    assert check("BERT-Base encoder (batch 8")["met"] and not check("BERT-Base encoder >= 1.0x")["met"]
    assert not any(c["target"].startswith("W4A8") for c in checks)  # no large-M codebook results given
