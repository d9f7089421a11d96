"""The one checkpoint loader (:mod:`bertq.models.checkpoint`) and the one codebook type with OCS
rows: fp32 and dequantized states, BERT dispatch, clear errors, save/load of split codebooks."""

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from bertq.models.checkpoint import build_model, load_finetuned, load_state
from bertq.models.encoder import BertClassifier, EncoderConfig
from bertq.quantization.model import load_quantized, quantize_state, save_quantized
from bertq.quantization.tensor import CodebookTensor

CONFIG = EncoderConfig(
    vocab_size=50,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=20,
    num_labels=3,
)


@pytest.fixture()
def bert_dir(tmp_path):
    torch.manual_seed(0)
    model = BertClassifier(CONFIG)
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", **CONFIG.__dict__}))
    return tmp_path, state


def test_fp32_and_dequantized_states(bert_dir, tmp_path):
    path, state = bert_dir
    config, loaded = load_finetuned(path)
    assert config == CONFIG and loaded.keys() == state.keys()
    qm = quantize_state(state, "lq", 3)
    save_quantized(qm, tmp_path / "q.safetensors")
    from_file = load_state(path, tmp_path / "q.safetensors")
    from_object = load_state(path, qm)
    name = "bert.encoder.layer.0.attention.self.query.weight"
    np.testing.assert_array_equal(from_file[name], qm.tensors[name].dequantize().T)
    for key in state:
        np.testing.assert_array_equal(from_file[key], from_object[key])
    np.testing.assert_array_equal(from_file["classifier.weight"], state["classifier.weight"])  # head untouched
    model = build_model(path, qm)
    assert isinstance(model, BertClassifier) and not model.training
    torch.testing.assert_close(
        model.bert.encoder.layer[0].attention.self.query.weight,
        torch.from_numpy(qm.tensors[name].dequantize().T),
        rtol=0,
        atol=0,
    )


@pytest.mark.bad_input("damaged", "job_time")
def test_errors_name_the_problem(bert_dir, tmp_path):
    path, state = bert_dir
    with pytest.raises(FileNotFoundError, match="missing: no config.json; is it a fine-tuned checkpoint"):
        build_model(tmp_path / "missing")
    other = {k.replace("layer.1.", "layer.7."): v for k, v in state.items()}
    with pytest.raises(ValueError, match="layer.7.*does not"):
        load_state(path, quantize_state(other, "lq", 8))


def test_split_codebooks_fold_and_round_trip(tmp_path):
    """An OCS weight as a codebook keeps its split rows: the same effective weight (eq. 6), the
    split indices counted in its size and saved with it."""
    from bertq.quantization.methods import quantize_weight

    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.05, (200, 24))
    qt = quantize_weight("ocs", w, 4, expand_ratio=0.05)
    cb = qt.as_codebook()
    assert isinstance(cb, CodebookTensor) and cb.n_split == 10 and cb.in_channels == 200
    np.testing.assert_allclose(cb.dequantize(), qt.dequantize(), rtol=1e-6, atol=1e-8)
    # brute force fold: every appended row added onto the channel it duplicates
    expanded = cb.codebook[0][cb.codes]
    folded = expanded[:200].copy()
    for i, channel in enumerate(cb.split_index):
        folded[channel] += expanded[200 + i]
    np.testing.assert_allclose(cb.dequantize(), folded, rtol=1e-6)
    assert cb.storage_bits() == 210 * 24 * 4 + 32 * 16 + 32 * 10
    state = {"encoder.layer.0.output.dense.weight": w.T.astype(np.float32)}
    qm = quantize_state(state, "lq", 4)
    qm.tensors = {"encoder.layer.0.output.dense.weight": cb}
    save_quantized(qm, tmp_path / "q.safetensors")
    back = load_quantized(tmp_path / "q.safetensors").tensors["encoder.layer.0.output.dense.weight"]
    assert isinstance(back, CodebookTensor)
    np.testing.assert_array_equal(back.split_index, cb.split_index)
    np.testing.assert_array_equal(back.codes, cb.codes)
    np.testing.assert_array_equal(back.dequantize(), cb.dequantize())
    with pytest.raises(ValueError, match="leave no original rows"):
        CodebookTensor(cb.codes[:2], cb.codebook, 4, np.array([0, 1]))
