"""The AQ-BERT and Q-BERT jobs (bertq.training.search_job) on a tiny random BERT: their outputs are
packed weights (with the retrained float tensors) that evaluation loads with the fine-tuned
checkpoint unchanged, the summary's sizes and assignment
agree with the stored tensors, Q-BERT's bits follow its sensitivities within the budget, and an
unreachable target is named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from bertq.data.tasks import TASKS  # noqa: E402
from bertq.data.tokenized import TokenizedSplit, save_tokenized  # noqa: E402
from bertq.models.checkpoint import build_model  # noqa: E402
from bertq.quantization.bit_search import SearchSpace, size_range  # noqa: E402
from bertq.quantization.hessian import sensitivity  # noqa: E402
from bertq.quantization.model import load_quantized  # noqa: E402
from bertq.quantization.tensor import MixedPrecisionTensor, QuantizedTensor  # noqa: E402
from bertq.training.bit_search import MIB_BITS, attach_search, encoder_size_range, fixed_bits  # noqa: E402
from bertq.training.search_job import run_search  # noqa: E402

CONFIG = dict(
    vocab_size=40,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=24,
    num_labels=2,
)
# searched weights: 2 layers x (4 x 16 x 16 + 2 x 16 x 32) = 4096; fixed: biases and LayerNorm
WEIGHTS = 2 * (4 * 16 * 16 + 2 * 16 * 32)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(transformers.BertConfig(**CONFIG)).eval()
    model.save_pretrained(root / "finetuned")
    g = np.random.default_rng(0)
    lengths = g.integers(4, 12, 96)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = g.integers(1, 40, offsets[-1]).astype(np.int32)
    labels = np.array([int((ids[a:b] < 20).mean() > 0.5) for a, b in zip(offsets[:-1], offsets[1:])])
    split = TokenizedSplit(ids, np.zeros_like(ids, dtype=np.int8), offsets, labels)
    save_tokenized({"train": split, "dev": split}, root / "tok.safetensors", {"task": "rte"})
    return root


def _fixed_bits(task) -> float:
    from safetensors.numpy import load_file

    state = load_file(str(task / "finetuned" / "model.safetensors"))
    encoder = sum(v.size for k, v in state.items() if ".encoder." in k or k.startswith("encoder."))
    return 32.0 * (encoder - WEIGHTS)


def _run(method, task, params, checkpoint):
    return run_search(
        task / "finetuned", method, TASKS["rte"], task / "tok.safetensors", params, 0,
        checkpoint=checkpoint, cost_sequence_length=8, activation_bits=32,
    )  # fmt: skip


def test_the_closed_form_size_range_is_the_built_models(task):
    model = build_model(task / "finetuned")
    layers = attach_search(model, SearchSpace((0, 3, 8), 4))
    built = size_range(list(layers.values()), fixed_bits(model, layers))
    assert encoder_size_range(16, 32, 2, (0, 3, 8)) == pytest.approx(built)
    assert built[1] - built[0] == 8 * WEIGHTS


def test_aq_bert_job_writes_what_evaluation_loads(task, tmp_path):
    params = {"target_mb": 0.0, "groups": 4, "epochs": 2, "delay_epochs": 1, "batch_size": 16, "retrain_epochs": 1}
    fixed = _fixed_bits(task)
    params["target_mb"] = (fixed + 4.0 * WEIGHTS) / MIB_BITS  # half way between all-0 and all-8 bits
    params["arch_learning_rate"] = 5.0
    summary = _run("aq_bert", task, params, tmp_path / "q.safetensors")
    qm = load_quantized(tmp_path / "q.safetensors")
    linears = {n: t for n, t in qm.tensors.items() if ".encoder." in n}
    assert len(linears) == 12 and all(isinstance(t, MixedPrecisionTensor) for t in linears.values())
    assert isinstance(qm.tensors["bert.embeddings.word_embeddings.weight"], QuantizedTensor)
    assert qm.tensors["bert.embeddings.word_embeddings.weight"].bits == 8
    for name, bits in summary["assignment"].items():
        assert linears[f"{name}.weight"].group_bits.tolist() == bits
    stored = sum(int(t.group_bits.sum()) * t.in_channels * t.group_size for t in linears.values())
    assert summary["encoder_size_mib"] == pytest.approx((fixed + stored) / MIB_BITS)
    assert summary["encoder_size_mib"] == pytest.approx(summary["search"]["size_mb"])  # the size searched for
    macs = sum(t.in_channels * t.codes.shape[1] for t in linears.values()) * 8  # 8 tokens, 32-bit activations
    searched_ace = sum(t.in_channels * t.group_size * int(t.group_bits.sum()) for t in linears.values()) * 8 * 32
    assert summary["fp32_ace"] - summary["ace"] == pytest.approx(macs * 32 * 32 - searched_ace)
    assert summary["pruned_groups"] == sum(int((t.group_bits == 0).sum()) for t in linears.values())
    assert summary["size_bits"] == qm.size_bits()
    assert "classifier.bias" in qm.float_tensors and "bert.encoder.layer.0.output.LayerNorm.weight" in qm.float_tensors
    model = build_model(task / "finetuned", tmp_path / "q.safetensors")  # what evaluate builds
    np.testing.assert_array_equal(model.classifier.bias.detach().numpy(), qm.float_tensors["classifier.bias"])
    with torch.no_grad():
        logits = model(torch.randint(1, 40, (3, 8)))
    assert logits.shape == (3, 2) and torch.isfinite(logits).all()
    assert summary["search"]["steps"] > 0 and summary["retrain"]["steps"] > 0


def test_q_bert_job_ranks_layers_within_the_budget(task, tmp_path):
    fixed = _fixed_bits(task)
    target = (fixed + 6.0 * WEIGHTS) / MIB_BITS
    params = {"target_mb": target, "groups": 4, "bits": [2, 4, 8], "hessian_batches": 2, "hessian_batch_size": 8}
    summary = _run("q_bert", task, {**params, "retrain_epochs": 1}, tmp_path / "q.safetensors")
    omega = [sensitivity(v) for v in summary["eigenvalues"]]
    bits = summary["layer_bits"]
    more, less = (1, 0) if omega[1] > omega[0] else (0, 1)
    assert bits[more] >= bits[less] and sorted(bits) == [4, 8]  # two layers of 2048 weights, 6 bits on average
    assert summary["encoder_size_mib"] <= target + 1e-9
    assert all(len(set(b)) == 1 for b in summary["assignment"].values())  # one width per layer
    qm = load_quantized(tmp_path / "q.safetensors")
    for name, b in summary["assignment"].items():
        assert qm.tensors[f"{name}.weight"].group_bits.tolist() == b
    with pytest.raises(ValueError, match="no assignment .* fits"):
        _run("q_bert", task, {**params, "target_mb": fixed / MIB_BITS}, tmp_path / "q2.safetensors")


def test_aq_bert_names_an_unreachable_target(task, tmp_path):
    with pytest.raises(ValueError, match="out of reach"):
        _run("aq_bert", task, {"target_mb": 1000.0, "groups": 4}, tmp_path / "q.safetensors")
