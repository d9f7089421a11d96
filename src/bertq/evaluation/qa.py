"""Scoring a span extractor on SQuAD: start/end logits per window, decoded to answer text
(:mod:`bertq.evaluation.squad_decode`) and scored with the official v1.1 exact match and F1
(:mod:`bertq.metrics.squad`); Hu et al. (2022) report EM and F1 (Table 2) and their mean (Fig. 6).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data.squad import QAFeatures, SquadExample
from ..metrics.squad import squad_metrics
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
) -> tuple[dict[str, float], dict[str, str]]:
    """``(metrics, predictions)``: EM, F1 and their mean in percent over ``examples``, and the
    predicted answer text per question id (the official ``predictions.json`` format)."""
    start, end = predict_spans(forward, features, batch_size, device)
    predictions = decode(features, start, end, examples, n_best=n_best, max_answer_length=max_answer_length)
    metrics = squad_metrics(predictions, {ex.qid: ex.answers for ex in examples})
    return metrics, predictions
