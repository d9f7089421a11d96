"""SQuAD v1.1 evaluation: exact match and token F1, as the official ``evaluate-v1.1.py``.

The functions reproduce the official evaluation script of SQuAD v1.1 (Rajpurkar et al., 2016)
exactly: answers are lower-cased, ASCII punctuation (``string.punctuation``) is removed, the
articles ``a``, ``an`` and ``the`` are removed and whitespace is collapsed, in that order. Other
characters (accents, non-ASCII punctuation such as an em dash) are kept as they are. Each
question scores the maximum over its gold answers; a question without a prediction scores 0.

Hu et al. (2022) report EM and F1 for SQuAD (Table 2) and plot their mean (Fig. 6); all three are
returned by :func:`squad_metrics`, in percent.
"""

from __future__ import annotations

import re
import string
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "exact_match_score",
    "f1_score",
    "metric_max_over_ground_truths",
    "normalize_answer",
    "squad_metrics",
]

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (official order)."""
    text = s.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    """Whether the normalized strings are equal."""
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str) -> float:
    """Token-level F1 of the normalized strings (bag of tokens); 0 without a common token."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(ground_truth).split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def metric_max_over_ground_truths(
    metric_fn: Callable[[str, str], float], prediction: str, ground_truths: Iterable[str]
):
    """The best score of ``prediction`` against any gold answer; ``ValueError`` if none."""
    scores = [metric_fn(prediction, gt) for gt in ground_truths]
    if not scores:
        raise ValueError("metric_max_over_ground_truths: no ground truths given")
    return max(scores)


def squad_metrics(predictions: Mapping[str, str], gold: Mapping[str, Iterable[str]]) -> dict[str, float]:
    """EM, F1 and their mean (``score``, Hu et al., 2022, Fig. 6), in percent, over ``gold``.

    ``predictions`` maps question ids to answer text and ``gold`` maps them to the gold answer
    texts. A gold question without a prediction scores 0 (the official script prints a message;
    here a ``UserWarning`` names how many); predictions for unknown ids are ignored. Raises
    ``ValueError`` when ``gold`` is empty or a question has no gold answer.
    """
    if not gold:
        raise ValueError("squad_metrics: no gold questions given")
    em = f1 = 0.0
    missing: list[str] = []
    for qid, answers in gold.items():
        answers = list(answers)
        if not answers:
            raise ValueError(f"squad_metrics: question {qid!r} has no gold answer")
        if qid not in predictions:
            missing.append(qid)
            continue
        pred = predictions[qid]
        em += float(metric_max_over_ground_truths(exact_match_score, pred, answers))
        f1 += float(metric_max_over_ground_truths(f1_score, pred, answers))
    if missing:
        shown = ", ".join(repr(q) for q in missing[:5]) + (", ..." if len(missing) > 5 else "")
        warnings.warn(f"squad_metrics: {len(missing)} unanswered question(s) score 0: {shown}", stacklevel=2)
    n = len(gold)
    em, f1 = 100.0 * em / n, 100.0 * f1 / n
    return {"exact_match": em, "f1": f1, "score": (em + f1) / 2.0, "n": n}
