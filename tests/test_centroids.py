"""Centroid fine-tuning (Zhao et al., 2021, sec. 3.1): checked against the gradients of the same
model with plain (dequantized) weights."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from bertq.quantization.model import from_input_major, quantize_state
from bertq.training.centroids import attach_centroids, parameter_groups, trained_codebooks

transformers = pytest.importorskip("transformers")


def _model():
    config = transformers.BertConfig(
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=40,
        num_labels=3,
    )
    torch.manual_seed(0)
    return transformers.BertForSequenceClassification(config).eval()


@pytest.mark.parametrize(
    "method,bits,params",
    [("kmeans", 2, {}), ("linear_clustering", 3, {"granularity": "channel"}), ("lq", 3, {"granularity": 4})],
)
def test_one_sgd_step_moves_each_centroid_by_its_members_mean_gradient(method, bits, params):
    fp32 = _model()
    state = {k: v.detach().numpy().copy() for k, v in fp32.state_dict().items()}
    qm = quantize_state(state, method, bits, params)
    # the reference: plain parameters holding the dequantized weights
    reference = copy.deepcopy(fp32)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in qm.dequantized_state(state).items()})
    model = copy.deepcopy(fp32)
    model.load_state_dict(reference.state_dict())
    centroids = attach_centroids(model, qm)
    assert len(centroids) == len(qm.tensors) == 3 + 2 * 6

    ids = torch.randint(0, 120, (4, 16), generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 1])
    out, ref = model(input_ids=ids, labels=labels), reference(input_ids=ids, labels=labels)
    torch.testing.assert_close(out.logits, ref.logits, rtol=0, atol=0)  # the rebuilt weights are the quantized ones
    out.loss.backward()
    ref.loss.backward()

    lr = 0.5
    before = {n: c.detach().clone() for n, c in centroids.items()}
    torch.optim.SGD([{"params": list(centroids.values())}], lr=lr).step()
    ref_params = dict(reference.named_parameters())
    for name, qt in qm.tensors.items():
        cw = qt.as_codebook()
        grad = ref_params[name].grad.numpy().astype(np.float64)
        grad = grad if "embeddings" in name else grad.T  # input-major, as the codes
        group = np.arange(cw.codes.shape[1])[None, :] // cw.group_size + np.zeros_like(cw.codes, dtype=np.int64)
        expected = before[name].numpy().astype(np.float64).copy()
        for g in range(cw.codebook.shape[0]):
            for c in range(1 << cw.bits):
                members = (group == g) & (cw.codes == c)
                if members.any():
                    expected[g, c] -= lr * grad[members].mean()
        np.testing.assert_allclose(centroids[name].detach().numpy(), expected, rtol=1e-5, atol=1e-7)

    # after the step every weight is still one of its group's centroids
    modules = dict(model.named_modules())
    for name in qm.tensors:
        w = modules[name.rsplit(".", 1)[0]].weight.detach().numpy()
        w = from_input_major(name, w) if "embeddings" in name else w.T
        cb = centroids[name].detach().numpy()
        size = w.shape[1] // cb.shape[0]
        for j in (0, w.shape[1] - 1):
            assert set(np.unique(w[:, j])) <= set(cb[j // size])
    tuned = trained_codebooks(qm, centroids)
    for name in qm.tensors:
        np.testing.assert_array_equal(tuned.tensors[name].codebook, centroids[name].detach().numpy())
        np.testing.assert_array_equal(tuned.tensors[name].codes, qm.tensors[name].as_codebook().codes)


def test_quantized_layers_train_ten_times_faster_and_ocs_is_refused():
    model = _model()
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    centroids = attach_centroids(model, quantize_state(state, "kmeans", 2))
    groups = parameter_groups(model, centroids, 2e-5, 10.0, 0.01)
    assert groups[0]["lr"] == pytest.approx(2e-4) and groups[1]["lr"] == groups[2]["lr"] == 2e-5
    n_params = sum(len(g["params"]) for g in groups)
    assert n_params == len(list(model.parameters()))  # every parameter trains, each once
    ocs_state = dict(state)
    with pytest.raises(ValueError, match="OCS split channels"):
        attach_centroids(_model(), quantize_state(ocs_state, "ocs", 4, {"expand_ratio": 0.2}))


def test_the_export_is_the_trained_model_float_tensors_and_all():
    from bertq.training.finetune import changed_float_tensors

    fp32 = _model()
    state = {k: v.detach().numpy().copy() for k, v in fp32.state_dict().items()}
    qm = quantize_state(state, "kmeans", 3)
    model = copy.deepcopy(fp32)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in qm.dequantized_state(state).items()})
    centroids = attach_centroids(model, qm)
    optimizer = torch.optim.Adam(parameter_groups(model, centroids, 1e-2, 10.0, 0.0), lr=1e-2)
    ids = torch.randint(0, 120, (4, 16), generator=torch.Generator().manual_seed(2))
    for _ in range(3):
        loss = model.train()(input_ids=ids, labels=torch.tensor([0, 1, 2, 1])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    tuned = trained_codebooks(qm, centroids, changed_float_tensors(model, state, qm.tensors))
    assert "classifier.bias" in tuned.float_tensors and "bert.encoder.layer.1.output.dense.bias" in tuned.float_tensors
    exported = copy.deepcopy(fp32)
    exported.load_state_dict({k: torch.from_numpy(v) for k, v in tuned.dequantized_state(state).items()})
    with torch.no_grad():
        torch.testing.assert_close(exported(input_ids=ids).logits, model(input_ids=ids).logits, rtol=1e-5, atol=1e-6)
