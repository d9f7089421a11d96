"""MAC counts against BERT's closed form, ACE (eq. 8) and model size against hand counts."""

import numpy as np
import pytest

from bertq.cost.ace import ace, count_macs
from bertq.models.encoder import EncoderConfig
from bertq.quantization.model import quantize_state


def closed_form_macs(L, H, I, layers, labels, pooled=True):
    per_layer = 4 * L * H * H + 2 * L * H * I  # Q, K, V, O projections and the two FFN linears
    attention = 2 * L * L * H  # Q K^T and P V over all heads
    head = H * H + H * labels if pooled else 0  # pooler and classifier on the [CLS] token
    return layers * per_layer + head, layers * attention


def test_bert_base_macs_match_closed_form():
    macs = count_macs(EncoderConfig(), sequence_length=128)
    linear, attention = closed_form_macs(128, 768, 3072, 12, 2)
    assert sum(macs.linear.values()) == linear
    assert macs.attention == attention
    # The familiar number: about 11.2 GMACs (22.3 GFLOPs) for BERT-Base at 128 tokens.
    assert macs.total == 11_174_217_216


@pytest.mark.parametrize("L", [1, 64, 384])
def test_macs_scale_with_sequence_length(L):
    c = EncoderConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
    macs = count_macs(c, L)
    linear, attention = closed_form_macs(L, 256, 1024, 4, 2)
    assert (sum(macs.linear.values()), macs.attention) == (linear, attention)


def test_ace_eq8_weights_times_activations():
    c = EncoderConfig(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        vocab_size=100,
        max_position_embeddings=32,
    )
    macs = count_macs(c, 16)
    encoder = {k: v for k, v in macs.linear.items() if ".encoder." in k}
    head = sum(v for k, v in macs.linear.items() if k not in encoder)
    fp32 = ace(macs, {}, 32)
    assert fp32 == (sum(macs.linear.values()) + macs.attention) * 32 * 32
    w4 = ace(macs, dict.fromkeys(encoder, 4), 32)
    assert w4 == sum(encoder.values()) * 4 * 32 + head * 32 * 32 + macs.attention * 32 * 32
    w4a8 = ace(macs, dict.fromkeys(encoder, 4), 8)
    assert w4a8 == sum(encoder.values()) * 4 * 8 + head * 32 * 8 + macs.attention * 8 * 8
    # OCS duplicates input channels: a linear with 64 inputs and 2 split channels does 66/64 the MACs.
    name = next(iter(encoder))
    split = ace(macs, dict.fromkeys(encoder, 4), 32, {name: 2})
    assert split - w4 == pytest.approx(encoder[name] * (2 / macs.in_features[name]) * 4 * 32)


def test_quantized_size_against_hand_count():
    rng = np.random.default_rng(0)
    state = {
        "bert.embeddings.word_embeddings.weight": rng.normal(size=(100, 8)).astype(np.float32),
        "bert.encoder.layer.0.output.dense.weight": rng.normal(size=(8, 200)).astype(np.float32),
        "classifier.weight": rng.normal(size=(2, 8)).astype(np.float32),
    }
    lq = quantize_state(state, "lq", 3)
    assert lq.size_bits() == (800 + 1600) * 3 + 2 * 32 + 16 * 32
    ocs = quantize_state(state, "ocs", 3, {"expand_ratio": 0.01})
    # 1 of 100 embedding rows (8 values) and 2 of 200 linear inputs (8 values each) are duplicated.
    assert ocs.size_bits() == (800 + 8 + 1600 + 16) * 3 + 2 * 32 + 3 * 32 + 16 * 32
    assert lq.quantization_ratio == pytest.approx(2400 / 2416)


def test_count_rejects_too_long_sequences():
    with pytest.raises(ValueError, match="sequence_length"):
        count_macs(EncoderConfig(max_position_embeddings=64), 65)


@pytest.mark.parametrize("L", [16, 384])
def test_span_head_macs_match_closed_form(L):
    """A SQuAD model has no pooler and a 2-logit linear on every token (H * 2 MACs per token)."""
    c = EncoderConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)
    macs = count_macs(c, L, head="span")
    linear, attention = closed_form_macs(L, 128, 512, 2, 2, pooled=False)
    assert sum(macs.linear.values()) == linear + L * 128 * 2
    assert macs.attention == attention
    assert "qa_outputs.weight" in macs.linear and not any("pooler" in k for k in macs.linear)
    # BERT-Base at SQuAD's 384 tokens: 4 * L * H^2 + 2 * L * H * I per layer, 2 * L^2 * H attention.
    base = count_macs(EncoderConfig(), 384, head="span")
    assert base.total == 12 * (4 * 384 * 768**2 + 2 * 384 * 768 * 3072 + 2 * 384**2 * 768) + 384 * 768 * 2
