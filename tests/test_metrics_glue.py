"""GLUE metrics against scikit-learn and scipy.stats, closed-form cases and the aggregation rules."""

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from bertq.metrics.glue import (
    accuracy,
    aggregate_score,
    combine_dev_splits,
    f1_binary,
    matthews_corrcoef,
    pearson,
    predictions_from_logits,
    spearman,
    task_metrics,
)

sk = pytest.importorskip("sklearn.metrics")
stats = pytest.importorskip("scipy.stats")

SEEDS = range(40)


def _random_labels(rng, k):
    n = int(rng.integers(1, 60))
    y = rng.integers(0, k, n)
    p = y.copy() if rng.random() < 0.1 else rng.integers(0, k, n)
    # Mix in degenerate cases: constant predictions or labels.
    if rng.random() < 0.1:
        p[:] = rng.integers(0, k)
    if rng.random() < 0.1:
        y[:] = rng.integers(0, k)
    return p, y


# --- against scikit-learn ---------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3])
def test_accuracy_matches_sklearn(k):
    rng = np.random.default_rng(0)
    for _ in SEEDS:
        p, y = _random_labels(rng, k)
        assert accuracy(p, y) == pytest.approx(sk.accuracy_score(y, p), abs=1e-12)


def test_f1_matches_sklearn():
    rng = np.random.default_rng(1)
    for _ in SEEDS:
        p, y = _random_labels(rng, 2)
        expected = sk.f1_score(y, p, pos_label=1, zero_division=0, labels=[0, 1])
        assert f1_binary(p, y) == pytest.approx(expected, abs=1e-12)
        expected0 = sk.f1_score(y, p, pos_label=0, zero_division=0, labels=[0, 1])
        assert f1_binary(p, y, positive=0) == pytest.approx(expected0, abs=1e-12)


def test_f1_no_positives_is_zero():
    assert f1_binary([0, 0, 0], [0, 0, 0]) == 0.0
    assert f1_binary([1, 1], [0, 0]) == 0.0  # only false positives
    assert f1_binary([1, 1], [1, 1]) == 1.0


@pytest.mark.parametrize("k", [2, 3])
def test_mcc_matches_sklearn(k):
    rng = np.random.default_rng(2 + k)
    for _ in SEEDS:
        p, y = _random_labels(rng, k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = sk.matthews_corrcoef(y, p)
        assert matthews_corrcoef(p, y) == pytest.approx(expected, abs=1e-12)


def test_mcc_string_labels_and_undefined():
    assert matthews_corrcoef(["a", "b", "a", "b"], ["a", "b", "a", "b"]) == pytest.approx(1.0)
    assert matthews_corrcoef([1, 1, 1], [0, 1, 0]) == 0.0  # constant predictions
    assert matthews_corrcoef([0, 1, 0], [1, 1, 1]) == 0.0  # constant labels


def test_mcc_2x2_closed_form():
    # TP=5, TN=3, FP=2, FN=1 (positive class 1).
    labels = [1] * 5 + [0] * 3 + [0] * 2 + [1] * 1
    preds = [1] * 5 + [0] * 3 + [1] * 2 + [0] * 1
    tp, tn, fp, fn = 5, 3, 2, 1
    expected = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert expected == pytest.approx(13 / math.sqrt(7 * 6 * 5 * 4))
    assert matthews_corrcoef(preds, labels) == pytest.approx(expected, abs=1e-12)
    assert matthews_corrcoef([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)
    assert accuracy(preds, labels) == pytest.approx(8 / 11)
    assert f1_binary(preds, labels) == pytest.approx(2 * 5 / (2 * 5 + 2 + 1))


# --- against scipy.stats ----------------------------------------------------------------------


def _random_pairs(rng, ties):
    n = int(rng.integers(2, 80))
    if ties:
        x = rng.integers(0, 6, n).astype(float)
        y = np.round(x + rng.normal(0, 2, n))
    else:
        x = rng.normal(size=n)
        y = 0.5 * x + rng.normal(size=n)
    if rng.random() < 0.5:
        x, y = y, x
    return x, y


@pytest.mark.parametrize("ties", [False, True])
def test_pearson_and_spearman_match_scipy(ties):
    rng = np.random.default_rng(10 + ties)
    checked = 0
    for _ in SEEDS:
        x, y = _random_pairs(rng, ties)
        if np.all(x == x[0]) or np.all(y == y[0]):
            continue
        checked += 1
        assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-10)
        assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-10)
    assert checked > 30


def test_spearman_average_ranks_with_ties():
    x = [1, 2, 2, 3]
    y = [1, 3, 2, 4]
    # ranks of x: 1, 2.5, 2.5, 4
    rx = np.array([1, 2.5, 2.5, 4])
    ry = np.array([1, 3, 2, 4], dtype=float)
    expected = np.corrcoef(rx, ry)[0, 1]
    assert spearman(x, y) == pytest.approx(expected)
    assert spearman([1, 2, 3], [10, 200, 3000]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_constant_input_gives_nan_like_scipy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(stats.pearsonr([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])[0])
        assert math.isnan(stats.spearmanr([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])[0])
    assert math.isnan(pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(pearson([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))
    assert math.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    m = task_metrics("pearson_spearman", [2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert math.isnan(m["pearson"]) and math.isnan(m["spearman"]) and math.isnan(m["score"])


# --- task_metrics -----------------------------------------------------------------------------


def test_task_metrics_percent_scaling():
    preds = [1, 0, 1, 1]
    labels = [1, 0, 0, 1]
    assert task_metrics("accuracy", preds, labels) == {"accuracy": 75.0, "score": 75.0}
    m = task_metrics("matthews", preds, labels)
    assert m["matthews"] == pytest.approx(100 * matthews_corrcoef(preds, labels))
    assert m["score"] == m["matthews"]
    assert set(m) == {"matthews", "score"}


def test_task_metrics_mrpc_mean_of_accuracy_and_f1():
    preds = [1, 1, 0, 0, 1]
    labels = [1, 0, 0, 1, 1]
    m = task_metrics("accuracy_f1", preds, labels)
    # accuracy 3/5; TP=2, FP=1, FN=1 -> F1 = 4/6
    assert m["accuracy"] == pytest.approx(60.0)
    assert m["f1"] == pytest.approx(100 * 4 / 6)
    assert m["score"] == pytest.approx((60.0 + 100 * 4 / 6) / 2)
    assert set(m) == {"accuracy", "f1", "score"}


def test_task_metrics_stsb_mean_of_pearson_and_spearman():
    rng = np.random.default_rng(5)
    labels = rng.uniform(0, 5, 50)
    preds = labels + rng.normal(0, 1, 50)
    m = task_metrics("pearson_spearman", preds, labels)
    r = 100 * stats.pearsonr(preds, labels)[0]
    rho = 100 * stats.spearmanr(preds, labels)[0]
    assert m["pearson"] == pytest.approx(r)
    assert m["spearman"] == pytest.approx(rho)
    assert m["score"] == pytest.approx((r + rho) / 2)
    # A (n, 1) regression column is accepted too.
    m2 = task_metrics("pearson_spearman", preds[:, None], labels)
    assert m2["score"] == pytest.approx(m["score"])


def test_task_metrics_errors():
    with pytest.raises(ValueError, match="bleu"):
        task_metrics("bleu", [1], [1])
    with pytest.raises(ValueError, match="length"):
        task_metrics("accuracy", [1, 0], [1])
    with pytest.raises(ValueError, match="empty"):
        task_metrics("accuracy_f1", [], [])
    with pytest.raises(ValueError):
        task_metrics("pearson_spearman", [1.0], [1.0])
    with pytest.raises(ValueError, match="length"):
        matthews_corrcoef([1, 0, 1], [1, 0])
    with pytest.raises(ValueError):
        accuracy([], [])


def test_all_task_metric_names_are_supported():
    """Every classification task's metric is a GLUE metric (span tasks are scored by
    evaluation.qa's span metrics, tagging by entity F1)."""
    from bertq.data.tasks import TASKS
    from bertq.evaluation.qa import SPAN_METRICS

    for spec in TASKS.values():
        if spec.is_span:
            assert spec.metric in SPAN_METRICS
            continue
        if spec.is_token:
            assert spec.metric == "entity_f1"
            continue
        preds = [0.1, 0.7, 0.3] if spec.is_regression else [0, 1, 1]
        labels = [0.2, 0.5, 0.9] if spec.is_regression else [0, 1, 0]
        assert "score" in task_metrics(spec.metric, preds, labels)


# --- logits, splits, GLUE score ---------------------------------------------------------------


def test_predictions_from_logits():
    logits = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    np.testing.assert_array_equal(predictions_from_logits(logits, False), [1, 0, 2])
    reg = np.array([[0.5], [1.5], [4.0]])
    out = predictions_from_logits(reg, True)
    assert out.shape == (3,)
    np.testing.assert_array_equal(out, [0.5, 1.5, 4.0])
    with pytest.raises(ValueError):
        predictions_from_logits(np.zeros((3, 2)), True)
    with pytest.raises(ValueError):
        predictions_from_logits(np.zeros(3), False)


def test_combine_dev_splits_mnli_mean():
    per_split = {
        "dev_matched": {"accuracy": 84.0, "score": 84.0},
        "dev_mismatched": {"accuracy": 85.0, "score": 85.0},
    }
    out = combine_dev_splits(per_split)
    assert out == {
        "score": 84.5,
        "dev_matched/accuracy": 84.0,
        "dev_matched/score": 84.0,
        "dev_mismatched/accuracy": 85.0,
        "dev_mismatched/score": 85.0,
    }


def test_combine_dev_splits_single_split_unchanged():
    single = {"dev": {"accuracy": 90.0, "score": 90.0}}
    assert combine_dev_splits(single) == {"accuracy": 90.0, "score": 90.0}
    with pytest.raises(ValueError):
        combine_dev_splits({})


def test_aggregate_score_is_unweighted_mean():
    scores = {
        "cola": 60.0,
        "sst2": 93.0,
        "mrpc": 88.5,
        "stsb": 88.0,
        "qqp": 89.5,
        "mnli": 84.5,
        "qnli": 91.0,
        "rte": 70.0,
    }
    assert aggregate_score(scores) == pytest.approx(sum(scores.values()) / 8)
    assert aggregate_score({"rte": 66.0}) == 66.0
    with pytest.raises(ValueError):
        aggregate_score({})


def test_module_imports_without_scipy_or_sklearn():
    code = (
        "import sys, bertq.metrics.glue; "
        "bad = [m for m in ('scipy', 'sklearn') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_metric_is_flagged_where_the_gold_labels_leave_it_undefined():
    from bertq.metrics.glue import undefined_on

    assert undefined_on("matthews", [0, 1, 1]) == []
    assert undefined_on("matthews", [1, 1, 1], "dev") == [
        "the dev split has a single class (label 1): matthews cannot tell a model from a constant"
    ]
    assert "Pearson and Spearman correlations are undefined" in undefined_on("pearson_spearman", [2.5, 2.5])[0]
    assert undefined_on("accuracy", [], "dev_matched") == ["the dev_matched split has no examples"]


@pytest.mark.bad_input("data", "handled")
def test_scoring_a_single_class_dev_set_records_the_warning():
    import torch

    from bertq.data.tasks import GLUE_TASKS
    from bertq.data.tokenized import TokenizedSplit
    from bertq.evaluation.classify import score

    offsets = np.array([0, 3, 5, 9])
    ids = np.arange(9, dtype=np.int32) + 100
    split = TokenizedSplit(ids, np.zeros(9, np.int8), offsets, np.array([1, 1, 1]))
    result = score(
        lambda i, m, t: torch.tensor([[0.0, 1.0]]).repeat(i.shape[0], 1), GLUE_TASKS["sst2"], {"dev": split}, 2
    )
    assert result["score"] == 100.0  # every prediction is the one class
    assert result["warnings"] == [
        "the dev split has a single class (label 1): accuracy cannot tell a model from a constant"
    ]
