"""El-Kurdi et al. (2022)'s own numbers, for side-by-side comparison in the reports.

Transcribed from "Zero-Shot Dynamic Quantization for Transformer Inference": Table 3 (GLUE dev,
mean and standard deviation over 5 seeds, FP32 / I8 / TM-IQR, four models; MRPC and QQP are F1,
STS-B Pearson, CoLA Matthews, the rest accuracy; MNLI and MNLI-MM are printed apart) and Table 1
(words per second of 512-token inputs on a 48-core Xeon 8260, int8 with and without IQR
clipping, and a V100 in fp16).
"""

from __future__ import annotations

ELKURDI_CITATION = "El-Kurdi et al., 2022"
PAPER_TASKS = ["mnli", "mnli_mm", "cola", "sst2", "mrpc", "stsb", "qqp", "qnli", "rte"]
"""Table 3's rows, in the paper's order (``mnli`` matched, ``mnli_mm`` mismatched)."""
MODES = ("FP32", "I8", "TM-IQR")
PAPER_MODEL = "BERT-base-cased"
"""The paper's model closest to ours (a BERT encoder fine-tuned with Hugging Face's defaults)."""


def _table(text: str) -> dict[str, dict[str, tuple[float, float]]]:
    """``task: m (s) m (s) m (s)`` lines -> ``{mode: {task: (mean, std)}}``."""
    out: dict[str, dict[str, tuple[float, float]]] = {m: {} for m in MODES}
    for line in text.strip().splitlines():
        task, cells = line.split(":")
        values = cells.replace("(", " ").replace(")", " ").split()
        for i, mode in enumerate(MODES):
            out[mode][task.strip()] = (float(values[2 * i]), float(values[2 * i + 1]))
    return out


TABLE3: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "BERT-base-cased": _table("""
mnli: 83.7 (0.2) 82.3 (0.5) 83.5 (0.3)
mnli_mm: 84.1 (0.1) 82.9 (0.2) 83.8 (0.2)
cola: 58.0 (1.4) 48.3 (0.9) 57.7 (1.6)
sst2: 92.3 (0.3) 92.1 (0.2) 92.0 (0.4)
mrpc: 88.5 (1.2) 88.8 (1.6) 88.5 (1.5)
stsb: 88.3 (0.8) 87.7 (0.8) 88.1 (0.8)
qqp: 87.4 (0.1) 86.2 (0.3) 87.2 (0.2)
qnli: 90.8 (0.2) 90.3 (0.1) 90.5 (0.2)
rte: 64.6 (1.0) 63.9 (1.0) 64.9 (1.6)
"""),
    "BERT-large-cased": _table("""
mnli: 86.4 (0.1) 86.0 (0.2) 86.0 (0.1)
mnli_mm: 86.5 (0.2) 86.3 (0.1) 86.3 (0.2)
cola: 62.9 (0.8) 60.6 (1.5) 62.1 (1.2)
sst2: 93.3 (0.5) 92.8 (0.7) 92.9 (0.4)
mrpc: 90.5 (0.5) 89.6 (0.9) 90.5 (0.7)
stsb: 89.6 (0.6) 87.4 (1.2) 89.1 (0.3)
qqp: 88.3 (0.2) 88.1 (0.1) 88.1 (0.1)
qnli: 92.4 (0.1) 91.9 (0.1) 92.2 (0.2)
rte: 69.8 (1.4) 64.0 (2.0) 68.5 (1.7)
"""),
    "RoBERTa-base": _table("""
mnli: 87.0 (0.1) 85.8 (0.3) 86.1 (0.1)
mnli_mm: 87.1 (0.1) 85.8 (0.2) 86.1 (0.1)
cola: 53.7 (1.9) 22.7 (4.7) 50.8 (1.8)
sst2: 93.9 (0.2) 93.4 (0.4) 93.5 (0.3)
mrpc: 78.6 (2.7) 77.2 (1.1) 78.4 (2.0)
stsb: 87.1 (0.8) 69.6 (0.8) 85.5 (0.8)
qqp: 88.3 (0.1) 87.2 (0.2) 87.6 (0.1)
qnli: 92.5 (0.1) 90.1 (1.9) 91.4 (0.3)
rte: 68.0 (2.1) 64.7 (2.5) 67.4 (2.8)
"""),
    "RoBERTa-large": _table("""
mnli: 90.6 (0.0) 90.0 (0.2) 90.3 (0.1)
mnli_mm: 90.0 (0.3) 89.6 (0.1) 89.6 (0.2)
cola: 63.5 (0.6) 63.1 (1.3) 63.4 (0.6)
sst2: 96.3 (0.4) 95.8 (0.2) 95.8 (0.4)
mrpc: 89.6 (0.4) 90.1 (0.7) 88.7 (0.8)
stsb: 91.8 (0.1) 91.2 (0.2) 91.4 (0.2)
qqp: 89.8 (0.1) 89.4 (0.2) 89.4 (0.2)
qnli: 94.6 (0.2) 94.1 (0.3) 94.1 (0.3)
rte: 77.7 (2.0) 76.0 (5.1) 77.3 (1.5)
"""),
}
TABLE3_AVERAGE = {
    "BERT-base-cased": {"FP32": 82.0, "I8": 80.3, "TM-IQR": 81.8},
    "BERT-large-cased": {"FP32": 84.4, "I8": 83.0, "TM-IQR": 84.0},
    "RoBERTa-base": {"FP32": 82.0, "I8": 75.2, "TM-IQR": 80.8},
    "RoBERTa-large": {"FP32": 87.1, "I8": 86.6, "TM-IQR": 86.7},
}
"""The printed averages: the mean of the nine rows, rounded, except RoBERTa-base's FP32 (printed
82.0; its rows give 81.8)."""

TABLE1 = [
    {"cpu": "Xeon 8260", "cores": 48, "precision": "int8", "method": "none", "batch": 48, "wps": 29005},
    {"cpu": "Xeon 8260", "cores": 48, "precision": "int8", "method": "IQR", "batch": 48, "wps": 28640},
    {"cpu": "V100", "cores": None, "precision": "fp16", "method": "none", "batch": 128, "wps": 71998},
]
"""Table 1: words per second averaged over 4 runs, each input 512 tokens."""
TABLE1_TOKENS = 512


def per_core(row: dict) -> float | None:
    """A CPU row's words per second per core (29,005 / 48 = 604)."""
    return None if not row["cores"] else row["wps"] / row["cores"]


def iqr_cost(rows=TABLE1) -> float:
    """The throughput TM-IQR costs on the paper's Xeon, as a fraction (1 - 28,640 / 29,005 = 1.3%)."""
    none, iqr = (next(r["wps"] for r in rows if r["precision"] == "int8" and r["method"] == m) for m in ("none", "IQR"))
    return 1.0 - iqr / none


TABLE2_TASKS = ["tydiqa", "nq"]
"""Table 2's tasks (bertq's task names)."""
TABLE2: dict[str, dict[str, dict[str, float]]] = {
    "XLM-R-base": {"tydiqa": dict(zip(MODES, (67.7, 62.9, 67.0))), "nq": dict(zip(MODES, (54.6, 48.0, 53.4)))},
    "XLM-R-large": {"tydiqa": dict(zip(MODES, (68.8, 66.8, 68.4))), "nq": dict(zip(MODES, (56.6, 53.3, 56.1)))},
}
"""Table 2 ("Question Answering performance"): ``{model: {task: {mode: F1}}}``. The paper follows
Alberti et al. (2019) and Clark et al. (2020): the full NQ and TyDi QA tasks (passages and minimal
answers), not the SQuAD-form GoldP and MRQA versions bertq reads, so the numbers are not the same
measurement."""
