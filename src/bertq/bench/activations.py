"""How long activation quantization (Bondarenko et al., 2021) takes: calibrating every site of the
packaged MiniLM-L6 with each range estimator (Appendix B.2's 16 batches x 32 sequences is the
largest calibration set the paper's search uses), and evaluating with static fake quantization at
every site against the same model in fp32. Baselines (an fp32 pass over the calibration batches,
fp32 evaluation) are timed in the same run. The classifier head is randomly initialised: timing
does not depend on it."""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from ..data.loading import Examples, load_rotten_tomatoes
from ..data.tokenized import TokenizedSplit, tokenize_examples
from ..evaluation.classify import predict
from ..models.encoder import BertClassifier, EncoderConfig
from ..models.sources import packaged_path
from ..quantization.activation import ActivationConfig, PegConfig, apply_ranges, calibrate
from .timing import time_round_robin

CONFIGS = {
    "current_minmax": ActivationConfig(estimator="current_minmax"),
    "running_minmax": ActivationConfig(estimator="running_minmax"),
    "mse": ActivationConfig(estimator="mse"),
    "percentile": ActivationConfig(estimator="percentile"),
    "running_minmax + PEG (K=6, permuted)": ActivationConfig(
        estimator="running_minmax", peg=PegConfig(groups=6, permute=True)
    ),
}
"""What is timed: each estimator at 8 bits over every site, and PEG as in the paper's Table 5."""


def minilm_classifier(num_labels: int = 2, seed: int = 0) -> BertClassifier:
    """The packaged MiniLM-L6's pretrained weights with a random ``num_labels`` classifier head."""
    from safetensors.numpy import load_file

    path = packaged_path()
    state = {f"bert.{k}": v for k, v in load_file(str(path / "model.safetensors")).items() if "position_ids" not in k}
    config = EncoderConfig.from_dict({**json.loads((path / "config.json").read_text()), "num_labels": num_labels})
    rng = np.random.default_rng(seed)
    state["classifier.weight"] = (rng.standard_normal((num_labels, config.hidden_size)) * 0.02).astype(np.float32)
    state["classifier.bias"] = np.zeros(num_labels, np.float32)
    return BertClassifier.from_state(config, state)


def rotten_tomatoes(split: str, n: int, max_length: int = 128, seed: int = 0) -> TokenizedSplit:
    """``n`` sentences of Rotten Tomatoes' ``split`` drawn at random, tokenised with the packaged
    tokenizer (real lengths: about 27 tokens on average, up to about 70)."""
    from transformers import AutoTokenizer

    ex = load_rotten_tomatoes(split)
    index = np.random.default_rng(seed).choice(len(ex), size=n, replace=False)
    chosen = Examples([ex.text_a[i] for i in index], None, ex.labels[index])
    return tokenize_examples(AutoTokenizer.from_pretrained(str(packaged_path())), chosen, max_length)


def _forward_pass(model, batches: list[dict]) -> None:
    with torch.no_grad():
        for b in batches:
            model(*(torch.as_tensor(b[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))


def bench_calibration(
    model, batches: list[dict], configs: dict[str, ActivationConfig] = CONFIGS, bits: int = 8
) -> dict:
    """Seconds to calibrate every site with each config over ``batches``, and the fp32 forward
    pass over the same batches timed alongside (best of 3) as the baseline."""
    fp32 = time_round_robin({"fp32 pass": lambda: _forward_pass(model, batches)}, repeats=3)["fp32 pass"]
    runs = {}
    for name, config in configs.items():
        config = ActivationConfig.from_dict(
            {**config.to_dict(), "bits": bits, "batch_size": len(batches[0]["input_ids"]), "batches": len(batches)}
        )
        started = time.perf_counter()
        ranges = calibrate(model, batches, config)
        seconds = time.perf_counter() - started
        runs[name] = {
            "config": config.to_dict(),
            "sites": len(ranges),
            "seconds": seconds,
            "vs_fp32_pass": seconds / fp32["best_seconds"],
        }
    return {
        "batches": len(batches),
        "batch_size": len(batches[0]["input_ids"]),
        "tokens": int(sum(b["attention_mask"].sum() for b in batches)),
        "fp32_pass_seconds": fp32,
        "estimators": runs,
    }


def bench_evaluation(
    model_fp32, model_quantized, split: TokenizedSplit, batch_size: int = 32, repeats: int = 3
) -> dict:
    """Seconds to score ``split`` (batched by length, as the evaluate job does) with fp32 and with
    activation quantization at every site, round-robin; the slowdown is quantized / fp32."""
    t = time_round_robin(
        {
            "fp32": lambda: predict(model_fp32, split, batch_size),
            "activation-quantized": lambda: predict(model_quantized, split, batch_size),
        },
        repeats,
        warmup=1,
    )
    return {
        "sequences": len(split),
        "tokens": int(split.lengths().sum()),
        "batch_size": batch_size,
        "seconds": t,
        "slowdown_vs_fp32": t["activation-quantized"]["best_seconds"] / t["fp32"]["best_seconds"],
        "slowdown_vs_fp32_median": t["activation-quantized"]["median_seconds"] / t["fp32"]["median_seconds"],
    }


def calibrated(model, batches: list[dict], config: ActivationConfig) -> BertClassifier:
    """A copy of ``model`` with every site of ``config`` calibrated on ``batches`` and applied."""
    import copy

    ranges = calibrate(model, batches, config)
    return apply_ranges(copy.deepcopy(model), ranges)
