"""The core paper's own numbers, for side-by-side comparison in the reports.

Transcribed from Tables 1 and 2 of Hu et al. (2022), "Empirical Evaluation of Post-Training Quantization
Methods for Language Tasks": GLUE dev-set scores (percent) of 32-bit BERT-Base / BERT-Large and
their 8-bit LQ, ACIQ and OCS quantizations. The paper prints "84,15" for ACIQ MNLI on BERT-Base,
read here as 84.15. ``PAPER_TABLE1_AVG`` is the paper's printed "Avg" column; every row's mean
over the eight tasks matches it within 0.01 (see tests/test_reports.py).
"""

from __future__ import annotations

PAPER_CITATION = "Hu et al., 2022"
PAPER_BITS = 8
"""Table 1 reports the quantized models at this bit-width."""

PAPER_TASKS = ["mrpc", "sst2", "stsb", "cola", "rte", "qnli", "mnli", "qqp"]
"""The task columns of Table 1, in the paper's order."""

METHODS = ["fp32", "lq", "aciq", "ocs"]
METHOD_LABELS = {"fp32": "32-bit", "lq": "LQ", "aciq": "ACIQ", "ocs": "OCS", "linear_clustering": "linear clustering",
                 "kmeans": "k-means", "kmeans_optimal": "optimal k-means"}
TASK_LABELS = {"mrpc": "MRPC", "sst2": "SST-2", "stsb": "STS-B", "cola": "CoLA", "rte": "RTE",
               "qnli": "QNLI", "mnli": "MNLI", "qqp": "QQP", "rotten_tomatoes": "Rotten Tomatoes",
               "squad": "SQuAD v1.1", "conll03": "CoNLL-03",
               "tydiqa": "TyDi QA GoldP", "nq": "NQ (MRQA)"}


def _row(*scores: float) -> dict[str, float]:
    return dict(zip(PAPER_TASKS, scores, strict=True))


PAPER_TABLE1: dict[str, dict[str, dict[str, float]]] = {
    "BERT-Base": {
        "fp32": _row(86.03, 92.09, 89.05, 56.50, 65.34, 90.61, 84.33, 88.91),
        "lq": _row(86.52, 91.28, 89.04, 54.02, 64.98, 90.66, 84.20, 88.20),
        "aciq": _row(86.28, 91.51, 89.07, 58.33, 65.70, 90.72, 84.15, 88.28),
        "ocs": _row(86.42, 91.97, 89.07, 57.27, 65.70, 90.72, 84.39, 88.44),
    },
    "BERT-Large": {
        "fp32": _row(89.13, 93.35, 89.39, 62.84, 70.40, 92.62, 91.00, 89.42),
        "lq": _row(88.10, 93.23, 89.37, 61.85, 69.31, 92.55, 86.53, 89.42),
        "aciq": _row(88.33, 93.23, 89.09, 61.83, 70.04, 92.39, 86.30, 89.26),
        "ocs": _row(89.30, 93.80, 89.32, 62.33, 71.11, 92.53, 86.61, 89.31),
    },
}
"""PAPER_TABLE1[paper_name][method][task] -> score (percent); quantized rows are 8-bit."""

PAPER_TABLE1_AVG: dict[str, dict[str, float]] = {
    "BERT-Base": {"fp32": 81.61, "lq": 81.11, "aciq": 81.76, "ocs": 81.75},
    "BERT-Large": {"fp32": 84.77, "lq": 83.80, "aciq": 83.81, "ocs": 84.29},
}
"""The "Avg" column of Table 1 as printed (mean over the eight tasks)."""


def task_label(task: str) -> str:
    return TASK_LABELS.get(task, task)


def method_label(method: str) -> str:
    """The paper's name of a method, else the variant's key in capitals with dashes (``tm_iqr`` is
    drawn as TM-IQR)."""
    return METHOD_LABELS.get(method, method.upper().replace("_", "-"))


PAPER_TABLE2: dict[str, dict[str, dict[str, float | None]]] = {
    "BERT-Base": {
        "fp32": {"exact_match": 80.99, "f1": 88.21},
        "lq": {"exact_match": 80.56, "f1": 87.93},
        "aciq": {"exact_match": 80.55, "f1": 87.93},
        "ocs": {"exact_match": 80.83, "f1": 88.17},
    },
    "BERT-Large": {
        "fp32": {"exact_match": 83.55, "f1": 90.24},
        "lq": {"exact_match": 82.89, "f1": 89.79},
        "aciq": {"exact_match": None, "f1": None},
        "ocs": {"exact_match": None, "f1": None},
    },
}
"""PAPER_TABLE2[paper_name][method][metric] -> SQuAD v1.1 dev score (percent); quantized rows are
8-bit. The BERT-Large ACIQ and OCS rows are garbled in the text of the paper we have (only its
32-bit and LQ rows, 83.55/90.24 and 82.89(-0.66)/89.79(-0.45), can be read), so they are ``None``;
the text says 8-bit scores drop by 0.1 (OCS) to 0.6 (LQ)."""


def paper_model_names() -> list[str]:
    """Every paper model whose published numbers some report shows (a model's ``paper_name``)."""
    from bertq.reports.zhao_paper import ZHAO_TABLES

    return sorted({*PAPER_TABLE1, *PAPER_TABLE2, *(model for model, _ in ZHAO_TABLES)})
