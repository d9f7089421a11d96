"""AQ-BERT's reports from a hand-made summary: Table 1 orders fp32, the searched and the uniform rows
by the encoder's size with SQuAD as exact match and F1 apart, Table 2 keeps the multi-width searches
by groups, and the heat-map reads each variant's assignment."""

import json

import pandas as pd
import pytest

from bertq.reports import aqbert

AQ = {"method": "aq_bert", "search": {"target_mb": 3.0, "groups": 12, "bits": [0, 2, 4, 8]}}
QB = {"method": "q_bert", "search": {"target_mb": 3.0, "groups": 128, "bits": [2, 3, 4, 8]}}
U3 = {"method": "q_bert", "search": {"target_mb": 3.9, "groups": 128, "bits": [3]}}
LQ = {"method": "lq", "params": {"granularity": 128}}
VARIANTS = {"aq": AQ, "qb": QB, "u3": U3, "lq": LQ}
ASSIGNMENT = {"bert.encoder.layer.0.attention.self.query": [0, 2, 4, 8], "bert.encoder.layer.0.output.dense": [8] * 4}


def _row(method, bits, task, score, size, seed=0, metrics=None, assignment=None):
    return {
        "model": "m", "model_label": "M", "task": task, "seed": seed, "method": method, "bits": bits, "score": score,
        "metrics": json.dumps(metrics or {}), "size_bytes": 1.0, "ace": 1.0, "encoder_size_mib": size,
        "group_bits": json.dumps(assignment) if assignment else "",
    }  # fmt: skip


@pytest.fixture
def frames():
    rows = [
        _row("fp32", 32, "sst2", 90.0, 40.6),
        _row("aq", 8, "sst2", 88.0, 3.1, assignment=ASSIGNMENT),
        _row("aq", 8, "sst2", 86.0, 3.1, seed=1, assignment=ASSIGNMENT),
        _row("qb", 8, "sst2", 85.0, 2.9),
        _row("u3", 3, "sst2", 84.0, 3.91),
        _row("lq", 4, "sst2", 80.0, 5.2),
        _row("lq", 2, "sst2", 50.0, 2.65),
    ]
    squad = [
        _row("fp32", 32, "squad", 75.0, 40.6, metrics={"exact_match": 70.0, "f1": 80.0}),
        _row("aq", 8, "squad", 65.0, 3.05, metrics={"exact_match": 60.0, "f1": 70.0}),
    ]
    return pd.DataFrame(rows), pd.DataFrame(squad)


def test_table1_orders_rows_by_size_with_squad_em_and_f1(tmp_path, frames):
    summary, squad = frames
    aqbert.table1(summary, VARIANTS, tmp_path / "t.md", tmp_path / "t.csv", tasks=["sst2"], models=["m"], squad=squad)
    table = (tmp_path / "t.md").read_text()
    ours = table.split("## M")[1].split("## ")[0]
    assert "| Row | Variant | Size (MiB) | Target | SST-2 | SQuAD EM | SQuAD F1 | Mean |" in ours
    rows = [line.split("|")[1].strip() for line in ours.splitlines() if line.startswith("| ")][1:]
    assert rows == ["fp32", "uniform lq 4-bit", "uniform 3-bit, retrained", "AQ-BERT", "Q-BERT", "uniform lq 2-bit"]
    assert "| fp32 | `fp32` | 40.60 | – | 90.00 | 70.00 | 80.00 | 80.00 |" in ours
    # AQ-BERT: two seeds on SST-2 (mean 87 ± 1.41), its SQuAD size averaged in: (3.1 + 3.1 + 3.05 x 2) / 4
    assert "| AQ-BERT | `aq` w8 | 3.08 | 3.00 | 87.00 ± 1.41 | 60.00 | 70.00 | 72.33 |" in ours
    assert "| Q-BERT | `qb` w8 | 2.90 | 3.00 | 85.00 | – | – | – |" in ours
    long = pd.read_csv(tmp_path / "t.csv")
    assert set(long["source"]) == {"ours", "paper"}
    paper = long[(long["source"] == "paper") & (long["row"] == "AQ-BERT") & (long["size_mib"] == 20)]
    assert dict(zip(paper["task"], paper["score"]))["squad_em"] == 75.0


def test_table3_puts_the_papers_distilbert_table_beneath(tmp_path, frames):
    summary, squad = frames
    aqbert.table1(summary, VARIANTS, tmp_path / "t.md", tmp_path / "t.csv", tasks=["sst2"], models=["m"], squad=squad,
                  table=3)  # fmt: skip
    table = (tmp_path / "t.md").read_text()
    assert table.startswith("# Table 3: AQ-BERT on DistilBERT")
    assert "| DistilBERT | 162 | 91.30 | 82.20 | 77.70 | 85.80 |" in table  # the paper's row, as printed
    assert "| AQ-BERT | `aq` w8 | 3.08 | 3.00 | 87.00 ± 1.41 | 60.00 | 70.00 | 72.33 |" in table  # ours as Table 1's
    paper = pd.read_csv(tmp_path / "t.csv").query("source == 'paper'")
    assert set(paper[paper["row"] == "AQ-BERT"]["model"]) == {"DistilBERT"}
    assert set(paper[paper["row"] == "fp32"]["model"]) == {"BERT-Base"}
    assert (
        dict(zip(*paper[(paper["row"] == "AQ-BERT") & (paper["size_mib"] == 10)][["task", "score"]].T.values))[
            "squad_f1"
        ]
        == 78.3
    )


def test_table2_keeps_the_multi_width_searches_by_groups(tmp_path, frames):
    summary, squad = frames
    aqbert.table2(summary, VARIANTS, tmp_path / "t.md", tmp_path / "t.csv", tasks=["sst2"], models=["m"], squad=squad)
    ours = (tmp_path / "t.md").read_text().split("## M")[1].split("## ")[0]
    assert "| AQ-BERT | 12 | `aq` |" in ours and "| Q-BERT | 128 | `qb` |" in ours
    assert "`u3`" not in ours and "`lq`" not in ours


def test_the_assignment_is_read_from_the_first_task_and_lowest_seed(frames):
    summary, _ = frames
    assert aqbert.assignments(summary, VARIANTS, "m", ["sst2"]) == {"aq": ASSIGNMENT}
    # a single-width entry has nothing assigned: no heat-map panel even where its bits are recorded
    uniform = pd.concat([summary, pd.DataFrame([_row("u3", 3, "sst2", 84.0, 3.91, assignment={"x": [3] * 4})])])
    assert list(aqbert.assignments(uniform, VARIANTS, "m", ["sst2"])) == ["aq"]
    assert aqbert.row_label("u3", U3, 3) == "uniform 3-bit, retrained" and aqbert.series("qb", QB) == "Q-BERT"
    unretrained = {"method": "q_bert", "search": {**U3["search"], "retrain_epochs": 0}}
    assert aqbert.row_label("u", unretrained, 3) == "uniform min-max 3-bit"
