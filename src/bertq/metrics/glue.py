"""GLUE evaluation metrics in pure numpy.

The metric reported for each task follows Hu et al. (2022), section 4.1, which uses the GLUE
conventions (Wang et al., 2018): Matthews correlation for CoLA, accuracy for SST-2, MNLI, QNLI
and RTE, the mean of accuracy and F1 for MRPC and QQP, and the mean of Pearson and Spearman
correlation for STS-B. Scores are reported in percent, and the GLUE score is the unweighted mean
of the task scores.

The functions reproduce scikit-learn (``accuracy_score``, ``f1_score``, ``matthews_corrcoef``) and
``scipy.stats`` (``pearsonr``, ``spearmanr``) but import neither, so this module loads quickly.

Constant inputs: Pearson and Spearman correlation are undefined when either input is constant;
like scipy, :func:`pearson` and :func:`spearman` return ``nan`` then, and :func:`task_metrics`
keeps that ``nan`` (the ``score`` of such a run is ``nan`` too) rather than hiding it as 0.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "METRICS",
    "accuracy",
    "aggregate_score",
    "combine_dev_splits",
    "f1_binary",
    "matthews_corrcoef",
    "pearson",
    "predictions_from_logits",
    "spearman",
    "task_metrics",
]

METRICS: tuple[str, ...] = ("matthews", "accuracy", "accuracy_f1", "pearson_spearman")
"""Metric names a :class:`bertq.data.tasks.TaskSpec` may carry."""


def _pair(preds, labels, what: str = "metric") -> tuple[np.ndarray, np.ndarray]:
    """Validate two 1-D arrays of equal, non-zero length and return them as numpy arrays."""
    p = np.asarray(preds)
    y = np.asarray(labels)
    if p.ndim != 1 or y.ndim != 1:
        # Allow (n, 1) column vectors, as a regression head produces.
        p = p.reshape(-1) if p.ndim == 2 and p.shape[-1] == 1 else p
        y = y.reshape(-1) if y.ndim == 2 and y.shape[-1] == 1 else y
        if p.ndim != 1 or y.ndim != 1:
            raise ValueError(f"{what}: expected 1-D predictions and labels, got shapes {p.shape} and {y.shape}")
    if p.shape[0] != y.shape[0]:
        raise ValueError(f"{what}: predictions and labels differ in length ({p.shape[0]} != {y.shape[0]})")
    if p.shape[0] == 0:
        raise ValueError(f"{what}: empty predictions and labels")
    return p, y


def accuracy(preds, labels) -> float:
    """Fraction of exact matches, in [0, 1] (SST-2, MNLI, QNLI, RTE; Hu et al., 2022, sec. 4.1)."""
    p, y = _pair(preds, labels, "accuracy")
    return float(np.mean(p == y))


def f1_binary(preds, labels, positive=1) -> float:
    """F1 of the ``positive`` class, ``2 TP / (2 TP + FP + FN)`` (MRPC and QQP report the mean of
    accuracy and this F1; Hu et al., 2022, sec. 4.1).

    Returns 0.0 when there are neither predicted nor true positives, like scikit-learn's
    ``f1_score(..., zero_division=0)``.
    """
    p, y = _pair(preds, labels, "f1")
    pp = p == positive
    yp = y == positive
    tp = float(np.sum(pp & yp))
    fp = float(np.sum(pp & ~yp))
    fn = float(np.sum(~pp & yp))
    denom = 2.0 * tp + fp + fn
    return 0.0 if denom == 0 else 2.0 * tp / denom


def matthews_corrcoef(preds, labels) -> float:
    """Matthews correlation coefficient in its multi-class form (Gorodkin, 2004), in [-1, 1]
    (CoLA; Hu et al., 2022, sec. 4.1).

    With confusion matrix ``C`` (true by predicted), ``t`` its row sums, ``p`` its column sums,
    ``c = trace(C)`` and ``s = sum(C)``::

        MCC = (c s - t.p) / sqrt((s^2 - p.p) (s^2 - t.t))

    Returns 0.0 when the denominator is zero (a constant prediction or label vector), like
    scikit-learn.
    """
    p, y = _pair(preds, labels, "matthews")
    classes, inverse = np.unique(np.concatenate([y, p]), return_inverse=True)
    k = classes.shape[0]
    n = y.shape[0]
    yi, pi = inverse[:n], inverse[n:]
    cm = np.zeros((k, k), dtype=np.float64)
    np.add.at(cm, (yi, pi), 1.0)
    t = cm.sum(axis=1)
    pk = cm.sum(axis=0)
    c = np.trace(cm)
    s = cm.sum()
    cov_ytyp = c * s - float(t @ pk)
    cov_ypyp = s * s - float(pk @ pk)
    cov_ytyt = s * s - float(t @ t)
    denom = cov_ytyt * cov_ypyp
    if denom == 0:
        return 0.0
    return float(cov_ytyp / math.sqrt(denom))


def pearson(x, y) -> float:
    """Pearson correlation coefficient (STS-B, with :func:`spearman`; Hu et al., 2022, sec. 4.1).

    Returns ``nan`` when either input is constant, like ``scipy.stats.pearsonr``; raises
    ``ValueError`` for fewer than two points.
    """
    a, b = _pair(x, y, "pearson")
    if a.shape[0] < 2:
        raise ValueError("pearson: need at least two points")
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    am = a - a.mean()
    bm = b - b.mean()
    na = np.linalg.norm(am)
    nb = np.linalg.norm(bm)
    if na == 0 or nb == 0:
        return float("nan")
    r = float(np.dot(am / na, bm / nb))
    return max(-1.0, min(1.0, r))


def _average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their mean rank (``scipy.stats.rankdata(method="average")``)."""
    sorter = np.argsort(a, kind="mergesort")
    inv = np.empty(sorter.shape[0], dtype=np.intp)
    inv[sorter] = np.arange(sorter.shape[0], dtype=np.intp)
    s = a[sorter]
    first = np.concatenate(([True], s[1:] != s[:-1]))
    dense = np.cumsum(first)[inv]
    bounds = np.concatenate((np.nonzero(first)[0], [first.shape[0]]))
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


def spearman(x, y) -> float:
    """Spearman rank correlation: Pearson correlation of the average ranks, ties sharing their
    mean rank, like ``scipy.stats.spearmanr`` (STS-B; Hu et al., 2022, sec. 4.1).

    Returns ``nan`` when either input is constant; raises ``ValueError`` for fewer than two
    points.
    """
    a, b = _pair(x, y, "spearman")
    if a.shape[0] < 2:
        raise ValueError("spearman: need at least two points")
    return pearson(_average_ranks(a), _average_ranks(b))


def task_metrics(metric: str, preds, labels) -> dict[str, float]:
    """The metric components of a task and its ``score``, all in percent, as Hu et al. (2022),
    section 4.1 report them.

    * ``matthews``: ``{"matthews", "score"}`` (CoLA)
    * ``accuracy``: ``{"accuracy", "score"}`` (SST-2, MNLI, QNLI, RTE)
    * ``accuracy_f1``: ``{"accuracy", "f1", "score"}``, score the mean of the two (MRPC, QQP)
    * ``pearson_spearman``: ``{"pearson", "spearman", "score"}``, score the mean (STS-B)

    A ``nan`` correlation (constant predictions or labels) is kept, so the score is ``nan``.
    Raises ``ValueError`` for an unknown metric name, mismatched lengths or empty input.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known metrics: {', '.join(METRICS)}")
    p, y = _pair(preds, labels, metric)
    if metric == "matthews":
        m = 100.0 * matthews_corrcoef(p, y)
        return {"matthews": m, "score": m}
    if metric == "accuracy":
        a = 100.0 * accuracy(p, y)
        return {"accuracy": a, "score": a}
    if metric == "accuracy_f1":
        a = 100.0 * accuracy(p, y)
        f = 100.0 * f1_binary(p, y)
        return {"accuracy": a, "f1": f, "score": (a + f) / 2.0}
    r = 100.0 * pearson(p, y)
    rho = 100.0 * spearman(p, y)
    return {"pearson": r, "spearman": rho, "score": (r + rho) / 2.0}


def undefined_on(metric: str, labels, split: str = "dev") -> list[str]:
    """Why ``metric`` says nothing on these gold labels, if it does not: a classification split with
    a single class (accuracy is the share of it; MCC and F1 are 0 by convention, not by merit) or a
    regression split whose scores are all equal (no correlation exists)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return [f"the {split} split has no examples"]
    values = np.unique(labels)
    if values.size > 1:
        return []
    if metric == "pearson_spearman":
        return [f"every {split} score is {float(values[0]):g}: Pearson and Spearman correlations are undefined"]
    return [
        f"the {split} split has a single class (label {values[0].item()}): {metric} cannot tell a model from a constant"
    ]


def predictions_from_logits(logits: np.ndarray, is_regression: bool) -> np.ndarray:
    """Predictions from model outputs: the argmax over the last axis for classification, or the
    ``(n,)`` vector of a ``(n, 1)`` regression output (STS-B)."""
    arr = np.asarray(logits)
    if is_regression:
        if arr.ndim == 2 and arr.shape[-1] == 1:
            return arr[:, 0]
        if arr.ndim == 1:
            return arr
        raise ValueError(f"regression output must have shape (n,) or (n, 1), got {arr.shape}")
    if arr.ndim < 2:
        raise ValueError(f"classification logits must have shape (n, num_labels), got {arr.shape}")
    return np.argmax(arr, axis=-1)


def combine_dev_splits(per_split: dict[str, dict[str, float]]) -> dict[str, float]:
    """Combine the metrics of several evaluation splits of one task.

    For MNLI the task score is the mean of the matched and mismatched accuracies (Hu et al.,
    2022, sec. 4.1). Returns ``{"score": mean of the split scores, "<split>/<key>": value}`` for
    every split and key; a single split's dict comes back unchanged (as a copy).
    """
    if not per_split:
        raise ValueError("combine_dev_splits: no splits given")
    if len(per_split) == 1:
        return dict(next(iter(per_split.values())))
    missing = [name for name, m in per_split.items() if "score" not in m]
    if missing:
        raise ValueError(f"combine_dev_splits: splits without a 'score': {', '.join(missing)}")
    out: dict[str, float] = {"score": float(np.mean([float(m["score"]) for m in per_split.values()]))}
    for name, m in per_split.items():
        for key, value in m.items():
            out[f"{name}/{key}"] = value
    return out


def aggregate_score(task_scores: dict[str, float]) -> float:
    """GLUE score: the unweighted mean of the task scores (Wang et al., 2018; Hu et al., 2022,
    sec. 4.1). Raises ``ValueError`` when there are no tasks."""
    if not task_scores:
        raise ValueError("aggregate_score: no task scores given")
    return float(np.mean([float(v) for v in task_scores.values()]))
