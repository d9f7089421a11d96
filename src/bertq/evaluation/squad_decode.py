"""Answer spans from start/end logits, as the Hugging Face ``run_qa`` post-processing.

For each example, over all its windows, the ``n_best`` start and ``n_best`` end positions are
paired; spans touching a non-context token (``[CLS]``, question, ``[SEP]``, padding), ending
before they start or longer than ``max_answer_length`` tokens are skipped, and the span with the
highest ``start_logit + end_logit`` wins. Its text is cut from the context by the token offsets.
"""

from __future__ import annotations

import numpy as np

from ..data.squad import QAFeatures, SquadExample

__all__ = ["decode"]


def _logits(values, n: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"{what} must have shape ({n}, seq_len), got {arr.shape}")
    return arr


def decode(
    features: QAFeatures,
    start_logits,
    end_logits,
    examples: list[SquadExample],
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, str]:
    """Best answer text per question id; ``""`` where no window has a valid span.

    ``start_logits`` and ``end_logits`` are ``(n_windows, seq_len)`` arrays (numpy or torch on
    CPU) in the order of ``features``; ``examples`` is the list the features were made from.
    """
    n = len(features)
    start = _logits(start_logits, n, "start_logits")
    end = _logits(end_logits, n, "end_logits")
    if start.shape != end.shape:
        raise ValueError(f"start and end logits differ in shape: {start.shape} != {end.shape}")
    if n_best < 1 or max_answer_length < 1:
        raise ValueError("n_best and max_answer_length must be positive")
    width = min(start.shape[1], features.offsets.shape[1])
    best: dict[int, tuple[float, int, int, int]] = {}
    for f in range(n):
        offs = features.offsets[f, :width]
        ctx = offs[:, 0] >= 0
        s_idx = np.argsort(-start[f, :width], kind="stable")[:n_best]
        e_idx = np.argsort(-end[f, :width], kind="stable")[:n_best]
        length = e_idx[None, :] - s_idx[:, None] + 1
        ok = ctx[s_idx][:, None] & ctx[e_idx][None, :]
        ok &= (length >= 1) & (length <= max_answer_length)
        if not ok.any():
            continue
        scores = np.where(ok, start[f, s_idx][:, None] + end[f, e_idx][None, :], -np.inf)
        i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
        if not ok[i, j]:  # every valid span scores -inf
            continue
        ex = int(features.example_index[f])
        if ex not in best or scores[i, j] > best[ex][0]:
            best[ex] = (float(scores[i, j]), f, int(s_idx[i]), int(e_idx[j]))
    out: dict[str, str] = {}
    for k, example in enumerate(examples):
        if k in best:
            _, f, s, e = best[k]
            lo, hi = features.offsets[f, s, 0], features.offsets[f, e, 1]
            out[example.qid] = example.context[lo:hi]
        else:
            out[example.qid] = ""
    return out
