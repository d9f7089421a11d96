"""Acceptance test of activation quantization (Bondarenko et al., 2021) on real pretrained weights
and a real task: the packaged MiniLM-L6 fine-tuned cheaply on Rotten Tomatoes, 8-bit LQ weights,
then every activation site quantized with ranges calibrated on the training split.

At 16 bits per activation (W8A16 in the paper's notation, "W8A8 at 16 bits" here) the dev accuracy
must equal W8A32's within 0.1 points: the static ranges, real-token statistics and the grid add
nothing a classifier can see. W8A8 at 8 bits is measured and printed (``pytest -s``), not bounded
tightly: the paper's point is that 8-bit activations hurt BERT (its Table 1).

Fine-tuning: cached hidden states after layer 5 of 6 for 1,000 training sentences; the last layer,
the pooler and the classifier trained one epoch on them (about 70% dev accuracy, about 15 s on
one core). The whole file takes about a minute on one core.
"""

import json
import time

import numpy as np
import pytest
import torch
from minilm_fixture import finetune_top, packaged_classifier
from safetensors.numpy import save_file

from bertq.data.loading import Examples, load_rotten_tomatoes
from bertq.data.tokenized import load_split, save_tokenized, tokenize_examples
from bertq.evaluation.classify import predict
from bertq.models.checkpoint import build_model
from bertq.models.encoder import BertClassifier
from bertq.models.sources import packaged_path
from bertq.quantization.activation import SiteRange, apply_ranges
from bertq.quantization.calibration import run_calibrate
from bertq.quantization.model import quantize_state, save_quantized

TRAIN_EXAMPLES = 1000
MAX_LENGTH = 64
CALIBRATION = {"estimator": "running_minmax", "batch_size": 16, "batches": 4}


def _accuracy(model, split) -> tuple[float, np.ndarray]:
    logits = predict(model, split, 64)
    return float((logits.argmax(-1) == split.labels).mean()), logits


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    from transformers import AutoTokenizer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    started = time.perf_counter()
    try:
        work = tmp_path_factory.mktemp("minilm")
        tokenizer = AutoTokenizer.from_pretrained(str(packaged_path()))
        train = load_rotten_tomatoes("train")
        dev = load_rotten_tomatoes("dev")
        train = Examples(train.text_a[:TRAIN_EXAMPLES], None, train.labels[:TRAIN_EXAMPLES])
        splits = {
            "train": tokenize_examples(tokenizer, train, MAX_LENGTH),
            "dev": tokenize_examples(tokenizer, dev, MAX_LENGTH),
        }
        tokenized = work / "rotten_tomatoes.safetensors"
        save_tokenized(splits, tokenized, {"task": "rotten_tomatoes", "max_length": MAX_LENGTH})

        config, state = packaged_classifier()
        model = BertClassifier.from_state(config, state)
        finetune_top(model, splits["train"])
        state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        finetuned = work / "finetuned"
        finetuned.mkdir()
        save_file(state, str(finetuned / "model.safetensors"))
        (finetuned / "config.json").write_text(json.dumps({"model_type": "bert", **config.__dict__}))
        quantized = work / "w8.safetensors"
        save_quantized(quantize_state(state, "lq", 8), quantized)
        trained_s = time.perf_counter() - started

        dev_split = load_split(tokenized, "dev")
        acc_fp32, _ = _accuracy(build_model(finetuned), dev_split)
        acc_w8a32, logits_w8a32 = _accuracy(build_model(finetuned, quantized), dev_split)
        out = {
            "finetuned": finetuned,
            "quantized": quantized,
            "dev_split": dev_split,
            "dev_examples": len(dev_split),
            "fp32": acc_fp32,
            "W8A32": acc_w8a32,
            "logits_W8A32": logits_w8a32,
            "seconds_finetune": trained_s,
        }
        for bits in (16, 8):
            t = time.perf_counter()
            doc = run_calibrate(finetuned, quantized, tokenized, {**CALIBRATION, "bits": bits}, seed=0)
            ranges = {n: SiteRange(**r) for n, r in doc["sites"].items()}
            model = apply_ranges(build_model(finetuned, quantized), ranges)
            acc, logits = _accuracy(model, dev_split)
            out[f"W8A{bits}"], out[f"logits_W8A{bits}"] = acc, logits
            out[f"ranges_W8A{bits}"] = ranges
            out[f"calibration_W8A{bits}"] = doc["calibration"]
            out[f"seconds_W8A{bits}"] = time.perf_counter() - t
        out["seconds"] = time.perf_counter() - started
        print(
            f"\nMiniLM-L6 on Rotten Tomatoes dev ({out['dev_examples']} sentences): fp32 {100 * acc_fp32:.2f}, "
            f"W8A32 {100 * acc_w8a32:.2f}, W8A8 at 16 bits {100 * out['W8A16']:.2f}, "
            f"W8A8 at 8 bits {100 * out['W8A8']:.2f} ({CALIBRATION['estimator']}, "
            f"{CALIBRATION['batches']} x {CALIBRATION['batch_size']} training sequences; {out['seconds']:.0f} s)"
        )
        return out
    finally:
        torch.set_num_threads(threads)


def test_a_real_classifier_was_trained(minilm):
    assert minilm["dev_examples"] == 852
    assert minilm["fp32"] > 0.65, minilm["fp32"]  # well above chance (0.5) on real sentiment
    assert abs(minilm["W8A32"] - minilm["fp32"]) <= 0.02  # 8-bit LQ weights: about a point


def test_w8a8_at_16_bits_matches_w8a32(minilm):
    """Every site at 16 bits: dev accuracy within 0.1 points of W8A32, logits within a few of the
    16-bit grid's steps."""
    ranges = minilm["ranges_W8A16"]
    assert len(ranges) == 2 + 6 * 13 + 2  # every site of the 6-layer classifier
    assert all(r.bits == 16 for r in ranges.values())
    assert minilm["calibration_W8A16"]["split"] == "train"
    assert abs(minilm["W8A16"] - minilm["W8A32"]) <= 0.001, (minilm["W8A16"], minilm["W8A32"])
    diff = np.abs(minilm["logits_W8A16"] - minilm["logits_W8A32"]).max(-1)
    head = minilm["ranges_W8A16"]["head.output"]
    step = (max(head.hi[0], 0) - min(head.lo[0], 0)) / (2**16 - 1)
    q = np.quantile(diff, [0.5, 0.9, 0.99, 1.0])
    print(f"\n|logits W8A16 - W8A32| quantiles 50/90/99/100%: {q}; head grid step {step:.2e}")
    assert q[0] < 200 * step, (q, step)
    agree = (minilm["logits_W8A16"].argmax(-1) == minilm["logits_W8A32"].argmax(-1)).mean()
    assert agree >= 0.998


def test_w8a8_at_8_bits_is_measured(minilm):
    """8-bit activations everywhere: reported; it changes the logits (a real quantization) and
    keeps a classifier above chance."""
    assert np.abs(minilm["logits_W8A8"] - minilm["logits_W8A32"]).max() > 1e-3
    assert minilm["W8A8"] > 0.55, minilm["W8A8"]


def test_w8a8_on_the_integer_engine_equals_its_twin(minilm):
    """W8A8 at 8 bits scored on the integer engine: every linear and both attention products of
    every layer on the kernels, logits equal to the torch twin's on every dev sentence. Against fake
    quantization they differ by float summation order only, but at 8 bits everywhere a few such
    differences move an activation across a rounding boundary and compound layer by layer: the
    predictions agree on at least 97% of the sentences and the accuracy within a point."""
    from bertq.engine.model import load_static_model

    ranges = minilm["ranges_W8A8"]
    engine, on_kernels = load_static_model(minilm["finetuned"], minilm["quantized"], ranges, "engine")
    twin, _ = load_static_model(minilm["finetuned"], minilm["quantized"], ranges, "twin")
    assert len(on_kernels) == 6 * (6 + 2)  # 6 linears and 2 attention products per layer (W8: encoder only)
    started = time.perf_counter()
    logits = predict(engine, minilm["dev_split"], 64)
    seconds = time.perf_counter() - started
    np.testing.assert_array_equal(logits, predict(twin, minilm["dev_split"], 64))
    agree = (logits.argmax(-1) == minilm["logits_W8A8"].argmax(-1)).mean()
    accuracy = float((logits.argmax(-1) == minilm["dev_split"].labels).mean())
    print(
        f"\nW8A8 on the engine: accuracy {100 * accuracy:.2f} (fake quantization {100 * minilm['W8A8']:.2f}), "
        f"the same prediction on {100 * agree:.1f}% of the sentences ({seconds:.1f} s)"
    )
    assert agree >= 0.97 and abs(accuracy - minilm["W8A8"]) <= 0.01
