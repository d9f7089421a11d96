"""MobileBERT (Sun et al., 2020) in bertq's encoder: tiny random models built by transformers from
local configs (hidden 32, bottleneck 16, embedding 16, 2 layers, 3 FFNs per layer, 3-gram
embeddings) load through bertq's checkpoint reader with transformers' logits (NoNorm and
LayerNorm, sequence and span heads, with padding), quantize every encoder linear, run on the
integer engine as their twin does, are counted in closed form, and train (AdaRound, QAT) and run
dynamic int8 as BERT does."""

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

PAD = 0  # BERT uncased's [PAD]
H, B, E, INTER, L, FFNS, LABELS = 32, 16, 16, 64, 2, 3, 3
SIZE = dict(
    vocab_size=120,
    hidden_size=H,
    embedding_size=E,
    intra_bottleneck_size=B,
    true_hidden_size=B,
    num_hidden_layers=L,
    num_attention_heads=4,
    intermediate_size=INTER,
    num_feedforward_networks=FFNS,
    max_position_embeddings=40,
    pad_token_id=PAD,
    trigram_input=True,
)
STACKED = [f"ffn.{j}.{s}.dense" for j in range(FFNS - 1) for s in ("intermediate", "output")]
LAYER_LINEARS = (
    "bottleneck.input.dense",
    "bottleneck.attention.dense",
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    *STACKED,
    "intermediate.dense",
    "output.dense",
    "output.bottleneck.dense",
)
EMBEDDING_LINEAR = "mobilebert.embeddings.embedding_transformation"


def _hf(head: str = "sequence", norm: str = "no_norm", activation: bool = False, seed: int = 0):
    """``activation``: ``classifier_activation`` (False in ``google/mobilebert-uncased``)."""
    config = transformers.MobileBertConfig(
        **SIZE,
        normalization_type=norm,
        classifier_activation=activation,
        num_labels=LABELS if head == "sequence" else 2,
    )
    torch.manual_seed(seed)
    cls = (
        transformers.MobileBertForSequenceClassification
        if head == "sequence"
        else transformers.MobileBertForQuestionAnswering
    )
    model = cls(config).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2:  # BERT-like spreads, so 8 bits is not exact
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
            elif "LayerNorm" in name:  # norms that do something (NoNorm starts as the identity)
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=g))
        # the padding row stays zero, as in a checkpoint trained with padding_idx
        model.mobilebert.embeddings.word_embeddings.weight[PAD].zero_()
    return model


def _batch(seed=3):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, SIZE["vocab_size"], (4, 17), generator=g)
    ids[:, 0] = 1  # [CLS]
    mask = torch.ones_like(ids)
    for row, length in ((1, 11), (2, 6)):
        ids[row, length:] = PAD
        mask[row, length:] = 0
    return ids, mask


def _saved(path, model):
    model.save_pretrained(path, safe_serialization=True)
    return path


def _ours(head="sequence", norm="no_norm", activation=False):
    hf = _hf(head, norm, activation)
    config = EncoderConfig.from_dict(hf.config.to_dict())
    return (BertClassifier if head == "sequence" else BertSpanExtractor).from_state(config, hf.state_dict())


@pytest.mark.parametrize("norm", ["no_norm", "layer_norm"])
@pytest.mark.parametrize("head, activation", [("sequence", False), ("sequence", True), ("span", False)])
def test_bertqs_loader_gives_transformers_logits(tmp_path, norm, head, activation):
    hf = _hf(head, norm, activation)
    ours = build_model(_saved(tmp_path, hf))
    config = read_config(tmp_path / "config.json")
    assert config.model_type == "mobilebert" and config.family.body == "mobilebert"
    assert (config.intra_bottleneck_size, config.embedding_size, config.num_feedforward_networks) == (B, E, FFNS)
    assert isinstance(ours, BertClassifier if head == "sequence" else BertSpanExtractor)
    ids, mask = _batch()
    with torch.no_grad():
        got, out = ours(ids, mask), hf(input_ids=ids, attention_mask=mask)
        alone = ours(ids[2:3, :6], mask[2:3, :6])  # the padded sequence alone, unpadded
        rows = [ours(ids[i : i + 1], mask[i : i + 1]) for i in range(4)]  # each row alone, padded
    if head == "sequence":
        torch.testing.assert_close(got, out.logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(alone, got[2:3], atol=1e-5, rtol=1e-5)
    else:
        torch.testing.assert_close(got[..., 0], out.start_logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got[..., 1], out.end_logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(alone, got[2:3, :6], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat(rows), got, atol=1e-5, rtol=1e-5)


def test_a_sequence_never_reads_its_padding():
    """The 3-gram of a sequence's last token reads no padding row, whatever the table holds there
    (transformers reads the padding token's row, zero in a trained checkpoint)."""
    model = _ours()
    with torch.no_grad():
        model.body.embeddings.word_embeddings.weight[PAD].normal_()
    ids, mask = _batch()
    with torch.no_grad():
        torch.testing.assert_close(model(ids[2:3, :6], mask[2:3, :6]), model(ids, mask)[2:3], atol=1e-5, rtol=1e-5)


def test_weights_sites_and_linear_inputs():
    model = _ours()
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    encoder = {k for k, v in state.items() if is_quantized_weight(k, v, "encoder")}
    everything = {k for k, v in state.items() if is_quantized_weight(k, v, "all")}
    linears = {f"mobilebert.encoder.layer.{i}.{s}.weight" for i in range(L) for s in LAYER_LINEARS}
    tables = {f"mobilebert.embeddings.{t}_embeddings.weight" for t in ("word", "position", "token_type")}
    assert encoder == linears | tables | {f"{EMBEDDING_LINEAR}.weight"}
    every_linear = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    assert every_linear - encoder == {"classifier.weight"}  # every encoder linear is quantized
    assert everything - encoder == {"classifier.weight"}
    assert model.head_linears == (None, "classifier")
    assert list(site_modules(model)) == site_names(L, "sequence", model.config)
    per_layer = [n.removeprefix("layer1.") for n in site_names(L, "sequence", model.config) if n.startswith("layer1.")]
    assert per_layer == [
        "bottleneck.input", "bottleneck.attention", "attention.query", "attention.key", "attention.value",
        "attention.scores", "attention.probs", "attention.context", "attention.output", "attention.residual_sum",
        "attention.norm",
        "ffn0.intermediate", "ffn0.output", "ffn0.residual_sum", "ffn0.norm",
        "ffn1.intermediate", "ffn1.output", "ffn1.residual_sum", "ffn1.norm",
        "ffn.intermediate", "ffn.output", "ffn.residual_sum", "ffn.inner_norm",
        "bottleneck.output", "bottleneck.residual_sum", "ffn.norm",
    ]  # fmt: skip
    assert site_names(L, "sequence", model.config)[:3] == ["embeddings.tokens", "embeddings.sum", "embeddings.output"]
    inputs = {s: linear_input_site(f"mobilebert.encoder.layer.1.{s}.weight", L, FFNS) for s in LAYER_LINEARS}
    assert inputs == {
        "bottleneck.input.dense": "layer0.ffn.norm",
        "bottleneck.attention.dense": "layer0.ffn.norm",
        "attention.self.query": "layer1.bottleneck.attention",
        "attention.self.key": "layer1.bottleneck.attention",
        "attention.self.value": "layer0.ffn.norm",
        "attention.output.dense": "layer1.attention.context",
        "ffn.0.intermediate.dense": "layer1.attention.norm",
        "ffn.0.output.dense": "layer1.ffn0.intermediate",
        "ffn.1.intermediate.dense": "layer1.ffn0.norm",
        "ffn.1.output.dense": "layer1.ffn1.intermediate",
        "intermediate.dense": "layer1.ffn1.norm",
        "output.dense": "layer1.ffn.intermediate",
        "output.bottleneck.dense": "layer1.ffn.inner_norm",
    }
    assert linear_input_site("mobilebert.encoder.layer.0.attention.self.value.weight", L) == "embeddings.output"
    assert linear_input_site(f"{EMBEDDING_LINEAR}.weight", L) == "embeddings.tokens"
    assert linear_input_site("classifier.weight", L) == "pooler.output"
    assert linear_input_site("mobilebert.pooler.dense.weight", L) == "layer1.ffn.norm"
    # BERT's names still read BERT's inputs
    assert linear_input_site("bert.encoder.layer.1.attention.self.query.weight", L) == "layer0.ffn.norm"
    assert linear_input_site("bert.encoder.layer.1.intermediate.dense.weight", L) == "layer1.attention.norm"


def test_the_pooler_with_classifier_activation_is_berts():
    model = _ours(activation=True)
    assert model.head_linears == ("mobilebert.pooler.dense", "classifier")
    assert list(site_modules(model)) == site_names(L, "sequence", model.config)


PER_LAYER = len(LAYER_LINEARS)


@pytest.mark.parametrize("scope", ["encoder", "all"])
@pytest.mark.parametrize("norm", ["no_norm", "layer_norm"])
def test_8_bit_on_the_integer_engine_predicts_as_its_twin(tmp_path, scope, norm):
    directory = _saved(tmp_path / "model", _hf("sequence", norm))
    qm = quantize_state(load_state(directory), "lq", 8, scope=scope)
    save_quantized(qm, tmp_path / "w8.safetensors")
    engine = load_engine_model(directory, tmp_path / "w8.safetensors", "int8")
    twin = quantize_modules(build_model(directory, qm), qm, "fake")
    expected_int = PER_LAYER * L + 1 + (1 if scope == "all" else 0)
    assert sum(isinstance(m, IntegerLinear) for m in engine.modules()) == expected_int
    ids, mask = _batch(5)
    with torch.no_grad():
        a, b, f = engine(ids, mask), twin(ids, mask), build_model(directory)(ids, mask)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.equal(a.argmax(-1), b.argmax(-1))
    assert (a - f).abs().max() < 0.1 * f.abs().max()  # 8 bits stays near fp32


@pytest.mark.parametrize("head, activation", [("sequence", False), ("sequence", True), ("span", False)])
def test_macs_in_closed_form(head, activation):
    """Written out independently of the encoder: the 3-gram transformation ``T 3E H``; per layer
    the two bottlenecks ``2 T H B``, Q and K on the shared bottleneck ``2 T B^2``, V on the layer
    input ``T H B``, the attention output ``T B^2``, ``F`` FFNs ``2 T B I`` each, the output
    bottleneck ``T B H``, and the attention matmuls ``2 T^2 B``; the head ``H C`` (``H^2 + H C``
    with the pooler's dense) on the first token, or ``2 T H`` for a span head."""
    c = EncoderConfig.from_dict(_hf(head, activation=activation).config.to_dict())
    T = 20
    macs = count_macs(c, T, head=head)
    layer = 2 * T * H * B + 2 * T * B * B + T * H * B + T * B * B + FFNS * 2 * T * B * INTER + T * B * H
    attention = 2 * T * T * B
    if head == "span":
        head_macs = 2 * T * H
    else:
        head_macs = H * LABELS + (H * H if activation else 0)
    assert macs.attention == L * attention
    assert macs.total == T * 3 * E * H + L * (layer + attention) + head_macs
    assert macs.linear[f"{EMBEDDING_LINEAR}.weight"] == T * 3 * E * H
    assert macs.linear["mobilebert.encoder.layer.1.ffn.1.intermediate.dense.weight"] == T * B * INTER
    assert macs.linear["mobilebert.encoder.layer.0.output.bottleneck.dense.weight"] == T * B * H
    assert macs.linear["mobilebert.encoder.layer.0.attention.self.value.weight"] == T * H * B


def test_ace_reads_each_linears_input_site_bits():
    """Per-site activation bits: a linear costs its input site's bits (MobileBERT's last FFN reads
    the last stacked FFN's norm)."""
    from bertq.cost.ace import ace

    c = EncoderConfig.from_dict(_hf().config.to_dict())
    macs = count_macs(c, 10)
    names = site_names(L, "sequence", c)
    at_8 = dict.fromkeys(names, 8)
    narrowed = {**at_8, "layer1.ffn1.norm": 4}
    saved = ace(macs, {}, at_8) - ace(macs, {}, narrowed)
    assert saved == macs.linear["mobilebert.encoder.layer.1.intermediate.dense.weight"] * 32 * 4


def _calibration(n, seed):
    g = np.random.default_rng(seed)
    lengths = g.integers(4, 13, n)
    mask = (np.arange(12) < lengths[:, None]).astype(np.int64)
    ids = np.where(mask == 1, g.integers(3, SIZE["vocab_size"], (n, 12)), PAD)
    ids[:, 0] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _adaround(activation, iterations, learning_rate=1e-3):
    from bertq.quantization.adaround import AdaRoundConfig, adaround_model

    model = _ours(activation=activation)
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    start = quantize_state(state, "mse", 4, scope="all")
    config = AdaRoundConfig(sequences=24, iterations=iterations, batch_size=8, learning_rate=learning_rate)
    tensors, results = adaround_model(model, start, _calibration(24, 1), config)
    return model, start, tensors, results


def test_adaround_learns_every_linear_and_lowers_each_error():
    """Scope ``all``: every encoder linear (bottlenecks, stacked FFNs, the embedding
    transformation) and the head's two, the pooler's dense through its tanh. (60 iterations at
    the default rate, as the other families' test, leave the rounding soft: a few of these
    16-wide linears then end a little above nearest rounding.)"""
    model, start, tensors, results = _adaround(True, 200, 1e-2)
    every = {n for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    assert set(results) == every
    assert len(results) == PER_LAYER * L + 1 + 2
    assert all(r.error_adaround <= r.error_nearest for r in results.values()), results
    assert any((tensors[f"{n}.weight"].codes != start.tensors[f"{n}.weight"].codes).any() for n in results)


def test_adaround_without_a_pooler_learns_the_classifier_on_the_first_token():
    model, _, _, results = _adaround(False, 2)
    assert set(results) == {n for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    assert "classifier" in results and len(results) == PER_LAYER * L + 1 + 1


@pytest.mark.parametrize("sites", [[], ["*.ffn0.norm", "*.bottleneck.attention"]])
def test_dynamic_int8_is_its_twin_and_batch_independent(sites):
    from bertq import QuantizationConfig, quantize, to_engine

    qmodel = quantize(_hf("sequence"), QuantizationConfig("lq", 8))
    dynamic = {"bits": 8, "tm_iqr": {"sites": sites, "scale": 1.5}} if sites else {"bits": 8}
    engine, twin = to_engine(qmodel, "i8", dynamic=dynamic), to_engine(qmodel, "i8_twin", dynamic=dynamic)
    ids, mask = _batch(7)
    with torch.no_grad():
        a = engine(input_ids=ids, attention_mask=mask).logits
        b = twin(input_ids=ids, attention_mask=mask).logits
        alone = engine(input_ids=ids[1:2, :11], attention_mask=mask[1:2, :11]).logits
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(alone, a[1:2], rtol=0, atol=1e-6)


def test_tm_iqr_clips_the_linears_reading_the_selected_sites():
    from bertq.engine.dynamic import apply_tm_iqr
    from bertq.engine.model import quantize_modules
    from bertq.quantization.dynamic import DynamicConfig

    model = _ours()
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    quantize_modules(model, quantize_state(state, "lq", 8), "i8_twin", bits=8)
    config = DynamicConfig.from_dict({"bits": 8, "tm_iqr": {"sites": ["*.ffn0.norm", "*.bottleneck.attention"]}})
    clipped = apply_tm_iqr(model, config)
    layer = "mobilebert.encoder.layer"
    assert sorted(clipped) == sorted(
        f"{layer}.{i}.{s}"
        for i in range(L)
        for s in ("ffn.1.intermediate.dense", "attention.self.query", "attention.self.key")
    )


def test_qat_with_activations_quantizes_every_site():
    from bertq import from_transformers

    model = from_transformers(_hf("sequence"))
    train = _calibration(32, 2)
    train["labels"] = np.arange(32) % 3
    assert qat_with_activations(model, train) == (2, len(site_names(L, "sequence", model.config)))


def test_the_encoder_size_counts_every_layer_parameter():
    from bertq.cost.summary import encoder_size_bits

    model = _ours()
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    assert encoder_size_bits(state) == 32 * sum(p.numel() for p in model.layers.parameters())


def test_hub_shape_vocabulary_and_parameters():
    """``google/mobilebert-uncased``: 24 layers, hidden 512, FFNs 512 wide, BERT uncased's
    vocabulary; 24.6 M parameters in its encoder and embeddings (transformers' count, no pooler:
    ``classifier_activation`` is false)."""
    from bertq.models.sources import parse_source
    from bertq.pipeline.resources import million_parameters, model_shape, vocab_size

    src = parse_source("hub:google/mobilebert-uncased")
    assert model_shape(src) == (24, 512, 512)
    assert vocab_size(src) == 30522
    with torch.device("meta"):
        hf = transformers.MobileBertModel(transformers.MobileBertConfig(), add_pooling_layer=False)
    assert million_parameters(src) == pytest.approx(sum(p.numel() for p in hf.parameters()) / 1e6, rel=1e-6)


def test_static_w8a8_runs_every_linear_and_product_on_the_integer_kernels(tmp_path):
    """Static 8-bit ranges at every site: each linear reads its declared input site's grid, so
    every linear (the embedding transformation's from ``embeddings.tokens``) and both attention
    products of every layer run on the kernels, equal to their twin."""
    from bertq.engine.model import load_static_model
    from bertq.quantization.activation import ActivationConfig, calibrate

    directory = _saved(tmp_path / "model", _hf("sequence"))
    qm = quantize_state(load_state(directory), "lq", 8)
    batches = []
    for seed in (1, 2):
        c = _calibration(8, seed)
        batches.append({k: torch.as_tensor(v) for k, v in c.items()})
    ranges = calibrate(build_model(directory, qm), batches, ActivationConfig(bits=8, estimator="current_minmax"))
    engine, on_kernels = load_static_model(directory, qm, ranges, "engine")
    twin, _ = load_static_model(directory, qm, ranges, "twin")
    assert len(on_kernels) == PER_LAYER * L + 1 + 2 * L
    assert f"{EMBEDDING_LINEAR}" in on_kernels
    ids, mask = _batch(5)
    with torch.no_grad():
        torch.testing.assert_close(engine(ids, mask), twin(ids, mask), rtol=0, atol=0)


def test_the_bit_searchs_closed_form_size_range_is_the_built_models():
    """AQ-BERT's search replaces every layer linear (bottlenecks and stacked FFNs too), and the
    config check's closed form gives the built model's size range; Q-BERT's Hessian walks the same
    linears."""
    from bertq.quantization.bit_search import SearchSpace, size_range
    from bertq.training.bit_search import attach_search, encoder_size_range, fixed_bits, searched_widths
    from bertq.training.qbert import layer_weights

    hf = _hf()
    model = _ours()
    assert len(layer_weights(model, 1)) == PER_LAYER
    layers = attach_search(model, SearchSpace((0, 3, 8), 4))
    assert set(layers) == {f"mobilebert.encoder.layer.{i}.{s}" for i in range(L) for s in LAYER_LINEARS}
    built = size_range(list(layers.values()), fixed_bits(model, layers))
    config = hf.config.to_dict()
    assert encoder_size_range(H, INTER, L, (0, 3, 8), "mobilebert", config) == pytest.approx(built)
    widths = searched_widths(H, INTER, "mobilebert", config)
    assert widths == {s: layers[f"mobilebert.encoder.layer.0.{s}"].weight.shape[0] for s in LAYER_LINEARS}


def test_a_mobilebert_search_entry_is_checked_in_closed_form(tmp_path):
    """The config check sizes a MobileBERT's search from its ``config.json`` (bottleneck, FFNs),
    and names a subgroup count that does not divide a bottleneck's 16 outputs."""
    import bertq.pipeline.config as bq
    from bertq.training.bit_search import MIB_BITS, encoder_size_range

    config = _hf().config.to_dict()
    _hf().config.to_json_file(tmp_path / "config.json")
    (tmp_path / "model.safetensors").write_bytes(b"")  # the config check reads config.json only
    lo, hi = encoder_size_range(H, INTER, L, (0, 8), "mobilebert", config)
    study = {"models": {"m": {"source": f"path:{tmp_path}"}}, "tasks": ["rte"]}

    def entry(target, groups):
        return {"methods": {"aq": {"method": "aq_bert", "search": {"target_mb": target, "groups": groups}}}}

    bq.validate({**study, "quantization": entry((lo + hi) / 2 / MIB_BITS, 4)})
    with pytest.raises(bq.ConfigError, match=r"32 subgroups do not divide the 16 output neurons of models.m's bottl"):
        bq.validate({**study, "quantization": entry((lo + hi) / 2 / MIB_BITS, 32)})
    with pytest.raises(bq.ConfigError, match=r"out of reach for models.m"):
        bq.validate({**study, "quantization": entry(2 * hi / MIB_BITS, 4)})
