"""The integer engine against its torch twin: whole encoders (ours and Hugging Face's) on the
int8 kernels give the logits of the fake-quant model of the same quantization.

Stated tolerance: none. The twin (FakeQuantLinear) does the engine's arithmetic in torch, so
logits must be bit-identical, and predictions agree on 100% of a dev set (the issue asks for
99.9%). A float32 fake-quant model with the same codes differs from both by float summation
order only per layer; the last test measures how such differences compound in MiniLM.
"""

import copy

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file
from torch import nn

from bertq.engine.linear import CodebookLinear, FakeQuantLinear, IntegerLinear
from bertq.engine.model import load_engine_model, quantize_modules
from bertq.kernels import simd
from bertq.models.encoder import BertClassifier, BertSpanExtractor, EncoderConfig
from bertq.quantization.methods import quantize_weight
from bertq.quantization.model import load_quantized, quantize_state, save_quantized
from bertq.quantization.tensor import CodebookTensor

TINY = EncoderConfig(
    vocab_size=300,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=256,
    max_position_embeddings=64,
    num_labels=3,
)


def _state(cls, seed=0):
    """A random model with BERT-like weight spreads (nn.Linear's default init is too uniform)."""
    torch.manual_seed(seed)
    model = cls(TINY)
    for name, p in model.named_parameters():
        if name.endswith("LayerNorm.weight"):
            nn.init.ones_(p)
        else:
            nn.init.normal_(p, std=0.05 if p.ndim == 2 else 0.02)
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    "method,bits,params",
    [
        ("lq", 8, {}),
        ("ocs", 8, {}),
        ("aciq", 4, {}),
        ("lq", 6, {"granularity": "channel"}),
        ("ocs", 4, {"granularity": 8}),
        ("kmeans", 3, {}),
        ("kmeans_optimal", 2, {"granularity": "channel"}),
        ("linear_clustering", 1, {"granularity": 4}),
    ],
)
def test_integer_linear_equals_its_twin(method, bits, params):
    rng = np.random.default_rng(bits)
    linear = nn.Linear(200, 40)
    qt = quantize_weight(method, linear.weight.detach().numpy().T.astype(np.float64), bits, **params)
    x = torch.from_numpy((rng.standard_normal((2, 7, 200)) * 2).astype(np.float32))
    with torch.no_grad():
        y_int = IntegerLinear.from_float(linear, qt)(x)
        y_fake = FakeQuantLinear.from_float(linear, qt)(x)
        y_lut = CodebookLinear.from_float(linear, qt)(x)
    assert y_int.shape == (2, 7, 40)
    torch.testing.assert_close(y_int, y_fake, rtol=0, atol=0)
    torch.testing.assert_close(y_lut, y_int, rtol=0, atol=0)  # packed codes + int8 codebook: the same arithmetic
    if isinstance(qt, CodebookTensor):  # centroids rounded to int8 on a per-group max-abs scale
        w8, s8 = qt.int8_form()
        np.testing.assert_allclose(w8 * s8, qt.dequantize(), rtol=0, atol=np.abs(qt.codebook).max() / 254 + 1e-7)
        return
    # ... and both are the float product of the dequantized operands up to float32 rounding
    from bertq.engine.activations import fake_quantize_activations

    x_in = x if not qt.n_split else x.index_select(-1, FakeQuantLinear.from_float(linear, qt).gather)
    reference = fake_quantize_activations(x_in).double() @ torch.from_numpy(qt.dequantize_expanded()).double()
    torch.testing.assert_close(y_int.double(), reference + linear.bias.double(), rtol=1e-5, atol=1e-5)
    if method == "ocs":
        assert qt.n_split > 0  # the split rows were executed, not folded


def test_shape_mismatch_is_named():
    qt = quantize_weight("lq", np.ones((8, 4)), 8)
    with pytest.raises(ValueError, match=r"8 x 4 \(input-major\) does not fit nn.Linear\(4, 8\)"):
        IntegerLinear.from_float(nn.Linear(4, 8), qt)


@pytest.mark.parametrize("cls", [BertClassifier, BertSpanExtractor])
@pytest.mark.parametrize(
    "method,bits,params",
    [
        ("lq", 8, {}),
        ("ocs", 6, {}),
        ("aciq", 4, {}),
        ("kmeans", 4, {"granularity": 16}),
        ("lq", 4, {"granularity": "channel"}),
    ],
)
def test_encoder_on_the_engine_matches_fake_quant(cls, method, bits, params):
    state = _state(cls)
    qm = quantize_state(state, method, bits, params)
    engine = quantize_modules(cls.from_state(TINY, state), qm, "int8")
    twin = quantize_modules(cls.from_state(TINY, state), qm, "fake")
    n_int = sum(isinstance(m, IntegerLinear) for m in engine.modules())
    assert n_int == 6 * TINY.num_hidden_layers  # q, k, v, attention out, intermediate, output
    assert isinstance(engine.bert.encoder.layer[0].intermediate.dense, IntegerLinear)
    head = engine.classifier if cls is BertClassifier else engine.qa_outputs
    assert type(head) is nn.Linear  # the head stays float
    ids = torch.randint(0, TINY.vocab_size, (16, 24), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[3, 10:] = 0
    with torch.no_grad():
        a, b = engine(ids, mask), twin(ids, mask)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_hugging_face_bert_runs_on_the_engine():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=300,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=64,
        num_labels=2,
    )
    torch.manual_seed(0)
    hf = transformers.BertForSequenceClassification(config).eval()
    qm = quantize_state({k: v.detach().numpy().copy() for k, v in hf.state_dict().items()}, "lq", 8)
    engine = quantize_modules(copy.deepcopy(hf), qm, "int8")
    twin = quantize_modules(copy.deepcopy(hf), qm, "fake")
    assert isinstance(engine.bert.encoder.layer[1].attention.self.query, IntegerLinear)
    ids = torch.randint(0, 300, (8, 20), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b, f = engine(ids).logits, twin(ids).logits, hf(ids).logits
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - f).abs().max() < 0.1 * f.abs().max()  # 8-bit stays near fp32


def test_checkpoint_is_bit_packed_on_disk(tmp_path):
    state = _state(BertClassifier)
    sizes = {}
    for bits in (2, 4, 8):
        qm = quantize_state(state, "lq", bits)
        path = tmp_path / f"w{bits}.safetensors"
        save_quantized(qm, path)
        sizes[bits] = path.stat().st_size
        back = load_quantized(path)
        for name, qt in qm.tensors.items():
            np.testing.assert_array_equal(back.tensors[name].codes, qt.codes)
            assert back.tensors[name].scale == qt.scale
    codes = sum(qt.codes.size for qt in qm.tensors.values())
    assert sizes[8] - sizes[4] == pytest.approx(codes / 2, rel=0.01)
    assert sizes[4] - sizes[2] == pytest.approx(codes / 4, rel=0.01)


@pytest.mark.bad_input("damaged", "job_time")
def test_checkpoint_in_another_format_is_refused(tmp_path):
    path = tmp_path / "old.safetensors"
    save_file({"x::codes": np.zeros((2, 2), np.int8)}, str(path), metadata={"bits": "8"})
    with pytest.raises(ValueError, match="not a bertq quantized checkpoint.*rerun its quantize job"):
        load_quantized(path)


def test_load_engine_model_from_job_files(tmp_path):
    state = _state(BertClassifier)
    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(
        '{"vocab_size": 300, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, '
        '"intermediate_size": 256, "max_position_embeddings": 64, "num_labels": 3}'
    )
    save_quantized(quantize_state(state, "ocs", 8), tmp_path / "q.safetensors")
    model = load_engine_model(tmp_path, tmp_path / "q.safetensors", path="portable")
    layer = model.bert.encoder.layer[1].output.dense
    assert isinstance(layer, IntegerLinear) and layer.path == "portable" and layer.n_split > 0
    fast = load_engine_model(tmp_path, tmp_path / "q.safetensors")
    assert fast.bert.encoder.layer[1].output.dense.path == simd.default_path()
    ids = torch.randint(0, 300, (4, 16), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(model(ids), fast(ids), rtol=0, atol=0)  # every path is bit-identical


def test_minilm_predictions_agree_on_a_dev_set():
    """The packaged MiniLM (a Hugging Face BertForSequenceClassification) with 8-bit LQ weights:
    on the engine and on its twin, identical logits on all 852 Rotten Tomatoes dev sentences."""
    from transformers import AutoTokenizer

    from bertq.data.loading import load_rotten_tomatoes
    from bertq.models.sources import load_classifier, packaged_path, parse_source

    fp32 = load_classifier(parse_source("packaged:all-MiniLM-L6-v2"), 2, seed=0).eval()
    qm = quantize_state({k: v.detach().numpy().copy() for k, v in fp32.state_dict().items()}, "lq", 8)
    engine = quantize_modules(copy.deepcopy(fp32), qm, "int8")
    twin = quantize_modules(copy.deepcopy(fp32), qm, "fake")
    dev = load_rotten_tomatoes("dev")
    tok = AutoTokenizer.from_pretrained(str(packaged_path()))
    texts = sorted(dev.text_a, key=len)  # batches of similar length: little padding
    agree, total = 0, 0
    with torch.no_grad():
        for i in range(0, len(texts), 64):
            batch = tok(texts[i : i + 64], padding=True, truncation=True, max_length=64, return_tensors="pt")
            a, b = engine(**batch).logits, twin(**batch).logits
            torch.testing.assert_close(a, b, rtol=0, atol=0)
            agree += int((a.argmax(-1) == b.argmax(-1)).sum())
            total += a.shape[0]
    assert total == len(texts) == 852
    assert agree / total >= 0.999
