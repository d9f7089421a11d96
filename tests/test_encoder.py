"""The hand-written inference encoder matches transformers' BertForSequenceClassification and
BertForQuestionAnswering."""

import pytest
import torch

from bertq.models.encoder import BertClassifier, BertSpanExtractor, EncoderConfig, build_inference_model, head_of

transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("num_labels,act", [(2, "gelu"), (1, "gelu"), (3, "gelu_new")])
def test_matches_transformers(num_labels, act):
    torch.manual_seed(0)
    hf_config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=40,
        num_labels=num_labels,
        hidden_act=act,
    )
    hf = transformers.BertForSequenceClassification(hf_config).eval()
    ours = BertClassifier.from_state(EncoderConfig.from_dict(hf_config.to_dict()), hf.state_dict())
    ids = torch.randint(0, 50, (3, 11))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    mask[2, 3:] = 0
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    with torch.no_grad():
        expected = hf(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        got = ours(ids, mask, types)
    assert got.shape == (3, num_labels)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_rejects_mismatched_checkpoint():
    config = EncoderConfig(
        vocab_size=10,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=8,
    )
    state = BertClassifier(config).state_dict()
    state.pop("classifier.weight")
    with pytest.raises(ValueError, match="classifier.weight"):
        BertClassifier.from_state(config, state)


def test_span_extractor_matches_transformers():
    torch.manual_seed(1)
    hf_config = transformers.BertConfig(
        vocab_size=60,
        hidden_size=24,
        num_hidden_layers=2,
        num_attention_heads=3,
        intermediate_size=40,
        max_position_embeddings=32,
    )
    hf = transformers.BertForQuestionAnswering(hf_config).eval()
    state = hf.state_dict()
    assert head_of(state) == "span" and not any(k.startswith("bert.pooler") for k in state)
    ours = build_inference_model(EncoderConfig.from_dict(hf_config.to_dict()), state)
    assert isinstance(ours, BertSpanExtractor)
    ids = torch.randint(0, 60, (2, 13))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    types = torch.zeros_like(ids)
    types[:, 4:] = 1
    with torch.no_grad():
        expected = hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
        got = ours(ids, mask, types)
    assert got.shape == (2, 13, 2)
    torch.testing.assert_close(got[..., 0], expected.start_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[..., 1], expected.end_logits, atol=1e-5, rtol=1e-5)
    # A classifier's checkpoint builds a classifier.
    cls_state = transformers.BertForSequenceClassification(hf_config).state_dict()
    assert isinstance(build_inference_model(EncoderConfig.from_dict(hf_config.to_dict()), cls_state), BertClassifier)


def test_fused_attention_equals_the_explicit_steps_and_yields_to_observers():
    torch.manual_seed(0)
    config = EncoderConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=16,
    )
    model = BertClassifier(config).eval()
    ids = torch.randint(0, 50, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    attention = model.bert.encoder.layer[0].attention.self
    assert attention.fused()
    with torch.no_grad():
        fused = model(ids, mask)
        seen = []
        handle = attention.probs_site.register_forward_hook(lambda m, i, o: seen.append(o))
        assert not attention.fused()  # an observer of the probabilities gets them
        explicit = model(ids, mask)
        handle.remove()
    assert attention.fused() and seen[0].shape == (3, 4, 9, 9)
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-6)
    assert torch.all(seen[0][1, :, :, 5:] == 0)  # padded keys get no probability
