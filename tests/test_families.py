"""Encoder families beyond BERT in bertq's encoder: RoBERTa, XLM-R and DistilBERT (tiny random
models, built by transformers from local configs and saved as checkpoints) load through bertq's
checkpoint reader with transformers' logits, quantize with BERT's weight selection and site
names (under their own module names), run on the integer engine as their twin does, are counted
in closed form, and train (AdaRound, QAT) and run dynamic int8 as BERT does."""

import numpy as np
import pytest
import torch
from family_fixture import qat_with_activations
from torch import nn

from bertq.cost.ace import count_macs
from bertq.engine.linear import IntegerLinear
from bertq.engine.model import load_engine_model, quantize_modules
from bertq.models.checkpoint import build_model, load_state, read_config
from bertq.models.encoder import BertClassifier, BertSpanExtractor, EncoderConfig
from bertq.models.sites import linear_input_site, site_modules, site_names
from bertq.quantization.model import is_quantized_weight, quantize_state, save_quantized

transformers = pytest.importorskip("transformers")

PAD = 1  # RoBERTa's <pad>
SIZE = dict(
    vocab_size=120,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=40,
    type_vocab_size=1,
    pad_token_id=PAD,
)
DISTIL_SIZE = dict(vocab_size=120, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=40)
FAMILIES = {
    "roberta": (transformers.RobertaConfig, "RobertaFor", SIZE),
    "xlm-roberta": (transformers.XLMRobertaConfig, "XLMRobertaFor", SIZE),
    "distilbert": (transformers.DistilBertConfig, "DistilBertFor", {**DISTIL_SIZE, "pad_token_id": PAD}),
}
BODY = {"roberta": "roberta", "xlm-roberta": "roberta", "distilbert": "distilbert"}
LAYER_LINEARS = {
    "roberta": ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                "intermediate.dense", "output.dense"),
    "distilbert": ("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "ffn.lin1",
                   "ffn.lin2"),
}  # fmt: skip
HEADS = {"roberta": ("classifier.dense", "classifier.out_proj"), "distilbert": ("pre_classifier", "classifier")}


def _hf(family: str, head: str, num_labels: int = 3, seed: int = 0):
    config_cls, prefix, size = FAMILIES[family]
    config = config_cls(**size, num_labels=num_labels if head == "sequence" else 2)  # a span head: start, end
    torch.manual_seed(seed)
    cls = getattr(transformers, prefix + ("SequenceClassification" if head == "sequence" else "QuestionAnswering"))
    model = cls(config).eval()
    for p in model.parameters():  # BERT-like spreads, so 8 bits is not exact
        if p.ndim == 2:
            nn.init.normal_(p, std=0.05)
    return model


def _batch(seed=3):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, SIZE["vocab_size"], (4, 17), generator=g)
    ids[:, 0] = 0  # <s>
    mask = torch.ones_like(ids)
    for row, length in ((1, 11), (2, 6)):
        ids[row, length:] = PAD
        mask[row, length:] = 0
    return ids, mask


def _saved(tmp_path, model):
    model.save_pretrained(tmp_path, safe_serialization=True)
    return tmp_path


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("head", ["sequence", "span"])
def test_bertqs_loader_gives_transformers_logits(tmp_path, family, head):
    hf = _hf(family, head)
    ours = build_model(_saved(tmp_path, hf))
    config = read_config(tmp_path / "config.json")
    assert config.model_type == family and config.family.body == BODY[family]
    assert isinstance(ours, BertClassifier if head == "sequence" else BertSpanExtractor)
    ids, mask = _batch()
    with torch.no_grad():
        got, out = ours(ids, mask), hf(input_ids=ids, attention_mask=mask)
        alone = ours(ids[2:3, :6], mask[2:3, :6])  # the padded sequence alone, unpadded
    if head == "sequence":
        torch.testing.assert_close(got, out.logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(alone, got[2:3], atol=1e-5, rtol=1e-5)
    else:
        torch.testing.assert_close(got[..., 0], out.start_logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got[..., 1], out.end_logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(alone, got[2:3, :6], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", ["roberta", "xlm-roberta"])
def test_roberta_positions_count_from_the_padding_index(family):
    """transformers' ``create_position_ids_from_input_ids``, by hand: padding_idx + 1, 2, ... over
    the tokens that are not padding, padding_idx at padding."""
    model = build_model_for(family)
    ids = torch.tensor([[0, 7, 9, 2, PAD, PAD], [0, 5, 2, PAD, PAD, PAD]])
    expected = torch.tensor([[2, 3, 4, 5, 1, 1], [2, 3, 4, 1, 1, 1]])
    torch.testing.assert_close(model.body.embeddings.positions(ids), expected)


def build_model_for(family, head="sequence"):
    hf = _hf(family, head)
    config = EncoderConfig.from_dict(hf.config.to_dict())
    return (BertClassifier if head == "sequence" else BertSpanExtractor).from_state(config, hf.state_dict())


@pytest.mark.parametrize("family", ["roberta", "distilbert"])
def test_weights_sites_and_linear_inputs_are_berts_where_the_operation_exists(family):
    model = build_model_for(family)
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    encoder = {k for k, v in state.items() if is_quantized_weight(k, v, "encoder")}
    everything = {k for k, v in state.items() if is_quantized_weight(k, v, "all")}
    layers = "encoder.layer" if family == "roberta" else "transformer.layer"
    linears = {f"{family}.{layers}.{i}.{s}.weight" for i in range(2) for s in LAYER_LINEARS[family]}
    types = ("word", "position", "token_type") if family == "roberta" else ("word", "position")
    tables = {f"{family}.embeddings.{t}_embeddings.weight" for t in types}
    assert encoder == linears | tables
    pooling, logits = HEADS[family]
    assert everything - encoder == {f"{pooling}.weight", f"{logits}.weight"}
    assert list(site_modules(model)) == site_names(2, "sequence")
    assert linear_input_site(f"{pooling}.weight", 2) == "layer1.ffn.norm"
    assert linear_input_site(f"{logits}.weight", 2) == "pooler.output"
    q, k, v, out, ffn_in, ffn_out = (f"{family}.{layers}.1.{s}.weight" for s in LAYER_LINEARS[family])
    assert [linear_input_site(n, 2) for n in (q, k, v, out, ffn_in, ffn_out)] == [
        "layer0.ffn.norm", "layer0.ffn.norm", "layer0.ffn.norm", "layer1.attention.context", "layer1.attention.norm",
        "layer1.ffn.intermediate"]  # fmt: skip


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("scope", ["encoder", "all"])
def test_8_bit_on_the_integer_engine_predicts_as_its_twin(tmp_path, family, scope):
    directory = _saved(tmp_path / "model", _hf(family, "sequence"))
    qm = quantize_state(load_state(directory), "lq", 8, scope=scope)
    save_quantized(qm, tmp_path / "w8.safetensors")
    engine = load_engine_model(directory, tmp_path / "w8.safetensors", "int8")
    twin = quantize_modules(build_model(directory, qm), qm, "fake")
    expected_int = 6 * 2 + (2 if scope == "all" else 0)
    assert sum(isinstance(m, IntegerLinear) for m in engine.modules()) == expected_int
    ids, mask = _batch(5)
    with torch.no_grad():
        a, b, f = engine(ids, mask), twin(ids, mask), build_model(directory)(ids, mask)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.equal(a.argmax(-1), b.argmax(-1))
    assert (a - f).abs().max() < 0.1 * f.abs().max()  # 8 bits stays near fp32


@pytest.mark.parametrize("family", ["roberta", "distilbert"])
@pytest.mark.parametrize("head", ["sequence", "span"])
def test_macs_in_closed_form(family, head):
    """Per layer ``T (4 h^2 + 2 h i)`` linear MACs and ``2 T^2 h`` attention MACs; the head:
    ``h^2 + h c`` on the first token (dense or pre-classifier head) or ``2 T h`` (span head)."""
    c = EncoderConfig.from_dict(_hf(family, "sequence").config.to_dict())
    T, h, i, L = 20, c.hidden_size, c.intermediate_size, c.num_hidden_layers
    assert (h, i, L, c.num_labels) == (32, 64, 2, 3)
    macs = count_macs(c, T, head=head)
    head_macs = h * h + h * 3 if head == "sequence" else 2 * T * h
    assert macs.total == L * (T * (4 * h * h + 2 * h * i) + 2 * T * T * h) + head_macs
    assert macs.attention == L * 2 * T * T * h
    if head == "sequence":
        pooling, logits = HEADS[family]
        assert macs.linear[f"{pooling}.weight"] == h * h
        assert macs.linear[f"{logits}.weight"] == h * 3
        assert not any("pooler" in k for k in macs.linear)


def test_an_unknown_model_type_is_named():
    with pytest.raises(ValueError, match="model_type 'electra' is not one bertq's encoder runs"):
        BertClassifier(EncoderConfig(model_type="electra"))


def _calibration(n, seed):
    g = np.random.default_rng(seed)
    lengths = g.integers(4, 13, n)
    mask = (np.arange(12) < lengths[:, None]).astype(np.int64)
    ids = np.where(mask == 1, g.integers(3, SIZE["vocab_size"], (n, 12)), PAD)
    ids[:, 0] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


@pytest.mark.parametrize("family", ["roberta", "distilbert"])
def test_adaround_learns_every_linear_and_lowers_each_error(family):
    """Scope ``all``, as Bondarenko et al.: the head's two linears are learned too, on the first
    token, the pooling one through its tanh (RoBERTa) or ReLU (DistilBERT)."""
    from bertq.quantization.adaround import AdaRoundConfig, adaround_model

    model = build_model_for(family)
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    start = quantize_state(state, "mse", 4, scope="all")
    config = AdaRoundConfig(sequences=24, iterations=60, batch_size=8)
    tensors, results = adaround_model(model, start, _calibration(24, 1), config)
    layers = "encoder.layer" if family == "roberta" else "transformer.layer"
    assert {*HEADS[family], f"{family}.{layers}.1.{LAYER_LINEARS[family][-1]}"} <= set(results)
    assert len(results) == 6 * 2 + 2
    assert all(r.error_adaround <= r.error_nearest for r in results.values()), results
    assert any((tensors[f"{n}.weight"].codes != start.tensors[f"{n}.weight"].codes).any() for n in results)


@pytest.mark.parametrize(
    "family, sites", [("xlm-roberta", []), ("xlm-roberta", ["*.ffn.residual_sum"]), ("distilbert", ["*.ffn.norm"])]
)
def test_dynamic_int8_is_its_twin_and_batch_independent(family, sites):
    from bertq import QuantizationConfig, quantize, to_engine

    qmodel = quantize(_hf(family, "sequence"), QuantizationConfig("lq", 8))
    dynamic = {"bits": 8, "tm_iqr": {"sites": sites, "scale": 1.5}} if sites else {"bits": 8}
    engine, twin = to_engine(qmodel, "i8", dynamic=dynamic), to_engine(qmodel, "i8_twin", dynamic=dynamic)
    ids, mask = _batch(7)
    with torch.no_grad():
        a = engine(input_ids=ids, attention_mask=mask).logits
        b = twin(input_ids=ids, attention_mask=mask).logits
        alone = engine(input_ids=ids[1:2, :11], attention_mask=mask[1:2, :11]).logits
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(alone, a[1:2], rtol=0, atol=1e-6)


@pytest.mark.parametrize("family", ["roberta", "distilbert"])
def test_qat_with_activations_quantizes_every_site(family):
    from bertq import from_transformers

    model = from_transformers(_hf(family, "sequence"))
    train = _calibration(32, 2)
    train["labels"] = np.arange(32) % 3
    assert qat_with_activations(model, train) == (2, len(site_names(2, "sequence")))


@pytest.mark.parametrize("family", ["roberta", "distilbert"])
def test_the_encoder_size_counts_the_layers_of_each_family(family):
    """Zhao et al.'s size (the search's target): the layers' parameters, embeddings and head out."""
    from bertq.cost.summary import encoder_size_bits

    model = build_model_for(family)
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    assert encoder_size_bits(state) == 32 * sum(p.numel() for p in model.layers.parameters())
    qm = quantize_state(state, "lq", 4)
    linears = sum(v.size for k, v in state.items() if k in qm.tensors and "embeddings" not in k)
    assert encoder_size_bits(state, qm) == encoder_size_bits(state) - 28 * linears
