"""Quantizers with learned ranges (Bondarenko et al., 2021, QAT; after Esser et al., 2019): the
straight-through estimator and the gradients of the step and the zero point against values
derived by hand, the authors' quantizer transcribed independently, and the trained quantizers
exporting the grids they trained (a PTQ checkpoint and ranges that evaluation reads unchanged)."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from bertq.models.encoder import BertClassifier, EncoderConfig
from bertq.models.sites import site_modules
from bertq.quantization.activation import ActivationConfig, ActivationQuantizer, SiteRange, apply_ranges, calibrate
from bertq.quantization.learned import LearnedActivationQuantizer, LearnedWeightQuantizer, round_ste
from bertq.quantization.model import quantize_state
from bertq.training.qat import Supervised, attach_learned_quantizers, trained_result


def test_round_ste_rounds_half_to_even_and_passes_the_gradient_through():
    x = torch.tensor([0.5, 1.5, -0.5, 2.4, -2.6], requires_grad=True)
    y = round_ste(x)
    assert y.tolist() == [0.0, 2.0, -0.0, 2.0, -3.0]
    y.backward(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert x.grad.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_weight_quantizer_gradients_are_lsqs():
    """w_hat = s clamp(round(w/s), -7, 7): dw = [inside], ds = round(w/s) - w/s inside, +-7 outside."""
    s0 = 0.1
    w = torch.tensor([[0.03, -0.26, 0.71, -0.9], [0.44, 0.049, -0.72, 0.15]], requires_grad=True)
    q = LearnedWeightQuantizer(np.array([s0]), 4, channels=2, output_dim=0)
    c = torch.tensor([[1.0, -2.0, 0.5, 3.0], [-1.5, 2.5, 1.0, -0.5]])
    out = q(w)
    (c * out).sum().backward()
    ratio = w.detach().double() / s0
    inside = ratio.round().abs() <= 7
    torch.testing.assert_close(out.detach().double(), s0 * ratio.round().clamp(-7, 7), atol=1e-7, rtol=0)
    torch.testing.assert_close(w.grad, (c * inside).float())
    by_hand = torch.where(inside, ratio.round() - ratio, 7 * ratio.sign())
    assert float(q.delta.grad) == pytest.approx(float((c.double() * by_hand).sum()), rel=1e-5)


def _authors_asymmetric(x, delta, zero_float, n_bits):
    """Qualcomm's ``AsymmetricUniformQuantizer.forward`` with trainable ``_delta`` and ``_zero_float``,
    transcribed: scale = clamp(delta, 1e-8); zero = clamp(round_ste(zero_float), 0, 2**b - 1);
    x_int = clamp(round_ste(x / scale) + zero, 0, 2**b - 1); x_q = scale (x_int - zero)."""

    class RoundSTE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, v):
            return torch.round(v)

        @staticmethod
        def backward(ctx, g):
            return g

    top = 2.0**n_bits - 1
    scale = torch.clamp(delta, min=1e-8)
    zero = torch.clamp(RoundSTE.apply(zero_float), 0.0, top)
    x_int = torch.clamp(RoundSTE.apply(x / scale) + zero, 0.0, top)
    return scale * (x_int - zero)


def test_activation_quantizer_gradients_by_hand_and_against_the_authors_quantizer():
    r = SiteRange(4, [-1.0], [2.0])  # s = 0.2, z_f = 5
    q = LearnedActivationQuantizer("ffn.output", r)
    assert float(q.delta.detach()) == pytest.approx(0.2) and float(q.zero_float.detach()) == pytest.approx(5.0)
    x = torch.tensor([-1.7, -1.0, -0.33, 0.0, 0.41, 1.99, 2.05, 3.3], requires_grad=True)
    c = torch.tensor([1.0, -1.0, 2.0, 0.5, -3.0, 1.5, 2.0, -0.5])
    out = q(x)
    (c * out).sum().backward()
    s, z = float(q.delta.detach()), 5.0
    v = x.detach().double() / s
    codes = v.round() + z
    inside = (codes >= 0) & (codes <= 15)
    torch.testing.assert_close(out.detach().double(), s * (codes.clamp(0, 15) - z), atol=1e-6, rtol=0)
    torch.testing.assert_close(x.grad, (c * inside).float())
    ds = torch.where(inside, v.round() - v, codes.clamp(0, 15) - z)
    assert float(q.delta.grad) == pytest.approx(float((c.double() * ds).sum()), rel=1e-5)
    assert float(q.zero_float.grad) == pytest.approx(float((c.double() * -s * (~inside)).sum()), rel=1e-5)
    # the authors' quantizer, transcribed, gives the same values and gradients
    x2 = x.detach().clone().requires_grad_(True)
    delta, zf = torch.tensor(0.2, requires_grad=True), torch.tensor(5.0, requires_grad=True)
    ref = _authors_asymmetric(x2, delta, zf, 4)
    (c * ref).sum().backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(q.delta.grad.reshape(()), delta.grad)
    torch.testing.assert_close(q.zero_float.grad.reshape(()), zf.grad)


def test_trained_activation_grid_exports_as_the_range_evaluation_quantizes_with():
    g = torch.Generator().manual_seed(0)
    r = SiteRange(8, [-0.7, -2.0, -0.1], [1.3, 4.0, 0.2], index=[0, 1, 2, 1, 0, 2])
    q = LearnedActivationQuantizer("ffn.output", r)
    with torch.no_grad():  # as if trained: steps and zero points moved off their start
        q.delta.mul_(torch.tensor([1.13, 0.91, 1.05]))
        q.zero_float.add_(torch.tensor([3.4, -7.7, 12.2]))
    x = torch.randn(4, 9, 6, generator=g) * 2
    static = ActivationQuantizer("ffn.output", q.site_range())
    torch.testing.assert_close(static(x), q(x).detach(), atol=1e-5, rtol=1e-5)
    s, z = q.grid()
    torch.testing.assert_close(static.zero, z.detach())
    torch.testing.assert_close(static.scale, s.detach(), rtol=1e-6, atol=0)


def _tiny():
    config = EncoderConfig(
        vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, num_labels=3
    )
    torch.manual_seed(0)
    model = BertClassifier(config).eval()
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 120, (16, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[::3, 6:] = 0
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    return model, state, batch


def test_attached_quantizers_start_at_the_ptq_model_and_export_what_they_trained():
    model, state, batch = _tiny()
    qm = quantize_state(state, "mse", 4, scope="all", embedding_bits=2)
    ranges = calibrate(
        BertClassifier.from_state(model.config, qm.dequantized_state(state)), [batch], ActivationConfig()
    )
    ptq = apply_ranges(BertClassifier.from_state(model.config, qm.dequantized_state(state)), ranges)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    attached = attach_learned_quantizers(model, qm, ranges)
    assert len(attached["weights"]) == len(qm.tensors) and len(attached["sites"]) == len(ranges)
    assert all(isinstance(m, LearnedActivationQuantizer) for _, m in site_modules(model).values())
    args = (batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    with torch.no_grad():
        torch.testing.assert_close(model(*args), ptq(*args), atol=1e-4, rtol=1e-4)
    # a few steps of training move weights and ranges; the export reproduces the trained model
    wrapped = Supervised(model, regression=False).train()
    optimizer = torch.optim.Adam(wrapped.parameters(), lr=1e-2)
    labels = torch.arange(16) % 3
    for _ in range(5):
        loss = wrapped(*args, labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert all(q.delta.grad is not None for q in attached["weights"].values())
    tuned, tuned_ranges = trained_result(model, qm, attached, before)
    assert tuned.tensors["bert.embeddings.word_embeddings.weight"].bits == 2
    # every trained parameter is in the export: quantized weights as codes, the rest (biases,
    # LayerNorm) as float tensors that replace the fine-tuned ones
    assert "bert.encoder.layer.0.attention.output.dense.bias" in tuned.float_tensors
    effective = tuned.dequantized_state(state)
    for name, value in model.state_dict().items():
        if name in state:  # not a parametrized weight's latent copy nor a quantizer's parameter
            np.testing.assert_array_equal(effective[name], value.numpy(), err_msg=name)
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module):
            np.testing.assert_allclose(effective[f"{name}.weight"], module.weight.detach().numpy(), atol=1e-6, rtol=0)
    assert {n: t.bits for n, t in tuned.tensors.items()} == {n: t.bits for n, t in qm.tensors.items()}
    exported = apply_ranges(BertClassifier.from_state(model.config, tuned.dequantized_state(state)), tuned_ranges)
    with torch.no_grad():
        torch.testing.assert_close(exported(*args), model(*args), atol=1e-4, rtol=1e-4)
        changed = [not np.array_equal(tuned.tensors[n].codes, qm.tensors[n].codes) for n in qm.tensors]
    assert any(changed)
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Embedding)) and parametrize.is_parametrized(module):
            assert f"{name}.weight" in qm.tensors


def test_per_group_grids_get_the_authors_gradients_summed_per_group():
    g = torch.Generator().manual_seed(3)
    r = SiteRange(8, [-0.7, -2.0, -0.1], [1.3, 4.0, 0.2], index=[0, 1, 2, 1, 0, 2])
    q = LearnedActivationQuantizer("ffn.output", r)
    x = (torch.randn(2, 5, 6, generator=g) * 2).requires_grad_(True)
    c = torch.randn(2, 5, 6, generator=g)
    (c * q(x)).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    delta = q.delta.detach().clone().requires_grad_(True)
    zf = q.zero_float.detach().clone().requires_grad_(True)
    index = torch.tensor(r.index)
    (c * _authors_asymmetric(x2, delta[index], zf[index], 8)).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(q.delta.grad, delta.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(q.zero_float.grad, zf.grad, rtol=1e-5, atol=1e-6)
    assert (zf.grad != 0).any() and (delta.grad != 0).all()
