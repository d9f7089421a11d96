"""TyDi QA GoldP evaluation: SQuAD v1.1's exact match and F1 per language, averaged over the
languages other than English.

The official GoldP evaluation (github.com/google-research-datasets/tydiqa,
``gold_passage_baseline/eval_gold_passage_baseline.sh``) splits the predictions by the language
prefix of their question ids (``split_predictions.py``), runs SQuAD's ``evaluate-v1.1.py`` on each
language, and says "To obtain an overall score, average all *non-English* languages"; its README:
"The aggregate F1 score should be computed by averaging all **non-English** languages" (the
prediction split even names English's file ``english-DO-NOT-AVERAGE``). Clark et al. (2020,
section 8) describe the task.

:func:`tydiqa_metrics` returns, in percent: ``exact_match`` and ``f1``, the official averages
over the non-English languages (the numbers a paper reports), and ``score`` their mean (bertq's
headline score of a span task, as SQuAD's); ``exact_match_with_english`` / ``f1_with_english``,
the averages over every language; ``micro_exact_match`` / ``micro_f1`` over all questions; and
``<language>/exact_match``, ``<language>/f1``, ``<language>/n`` for each language.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping

import numpy as np

from ..data.tydiqa import language_of
from .squad import squad_metrics

__all__ = ["EXCLUDED_FROM_AVERAGE", "tydiqa_metrics"]

EXCLUDED_FROM_AVERAGE = "english"


def tydiqa_metrics(predictions: Mapping[str, str], gold: Mapping[str, Iterable[str]]) -> dict[str, float]:
    """Per-language SQuAD EM/F1 of ``predictions`` against ``gold`` (question id -> gold answer
    texts; the language is the id's prefix, :func:`bertq.data.tydiqa.language_of`) and their
    averages; see the module docstring. Without a non-English question the official averages are
    ``nan`` (with a warning)."""
    if not gold:
        raise ValueError("tydiqa_metrics: no gold questions given")
    by_language: dict[str, dict[str, list[str]]] = {}
    for qid, answers in gold.items():
        by_language.setdefault(language_of(qid), {})[qid] = list(answers)
    out: dict[str, float] = {}
    per = {}
    for language in sorted(by_language):
        m = squad_metrics(predictions, by_language[language])
        per[language] = m
        out.update({f"{language}/exact_match": m["exact_match"], f"{language}/f1": m["f1"], f"{language}/n": m["n"]})
    averaged = [lang for lang in per if lang != EXCLUDED_FROM_AVERAGE]
    if averaged:
        em = float(np.mean([per[lang]["exact_match"] for lang in averaged]))
        f1 = float(np.mean([per[lang]["f1"] for lang in averaged]))
    else:
        warnings.warn("tydiqa_metrics: no non-English question: the official averages are nan", stacklevel=2)
        em = f1 = math.nan
    with warnings.catch_warnings():  # the per-language scores have warned of unanswered questions
        warnings.simplefilter("ignore")
        micro = squad_metrics(predictions, {q: a for lang in per for q, a in by_language[lang].items()})
    return {
        "exact_match": em,
        "f1": f1,
        "score": (em + f1) / 2.0,
        "exact_match_with_english": float(np.mean([m["exact_match"] for m in per.values()])),
        "f1_with_english": float(np.mean([m["f1"] for m in per.values()])),
        "micro_exact_match": micro["exact_match"],
        "micro_f1": micro["f1"],
        "n": micro["n"],
        "languages": len(per),
        **out,
    }
