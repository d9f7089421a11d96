"""The adaround job: a variant's PTQ checkpoint in, its weights AdaRounded (Nagel et al., 2020;
Bondarenko et al., 2021, Table 7) on sequences of the task's training split out, in the same
format, with a record of what each layer gained."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..data.tokenized import load_split
from ..models.checkpoint import build_model, load_state
from ..models.device import pick_device
from .adaround import AdaRoundConfig, adaround_model
from .calibration import CALIBRATION_SPLIT, calibration_batches
from .job import trained_summary
from .model import load_quantized, save_quantized


def run_adaround(
    finetuned_dir: str | Path,
    quantized: str | Path,
    tokenized: str | Path,
    settings: dict,
    seed: int,
    *,
    checkpoint: str | Path,
    base_summary: str | Path,
    device: str = "cpu",
    threads: int = 1,
) -> dict:
    """AdaRound every linear of ``quantized`` (on a linear grid) against the fine-tuned model, on
    ``settings["sequences"]`` training sequences drawn with ``seed``; write the checkpoint and
    return the quantize summary extended by the AdaRound record."""
    torch.set_num_threads(threads)
    config = AdaRoundConfig.from_dict(settings)
    config.check()
    dev = pick_device(device)
    torch.manual_seed(seed)
    qm = load_quantized(quantized)
    model = build_model(finetuned_dir).to(dev)
    split = load_split(tokenized, CALIBRATION_SPLIT)
    batch = calibration_batches(split, config.sequences, 1, seed)[0]
    started = time.perf_counter()
    tensors, results = adaround_model(model, qm, batch, config, seed=seed)
    seconds = time.perf_counter() - started
    tuned = qm.with_tensors(tensors)
    save_quantized(tuned, checkpoint)
    record = {
        "settings": config.to_dict(),
        "split": CALIBRATION_SPLIT,
        "tokens": int(np.asarray(batch["attention_mask"]).sum()),
        "seconds": seconds,
        "device": str(dev),
        "layers": {name: asdict(r) for name, r in results.items()},
    }
    return trained_summary(base_summary, tuned, load_state(finetuned_dir), "adaround", record)
