"""AdaRound (Nagel et al., 2020) as Bondarenko et al. (2021) use it: the relaxation, the annealed
regulariser and its schedule against the equations and the authors' defaults, the rounding
parameters staying in [0, 1] and becoming hard, and lower reconstruction error than nearest
rounding on synthetic and on real MiniLM-L6 layers at 4 bits (calibration from training sentences)."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from bertq.models.encoder import BertClassifier, EncoderConfig
from bertq.quantization.adaround import (
    AdaRoundConfig,
    _chunked,
    _collect,
    adaround_linear,
    adaround_model,
    beta_at,
    inverse_rectified_sigmoid,
    reconstruction_error,
    rectified_sigmoid,
    rounding_regularizer,
)
from bertq.quantization.methods import quantize_weight
from bertq.quantization.model import quantize_state


def test_rectified_sigmoid_is_eq_23_and_its_inverse_recovers_the_rest():
    a = torch.linspace(-8, 8, 1001, dtype=torch.float64)
    h = rectified_sigmoid(a)
    expected = torch.clamp(1 / (1 + torch.exp(-a)) * 1.2 - 0.1, 0, 1)
    torch.testing.assert_close(h, expected)
    assert h.min() == 0 and h.max() == 1  # it reaches both ends, unlike a sigmoid
    rest = torch.rand(1000, dtype=torch.float64)
    torch.testing.assert_close(rectified_sigmoid(inverse_rectified_sigmoid(rest)), rest)


def test_regulariser_and_beta_schedule_follow_eq_24_and_the_authors_cosine():
    h = torch.tensor([0.0, 1.0, 0.5, 0.25])
    assert float(rounding_regularizer(h, 2.0)) == pytest.approx(0 + 0 + 1 + (1 - 0.25))
    c = AdaRoundConfig(iterations=1000)
    assert beta_at(1, c) == 20 and beta_at(199, c) == 20  # warm-up: 20% of the iterations
    assert beta_at(200, c) == pytest.approx(20)
    assert beta_at(600, c) == pytest.approx(2 + 0.5 * 18 * (1 + math.cos(0.5 * math.pi)))  # half-way: 11
    assert beta_at(1000, c) == pytest.approx(2)


def _layer(seed=0, n_in=48, n_out=24, sequences=64, tokens=6):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n_out, n_in, generator=g) * 0.1
    b = torch.randn(n_out, generator=g) * 0.01
    x = torch.randn(sequences, tokens, n_in, generator=g)
    x[..., :3] *= 6  # a few wide channels, as BERT's
    mask = torch.ones(sequences, tokens, dtype=torch.bool)
    mask[::3, -2:] = False  # padding never counts
    return w, b, x, mask


def test_adaround_rounds_every_weight_to_a_neighbour_lowers_the_error_and_ends_hard():
    w, b, x, mask = _layer()
    qt = quantize_weight("mse", w.T.double().numpy(), 4)
    target = F.linear(x, w, b)
    config = AdaRoundConfig(iterations=3000, batch_size=16, learning_rate=1e-2)
    new, result = adaround_linear(w, b, qt, x, target, mask, config, generator=torch.Generator().manual_seed(0))
    step = torch.as_tensor(qt.column_scales(), dtype=torch.float32)
    codes = torch.from_numpy(new.codes.astype(np.float32)).T
    ratio = w / step[:, None]
    # every code is the floor or the ceiling of w / s (clamped to the grid)
    assert bool(((codes == torch.floor(ratio).clamp(-7, 7)) | (codes == torch.ceil(ratio).clamp(-7, 7))).all())
    np.testing.assert_array_equal(new.scale, qt.scale)

    def error(c):
        return float(reconstruction_error(F.linear(x, step[:, None] * c, b), target, mask.float()))

    nearest = torch.clamp(torch.round(ratio), -7, 7)
    assert result.error_nearest == pytest.approx(error(nearest), rel=1e-5)
    assert result.error_adaround == pytest.approx(error(codes), rel=1e-5)
    assert result.error_adaround < 0.95 * result.error_nearest
    assert 0 < result.flipped < 0.5
    print(f"share of h not yet hard after {config.iterations} iterations: {result.not_hard:.4f}")
    assert result.not_hard < 0.02


def test_padding_does_not_enter_the_reconstruction_error():
    w, b, x, mask = _layer()
    target = F.linear(x, w, b)
    pred = target.clone()
    pred[~mask] += 100.0
    assert float(reconstruction_error(pred, target, mask.float())) == 0.0


def test_adaround_model_takes_every_linear_in_order_and_keeps_the_rest():
    config = EncoderConfig(
        vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    torch.manual_seed(0)
    model = BertClassifier(config).eval()
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    qm = quantize_state(state, "mse", 4, scope="all")
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 200, (24, 10), generator=g)
    mask = torch.ones_like(ids)
    mask[::4, 7:] = 0
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    tensors, results = adaround_model(model, qm, batch, AdaRoundConfig(iterations=60, batch_size=8), chunk=10)
    linears = [n[: -len(".weight")] for n in qm.tensors if "embeddings" not in n]
    assert list(results) == linears  # forward order: q, k, v, attention output, FFN in and out, pooler, head
    for name in qm.tensors:
        if "embeddings" in name:
            assert tensors[name] is qm.tensors[name]
    assert all(r.error_adaround <= r.error_nearest * 1.05 for r in results.values())


@pytest.fixture(scope="module")
def minilm_layer():
    """Layer 0 of the packaged MiniLM-L6 on 48 Rotten Tomatoes training sentences."""
    from minilm_fixture import packaged_classifier
    from transformers import AutoTokenizer

    from bertq.data.loading import Examples, load_rotten_tomatoes
    from bertq.data.tokenized import tokenize_examples
    from bertq.models.sources import packaged_path

    tokenizer = AutoTokenizer.from_pretrained(str(packaged_path()))
    train = load_rotten_tomatoes("train")
    split = tokenize_examples(tokenizer, Examples(train.text_a[:48], None, train.labels[:48]), 48)
    batch = split.batch(np.arange(48))
    config, state = packaged_classifier()
    model = BertClassifier.from_state(config, state)
    ids, mask, types = (torch.as_tensor(batch[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
    additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    with torch.no_grad():
        x = model.bert.embeddings(ids, types)
    return model.bert.encoder.layer[0], x, additive, mask.bool(), state


@pytest.mark.parametrize("sub", ["attention.self.query", "intermediate.dense", "output.dense"])
def test_adaround_lowers_the_error_of_real_minilm_layers_at_4_bits(minilm_layer, sub):
    layer, x, additive, mask, state = minilm_layer
    linear = layer.get_submodule(sub)
    weight = state[f"bert.encoder.layer.0.{sub}.weight"]
    qt = quantize_weight("mse", weight.T.astype(np.float64), 4)
    parts = _chunked(x.shape[0], 48)
    inputs = _collect(linear, layer, x, additive, parts, "input")
    act = layer.intermediate.act if sub == "intermediate.dense" else None
    targets = _collect(linear, layer, x, additive, parts, "output")
    targets = act(targets) if act else targets
    config = AdaRoundConfig(iterations=120, batch_size=16)
    _, result = adaround_linear(
        linear.weight, linear.bias, qt, inputs, targets, mask, config, act, torch.Generator().manual_seed(0)
    )
    print(f"{sub}: nearest {result.error_nearest:.4f} -> AdaRound {result.error_adaround:.4f}")
    assert result.error_adaround < result.error_nearest
