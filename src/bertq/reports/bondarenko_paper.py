"""Bondarenko et al. (2021)'s own numbers, for side-by-side comparison in the reports.

Transcribed from "Understanding and Overcoming the Challenges of Efficient Transformer
Quantization": Tables 1, 2, 4, 5, 6, 7 and 12 and the best range estimators of Table 9, all for
BERT-Base (uncased) on the GLUE dev sets, in percent, the median over 5 seeds (PTQ). Task keys are
bertq's (``cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte``); ``glue`` is the printed GLUE column.
A cell the paper prints as "-" or "–" (or that our copy of the text lacks) is ``None``.

Metrics. The paper's own rows use GLUE's combined metrics (Table 6, footnote ‡, which marks the
Q8BERT rows as the exception): MRPC and QQP the mean of accuracy and F1, STS-B the mean of Pearson
and Spearman correlation, as bertq's task scores are. MNLI is one number in the paper, which does
not say whether it is the matched accuracy or the mean of matched and mismatched; bertq's MNLI
score is the mean of the two, so MNLI is compared as that. CoLA is Matthews correlation, the
rest accuracy.

Consistency. The printed GLUE column equals the mean of the eight task columns within rounding
(0.005) for every row of Tables 1 and 6 and for the AdaRound and QAT rows of Table 12; the
Q8BERT rows of Table 6 are the mean of the seven tasks without MNLI (footnote §; within 0.01). Three PTQ rows of
Table 12 deviate more: W8A32 with 6-bit embeddings by 0.155, W6A32 by 0.04 and W4A32 by 0.10
(median of per-seed GLUE scores rather than mean of per-task medians, presumably); the reports
show the printed GLUE as printed (see tests/test_bondarenko_reports.py). Our copy of Table 12
lacks the CoLA cell of the 4- and 2-bit embedding rows (``None``).

Table 4 and Table 5's W8A8 row (79.78, 45.60, 51.73, 64.98) is the experimental setup of sec. 5
(activation ranges from the min and max of a single sequence); Tables 1 and 6's W8A8 row is the
best range setting per task (Table 9).
"""

from __future__ import annotations

BONDARENKO_CITATION = "Bondarenko et al., 2021"
PAPER_MODEL = "BERT-Base"
TASKS = ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"]
"""The task columns of Tables 1, 6 and 12, in the paper's order."""
PROBLEM_TASKS = ["stsb", "mnli", "qnli", "rte"]
"""The "problematic" tasks, the columns of Tables 2, 4 and 5."""


def _row(text: str, columns: list[str]) -> dict[str, float | None]:
    cells = text.split()
    if len(cells) != len(columns):
        raise ValueError(f"{text!r}: {len(cells)} cells for {len(columns)} columns")
    return {c: None if v in ("-", "–", "_", "?") else float(v) for c, v in zip(columns, cells)}


def _full(text: str) -> dict[str, float | None]:
    return _row(text, TASKS + ["glue"])


def _problem(text: str) -> dict[str, float | None]:
    return _row(text, PROBLEM_TASKS)


TABLE1 = {
    "FP32": _full("57.27 93.12 88.36 89.09 89.72 84.91 91.58 70.40 83.06"),
    "W8A8": _full("54.74 92.55 88.53 81.02 83.81 50.31 52.32 64.98 71.03"),
    "W32A8": _full("56.70 92.43 86.98 82.87 84.70 52.80 52.44 53.07 70.25"),
    "W8A32": _full("58.63 92.55 88.74 89.05 89.72 84.58 91.43 71.12 83.23"),
}
"""Table 1: 8-bit PTQ, the best range setting per task; joint (W8A8), activations only (W32A8) and
weights only (W8A32)."""

TABLE9 = {
    "cola": {"weights": "min-max", "estimator": "running_minmax", "batch_size": 1, "batches": 4},
    "sst2": {"weights": "MSE", "estimator": "running_minmax", "batch_size": 4, "batches": 16},
    "mrpc": {"weights": "MSE", "estimator": "running_minmax", "batch_size": 16, "batches": 16},
    "stsb": {"weights": "min-max", "estimator": "running_minmax", "batch_size": 1, "batches": 16},
    "qqp": {"weights": "min-max", "estimator": "running_minmax", "batch_size": 16, "batches": 16},
    "mnli": {"weights": "min-max", "estimator": "running_minmax", "batch_size": 1, "batches": 16},
    "qnli": {"weights": "min-max", "estimator": "running_minmax", "batch_size": 1, "batches": 16},
    "rte": {"weights": "MSE", "estimator": "current_minmax", "batch_size": 1, "batches": 1},
}
"""Table 9: the best range estimators of W8A8 PTQ per task (weights; activations with batch size
and number of batches). Search space (App. B.2): weights min-max or MSE; activations current
min-max (one batch), running min-max (momentum 0.9) or MSE, batch size and batches in {1, 4, 16}."""

TABLE2 = {
    "none": _problem("89.09 84.91 91.58 70.40"),
    "all": _problem("62.64 42.67 50.74 48.74"),
    "attention.scores": _problem("70.92 42.54 51.84 48.74"),
    "embeddings.sum": _problem("67.57 46.82 51.22 51.26"),
    "attention.output": _problem("70.47 46.57 50.98 50.90"),
    "attention.probs": _problem("72.83 50.35 50.23 49.46"),
    "ffn.residual_sum": _problem("81.57 82.56 89.73 67.15"),
    "ffn.residual_sum@last2": _problem("79.40 81.24 88.03 63.90"),
}
"""Table 2: leave-one-out over activation quantizers (weights fp32, current min-max, batch size 1).
Keys: ``none`` (the fp32 model), ``all`` (every activation quantized), a site kind left fp32 in
every layer, ``<kind>@last2`` left fp32 in layers 10 and 11 only."""

TABLE2_LABELS = {
    "none": "none (FP32 model)",
    "all": "all",
    "attention.scores": "all, except softmax input",
    "embeddings.sum": "all, except sum of embeddings",
    "attention.output": "all, except self-attention output",
    "attention.probs": "all, except softmax output",
    "ffn.residual_sum": "all, except residual connections after FFN",
    "ffn.residual_sum@last2": "same as above, but for layers 10, 11 only",
}


def table2_key(kind: str | None, layers: str | None = "all") -> str:
    """The Table 2 key of a leave-one-out variant: site ``kind`` left fp32 (None: nothing left out)
    in ``layers`` ("all" or "last2")."""
    if kind is None:
        return "all"
    return kind if layers in (None, "all") else f"{kind}@{layers}"


TABLE4 = {
    "FP32": _problem("89.09 84.91 91.58 70.40"),
    "W8A8 PTQ": _problem("79.78 45.60 51.73 64.98"),
    "MP-PTQ*": _problem("85.41 82.20 88.38 66.43"),
    "MP-PTQ*†": _problem("85.27 82.67 90.41 68.95"),
    "MP-PTQ*†‡": _problem("88.00 82.67 90.41 68.95"),
}
"""Table 4: mixed-precision PTQ (W8, activations 8-bit but for the sites in 16 bits)."""

TABLE4_SITES16 = {
    "MP-PTQ*": frozenset({"ffn.residual_sum"}),
    "MP-PTQ*†": frozenset({"ffn.residual_sum", "attention.norm", "ffn.output"}),
    "MP-PTQ*†‡": frozenset({"ffn.residual_sum", "attention.norm", "ffn.output", "head.output"}),
}
"""The site kinds each Table 4 row keeps in 16 bits in every layer: * the residual FFN sum, † the
FFN's input (``attention.norm``) and output, ‡ the final output (the task head's; with the MSE
range estimator)."""

TABLE4_NOTES = {
    "*": "16-bit residual FFN sum",
    "†": "16-bit FFN input and output",
    "‡": "16-bit final output (MSE range estimator)",
}

TABLE5 = {
    (1, False, "all"): _problem("79.78 45.60 51.73 64.98"),
    (768, False, "all"): _problem("87.87 80.97 90.66 69.31"),
    (768, False, "ffn"): _problem("87.92 81.00 90.68 68.59"),
    (6, False, "ffn"): _problem("87.26 80.51 89.82 68.59"),
    (3, False, "ffn"): _problem("85.96 76.43 80.74 66.06"),
    (3, True, "ffn"): _problem("87.92 80.64 91.07 69.31"),
    (6, True, "ffn"): _problem("87.92 81.25 91.07 69.31"),
}
"""Table 5: per-embedding-group (PEG) activation quantization, keyed by (groups K, range-based
permutation, where): ``ffn`` = only the FFN's input, output and residual sum, ``all`` = every
activation. K = 1 is per-tensor W8A8, K = 768 per embedding dimension."""


def table5_label(groups: int, permute: bool, where: str) -> str:
    """A Table 5 row as the paper prints it: ``1 (= per-tensor)``, ``768 (only FFN)``, ``6 + P (only FFN)``."""
    if where == "all" and not permute and groups in (1, 768):
        return {1: "1 (= per-tensor)", 768: "768 (= per-embd.)"}[groups]
    return f"{groups}" + (" + P" if permute else "") + {"ffn": " (only FFN)", "all": ""}.get(where, f" ({where})")


TABLE6 = {
    "FP32 baseline": _full("57.27 93.12 88.36 89.09 89.72 84.91 91.58 70.40 83.06"),
    "Our W8A8 PTQ": _full("54.74 92.55 88.53 81.02 83.81 50.31 52.32 64.98 71.03"),
    "Our W8A{8,16} MP-PTQ": _full("58.63 92.66 88.74 88.00 89.40 82.67 90.41 68.95 82.43"),
    "Our W8A8 PEG-PTQ": _full("59.43 92.66 88.53 87.92 89.42 81.25 91.07 69.31 82.45"),
    "Our W8A8 QAT": _full("61.27 93.00 88.80 88.95 89.44 83.74 90.48 70.40 83.26"),
    "Q8BERT W8A8 PTQ*†": _full("56.74 91.04 87.88 87.66 84.98 - 89.34 63.32 80.13"),
    "Q8BERT W8A8 QAT*": _full("58.48 92.24 89.56 89.04 87.96 - 90.62 68.78 82.38"),
    "Q-BERT W8A8 QATψ": _full("- 92.88 - - - 83.87 - - -"),
}
"""Table 6: 8-bit results. MP-PTQ is Table 4's best setup (*†‡), PEG-PTQ K = 6 with permutation on
the FFN's input, output and sum. Q8BERT (Zafrir et al., 2019): * fp32 softmax, GELU and LayerNorm,
† dynamic activation quantization, its MRPC/QQP are F1 and STS-B Pearson (‡), its GLUE without
MNLI (§). Q-BERT (Shen et al., 2020): ψ group-wise weights (128 groups), last layer fp32."""

TABLE6_PTQ = {
    "FP32": "FP32 baseline",
    "W8A8": "Our W8A8 PTQ",
    "MP-PTQ": "Our W8A{8,16} MP-PTQ",
    "PEG-PTQ": "Our W8A8 PEG-PTQ",
}
"""Our Table 6 rows (classes) -> the paper's PTQ rows."""

TABLE7 = {
    "FP32 baseline": (1.00, 83.06),
    "W6A32 PTQ": (5.33, 81.41),
    "W4A32 PTQ": (8.00, 72.31),
    "W4A32 AdaRound (PTQ)": (8.00, 81.46),
    "W4A32 QAT": (8.00, 82.95),
    "W4A8 QAT": (8.00, 82.64),
    "W4A8, 2-bit embd. QAT": (8.85, 82.29),
}
"""Table 7: (memory reduction over fp32, GLUE) of low-bit weight and token-embedding quantization
(weights and embeddings below 8 bits use the MSE range estimator)."""

TABLE12 = {
    "FP32 baseline": _full("57.27 93.12 88.36 89.09 89.72 84.91 91.58 70.40 83.06"),
    "W8A32, 6-bit embd. PTQ": _full("57.43 92.32 88.36 89.06 89.74 84.62 91.32 68.95 82.88"),
    "W8A32, 4-bit embd. PTQ": _full("? 92.32 88.79 89.02 89.70 84.58 91.43 68.59 82.73"),
    "W8A32, 2-bit embd. PTQ": _full("? 92.32 86.99 88.87 89.63 84.45 91.47 68.23 82.40"),
    "W6A32 PTQ": _full("56.23 91.86 86.70 87.76 88.94 82.39 88.83 68.23 81.41"),
    "W4A32 PTQ": _full("43.06 90.83 84.90 83.07 79.37 68.16 79.68 50.18 72.31"),
    "W4A32 AdaRound (PTQ)": _full("54.56 92.32 87.53 87.91 88.30 81.61 90.17 69.31 81.46"),
    "W4A32 QAT": _full("58.31 92.49 87.58 89.02 89.78 84.29 91.40 70.76 82.95"),
    "W4A8 QAT": _full("57.22 92.32 87.77 89.13 89.64 83.69 91.29 70.04 82.64"),
    "W4A8, 2-bit embd. QAT": _full("56.08 91.74 87.59 89.19 89.56 83.68 90.79 69.67 82.29"),
    "Q-BERT W4A8 QAT*": _full("- 85.67 - - - 76.85 - - -"),
    "Q-BERT W4A8 QAT*†": _full("- 92.66 - - - 84.03 - - -"),
}
"""Table 12 (App. C): Table 7 per task. Q-BERT: * last layer fp32, † group-wise weights (128
groups)."""

LOW_BIT_ROWS = {
    "W8A32 e6": "W8A32, 6-bit embd. PTQ",
    "W8A32 e4": "W8A32, 4-bit embd. PTQ",
    "W8A32 e2": "W8A32, 2-bit embd. PTQ",
    "W6A32": "W6A32 PTQ",
    "W4A32": "W4A32 PTQ",
    "W4A32 AdaRound": "W4A32 AdaRound (PTQ)",
    "W4A32 QAT": "W4A32 QAT",
    "W4A8 QAT": "W4A8 QAT",
    "W4A8 e2 QAT": "W4A8, 2-bit embd. QAT",
}
"""Our low-bit classes -> the paper's rows of Tables 7 and 12."""
TABLE6_QAT = {"QAT": "Our W8A8 QAT"}
"""Our Table 6 training-based row (class) -> the paper's."""


def memory_reduction(row: str) -> float | None:
    """Table 7's memory reduction of a Table 12 row (None where Table 7 has no such row)."""
    entry = TABLE7.get(row)
    return entry[0] if entry else None


# --- the classes of variants (records of quantization.methods entries; no pandas: the config reads them) ---


def trained(record: dict) -> str | None:
    """The variant's training step after quantization that the tables tell apart (``qat`` or
    ``adaround``), or None: post-training quantization alone."""
    return next((k for k in ("qat", "adaround") if record.get(k) is not None), None)


def activations(record: dict) -> dict | None:
    """The variant's activation quantization, or None (activations fp32, "A32")."""
    a = record.get("activations")
    return a if a else None


def _bits_list(bits) -> list[int] | None:
    if bits is None:
        return None
    return [int(bits)] if isinstance(bits, (int, float)) else [int(b) for b in bits]


def _weights_at(record: dict, bits: int, point_bits: int | None) -> bool:
    """Whether the weights are quantized to ``bits``: the point's bits if given, else the record's
    (a record without bits may run at any)."""
    if record.get("method") == "float":
        return False
    if point_bits is not None:
        return int(point_bits) == bits
    listed = _bits_list(record.get("bits"))
    return listed is None or bits in listed


def per_tensor_activations(record: dict, bits: int = 8) -> bool:
    """Activations at ``bits`` everywhere, one range per tensor: no 16-bit sites, no PEG, nothing
    excluded, not a leave-one-out variant."""
    a = activations(record)
    if a is None or record.get("leave_one_out"):
        return False
    sites = a.get("sites")
    every_site = sites is None or sites == "*" or "*" in sites
    return (
        int(a.get("bits", 8)) == bits
        and not a.get("site_bits")
        and not a.get("peg")
        and not a.get("exclude")
        and every_site
    )


def is_w8a32(record: dict, bits: int | None = None) -> bool:
    """W8A32 (Table 1): 8-bit weights (token embeddings too), fp32 activations."""
    return (
        _weights_at(record, 8, bits)
        and activations(record) is None
        and record.get("embedding_bits") is None
        and not record.get("leave_one_out")
        and trained(record) is None
    )


def is_w32a8(record: dict) -> bool:
    """W32A8 (Table 1): fp32 weights, 8-bit per-tensor activations."""
    return record.get("method") == "float" and per_tensor_activations(record)


def is_w8a8(record: dict, bits: int | None = None) -> bool:
    """W8A8 PTQ (Table 1): 8-bit weights and 8-bit per-tensor activations, no training."""
    return (
        _weights_at(record, 8, bits)
        and per_tensor_activations(record)
        and record.get("embedding_bits") in (None, 8)
        and trained(record) is None
    )


def is_w8a8_qat(record: dict, bits: int | None = None) -> bool:
    """W8A8 QAT (Table 6): W8A8 trained with learned ranges."""
    return (
        _weights_at(record, 8, bits)
        and per_tensor_activations(record)
        and record.get("embedding_bits") in (None, 8)
        and trained(record) == "qat"
    )


def is_mixed_precision(record: dict) -> bool:
    """MP-PTQ (Table 4): activations with some sites at other bits (16)."""
    a = activations(record)
    return bool(a and a.get("site_bits")) and not record.get("leave_one_out") and trained(record) is None


def is_peg(record: dict) -> bool:
    """PEG-PTQ (Table 5): per-embedding-group activation ranges."""
    a = activations(record)
    return bool(a and a.get("peg")) and not record.get("leave_one_out") and trained(record) is None


def is_leave_one_out(record: dict) -> bool:
    """A leave-one-out variant of Table 2."""
    return bool(record.get("leave_one_out"))


def low_bit_class(record: dict, bits: int | None = None) -> str | None:
    """The Table 7/12 class (:data:`~bertq.reports.bondarenko_paper.LOW_BIT_ROWS`): ``W8A32 e6``
    (8-bit weights, 6-bit token embeddings; e4, e2), ``W6A32``, ``W4A32`` (MSE weights), ``W4A32
    AdaRound``, ``W4A32 QAT``, ``W4A8 QAT`` (8-bit per-tensor activations) and ``W4A8 e2 QAT``
    (2-bit token embeddings), else None."""
    if record.get("leave_one_out"):
        return None
    step, embedding = trained(record), record.get("embedding_bits")
    if step == "adaround":
        plain = activations(record) is None and embedding is None
        return "W4A32 AdaRound" if plain and _weights_at(record, 4, bits) else None
    if step == "qat":
        if not _weights_at(record, 4, bits):
            return None
        if activations(record) is None:
            return "W4A32 QAT" if embedding is None else None
        return {None: "W4A8 QAT", 2: "W4A8 e2 QAT"}.get(embedding) if per_tensor_activations(record) else None
    if activations(record) is not None:
        return None
    embedding = record.get("embedding_bits")
    if embedding in (6, 4, 2) and _weights_at(record, 8, bits):
        return f"W8A32 e{embedding}"
    if embedding is None and record.get("method") == "mse":
        for b in (6, 4):
            listed = _bits_list(record.get("bits"))
            at = int(bits) == b if bits is not None else listed is None or b in listed
            if at:
                return f"W{b}A32"
    return None


def record_of(name: str, entry: dict | None) -> dict:
    """A ``quantization.methods`` entry (raw config) read as a variant record: its method defaults
    to its name, its bits to a list (None: the study's default bits)."""
    entry = dict(entry or {})
    entry["method"] = entry.get("method") or name
    entry["bits"] = _bits_list(entry.get("bits"))
    return entry


def any_entry(methods: dict, predicate) -> bool:
    """Whether some ``quantization.methods`` entry satisfies ``predicate`` (over its record)."""
    return any(predicate(record_of(name, entry)) for name, entry in (methods or {}).items())
