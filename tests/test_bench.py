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


def test_paired_ratio_is_the_median_of_ratios_within_rounds():
    from bertq.bench.timing import paired

    # per round baseline / candidate, then the median; a slow spell (rounds 4-5) hits both
    t = {
        "base": {"seconds": [1.0, 1.0, 1.0, 3.0, 3.0]},
        "fast": {"seconds": [0.5, 0.5, 0.5, 1.5, 1.5]},
        "odd": {"seconds": [1.0, 0.5, 2.0, 1.0, 3.0]},
    }
    assert paired(t, "base") == {"base": 1.0, "fast": 2.0, "odd": 1.0}  # odd: 1, 2, 0.5, 3, 1


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


def test_timing_job_calls_every_backend_once_per_round_in_order():
    from bertq.bench.throughput import time_interleaved

    calls, ticks = [], iter(range(1000))
    backends = [lambda name=name: calls.append(name) for name in ("fp32", "dyn", "engine")]
    seconds = time_interleaved(backends, rounds=4, warmup=2, clock=lambda: float(next(ticks)))
    assert calls == ["fp32", "dyn", "engine"] * (2 + 4)  # warmup rounds, then timed rounds, interleaved
    assert seconds == [[1.0] * 4] * 3  # one clock tick before and one after each timed call


def test_paired_ratios_are_taken_round_by_round():
    from bertq.bench.throughput import summarize

    fp32 = [0.08, 0.08, 0.16, 0.08]  # a slow spell in round 3 ...
    engine = [0.04, 0.05, 0.08, 0.04]  # ... hits the engine too
    dyn = [0.05, 0.05, 0.10, 0.06]
    labels = [("torch fp32", "fp32", 32), ("torch dynamic int8", "fp32", 32), ("bertq int8 engine", "lq", 4)]
    records = summarize(labels, [fp32, dyn, engine], batch_size=8)
    fp, dy, en = records
    assert (en["backend"], en["method"], en["bits"], en["seconds"]) == ("bertq int8 engine", "lq", 4, engine)
    assert en["median_seconds"] == pytest.approx(0.045) and en["sequences_per_second"] == pytest.approx(8 / 0.045)
    assert (en["min_seconds"], en["max_seconds"]) == (0.04, 0.08)
    # quartiles by linear interpolation of the sorted seconds 0.04, 0.04, 0.05, 0.08 at ranks 0.75 and 2.25
    assert en["q1_seconds"] == pytest.approx(0.04) and en["q3_seconds"] == pytest.approx(0.05 + 0.25 * 0.03)
    assert en["iqr_seconds"] == pytest.approx(0.0175)
    ratio = en["ratio_to_torch_fp32"]
    assert ratio["per_round"] == pytest.approx([2.0, 1.6, 2.0, 2.0])  # 0.08/0.04, 0.08/0.05, 0.16/0.08, 0.08/0.04
    assert ratio["median"] == pytest.approx(2.0) and ratio["q1"] == pytest.approx(1.6 + 0.75 * 0.4)
    assert ratio["iqr"] == pytest.approx(0.1) and (ratio["min"], ratio["max"]) == pytest.approx((1.6, 2.0))
    # the ratio of the medians (0.08 / 0.045) is not what is reported
    assert 0.08 / en["median_seconds"] == pytest.approx(1.778, abs=1e-3)
    assert en["ratio_to_torch_dynamic_int8"]["per_round"] == pytest.approx([1.25, 1.0, 1.25, 1.5])
    assert en["ratio_to_torch_dynamic_int8"]["median"] == pytest.approx(1.25)
    assert fp["ratio_to_torch_fp32"]["per_round"] == [1.0] * 4 and fp["ratio_to_torch_fp32"]["iqr"] == 0.0
    assert dy["ratio_to_torch_fp32"]["per_round"] == pytest.approx([1.6, 1.6, 1.6, 0.08 / 0.06])
    with pytest.raises(ValueError, match="2 baseline rounds against 3"):  # dynamic int8 has a round less
        summarize(labels[:2], [fp32[:3], dyn[:2]], batch_size=8)


def test_throughput_job_times_every_backend_of_a_model_in_one_run(tmp_path):
    import json

    import numpy as np
    from safetensors.numpy import save_file

    from bertq.bench.throughput import run_throughput
    from bertq.models.encoder import BertClassifier, EncoderConfig
    from bertq.quantization.model import quantize_state, save_quantized

    config = dict(
        vocab_size=300,
        hidden_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
        num_labels=2,
    )
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    state = {k: v.detach().numpy().copy() for k, v in BertClassifier(EncoderConfig(**config)).state_dict().items()}
    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(config))
    variants, checkpoints = [], []
    for bits in (8, 4):
        checkpoints.append(tmp_path / f"w{bits}.safetensors")
        save_quantized(quantize_state(state, "lq", bits), checkpoints[-1])
        variants.append({"method": "lq", "bits": bits, "record": {"method": "lq", "params": {}}})
    settings = dict(batch_size=2, sequence_length=8, threads=1)
    r = run_throughput(tmp_path, variants, checkpoints, **settings, repeats=3, warmup=1, kernel_path="portable")
    torchao = ["torchao dynamic int8"] if r["torchao"]["available"] else []
    assert r["torchao"]["available"] or r["torchao"]["reason"]
    engines = ["bertq int8 engine", "bertq codebook engine"]
    expected = ["torch fp32", "torch dynamic int8", *torchao, *engines, *engines]
    assert [b["backend"] for b in r["backends"]] == expected
    assert [(b["method"], b["bits"]) for b in r["backends"]][-4:] == [("lq", 8)] * 2 + [("lq", 4)] * 2
    assert r["order"] == [f"{b['backend']} {b['method']} w{b['bits']}" for b in r["backends"]]
    for b in r["backends"]:
        assert len(b["seconds"]) == 3 and b["median_seconds"] == pytest.approx(np.median(b["seconds"]))
        assert b["sequences_per_second"] == pytest.approx(2 / b["median_seconds"])
        fp32 = r["backends"][0]["seconds"]
        assert b["ratio_to_torch_fp32"]["per_round"] == pytest.approx([f / s for f, s in zip(fp32, b["seconds"])])
        if b["backend"].startswith("bertq"):
            assert b["kernel_path"] == "portable" and b["first_call_seconds"] > 0
    assert r["kernel_path"] == "portable" and isinstance(r["numba_cache_hit"], bool)
    assert r["rounds"] == 3 and r["threads"] == 1 and r["cpu"]["machine"]
    alone = run_throughput(tmp_path, [], [], **settings, repeats=1, warmup=0)
    assert [b["backend"] for b in alone["backends"]] == ["torch fp32", "torch dynamic int8", *torchao]
    assert alone["kernel_path"] is None
    with pytest.raises(ValueError, match="2 timed variants but 1 quantized checkpoints"):
        run_throughput(tmp_path, variants, checkpoints[:1], **settings, repeats=1, warmup=0)
