"""The Python API of the training-based methods (``bertq.adaround``, ``bertq.qat``): the same
weights as the pipeline's library calls on a saved checkpoint, weights on the PTQ grid within one
step of the float weight (AdaRound chooses floor or ceil), training that moves a 4-bit model
towards its teacher, and bad input named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from api_fixture import CONFIG, random_classifier  # noqa: E402

from bertq import QuantizationConfig, adaround, from_transformers, qat, quantize, quantized_model  # noqa: E402
from bertq.models.checkpoint import build_model, load_state  # noqa: E402
from bertq.quantization.activation import ActivationQuantizer  # noqa: E402
from bertq.quantization.adaround import AdaRoundConfig, adaround_model  # noqa: E402
from bertq.quantization.model import quantize_state, save_quantized, to_input_major  # noqa: E402


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    return random_classifier(tmp_path_factory.mktemp("finetuned"))


def _batch(n: int, seed: int, width: int = 12) -> dict:
    """Random sequences of 4 to ``width`` real tokens, padded on the right."""
    g = np.random.default_rng(seed)
    lengths = g.integers(4, width + 1, n)
    mask = (np.arange(width) < lengths[:, None]).astype(np.int64)
    ids = g.integers(1, CONFIG["vocab_size"], (n, width)) * mask
    types = (np.arange(width) >= lengths[:, None] // 2).astype(np.int64) * mask
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _teacher_labels(model, batch: dict) -> np.ndarray:
    """The float model's own classes, centred over the batch so that every class occurs."""
    with torch.no_grad():
        logits = model(**{k: torch.as_tensor(v) for k, v in batch.items()}).logits
    return (logits - logits.mean(0)).argmax(-1).numpy()


def _agreement(model, batch: dict, labels: np.ndarray) -> float:
    with torch.no_grad():
        logits = model(**{k: torch.as_tensor(v) for k, v in batch.items() if k != "labels"})
    logits = getattr(logits, "logits", logits)
    return float((logits.argmax(-1).numpy() == labels).mean())


def test_from_transformers_gives_the_transformers_logits(finetuned):
    _, model = finetuned
    batch = {k: torch.as_tensor(v) for k, v in _batch(5, 0).items()}
    bert = from_transformers(model)
    with torch.no_grad():
        torch.testing.assert_close(bert(**batch), model(**batch).logits, rtol=1e-5, atol=1e-5)


def test_adaround_api_gives_the_pipelines_codes_each_floor_or_ceil(finetuned, tmp_path):
    path, model = finetuned
    config = QuantizationConfig("mse", 4, "channel")
    settings = AdaRoundConfig(sequences=24, iterations=40, batch_size=8)
    calibration = _batch(24, 1)
    ours = adaround(model, config, calibration, settings, seed=3)

    # the pipeline's library calls on the saved checkpoint
    state = load_state(path)
    start = quantize_state(state, config.method, config.bits, config.method_params())
    tensors, results = adaround_model(build_model(path), start, calibration, settings, seed=3)
    got = quantized_model(ours)
    assert set(results) == set(ours.bertq_adaround) and "bert.encoder.layer.1.output.dense" in results
    for name, qt in tensors.items():
        np.testing.assert_array_equal(got.tensors[name].codes, qt.codes, err_msg=name)

    # AdaRound moves codes by rounding only: each is floor or ceil of w / s, and some moved
    flipped = 0
    for name in results:
        name = f"{name}.weight"
        qt, nearest = got.tensors[name], start.tensors[name]
        ratio = to_input_major(name, state[name].astype(np.float64)) / np.asarray(qt.scale, np.float64)
        codes = qt.codes.astype(np.float64)
        inside = np.abs(ratio) < 2 ** (qt.bits - 1) - 1
        assert np.all((codes == np.floor(ratio)) | (codes == np.ceil(ratio)) | ~inside), name
        flipped += int((qt.codes != nearest.codes).sum())
    assert flipped > 0

    # the returned model is the evaluated one: the dequantized codes in the caller's class
    save_quantized(got, tmp_path / "q.safetensors")
    batch = {k: torch.as_tensor(v) for k, v in _batch(6, 2).items()}
    with torch.no_grad():
        expected = build_model(path, tmp_path / "q.safetensors")(**batch)
        torch.testing.assert_close(ours(**batch).logits, expected, rtol=1e-5, atol=1e-5)


def test_qat_api_moves_a_4_bit_model_towards_its_teacher(finetuned):
    _, model = finetuned
    train = _batch(96, 4)
    train["labels"] = _teacher_labels(model, train)
    config = QuantizationConfig("mse", 2)
    ptq = quantize(model, config)
    before = _agreement(ptq, train, train["labels"])
    assert before < 0.9  # 2-bit weights lose the teacher's decisions

    unchanged = qat(model, config, train, {"learning_rate": 0.0, "epochs": 1, "batch_size": 32})
    for name, qt in quantized_model(ptq).tensors.items():  # the start is the PTQ grid, exported exactly
        np.testing.assert_array_equal(quantized_model(unchanged).tensors[name].codes, qt.codes, err_msg=name)

    trained = qat(model, config, train, {"learning_rate": 3e-3, "epochs": 12, "batch_size": 16}, seed=1)
    assert trained.bertq_training["steps"] == 12 * 6
    floats = quantized_model(trained).float_tensors  # biases and LayerNorm trained with the codes
    assert "classifier.bias" in floats
    for name, value in floats.items():
        np.testing.assert_array_equal(trained.get_parameter(name).detach().numpy(), value, err_msg=name)
    after = _agreement(trained, train, train["labels"])
    print(f"teacher agreement: 2-bit PTQ {before:.3f}, after QAT {after:.3f}")
    assert after > before + 0.1, (before, after)


def test_qat_api_with_activations_quantizes_the_sites_with_trained_ranges(finetuned):
    _, model = finetuned
    train = _batch(64, 5)
    train["labels"] = _teacher_labels(model, train)
    bert = from_transformers(model)
    settings = {"learning_rate": 1e-3, "epochs": 2, "batch_size": 16}
    activations = {"estimator": "running_minmax", "batch_size": 8, "batches": 4}
    trained = qat(bert, QuantizationConfig("mse", 4), train, settings, activations=activations)
    quantizers = {n: m for n, m in trained.named_modules() if isinstance(m, ActivationQuantizer)}
    assert len(quantizers) == len(trained.bertq_ranges) > 10
    assert trained.bertq_training["learned_sites"] == len(trained.bertq_ranges)
    batch = {k: torch.as_tensor(v) for k, v in _batch(4, 6).items()}
    float_weights = quantize(bert, QuantizationConfig("mse", 4))  # same weights' grid, no activation quantizers
    float_weights.load_state_dict(trained.state_dict(), strict=False)
    with torch.no_grad():
        assert not torch.allclose(trained(**batch), float_weights(**batch), atol=1e-6)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m, b: adaround(m, QuantizationConfig("kmeans", 3), b), ValueError, "linear grid"),
        (lambda m, b: adaround(m, QuantizationConfig("ocs", 4), b), ValueError, "split"),
        (lambda m, b: qat(m, QuantizationConfig("lq", 4), b, {"lr": 1e-3}), ValueError, "unknown \\['lr'\\]"),
        (lambda m, b: qat(m, QuantizationConfig("lq", 4), b, activations={}), TypeError, "from_transformers"),
        (lambda m, b: qat(m, QuantizationConfig("lq", 4), {**b, "labels": [0]}), ValueError, "1 labels"),
        (
            lambda m, b: adaround(
                m, QuantizationConfig("lq", 4), {**b, "attention_mask": b["attention_mask"][:, ::-1]}
            ),
            ValueError,
            r"row \d+: 1s first",
        ),
        (lambda m, b: adaround(m, QuantizationConfig("lq", 4), [1, 2]), TypeError, "padded batch"),
        (lambda m, b: adaround(m, QuantizationConfig("lq", 4), b, {"iterations": 0}), ValueError, "iterations"),
    ],
)
def test_bad_input_is_named(finetuned, call, error, message):
    _, model = finetuned
    batch = _batch(4, 7)
    batch["labels"] = np.zeros(4, dtype=np.int64)
    with pytest.raises(error, match=message):
        call(model, batch)


def test_a_model_without_a_classifier_is_refused():
    model = transformers.BertModel(transformers.BertConfig(**CONFIG)).eval()
    with pytest.raises(TypeError, match="BertModel"):
        adaround(model, QuantizationConfig("lq", 4), _batch(4, 8))
