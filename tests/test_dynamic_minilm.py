"""Acceptance test of dynamic int8 (El-Kurdi et al., 2022) on real pretrained weights and a real dev
set: the packaged MiniLM-L6 fine-tuned cheaply on Rotten Tomatoes (tests/minilm_fixture.py), every
linear's weight 8-bit per tensor, I8 and TM-IQR scored on the integer engine's kernels and on their
torch twin.

The engine's logits must equal the twin's on every dev sentence, bit for bit (so the predictions
agree on all of them), on every SIMD instruction path this CPU runs; the scores and the time of engine
scoring against the twin's (fake-quant) scoring are printed (``pytest -s``).
"""

import time

import numpy as np
import pytest
import torch
from minilm_fixture import finetune_top, packaged_classifier

from bertq.data.loading import Examples, load_rotten_tomatoes
from bertq.data.tokenized import tokenize_examples
from bertq.engine.dynamic import apply_tm_iqr
from bertq.engine.model import quantize_modules
from bertq.evaluation.classify import predict
from bertq.kernels import simd
from bertq.models.encoder import BertClassifier
from bertq.models.sources import packaged_path
from bertq.quantization.dynamic import DynamicConfig
from bertq.quantization.model import quantize_state

TRAIN_EXAMPLES = 1000
MAX_LENGTH = 64
PATHS = [p for p in simd.available_paths() if p != "portable"] or ["portable"]
"""The SIMD paths (the portable loop takes a minute per pass here; tests/test_dynamic_quant.py checks it)."""
MODES = {"I8": DynamicConfig.from_dict({}), "TM-IQR": DynamicConfig.from_dict({"tm_iqr": {}})}


@pytest.fixture(scope="module")
def minilm():
    from transformers import AutoTokenizer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(packaged_path()))
        train = load_rotten_tomatoes("train")
        train = Examples(train.text_a[:TRAIN_EXAMPLES], None, train.labels[:TRAIN_EXAMPLES])
        dev = tokenize_examples(tokenizer, load_rotten_tomatoes("dev"), MAX_LENGTH)
        config, state = packaged_classifier()
        model = BertClassifier.from_state(config, state)
        finetune_top(model, tokenize_examples(tokenizer, train, MAX_LENGTH))
        state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        qm = quantize_state(state, "lq", 8, scope="all")
        out = {"dev": dev, "fp32": predict(model, dev, 32)}
        for mode, config in MODES.items():
            twin = quantize_modules(BertClassifier.from_state(model.config, state), qm, "i8_twin")
            apply_tm_iqr(twin, config)
            start = time.perf_counter()
            out[(mode, "twin")] = predict(twin, dev, 32)
            out[(mode, "twin", "seconds")] = time.perf_counter() - start
            for path in PATHS:
                engine = quantize_modules(BertClassifier.from_state(model.config, state), qm, "i8", path=path)
                apply_tm_iqr(engine, config)
                with torch.no_grad():
                    engine(torch.ones(2, 8, dtype=torch.long))  # compile, or load numba's cache
                start = time.perf_counter()
                out[(mode, path)] = predict(engine, dev, 32)
                out[(mode, path, "seconds")] = time.perf_counter() - start
        return out
    finally:
        torch.set_num_threads(threads)


def _accuracy(logits, split) -> float:
    return 100.0 * float((logits.argmax(-1) == split.labels).mean())


@pytest.mark.parametrize("mode", list(MODES))
def test_engine_equals_twin_on_every_dev_sentence(minilm, mode):
    dev = minilm["dev"]
    assert len(dev) == 852
    twin = minilm[(mode, "twin")]
    for path in PATHS:
        engine = minilm[(mode, path)]
        agree = (engine.argmax(-1) == twin.argmax(-1)).mean()
        print(
            f"\n{mode} on MiniLM-L6, Rotten Tomatoes dev ({len(dev)} sentences), path {path}: accuracy "
            f"{_accuracy(engine, dev):.2f} (fp32 {_accuracy(minilm['fp32'], dev):.2f}); predictions equal to the "
            f"twin's on {100 * agree:.1f}%; engine scoring {minilm[(mode, path, 'seconds')]:.2f} s, twin "
            f"(fake-quant) {minilm[(mode, 'twin', 'seconds')]:.2f} s"
        )
        np.testing.assert_array_equal(engine, twin)


def test_dynamic_int8_is_a_real_quantization(minilm):
    dev, fp32 = minilm["dev"], minilm["fp32"]
    i8, tm = minilm[("I8", "twin")], minilm[("TM-IQR", "twin")]
    assert np.abs(i8 - fp32).max() > 1e-4 and np.abs(tm - i8).max() > 0  # TM-IQR clipped something
    assert _accuracy(fp32, dev) > 65
    assert abs(_accuracy(i8, dev) - _accuracy(fp32, dev)) <= 3.0  # 8 bits: about a point at most
