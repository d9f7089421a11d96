"""Fine-tuning a BERT-family encoder on a task (Devlin et al., 2019; Hu et al., 2022, section 4).

AdamW with linear decay after a linear warm-up, dynamic padding, deterministic for a seed (data
order, initialisation of the head, dropout), automatic mixed precision on CUDA (bf16 where the
device supports it, else fp16 with loss scaling). Writes a safetensors checkpoint, the tokenizer,
a JSON-lines training log and the dev metrics.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from ..data.tasks import TaskSpec
from ..data.tokenized import load_tokenized
from ..evaluation.classify import score
from ..models.sources import ModelSource, load_classifier, tokenizer_location


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("finetune.device is 'cuda' but no CUDA device is available")
    return torch.device(device)


def _param_groups(model, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def run_finetune(source: ModelSource, spec: TaskSpec, tokenized_path: str | Path, params: dict,
                 seed: int, out_dir: str | Path, *, device: str = "auto", threads: int = 1,
                 progress: bool = True) -> dict:
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    dev = pick_device(device)
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    seed_everything(seed)

    splits, meta = load_tokenized(tokenized_path)
    train = splits["train"]
    rng = np.random.default_rng(seed)
    if params.get("max_train_examples") and params["max_train_examples"] < len(train):
        train = train.subset(np.sort(rng.choice(len(train), params["max_train_examples"], replace=False)))
    model = load_classifier(source, spec.num_labels, seed).to(dev)

    batch_size = params["batch_size"]
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total_steps = max(1, math.ceil(steps_per_epoch * params["epochs"]))
    optimizer = torch.optim.AdamW(_param_groups(model, params["weight_decay"]), lr=params["learning_rate"])
    schedule = get_linear_schedule_with_warmup(optimizer, int(params["warmup_ratio"] * total_steps),
                                               total_steps)
    amp_dtype = None
    if dev.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    label_dtype = torch.float32 if spec.is_regression else torch.long

    from tqdm.auto import tqdm

    log = []
    started = time.perf_counter()
    bar = tqdm(total=total_steps, desc=f"fine-tune {spec.name}", disable=not progress, file=sys.stderr,
               mininterval=0.1 if sys.stderr.isatty() else 10.0)
    step = 0
    model.train()
    while step < total_steps:
        order = rng.permutation(len(train))
        for batch in train.batches(batch_size, order):
            if step >= total_steps:
                break
            inputs = {k: torch.as_tensor(batch[k], device=dev)
                      for k in ("input_ids", "attention_mask", "token_type_ids")}
            labels = torch.as_tensor(batch["labels"], device=dev, dtype=label_dtype)
            ctx = torch.autocast(dev.type, dtype=amp_dtype) if amp_dtype else nullcontext()
            with ctx:
                loss = model(**inputs, labels=labels).loss
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), params["max_grad_norm"])
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            schedule.step()
            step += 1
            log.append({"step": step, "epoch": step / steps_per_epoch, "loss": loss.item(),
                        "lr": schedule.get_last_lr()[0]})
            bar.update(1)
            bar.set_postfix(loss=f"{log[-1]['loss']:.4f}")
    bar.close()
    train_seconds = time.perf_counter() - started

    model.eval()
    model.float()

    def forward(ids, mask, types):
        return model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits

    metrics = score(forward, spec, splits, params["eval_batch_size"], dev)
    metrics.update({"train_examples": len(train), "steps": total_steps, "train_seconds": train_seconds,
                    "device": str(dev), "amp": str(amp_dtype) if amp_dtype else None, "seed": seed})

    model.save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(tokenizer_location(source), trust_remote_code=False).save_pretrained(out_dir)
    with open(out_dir / "train_log.jsonl", "w") as f:
        for row in log:
            f.write(json.dumps(row) + "\n")
    (out_dir / "dev_metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
