"""Reports of Zhao et al. (2021): the paper's transcribed numbers, Tables 1-4 and Figs. 1-2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bertq.pipeline.config as bq
from bertq.reports import build, zhao
from bertq.reports.zhao_paper import ZHAO_TABLES, ZHAO_TASKS, cell_score, paper_scores

TASKS = ["rte", "mrpc"]
FP32 = {"rte": 70.0, "mrpc": 85.0}
DROP = {("linear_clustering", 5): 2.0, ("linear_clustering", 2): 20.0, ("kmeans", 5): 0.5, ("kmeans", 2): 4.0}


def make_summary() -> pd.DataFrame:
    rows = []
    for (method, bits), drop in [(("fp32", 32), 0.0), *DROP.items()]:
        for task in TASKS:
            rows.append(
                {
                    "model": "bert",
                    "model_label": "BERT",
                    "paper_name": "BERT-Base",
                    "size_class": "Base",
                    "random_init": False,
                    "task": task,
                    "seed": 42,
                    "method": method,
                    "bits": bits,
                    "score": FP32[task] - drop * (2 if task == "mrpc" else 1),
                    "metrics": json.dumps({}),
                    "size_bytes": 1e8 * bits / 32,
                    "ace": 1e9 * bits,
                    "quantization_ratio": 1.0,
                    "mean_layer_mse": 0.0,
                }
            )
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
    written = zhao.zhao_table(
        make_summary(), "kmeans", tmp_path / "t.md", tmp_path / "t.csv", tasks=TASKS, models=["bert"]
    )
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
    zhao.zhao_table(
        s[s["method"] != "linear_clustering"],
        "linear_clustering",
        tmp_path / "t.md",
        tmp_path / "t.csv",
        tasks=TASKS,
        models=["bert"],
    )
    assert "No linear clustering results for this model" in (tmp_path / "t.md").read_text()


def test_build_reports_with_the_zhao_reports(tmp_path):
    make_summary().to_csv(tmp_path / "summary.csv", index=False)
    pd.DataFrame().to_csv(tmp_path / "throughput.csv", index=False)
    written = build.build_reports(
        tmp_path / "summary.csv",
        tmp_path / "throughput.csv",
        tmp_path / "out",
        reports=["zhao_table1", "zhao_table2", "zhao_fig1"],
        models_order=["bert"],
        tasks=TASKS,
        study_name="k-means study",
    )
    names = {p.name for p in written}
    assert {
        "zhao_table1.md",
        "zhao_table1.csv",
        "zhao_table2.md",
        "zhao_table2.csv",
        "zhao_fig1.png",
        "zhao_fig1.svg",
    } <= names
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


VARIANTS = {
    "kmeans": {"method": "kmeans", "params": {"granularity": "tensor", "iterations": 3, "seed": 0}},
    "kmeans_it10": {"method": "kmeans", "params": {"granularity": "tensor", "iterations": 10, "seed": 0}},
    "lc_g4": {"method": "linear_clustering", "params": {"granularity": 4}},
    "linear_clustering": {"method": "linear_clustering", "params": {"granularity": "tensor"}},
}


def make_timed_summary() -> pd.DataFrame:
    s = make_summary()
    s["quantization_seconds"] = np.where(s["method"] == "fp32", np.nan, 1.0)
    s["tuning_seconds"] = np.where(s["method"] == "kmeans", 3.0, np.nan)
    extra = s[(s["method"] == "kmeans") & (s["bits"] == 2)].copy()
    extra["method"], extra["score"], extra["tuning_seconds"] = "lc_g4", extra["score"] - 1.0, 15.0
    it10 = s[(s["method"] == "kmeans") & (s["bits"] == 2)].copy()
    it10["method"], it10["score"] = "kmeans_it10", it10["score"] + 0.5
    return pd.concat([s, extra, it10], ignore_index=True)


def test_zhao_table5_times_and_speedup(tmp_path):
    zhao.zhao_table5(
        make_timed_summary(), VARIANTS, tmp_path / "t.md", tmp_path / "t.csv", tasks=TASKS, models=["bert"]
    )
    csv = pd.read_csv(tmp_path / "t.csv")
    km = csv[(csv["method"] == "kmeans") & (csv["bits"] == 2)].iloc[0]
    g = csv[(csv["method"] == "lc_g4") & (csv["bits"] == 2)].iloc[0]
    assert km["seconds"] == pytest.approx(4.0) and g["seconds"] == pytest.approx(16.0)  # quantize + tune, per task
    assert g["kmeans_speedup"] == pytest.approx(4.0)
    assert g["score"] == pytest.approx(km["score"] - 1.0)
    md = (tmp_path / "t.md").read_text()
    assert "| 2 bits lc_g4 |" in md and "4.0x" in md and "1 bit group-wise | 53.1 | 70.6/81.4 | 10x" in md


def test_zhao_table6_orders_by_iterations(tmp_path):
    zhao.zhao_table6(
        make_timed_summary(), VARIANTS, tmp_path / "t.md", tmp_path / "t.csv", tasks=TASKS, models=["bert"]
    )
    md = (tmp_path / "t.md").read_text()
    it3, it10 = md.index("| 2 bits | 3 | kmeans |"), md.index("| 2 bits | 10 | kmeans_it10 |")
    assert it3 < it10
    csv = pd.read_csv(tmp_path / "t.csv")
    rte = csv[(csv["task"] == "rte") & (csv["bits"] == 2)].set_index("iterations")["score"]
    assert rte[10] - rte[3] == pytest.approx(0.5)
    assert "| 10 | 60.63 | 68.87/81.30 | 13.76 |" in md


def test_zhao_fig3_and_applicability(tmp_path):
    paths = zhao.zhao_fig3(make_summary(), tmp_path / "f.png", tmp_path / "f.svg", tasks=TASKS, models=["bert"])
    assert [p.name for p in paths] == ["f.png", "f.svg"] and (tmp_path / "f.png").stat().st_size > 0
    base = {"models": {"m": {"source": "packaged:all-MiniLM-L6-v2"}}, "tasks": ["rotten_tomatoes"]}
    cfg = bq.validate(
        {
            **base,
            "quantization": {
                "bits": [2],
                "methods": {"kmeans": {}, "lc_g4": {"method": "linear_clustering", "granularity": 4}},
            },
        }
    )
    assert {"zhao_fig3", "zhao_table5", "zhao_table6"} <= set(cfg["reports"])
    with pytest.raises(bq.ConfigError, match=r"reports\[0\].*linear_clustering entry with a number of groups"):
        bq.validate({**base, "quantization": {"bits": [2], "methods": {"kmeans": {}}}, "reports": ["zhao_table5"]})
