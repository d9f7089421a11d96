"""The calibrate job: static activation ranges of a (weight-quantized) fine-tuned model from
sequences of its task's training split (never the dev split the model is scored on).

Bondarenko et al. (2021), Appendix B.2: ``batches`` batches of ``batch_size`` sequences (each in
{1, 4, 16} in the paper's search), drawn at random without replacement, seeded by the run's seed.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..data.tokenized import TokenizedSplit, load_split
from ..models.checkpoint import build_model
from .activation import RANGES_FORMAT, ActivationConfig, calibrate

CALIBRATION_SPLIT = "train"


def calibration_batches(split: TokenizedSplit, batch_size: int, batches: int, seed: int) -> list[dict]:
    """``batches`` padded batches of ``batch_size`` distinct sequences drawn from ``split``."""
    need = batch_size * batches
    if need > len(split):
        raise ValueError(
            f"calibration needs batch_size x batches = {batch_size} x {batches} = {need} sequences, "
            f"but the training split has {len(split)}"
        )
    index = np.random.default_rng(seed).choice(len(split), size=need, replace=False)
    return [split.batch(index[i * batch_size : (i + 1) * batch_size]) for i in range(batches)]


def run_calibrate(
    finetuned_dir: str | Path,
    quantized: str | Path | None,
    tokenized: str | Path,
    activations: dict,
    *,
    seed: int,
    threads: int = 1,
) -> dict:
    """Calibrate ``activations`` (an :class:`ActivationConfig` as a dict) on the model with its
    quantized weights (dequantized; fp32 weights when ``quantized`` is None); returns the ranges
    document :func:`bertq.quantization.activation.load_ranges` reads."""
    torch.set_num_threads(threads)
    config = ActivationConfig.from_dict(activations)
    config.check()
    model = build_model(finetuned_dir, quantized)
    split = load_split(tokenized, CALIBRATION_SPLIT)
    batches = calibration_batches(split, config.batch_size, config.batches, seed)
    started = time.perf_counter()
    ranges = calibrate(model, batches, config)
    seconds = time.perf_counter() - started
    return {
        "format": RANGES_FORMAT,
        "calibration": {
            "split": CALIBRATION_SPLIT,
            "sequences": config.batch_size * config.batches,
            "tokens": int(sum(b["attention_mask"].sum() for b in batches)),
            "seconds": seconds,
            "config": config.to_dict(),
        },
        "sites": {n: vars(r) for n, r in ranges.items()},
    }
