"""Scoring a span extractor on SQuAD-format data: start/end logits per window, decoded to answer
text (:mod:`bertq.evaluation.squad_decode`) and scored with the task's official metric: SQuAD v1.1's
exact match and F1 (:mod:`bertq.metrics.squad`; Hu et al. (2022) report EM and F1, Table 2, and
their mean, Fig. 6), the same against MRQA's gold strings for Natural Questions, or TyDi QA GoldP's
per-language average (:mod:`bertq.metrics.tydiqa`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data.squad import QAFeatures, SquadExample
from ..metrics.squad import squad_metrics
from ..metrics.tydiqa import tydiqa_metrics
from .squad_decode import decode

SpanForward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""``(input_ids, attention_mask, token_type_ids) -> (batch, tokens, 2)`` start/end logits."""


@torch.no_grad()
def predict_spans(
    forward: SpanForward, features: QAFeatures, batch_size: int, device="cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end logits ``(n_windows, max_length)`` in the order of ``features``; windows are
    run in length order (less padding) and positions past a window's end get ``-inf``."""
    n, width = features.input_ids.shape
    start = np.full((n, width), -np.inf, dtype=np.float32)
    end = np.full((n, width), -np.inf, dtype=np.float32)
    order = np.argsort(features.lengths, kind="stable")
    for i in range(0, n, batch_size):
        index = order[i : i + batch_size]
        batch = features.batch(index)
        logits = forward(
            *(torch.as_tensor(batch[k], device=device) for k in ("input_ids", "attention_mask", "token_type_ids"))
        )
        logits = logits.float().cpu().numpy()
        w = logits.shape[1]
        start[index, :w] = logits[..., 0]
        end[index, :w] = logits[..., 1]
    return start, end


def score_squad(
    forward: SpanForward,
    features: QAFeatures,
    examples: list[SquadExample],
    *,
    batch_size: int,
    n_best: int = 20,
    max_answer_length: int = 30,
    device="cpu",
    metric: str = "squad",
) -> tuple[dict[str, float], dict[str, str]]:
    """``(metrics, predictions)``: the task's ``metric`` (:func:`span_metrics`) over ``examples``,
    and the predicted answer text per question id (the official ``predictions.json`` format)."""
    start, end = predict_spans(forward, features, batch_size, device)
    predictions = decode(features, start, end, examples, n_best=n_best, max_answer_length=max_answer_length)
    return span_metrics(metric, predictions, examples), predictions


SPAN_METRICS = ("squad", "mrqa", "tydiqa")
"""The metrics of the span tasks (:attr:`bertq.data.tasks.TaskSpec.metric`) :func:`span_metrics` computes."""


def span_metrics(metric: str, predictions: dict[str, str], examples: list[SquadExample]) -> dict[str, float]:
    """A span task's metrics in percent, with ``exact_match``, ``f1`` and ``score`` (their mean,
    the headline score) always: ``squad`` and ``mrqa`` score every question against its
    :attr:`~bertq.data.squad.SquadExample.scored_answers` (MRQA's gold strings where they differ
    from the located spans); ``tydiqa`` adds per-language scores and reports the non-English
    average as ``exact_match``/``f1``."""
    gold = {ex.qid: ex.scored_answers for ex in examples}
    if metric in ("squad", "mrqa"):
        return squad_metrics(predictions, gold)
    if metric == "tydiqa":
        return tydiqa_metrics(predictions, gold)
    raise ValueError(f"span_metrics: unknown metric {metric!r}; known: {', '.join(SPAN_METRICS)}")
