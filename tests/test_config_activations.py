"""Activation-quantization settings in the study config (Bondarenko et al., 2021): every bad value
is named by its config key before any job runs; leave-one-out generates Table 2's variants; the
ACE of a variant counts each activation site's own bits (checked against a hand count)."""

import pytest

import bertq.pipeline.config as bq
from bertq.cost.ace import ace, count_macs
from bertq.models.encoder import EncoderConfig
from bertq.models.sites import site_names

BASE = {"models": {"m": {"source": "packaged:all-MiniLM-L6-v2"}}, "tasks": ["rotten_tomatoes"]}


def _with(methods, **quantization):
    return {**BASE, "quantization": {"bits": [8], "methods": methods, **quantization}}


def _error(methods, **quantization) -> str:
    with pytest.raises(bq.ConfigError) as info:
        bq.validate(_with(methods, **quantization))
    return str(info.value)


def test_a_w8a8_entry_resolves_with_the_defaults():
    cfg = bq.validate(_with({"w8a8": {"method": "lq", "scope": "all", "activations": {"estimator": "mse"}}}))
    v = bq.method_variant(cfg, "w8a8")
    assert v["scope"] == "all" and v["bits"] == [8]
    assert v["activations"]["estimator"] == "mse" and v["activations"]["bits"] == 8
    assert v["activations"]["batch_size"] == 1 and v["activations"]["sites"] == ["*"]
    assert bq.activation_cost(cfg, "w8a8") == {"bits": 8, "sites": ["*"], "exclude": [], "site_bits": {}}


@pytest.mark.bad_input("config", "before_job")
def test_float_weights_need_activations_and_32_bits():
    cfg = bq.validate(_with({"w32a8": {"method": "float", "activations": {}}}))
    assert bq.method_variant(cfg, "w32a8")["bits"] == [32]
    assert "needs activations" in _error({"x": {"method": "float"}})
    assert "x.bits" in _error({"x": {"method": "float", "bits": [8], "activations": {}}})
    assert "x.granularity" in _error({"x": {"method": "float", "granularity": "channel", "activations": {}}})


@pytest.mark.parametrize(
    ("activations", "key", "words"),
    [
        ({"estimator": "minmax"}, "x.activations.estimator", "known: current_minmax"),
        ({"bits": 1}, "x.activations.bits", "2 to 16"),
        ({"bits": 17}, "x.activations.bits", "2 to 16"),
        ({"site_bits": {"*.ffn.residual_sum": 32}}, "x.activations.site_bits", "2 to 16"),
        ({"sites": ["layer1.ffn.residue"]}, "x.activations.sites[0]", "valid sites are"),
        ({"exclude": ["pooler.outputs"]}, "x.activations.exclude[0]", "valid sites are"),
        ({"peg": {"groups": 5}}, "x.activations.peg.groups", "do not divide the hidden size 384"),
        ({"peg": {"groups": 6}, "estimator": "mse"}, "x.activations.peg", "per-tensor ranges only"),
        ({"peg": {"groups": 6, "sites": ["*.attention.scores"]}}, "x.activations.peg.sites[0]", "no embedding"),
        ({"batch_size": 64, "batches": 200}, "x.activations", "training examples"),
        ({"momentum": 1.5}, "x.activations.momentum", "[0, 1)"),
    ],
)
@pytest.mark.bad_input("config", "before_job")
def test_bad_activation_settings_name_their_key(activations, key, words):
    message = _error({"x": {"method": "lq", "activations": activations}})
    assert f"config key quantization.methods.{key}" in message and words in message, message


@pytest.mark.bad_input("config", "before_job")
def test_unknown_activation_setting_is_a_schema_error():
    assert "quantization.methods.x.activations" in _error({"x": {"method": "lq", "activations": {"bins": 3}}})


@pytest.mark.bad_input("config", "before_job")
def test_activations_need_a_classification_task_and_a_bert():
    with pytest.raises(bq.ConfigError, match="SQuAD calibration"):
        bq.validate({**_with({"x": {"method": "lq", "activations": {}}}), "tasks": ["squad"]})


def test_leave_one_out_generates_table2_variants():
    cfg = bq.validate(_with({"lq": {}}, leave_one_out={"kinds": ["ffn.residual_sum", "embeddings.sum"]}))
    methods = cfg["quantization"]["methods"]
    assert set(methods) == {"lq", "loo-all", "loo-ffn.residual_sum", "loo-ffn.residual_sum-last2", "loo-embeddings.sum"}
    last2 = bq.method_variant(cfg, "loo-ffn.residual_sum-last2")
    assert last2["method"] == "float" and last2["bits"] == [32]
    assert last2["activations"]["exclude"] == ["layer-2.ffn.residual_sum", "layer-1.ffn.residual_sum"]
    assert last2["activations"]["estimator"] == "current_minmax" and last2["activations"]["batch_size"] == 1
    assert last2["leave_one_out"] == {"kind": "ffn.residual_sum", "layers": "last2"}
    assert bq.method_variant(cfg, "loo-all")["activations"]["exclude"] == []
    assert "unknown site kind 'ffn.foo'" in _error({"lq": {}}, leave_one_out={"kinds": ["ffn.foo"]})


def test_ace_counts_each_sites_bits_by_hand():
    """Two layers, hidden 8, 2 heads, FFN 16, 4 tokens: every linear's MACs times its weight bits
    times its input site's bits, attention matmuls times their operands' bits."""
    c = EncoderConfig(
        vocab_size=30,
        hidden_size=8,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=8,
        num_labels=2,
    )
    t, h, f = 4, 8, 16
    macs = count_macs(c, t)
    names = site_names(2)
    bits = dict.fromkeys(names, 8)
    bits["layer1.ffn.residual_sum"] = 16  # no MAC reads a residual sum: ACE unchanged by it
    bits["layer0.ffn.intermediate"] = 16  # read by layer 0's FFN output linear
    bits["layer1.attention.probs"] = 4  # layer 1's context matmul
    bits.pop("pooler.output")  # fp32: the classifier reads 32-bit inputs
    w = dict.fromkeys(macs.linear, 8)
    expected = 0.0
    for layer in range(2):
        qkv = 3 * t * h * h * 8 * 8
        out = t * h * h * 8 * 8
        ffn_in = t * h * f * 8 * 8
        ffn_out = t * f * h * 8 * (16 if layer == 0 else 8)
        scores = t * t * h * 8 * 8
        context = t * t * h * (4 if layer == 1 else 8) * 8
        expected += qkv + out + ffn_in + ffn_out + scores + context
    expected += h * h * 8 * 8  # pooler on [CLS], reading layer 1's output
    expected += h * 2 * 8 * 32  # classifier reading the fp32 pooler output
    assert ace(macs, w, bits) == pytest.approx(expected)
