"""Acceptance test of QAT with learned ranges (Bondarenko et al., 2021) on real weights and a real
task: the packaged MiniLM-L6 fine-tuned cheaply on Rotten Tomatoes (tests/minilm_fixture.py), then
W4A8 post-training quantized (4-bit MSE weights everywhere, 8-bit activations at every site,
current min-max over training sentences), then trained a few hundred steps with fake quantization.
The trained W4A8 model, exported as a PTQ checkpoint and ranges and scored as PTQ variants are,
must beat its PTQ start on the dev set (printed with ``pytest -s``)."""

import numpy as np
import torch
from minilm_fixture import finetune_top, packaged_classifier

from bertq.data.loading import Examples, load_rotten_tomatoes
from bertq.data.tokenized import tokenize_examples
from bertq.evaluation.classify import predict
from bertq.models.encoder import BertClassifier
from bertq.models.sources import packaged_path
from bertq.quantization.activation import ActivationConfig, apply_ranges, calibrate
from bertq.quantization.model import quantize_state
from bertq.training.finetune import train
from bertq.training.qat import Supervised, attach_learned_quantizers, qat_param_groups, trained_result

TRAIN_EXAMPLES = 1000
MAX_LENGTH = 64
STEPS = 60


class _Objective:
    """What the training loop reads of an objective, over a tokenised split."""

    def __init__(self, split):
        self.train = split

    def lengths(self):
        return self.train.lengths()

    def targets(self, batch, device):
        return {"labels": torch.as_tensor(batch["labels"], dtype=torch.long, device=device)}


def accuracy(model, split) -> float:
    return float((predict(model, split, 64).argmax(-1) == torch.as_tensor(split.labels)).float().mean())


def test_qat_raises_a_w4a8_minilm_over_its_ptq_start():
    from transformers import AutoTokenizer

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(str(packaged_path()))
    train_examples = load_rotten_tomatoes("train")
    train_examples = Examples(train_examples.text_a[:TRAIN_EXAMPLES], None, train_examples.labels[:TRAIN_EXAMPLES])
    train_split = tokenize_examples(tokenizer, train_examples, MAX_LENGTH)
    dev = tokenize_examples(tokenizer, load_rotten_tomatoes("dev"), MAX_LENGTH)
    config, state = packaged_classifier()
    fp32 = BertClassifier.from_state(config, state)
    finetune_top(fp32, train_split)
    state = {k: v.detach().numpy().copy() for k, v in fp32.state_dict().items()}
    qm = quantize_state(state, "mse", 4, scope="all")
    weights_only = BertClassifier.from_state(config, qm.dequantized_state(state))
    calibration = [train_split.batch(np.random.default_rng(0).choice(len(train_split), 16, replace=False))]
    ranges = calibrate(weights_only, calibration, ActivationConfig())
    ptq = apply_ranges(weights_only, ranges)

    model = BertClassifier.from_state(config, state)
    attached = attach_learned_quantizers(model, qm, ranges)
    wrapped = Supervised(model, regression=False)
    params = {
        "batch_size": 16,
        "epochs": STEPS * 16 / len(train_split),
        "learning_rate": 1e-4,
        "warmup_ratio": 0.1,
        "max_grad_norm": 1.0,
    }
    log, steps, _, seconds = train(
        wrapped,
        _Objective(train_split),
        qat_param_groups(wrapped, 0.0),
        params,
        np.random.default_rng(0),
        torch.device("cpu"),
        desc="QAT",
        progress=False,
    )
    model.eval()
    tuned, tuned_ranges = trained_result(model, qm, attached)
    qat = apply_ranges(BertClassifier.from_state(config, tuned.dequantized_state(state)), tuned_ranges)
    scores = {name: accuracy(m, dev) for name, m in (("fp32", fp32), ("W4A8 PTQ", ptq), ("W4A8 QAT", qat))}
    print(f"Rotten Tomatoes dev accuracy ({len(dev)} sentences), {steps} QAT steps in {seconds:.0f} s: {scores}")
    assert scores["W4A8 QAT"] > scores["W4A8 PTQ"] + 0.01
