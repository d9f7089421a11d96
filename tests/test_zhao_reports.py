"""Reports of Zhao et al. (2021): the paper's transcribed numbers, Tables 1-4 and Figs. 1-2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bertq.config as bq
from bertq.reports import build, zhao
from bertq.reports.zhao_paper import ZHAO_TABLES, ZHAO_TASKS, cell_score, paper_scores

TASKS = ["rte", "mrpc"]
FP32 = {"rte": 70.0, "mrpc": 85.0}
DROP = {("linear_clustering", 5): 2.0, ("linear_clustering", 2): 20.0, ("kmeans", 5): 0.5, ("kmeans", 2): 4.0}


def make_summary() -> pd.DataFrame:
    rows = []
    for (method, bits), drop in [(("fp32", 32), 0.0), *DROP.items()]:
        for task in TASKS:
            rows.append({"model": "bert", "model_label": "BERT", "paper_name": "BERT-Base", "size_class": "Base",
                         "random_init": False, "task": task, "seed": 42, "method": method, "bits": bits,
                         "score": FP32[task] - drop * (2 if task == "mrpc" else 1),
                         "metrics": json.dumps({}), "size_bytes": 1e8 * bits / 32, "ace": 1e9 * bits,
                         "quantization_ratio": 1.0, "mean_layer_mse": 0.0})
    return pd.DataFrame(rows)


def test_transcribed_tables_are_consistent():
    for key, table in ZHAO_TABLES.items():
        assert set(table) == {32, 5, 4, 3, 2, 1}, key
        scores = paper_scores(*key)
        # the 32-bit average is the mean of the eight task scores (pairs as their mean)...
        assert np.mean([scores[32][t] for t in ZHAO_TASKS]) == pytest.approx(scores[32]["average"], abs=0.05)
        # ... quantized rows' printed averages deviate by at most 1.2 (see zhao_paper's docstring)
        for bits in (5, 4, 3, 2, 1):
            assert abs(np.mean([scores[bits][t] for t in ZHAO_TASKS]) - scores[bits]["average"]) < 1.2, (key, bits)
    # the two schemes start from the same fine-tuned models
    assert ZHAO_TABLES[("BERT-Base", "linear_clustering")][32] == ZHAO_TABLES[("BERT-Base", "kmeans")][32]
    assert cell_score("86.3/90.4") == pytest.approx(88.35) and cell_score("0") == 0.0


def test_paper_reports_k_means_ahead_of_linear_clustering_on_bert():
    """The paper's headline (sec. 4.3): on BERT, k-means beats linear clustering at every bit-width."""
    lc, km = paper_scores("BERT-Base", "linear_clustering"), paper_scores("BERT-Base", "kmeans")
    assert all(km[b]["average"] > lc[b]["average"] for b in (1, 2, 3, 4, 5))


def test_zhao_table_values_and_paper_rows(tmp_path):
    written = zhao.zhao_table(make_summary(), "kmeans", tmp_path / "t.md", tmp_path / "t.csv", tasks=TASKS,
                              models=["bert"])
    assert [p.name for p in written] == ["t.md", "t.csv"]
    md = (tmp_path / "t.md").read_text()
    # ours: 2-bit k-means drops rte by 4 and mrpc by 8; the average by 6
    assert "| 2 bits | 66.00 (-4.00) | 77.00 (-8.00) | 71.50 (-6.00) |" in md
    assert "| 32 bits | 70.00 | 85.00 | 77.50 |" in md
    # the paper's Table 2 (BERT-Base) over the same tasks: RTE 66.1 and MRPC (84.6+89.2)/2 at 2 bits
    assert "| 2 bits | 66.10 (-6.10) | 86.90 (-1.45) | 76.50 (-3.78) | 80.4 |" in md
    csv = pd.read_csv(tmp_path / "t.csv")
    ours = csv[(csv["source"] == "ours") & (csv["task"] == "avg") & (csv["bits"] == 5)]
    assert ours["score"].iloc[0] == pytest.approx(77.5 - 0.75)
    paper = csv[csv["source"].str.startswith("Zhao") & (csv["task"] == "rte") & (csv["bits"] == 1)]
    assert paper["score"].iloc[0] == pytest.approx(54.5)
    assert "Table 4, ALBERT-Base" in md  # the full paper tables are listed at the end


def test_zhao_table_without_the_method_says_so(tmp_path):
    s = make_summary()
    zhao.zhao_table(s[s["method"] != "linear_clustering"], "linear_clustering", tmp_path / "t.md",
                    tmp_path / "t.csv", tasks=TASKS, models=["bert"])
    assert "No linear clustering results for this model" in (tmp_path / "t.md").read_text()


def test_build_reports_with_the_zhao_reports(tmp_path):
    make_summary().to_csv(tmp_path / "summary.csv", index=False)
    pd.DataFrame().to_csv(tmp_path / "throughput.csv", index=False)
    written = build.build_reports(tmp_path / "summary.csv", tmp_path / "throughput.csv", tmp_path / "out",
                                  reports=["zhao_table1", "zhao_table2", "zhao_fig1"], models_order=["bert"],
                                  tasks=TASKS, study_name="k-means study")
    names = {p.name for p in written}
    assert {"zhao_table1.md", "zhao_table1.csv", "zhao_table2.md", "zhao_table2.csv", "zhao_fig1.png",
            "zhao_fig1.svg"} <= names
    assert (tmp_path / "out" / "zhao_fig1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    index = (tmp_path / "out" / "index.md").read_text()
    assert "[zhao_fig1.png](zhao_fig1.png)" in index and "Zhao et al., 2021" in index


def test_zhao_reports_need_their_methods():
    base = {"models": {"m": {"source": "packaged:all-MiniLM-L6-v2"}}, "tasks": ["rotten_tomatoes"]}
    cfg = bq.validate({**base, "quantization": {"methods": {"lq": {}, "kmeans": {"bits": [2]}}}})
    assert "zhao_table2" in cfg["reports"] and "zhao_fig1" in cfg["reports"] and "zhao_table1" not in cfg["reports"]
    with pytest.raises(bq.ConfigError, match=r"reports\[0\].*entry named linear_clustering"):
        bq.validate({**base, "reports": ["zhao_table1"]})
    with pytest.raises(bq.ConfigError, match=r"throughput.methods\[0\]: no quantization.methods entry named 'km'"):
        bq.validate({**base, "throughput": {"methods": ["km"]}})
