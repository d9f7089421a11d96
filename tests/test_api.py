"""The Python API (:mod:`bertq.api`) against the pipeline's own path: the same quantized weights
as ``quantize_state`` on the fine-tuned checkpoint, the same logits as the pipeline's evaluation
model and engine, a save/load round trip, and clear errors for a bad config."""

from __future__ import annotations

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from api_fixture import CONFIG, random_classifier  # noqa: E402

from bertq import QuantizationConfig, load_quantized, quantize, quantized_model, save_quantized, to_engine  # noqa: E402
from bertq.engine.model import load_engine_model  # noqa: E402
from bertq.models.checkpoint import build_model, load_state  # noqa: E402
from bertq.models.tokens import current_mask  # noqa: E402
from bertq.quantization import model as pipeline  # noqa: E402


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    return random_classifier(tmp_path_factory.mktemp("finetuned"))


def _ids():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, CONFIG["vocab_size"], (3, 11), generator=g), torch.ones(3, 11, dtype=torch.long)


CASES = [
    QuantizationConfig("kmeans", 3, "channel", {"iterations": 3, "seed": 0}),
    QuantizationConfig("lq", 4, 2, embedding_bits=8),
    QuantizationConfig("ocs", 6, "tensor", {"expand_ratio": 0.05}),
]


@pytest.mark.parametrize("config", CASES, ids=lambda c: c.method)
def test_api_gives_the_pipelines_weights_and_logits(finetuned, tmp_path, config):
    path, model = finetuned
    before = {k: v.clone() for k, v in model.state_dict().items()}
    qmodel = quantize(model, config)
    for k, v in model.state_dict().items():  # not in place: the caller's model is untouched
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)

    # the pipeline: quantize the saved checkpoint, evaluate its dequantized state
    state = load_state(path)
    reference = pipeline.quantize_state(
        state, config.method, config.bits, config.method_params(), config.embedding_bits
    )
    pipeline.save_quantized(reference, tmp_path / "q.safetensors")
    ours = quantized_model(qmodel)
    assert set(ours.tensors) == set(reference.tensors)
    assert "bert.encoder.layer.1.output.dense.weight" in ours.tensors and "classifier.weight" not in ours.tensors
    dequantized = reference.dequantized_state(state)
    for name, value in qmodel.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), dequantized[name], err_msg=name)
    assert ours.size_bits() == reference.size_bits()

    ids, mask = _ids()
    with torch.no_grad():
        expected = build_model(path, tmp_path / "q.safetensors")(ids, mask)
        torch.testing.assert_close(qmodel(input_ids=ids, attention_mask=mask).logits, expected, rtol=1e-5, atol=1e-5)
        # the integer engine: the API's hand-off and the pipeline's engine model
        fake = to_engine(qmodel, "fake")(input_ids=ids, attention_mask=mask).logits
        engine = load_engine_model(path, tmp_path / "q.safetensors", "fake")(ids, mask)
        torch.testing.assert_close(fake, engine, rtol=1e-4, atol=1e-4)
        assert not torch.equal(fake, qmodel(input_ids=ids, attention_mask=mask).logits)  # 7-bit activations
        if config.method == "lq":
            integer = to_engine(qmodel, "int8")(input_ids=ids, attention_mask=mask).logits
            torch.testing.assert_close(integer, fake, rtol=0, atol=0)


def test_dynamic_int8_from_the_api_is_per_sequence_over_real_tokens(finetuned):
    _, model = finetuned
    qmodel = quantize(model, QuantizationConfig("lq", 8))
    ids, mask = _ids()
    mask[0, 6:], mask[1, 9:] = 0, 0  # padding, whose hidden states the scales must not see
    settings = {"tm_iqr": {"scale": 1.0}}
    engine, twin = to_engine(qmodel, "i8", dynamic=settings), to_engine(qmodel, "i8_twin", dynamic=settings)
    clipped = [m for m in engine.modules() if getattr(m, "iqr_scale", None) == 1.0]
    assert len(clipped) == CONFIG["num_hidden_layers"]  # FF2 of every layer
    seen = []
    clipped[0].register_forward_pre_hook(lambda module, args: seen.append(current_mask()))
    with torch.no_grad():
        batch = engine(input_ids=ids, attention_mask=mask).logits
        torch.testing.assert_close(batch, twin(ids, mask).logits, rtol=0, atol=0)
        for i in range(len(ids)):
            n = int(mask[i].sum())
            alone = engine(input_ids=ids[i : i + 1, :n], attention_mask=mask[i : i + 1, :n]).logits
            torch.testing.assert_close(alone, batch[i : i + 1], rtol=1e-4, atol=1e-5)
    assert torch.equal(seen[0], mask != 0) and current_mask() is None  # published for the pass only
    with pytest.raises(ValueError, match=r"dynamic\.bits"):
        to_engine(qmodel, "i8", dynamic={"bits": 9})
    with pytest.raises(ValueError, match="dynamic settings are for the i8"):
        to_engine(qmodel, "int8", dynamic={})


def test_save_and_load_round_trip(finetuned, tmp_path):
    _, model = finetuned
    qmodel = quantize(model, QuantizationConfig("kmeans", 2, "channel"))
    save_quantized(qmodel, tmp_path / "out")
    with pytest.raises(ValueError, match="not quantized by bertq"):
        save_quantized(model, tmp_path / "plain")
    back = load_quantized(tmp_path / "out")
    assert type(back) is type(model)
    for name, qt in quantized_model(qmodel).tensors.items():
        loaded = quantized_model(back).tensors[name]
        np.testing.assert_array_equal(loaded.codes, qt.codes)
        np.testing.assert_array_equal(loaded.codebook, qt.codebook)
    for k, v in qmodel.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v, rtol=0, atol=0)
    ids, mask = _ids()
    with torch.no_grad():
        torch.testing.assert_close(
            back(input_ids=ids, attention_mask=mask).logits,
            qmodel(input_ids=ids, attention_mask=mask).logits,
            rtol=0,
            atol=0,
        )
    # codes are stored bit-packed: 2 bits per quantized weight; the rest of the model holds no copy
    from safetensors.numpy import load_file

    stored = load_file(str(tmp_path / "out" / "quantized.safetensors"))
    for name, qt in quantized_model(qmodel).tensors.items():
        assert stored[f"{name}::codes"].nbytes == -(-qt.codes.size * 2 // 8)
    assert not set(load_file(str(tmp_path / "out" / "model.safetensors"))) & set(quantized_model(qmodel).tensors)


def test_headless_bert_and_albert_are_quantized_like_the_pipeline():
    torch.manual_seed(0)
    bert = transformers.BertModel(transformers.BertConfig(**CONFIG)).eval()
    q = quantize(bert, QuantizationConfig("lq", 8), inplace=True)
    assert q is bert
    names = set(quantized_model(q).tensors)
    assert "embeddings.word_embeddings.weight" in names and "encoder.layer.0.attention.self.query.weight" in names
    assert not any(n.startswith("pooler") for n in names)
    albert = transformers.AlbertForSequenceClassification(transformers.AlbertConfig(embedding_size=16, **CONFIG)).eval()
    state = {k: v.detach().numpy().copy() for k, v in albert.state_dict().items()}
    qa = quantize(albert, QuantizationConfig("kmeans", 3))
    reference = pipeline.quantize_state(state, "kmeans", 3, {"granularity": "tensor"})
    assert set(quantized_model(qa).tensors) == set(reference.tensors)
    assert "albert.encoder.embedding_hidden_mapping_in.weight" in reference.tensors
    dequantized = reference.dequantized_state(state)
    for name, value in qa.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), dequantized[name], err_msg=name)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(method="kmean", bits=4), r"QuantizationConfig.method: unknown method 'kmean'; registered: .*kmeans"),
        (dict(method="kmeans", bits=9), r"QuantizationConfig.bits: method 'kmeans' quantizes to 1 to 8 bits, not 9"),
        (dict(method="lq", bits=1), r"QuantizationConfig.bits: method 'lq' quantizes to 2 to 8 bits"),
        (dict(method="lq", bits=4, granularity="row"), r"QuantizationConfig.granularity: .*got 'row'"),
        (dict(method="kmeans", bits=4, params={"iters": 3}), r"QuantizationConfig.params: .*\['iters'\].*'iterations'"),
        (dict(method="lq", bits=4, params={"granularity": 2}), r"give granularity as QuantizationConfig.granularity"),
        (dict(method="lq", bits=4, embedding_bits=True), r"QuantizationConfig.embedding_bits"),
    ],
)
@pytest.mark.bad_input("config", "before_job")
def test_bad_config_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QuantizationConfig(**kwargs)


def test_a_group_count_that_does_not_divide_names_the_weight(finetuned):
    with pytest.raises(ValueError, match=r"embeddings.*5 groups do not divide 32"):
        quantize(finetuned[1], QuantizationConfig("lq", 4, 5))
