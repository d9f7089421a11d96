"""ALBERT (Zhao et al., 2021, sec. 2.2): shared layers quantized once, the factorised embedding,
MACs counted at every use of the shared layer, evaluation and the integer engine."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from bertq.cost.summary import cost_summary  # noqa: E402
from bertq.engine.linear import IntegerLinear  # noqa: E402
from bertq.engine.model import quantize_modules  # noqa: E402
from bertq.models.checkpoint import build_model  # noqa: E402
from bertq.quantization.model import quantize_state, save_quantized  # noqa: E402

LAYERS, E, H, I, VOCAB = 3, 16, 32, 64, 120
SHARED = "albert.encoder.albert_layer_groups.0.albert_layers.0."


@pytest.fixture(scope="module")
def albert_dir(tmp_path_factory):
    config = transformers.AlbertConfig(
        vocab_size=VOCAB,
        embedding_size=E,
        hidden_size=H,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        intermediate_size=I,
        max_position_embeddings=40,
        num_labels=3,
    )
    torch.manual_seed(0)
    model = transformers.AlbertForSequenceClassification(config).eval()
    path = tmp_path_factory.mktemp("albert")
    model.save_pretrained(path)
    return path, model


def _state(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def test_shared_weights_are_quantized_once_and_the_factorisation_too(albert_dir):
    _, model = albert_dir
    qm = quantize_state(_state(model), "kmeans", 3)
    assert set(qm.tensors) == {
        "albert.embeddings.word_embeddings.weight",
        "albert.embeddings.position_embeddings.weight",
        "albert.embeddings.token_type_embeddings.weight",
        "albert.encoder.embedding_hidden_mapping_in.weight",
        *(
            SHARED + n
            for n in (
                "attention.query.weight",
                "attention.key.weight",
                "attention.value.weight",
                "attention.dense.weight",
                "ffn.weight",
                "ffn_output.weight",
            )
        ),
    }
    quantized = VOCAB * E + 40 * E + 2 * E + E * H + 4 * H * H + 2 * H * I  # the shared layer counted once
    assert qm.quantized_params == quantized


def test_evaluation_model_and_cost(albert_dir, tmp_path):
    path, model = albert_dir
    state = _state(model)
    qm = quantize_state(state, "lq", 8)
    save_quantized(qm, tmp_path / "q.safetensors")
    ours = build_model(path, tmp_path / "q.safetensors")
    reference = copy.deepcopy(model)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in qm.dequantized_state(state).items()})
    ids = torch.randint(0, VOCAB, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), reference(input_ids=ids).logits, rtol=0, atol=0)
    # MACs: the shared layer's linears at each of the LAYERS executions, the projection once
    cost = cost_summary(path / "config.json", state, qm, sequence_length=10, activation_bits=32)
    linear = 10 * (E * H + LAYERS * (4 * H * H + 2 * H * I)) + H * H + H * 3  # + pooler and classifier on [CLS]
    attention = LAYERS * 2 * 10 * 10 * H
    assert cost["macs"] == linear + attention
    quantized_macs = 10 * (E * H + LAYERS * (4 * H * H + 2 * H * I))
    assert cost["ace"] == pytest.approx((quantized_macs * 8 + (H * H + H * 3) * 32 + attention * 32) * 32)
    assert cost["fp32_ace"] == pytest.approx(cost["macs"] * 32 * 32)


def test_albert_runs_on_the_integer_engine(albert_dir):
    _, model = albert_dir
    qm = quantize_state(_state(model), "kmeans", 4, {"granularity": "channel"})
    engine = quantize_modules(copy.deepcopy(model), qm, "int8")
    twin = quantize_modules(copy.deepcopy(model), qm, "fake")
    assert sum(isinstance(m, IntegerLinear) for m in engine.modules()) == 7  # six shared + the projection
    ids = torch.randint(0, VOCAB, (3, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(engine(input_ids=ids).logits, twin(input_ids=ids).logits, rtol=0, atol=0)


def test_centroid_gradients_sum_over_the_shared_layer_uses(albert_dir):
    from bertq.training.centroids import attach_centroids

    _, model = albert_dir
    state = _state(model)
    qm = quantize_state(state, "kmeans", 2)
    tuned = copy.deepcopy(model)
    centroids = attach_centroids(tuned, qm)
    reference = copy.deepcopy(model)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in qm.dequantized_state(state).items()})
    ids = torch.randint(0, VOCAB, (2, 12), generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([0, 2])
    tuned(input_ids=ids, labels=labels).loss.backward()
    reference(input_ids=ids, labels=labels).loss.backward()
    name = SHARED + "ffn.weight"
    grad = dict(reference.named_parameters())[name].grad.numpy().T  # input-major; summed over the 3 uses
    codes = qm.tensors[name].codes
    expected = [grad[codes == c].mean() for c in range(4)]
    np.testing.assert_allclose(centroids[name].grad.numpy()[0], expected, rtol=1e-5, atol=1e-9)
