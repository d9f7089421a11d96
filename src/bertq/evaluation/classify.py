"""Scoring a classifier on a task's dev split(s) with the paper's metric (Hu et al., 2022, 4.1)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data.tasks import TaskSpec
from ..data.tokenized import TokenizedSplit
from ..metrics.glue import combine_dev_splits, predictions_from_logits, task_metrics, undefined_on

Forward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def predict(forward: Forward, split: TokenizedSplit, batch_size: int, device="cpu") -> np.ndarray:
    """Logits for every example, batched by length (less padding) and returned in input order."""
    order = np.argsort(split.lengths(), kind="stable")
    out = []
    for batch in split.batches(batch_size, order):
        logits = forward(
            *(torch.as_tensor(batch[k], device=device) for k in ("input_ids", "attention_mask", "token_type_ids"))
        )
        out.append(logits.float().cpu().numpy())
    logits = np.concatenate(out)
    result = np.empty_like(logits)
    result[order] = logits
    return result


def score(forward: Forward, spec: TaskSpec, splits: dict[str, TokenizedSplit], batch_size: int, device="cpu") -> dict:
    """The task score and its components; MNLI averages its matched and mismatched splits. Where
    the metric is undefined on a split's gold labels, ``warnings`` says why
    (:func:`~bertq.metrics.glue.undefined_on`). A tagging task is scored by
    :func:`bertq.evaluation.tagging.score_tags`."""
    if spec.is_token:
        from .tagging import score_tags

        return score_tags(forward, spec, splits, batch_size, device)
    per_split = {}
    for name in spec.dev_splits:
        logits = predict(forward, splits[name], batch_size, device)
        preds = predictions_from_logits(logits, spec.is_regression)
        per_split[name] = task_metrics(spec.metric, preds, splits[name].labels)
    out = combine_dev_splits(per_split)
    warnings = [w for name in spec.dev_splits for w in undefined_on(spec.metric, splits[name].labels, name)]
    if warnings:
        out["warnings"] = warnings
    return out
