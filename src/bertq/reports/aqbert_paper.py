"""AQ-BERT's own numbers, for side-by-side comparison in the reports.

Transcribed from Zhao et al. (2021), "Automatic Mixed-Precision Quantization Search of BERT":
Table 1 (BERT-Base, 128 groups per layer, 8-bit activations and embeddings: Q-BERT against AQ-BERT
at 30, 25 and 20 "MB", the encoder without its embeddings), Table 2 (the effect of the number of
groups, at Q-BERT's 40 MB model) and Table 3 (AQ-BERT on DistilBERT). Scores are dev-set percent:
accuracy for SST-2 and MNLI (matched ``mnli``, mismatched ``mnli_mm``), exact match and F1 for
SQuAD v1.1, entity F1 for CoNLL-03. Table 2 prints the group count once per Q-BERT/AQ-BERT pair
(the 1-group AQ-BERT row's cell is empty in our copy); both rows of a pair have that count.
"""

from __future__ import annotations

AQBERT_CITATION = "Zhao et al., 2021 (AQ-BERT)"
COLUMNS = ["sst2", "mnli", "mnli_mm", "squad_em", "squad_f1", "conll03"]
"""The score columns of Table 1, in the paper's order."""
COLUMN_LABELS = {
    "sst2": "SST-2",
    "mnli": "MNLI-m",
    "mnli_mm": "MNLI-mm",
    "squad_em": "SQuAD EM",
    "squad_f1": "SQuAD F1",
    "conll03": "CoNLL F1",
}
METHOD_ROWS = {"fp32": "fp32", "q_bert": "Q-BERT", "aq_bert": "AQ-BERT", "distilbert": "DistilBERT"}
"""How the paper names the rows of each method (its "BERT_base", "Q-BERT", "Ours")."""


def _rows(text: str, columns: list[str]) -> list[dict]:
    """``method size: cell ...`` lines -> records ``{"method", "size_mb" or "groups", column: score}``."""
    out = []
    for line in text.strip().splitlines():
        head, cells = line.split(":")
        method, key = head.split()
        values = [None if v == "-" else float(v) for v in cells.split()]
        record = {"method": method, "key": None if key == "-" else float(key)}
        record.update(dict(zip(columns, values, strict=True)))
        out.append(record)
    return out


TABLE1 = _rows(
    """
fp32 324.5: 93.50 84.00 84.40 81.54 88.69 95.00
q_bert 30: 92.50 83.50 83.50 79.07 87.49 94.55
aq_bert 30: 92.70 83.50 83.70 79.85 87.00 94.50
q_bert 25: 92.00 81.75 82.20 79.00 86.95 94.37
aq_bert 25: 92.50 82.90 82.90 79.25 87.00 94.40
q_bert 20: 84.60 76.50 77.00 69.68 79.60 91.06
aq_bert 20: 91.10 81.80 81.90 75.00 83.50 93.20
""",
    COLUMNS,
)
"""Table 1: ``key`` is the size in MB (MiB, embeddings excluded)."""

TABLE2_COLUMNS = ["sst2", "mnli", "mnli_mm", "conll03"]
TABLE2 = _rows(
    """
fp32 -: 93.00 84.00 84.40 95.00
q_bert 1: 85.67 76.69 77.00 89.86
aq_bert 1: 89.60 77.70 78.20 91.90
q_bert 12: 92.31 82.37 82.95 94.42
aq_bert 12: 92.70 83.50 83.70 94.80
q_bert 128: 92.66 83.89 84.17 94.90
aq_bert 128: 92.90 83.40 83.90 95.00
q_bert 768: 92.78 84.00 84.20 94.99
aq_bert 768: 92.90 83.70 84.10 95.10
""",
    TABLE2_COLUMNS,
)
"""Table 2: ``key`` is the number of groups per layer (at a 40 MB model, bits 2/3/4/8)."""

TABLE3_COLUMNS = ["sst2", "mnli", "squad_em", "squad_f1"]
TABLE3 = _rows(
    """
fp32 324.5: 93.50 84.00 81.54 88.69
distilbert 162: 91.30 82.20 77.70 85.80
aq_bert 15: 91.20 81.50 72.80 82.10
aq_bert 12.5: 90.70 80.00 72.70 82.10
aq_bert 10: 89.70 78.00 68.30 78.30
""",
    TABLE3_COLUMNS,
)
"""Table 3: BERT-Base, DistilBERT and AQ-BERT on DistilBERT; ``key`` is the size in MB."""
