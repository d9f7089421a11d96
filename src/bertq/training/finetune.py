"""Fine-tuning a BERT-family encoder on a task (Devlin et al., 2019; Hu et al., 2022, section 4):
a sequence classifier for GLUE and Rotten Tomatoes, a span extractor for SQuAD
(:mod:`bertq.training.objectives`).

AdamW with linear decay after a linear warm-up, dynamic padding, deterministic for a seed (data
order, initialisation of the head, dropout), automatic mixed precision on CUDA (bf16 where the
device supports it, else fp16 with loss scaling). Writes a safetensors checkpoint, the tokenizer,
a JSON-lines training log and the dev metrics.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from ..data.tasks import TaskSpec
from ..models.device import pick_device
from ..models.sources import ModelSource, load_for_task, tokenizer_location
from .objectives import input_keys, load_objective


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _param_groups(model, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def length_grouped_order(
    order: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator, mega_batches: int = 50
) -> np.ndarray:
    """Group examples of similar length into batches, as transformers' ``LengthGroupedSampler``:
    the shuffled ``order`` is cut into mega-batches of ``mega_batches * batch_size`` examples,
    each sorted by length (longest first), and the resulting batches are shuffled. Batches then
    pad to less, which saves most of the compute on SQuAD's ragged windows; every example is
    still seen once per epoch."""
    order = np.asarray(order)
    size = mega_batches * batch_size
    grouped = [
        chunk[np.argsort(-lengths[chunk], kind="stable")]
        for chunk in (order[i : i + size] for i in range(0, len(order), size))
    ]
    flat = np.concatenate(grouped) if grouped else order
    batches = [flat[i : i + batch_size] for i in range(0, len(flat), batch_size)]
    return np.concatenate([batches[i] for i in rng.permutation(len(batches))]) if batches else flat


def train(
    model,
    objective,
    param_groups: list[dict],
    params: dict,
    rng: np.random.Generator,
    dev: torch.device,
    *,
    desc: str,
    progress: bool = True,
):
    """The training loop of every fine-tuning job: AdamW over ``param_groups`` (a group's ``lr``
    scales with the schedule like the others), linear decay after warm-up, gradient clipping, AMP
    on CUDA unless ``params["amp"]`` is false. Returns ``(log, steps, amp dtype, seconds)``."""
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    train_set = objective.train
    batch_size = params["batch_size"]
    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    total_steps = max(1, math.ceil(steps_per_epoch * params["epochs"]))
    optimizer = torch.optim.AdamW(param_groups, lr=params["learning_rate"])
    schedule = get_linear_schedule_with_warmup(optimizer, int(params["warmup_ratio"] * total_steps), total_steps)
    amp_dtype = None
    if dev.type == "cuda" and params.get("amp", True):
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    log = []
    started = time.perf_counter()
    bar = tqdm(
        total=total_steps,
        desc=desc,
        disable=not progress,
        file=sys.stderr,
        mininterval=0.1 if sys.stderr.isatty() else 10.0,
    )
    step = 0
    keys = input_keys(model)
    model.train()
    while step < total_steps:
        order = rng.permutation(len(train_set))
        if params.get("group_by_length"):
            order = length_grouped_order(order, objective.lengths(), batch_size, rng)
        for batch in train_set.batches(batch_size, order):
            if step >= total_steps:
                break
            inputs = {k: torch.as_tensor(batch[k], device=dev) for k in keys}
            targets = objective.targets(batch, dev)
            ctx = torch.autocast(dev.type, dtype=amp_dtype) if amp_dtype else nullcontext()
            with ctx:
                loss = model(**inputs, **targets).loss
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), params["max_grad_norm"])
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            schedule.step()
            step += 1
            log.append(
                {"step": step, "epoch": step / steps_per_epoch, "loss": loss.item(), "lr": schedule.get_last_lr()[0]}
            )
            bar.update(1)
            bar.set_postfix(loss=f"{log[-1]['loss']:.4f}")
    bar.close()
    return log, total_steps, amp_dtype, time.perf_counter() - started


def changed_float_tensors(model, reference: dict, quantized) -> dict[str, np.ndarray]:
    """The parameters of ``model`` that training moved off ``reference`` (a state dict of arrays or
    tensors), other than the weights ``quantized`` holds: what a trained variant stores as its
    float tensors (:attr:`bertq.quantization.model.QuantizedModel.float_tensors`)."""
    out = {}
    for name, param in model.named_parameters():
        if name in quantized or name not in reference:
            continue
        value = param.detach().float().cpu().numpy()
        if not np.array_equal(value, np.asarray(reference[name])):
            out[name] = value.copy()
    return out


def training_record(log: list[dict], steps: int, seconds: float, objective, params: dict, device) -> dict:
    """What a training step after quantization records of its run (centroid fine-tuning, QAT)."""
    return {
        "steps": steps,
        "train_seconds": seconds,
        "train_examples": objective.train_examples,
        "final_loss": log[-1]["loss"] if log else None,
        "params": params,
        "device": str(device),
    }


def run_finetune(
    source: ModelSource,
    spec: TaskSpec,
    tokenized_path: str | Path,
    params: dict,
    seed: int,
    out_dir: str | Path,
    *,
    device: str = "auto",
    threads: int = 1,
    progress: bool = True,
) -> dict:
    from transformers import AutoTokenizer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    dev = pick_device(device)
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    seed_everything(seed)

    objective = load_objective(spec, tokenized_path, params)
    rng = np.random.default_rng(seed)
    if params.get("max_train_examples"):
        objective.subsample(rng, params["max_train_examples"])
    model = load_for_task(source, spec, seed).to(dev)

    log, total_steps, amp_dtype, train_seconds = train(
        model,
        objective,
        _param_groups(model, params["weight_decay"]),
        params,
        rng,
        dev,
        desc=f"fine-tune {spec.name}",
        progress=progress,
    )

    model.eval()
    model.float()

    metrics = objective.evaluate(model, params["eval_batch_size"], dev)
    metrics.update(
        {
            "train_examples": objective.train_examples,
            "steps": total_steps,
            "train_seconds": train_seconds,
            "device": str(dev),
            "amp": str(amp_dtype) if amp_dtype else None,
            "seed": seed,
        }
    )

    staging = out_dir.parent / f".{out_dir.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    model.save_pretrained(staging, safe_serialization=True)
    AutoTokenizer.from_pretrained(tokenizer_location(source), trust_remote_code=False).save_pretrained(staging)
    with open(staging / "train_log.jsonl", "w") as f:
        for row in log:
            f.write(json.dumps(row) + "\n")
    publish(staging, out_dir)
    return metrics


PUBLISHED_LAST = ("config.json", "model.safetensors")
"""The files a fine-tuned directory's readers need, moved in last (the weights very last)."""


def publish(staging: Path, out_dir: Path) -> None:
    """Move every file written in ``staging`` into ``out_dir`` by renames on one filesystem,
    :data:`PUBLISHED_LAST` last, then remove ``staging``: a job killed while writing leaves its
    half-written files in ``staging`` only, never where a later job reads."""
    files = sorted(staging.iterdir(), key=lambda f: PUBLISHED_LAST.index(f.name) if f.name in PUBLISHED_LAST else -1)
    for f in files:
        os.replace(f, out_dir / f.name)
    staging.rmdir()
