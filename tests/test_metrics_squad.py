"""Tests of bertq.metrics.squad against hand-checked cases and the official v1.1 script."""

from __future__ import annotations

import re
import string
from collections import Counter

import pytest

from bertq.metrics.squad import (
    exact_match_score,
    f1_score,
    metric_max_over_ground_truths,
    normalize_answer,
    squad_metrics,
)


# --- Reference: verbatim from the official SQuAD v1.1 evaluation script, evaluate-v1.1.py
# (Rajpurkar et al., 2016; https://rajpurkar.github.io/SQuAD-explorer/). Do not edit.
def ref_normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def ref_f1_score(prediction, ground_truth):
    prediction_tokens = ref_normalize_answer(prediction).split()
    ground_truth_tokens = ref_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def ref_exact_match_score(prediction, ground_truth):
    return ref_normalize_answer(prediction) == ref_normalize_answer(ground_truth)


def ref_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


# --- end of the official code


TRICKY = [
    ("Denver Broncos!", "denver broncos"),
    ("the Eiffel Tower", "Eiffel Tower"),
    ("", "Denver"),
    ("", "The"),
    ("", ""),
    ("A.", ""),
    ("an", "the"),
    ("another theatre", "other theatre"),
    ("Theatre of the Absurd", "theatre absurd"),
    ("U.S.", "US"),
    ("U.S. Army", "the us army"),
    ("Müller", "müller"),
    ("café", "cafe"),
    ("CAFÉ au lait", "café au lait"),
    ("1914—1918", "1914 1918"),
    ("Paris — France", "Paris France"),
    ("“quoted”", "quoted"),
    ("it's", "its"),
    ("rock-and-roll", "rock and roll"),
    ("  lots   of\tspace\n", "lots of space"),
    ("the the cat cat", "cat"),
    ("cat sat on the mat", "a cat sat on the red mat"),
    ("New York City hall", "York City"),
    ("$1,000", "1000"),
    ("50%", "50 percent"),
    ("Ångström", "ångström"),
    ("İstanbul", "istanbul"),
    ("a b c", "b c a"),
    ("théâtre", "the atre"),
    ("(1) an apple; (2) a pear", "1 apple 2 pear"),
    ("Nikola Tesla's", "Tesla"),
    ("¿Qué?", "qué"),
]


@pytest.mark.parametrize("pred,gold", TRICKY)
def test_matches_official_script(pred, gold):
    assert normalize_answer(pred) == ref_normalize_answer(pred)
    assert normalize_answer(gold) == ref_normalize_answer(gold)
    assert exact_match_score(pred, gold) == ref_exact_match_score(pred, gold)
    assert f1_score(pred, gold) == ref_f1_score(pred, gold)
    golds = [gold, pred[::-1], "cat"]
    for ours, ref in ((exact_match_score, ref_exact_match_score), (f1_score, ref_f1_score)):
        assert metric_max_over_ground_truths(ours, pred, golds) == ref_metric_max_over_ground_truths(ref, pred, golds)


def test_punctuation_and_articles():
    assert exact_match_score("Denver Broncos!", "denver broncos") is True
    assert f1_score("Denver Broncos!", "denver broncos") == 1.0
    assert exact_match_score("the Eiffel Tower", "Eiffel Tower")
    assert normalize_answer("  The  Eiffel,   Tower. ") == "eiffel tower"
    # Articles only as whole words.
    assert normalize_answer("another theatre") == "another theatre"
    # Order matters: punctuation goes before articles, so "A." becomes "a" and then nothing.
    assert normalize_answer("A.") == ""


def test_several_gold_answers_take_the_max():
    golds = ["Denver Broncos", "Broncos"]
    assert f1_score("Broncos", golds[0]) == pytest.approx(2 / 3)  # P 1, R 1/2
    assert metric_max_over_ground_truths(f1_score, "Broncos", golds) == 1.0
    assert metric_max_over_ground_truths(exact_match_score, "Broncos", golds) is True
    with pytest.raises(ValueError):
        metric_max_over_ground_truths(f1_score, "x", [])


def test_empty_predictions():
    assert exact_match_score("", "Denver") is False
    assert f1_score("", "Denver") == 0.0
    # "The" normalizes to "": equal strings, but no common token, so F1 is 0.
    assert exact_match_score("", "The") is True
    assert f1_score("", "The") == 0.0


def test_unicode_is_kept():
    assert exact_match_score("Müller", "müller")
    assert not exact_match_score("café", "cafe")  # no accent stripping
    # The em dash is not in string.punctuation, so it stays (as part of a token or alone).
    assert normalize_answer("1914—1918") == "1914—1918"
    assert f1_score("1914—1918", "1914 1918") == 0.0
    assert normalize_answer("Paris — France") == "paris — france"
    assert f1_score("Paris — France", "Paris France") == pytest.approx(0.8)  # P 2/3, R 1


def test_partial_overlap_by_hand():
    # "cat sat on mat" vs "cat sat on red mat": 4 common, P = 4/4, R = 4/5.
    assert f1_score("the cat sat on mat", "a cat sat on the red mat") == pytest.approx(8 / 9)
    # Bag of tokens: "cat cat" vs "cat" has one common token, P = 1/2, R = 1.
    assert f1_score("the the cat cat", "cat") == pytest.approx(2 / 3)
    assert f1_score("New York City hall", "York City") == pytest.approx(2 / 3)


def test_aggregate_in_percent():
    gold = {
        "q1": ["Denver Broncos", "Broncos"],
        "q2": ["a cat sat on the red mat"],
        "q3": ["Paris"],
        "q4": ["1914"],
    }
    preds = {"q1": "the Denver Broncos", "q2": "cat sat on mat", "q4": "1918", "extra": "x"}
    with pytest.warns(UserWarning, match="1 unanswered"):
        m = squad_metrics(preds, gold)
    assert m["n"] == 4
    assert m["exact_match"] == pytest.approx(25.0)
    assert m["f1"] == pytest.approx(100 * (1 + 8 / 9) / 4)
    assert m["score"] == pytest.approx((m["exact_match"] + m["f1"]) / 2)
    full = squad_metrics({"q": "Paris"}, {"q": ("paris.",)})
    assert full == {"exact_match": 100.0, "f1": 100.0, "score": 100.0, "n": 1}


def test_aggregate_errors():
    with pytest.raises(ValueError, match="no gold"):
        squad_metrics({"q": "x"}, {})
    with pytest.raises(ValueError, match="'q'"):
        squad_metrics({"q": "x"}, {"q": []})
