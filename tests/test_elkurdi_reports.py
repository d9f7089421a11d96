"""Reports of El-Kurdi et al. (2022): the transcribed tables, the choice of I8 and TM-IQR entries,
Table 3 in the paper's metric per task (mean and std over seeds by hand), Table 1's words per
second and the registry records."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bertq.reports import elkurdi, registry
from bertq.reports import elkurdi_paper as ep


def dyn(tm_iqr=False):
    return {
        "method": "lq",
        "params": {},
        "bits": [8],
        "scope": "all",
        "activations": None,
        "dynamic": {
            "bits": 8,
            "tm_iqr": {"sites": ["*.ffn.intermediate"], "scale": 1.5} if tm_iqr else None,
            "engine": True,
        },
    }


VARIANTS = {"i8": dyn(), "tm_iqr": dyn(True), "lq": {**dyn(), "dynamic": None}}


def test_paper_tables_as_printed():
    for model, table in ep.TABLE3.items():
        assert set(table) == {"FP32", "I8", "TM-IQR"}
        for mode, cells in table.items():
            assert list(cells) == ep.PAPER_TASKS
            mean = np.mean([cells[t][0] for t in ep.PAPER_TASKS])
            # the printed average is the mean of the nine rows, rounded; but for RoBERTa-base's FP32,
            # printed 82.0 where its rows give 81.8 (a typo in the paper or in one of its rows)
            slack = 0.21 if (model, mode) == ("RoBERTa-base", "FP32") else 0.05
            assert mean == pytest.approx(ep.TABLE3_AVERAGE[model][mode], abs=slack), (model, mode)
    assert ep.TABLE3["RoBERTa-base"]["I8"]["cola"] == (22.7, 4.7)
    assert ep.per_core(ep.TABLE1[0]) == pytest.approx(604.3, abs=0.1)
    assert ep.iqr_cost() == pytest.approx(0.0126, abs=1e-4)


def test_dynamic_variants_are_found_by_their_settings():
    assert elkurdi.dynamic_variants(VARIANTS) == {"I8": "i8", "TM-IQR": "tm_iqr"}
    assert elkurdi.dynamic_variants({"lq": VARIANTS["lq"]}) == {"I8": None, "TM-IQR": None}
    assert registry.get("elkurdi_table3").applies(["cola"], {"i8": {"dynamic": {}}})
    assert not registry.get("elkurdi_table3").applies(["cola"], {"lq": {}})


def _row(task, seed, method, bits, metrics):
    score = float(np.mean(list(metrics.values())))
    return dict(
        model="m",
        model_label="M",
        task=task,
        seed=seed,
        method=method,
        bits=bits,
        score=score,
        metrics=json.dumps({**metrics, "score": score}),
        size_bytes=1.0,
        ace=1.0,
    )


def test_table3_uses_the_papers_metric_and_seed_statistics(tmp_path):
    rows = []
    values = {"fp32": (90.0, 80.0), "i8": (85.0, 70.0), "tm_iqr": (89.0, 79.0)}
    for method, (a, b) in values.items():
        bits = 32 if method == "fp32" else 8
        for seed, shift in ((1, 0.0), (2, 2.0)):
            rows.append(_row("mrpc", seed, method, bits, {"accuracy": a + shift, "f1": b + shift}))
            rows.append(
                _row(
                    "mnli",
                    seed,
                    method,
                    bits,
                    {"dev_matched/accuracy": a + shift, "dev_mismatched/accuracy": b - shift},
                )
            )
    summary = pd.DataFrame(rows)
    elkurdi.table3(summary, VARIANTS, tmp_path / "t.md", tmp_path / "t.csv", tasks=["mrpc", "mnli"], models=["m"])
    csv = pd.read_csv(tmp_path / "t.csv")

    def cell(row, task, source="ours"):
        hit = csv[(csv["row"] == row) & (csv["task"] == task) & (csv["source"] == source)]
        assert len(hit) == 1, (row, task, source)
        return hit.iloc[0]

    assert cell("I8", "mrpc")["score"] == pytest.approx(71.0)  # F1, mean of 70 and 72
    assert cell("I8", "mrpc")["score_std"] == pytest.approx(np.std([70, 72], ddof=1), rel=1e-5)  # CSV: 6 digits
    assert cell("TM-IQR", "mnli")["score"] == pytest.approx(90.0)  # matched: 89 and 91
    assert cell("TM-IQR", "mnli_mm")["score"] == pytest.approx(78.0)  # mismatched: 79 and 77
    assert cell("FP32", "mrpc", "paper")["score"] == 88.5 and cell("I8", "mnli_mm", "paper")["score"] == 82.9
    md = (tmp_path / "t.md").read_text()
    assert "| I8 − FP32 |" in md and "71.0 (1.4)" in md and "`tm_iqr`" in md
    assert "-10.0" in md  # I8 − FP32 on MRPC F1: 71 - 81


def test_table1_words_per_second(tmp_path):
    base = dict(model="m", bits=8, sequence_length=512, threads=2, batch_size=4, cpu="cpu X", kernel_path="avx2")
    throughput = pd.DataFrame(
        [
            {
                **base,
                "method": "fp32",
                "bits": 32,
                "backend": "torch fp32",
                "sequences_per_second": 1.0,
                "kernel_path": "",
            },
            {
                **base,
                "method": "fp32",
                "bits": 32,
                "backend": "torch dynamic int8",
                "sequences_per_second": 1.5,
                "kernel_path": "",
            },
            {**base, "method": "i8", "backend": "bertq int8 engine", "sequences_per_second": 2.0},
            {**base, "method": "tm_iqr", "backend": "bertq int8 engine", "sequences_per_second": 1.96},
            {**base, "method": "lq", "backend": "bertq int8 engine", "sequences_per_second": 9.0},
        ]
    )
    elkurdi.table1(throughput, VARIANTS, tmp_path / "t.md", tmp_path / "t.csv", models=["m"])
    csv = pd.read_csv(tmp_path / "t.csv")
    ours = csv[csv["source"] == "ours"].set_index("backend")
    assert len(ours) == 4  # lq is not a dynamic variant
    iqr = ours.loc["bertq dynamic int8 engine (TM-IQR)"]
    assert ours.loc["bertq dynamic int8 engine (I8)", "method"] == "none"
    assert iqr["words_per_second"] == pytest.approx(1.96 * 512)
    assert iqr["words_per_second_per_core"] == pytest.approx(1.96 * 512 / 2)
    assert ours.loc["torch fp32", "words_per_second"] == pytest.approx(512)
    md = (tmp_path / "t.md").read_text()
    assert "TM-IQR costs 2.0% of I8's words per second (from the medians; the paper: 1.3%)" in md
    # with each backend's speed-up over torch fp32 paired within rounds, the cost comes from those
    throughput["ratio_to_torch_fp32"] = [1.0, 1.5, 2.0, 1.99, 9.0]
    elkurdi.table1(throughput, VARIANTS, tmp_path / "t.md", tmp_path / "t.csv", models=["m"])
    assert (
        "TM-IQR costs 0.5% of I8's words per second (from each one's speed-up over torch fp32 within the "
        in (tmp_path / "t.md").read_text()
    )
    assert "29,005" in md and "604" in md


def test_table2_scores_f1_on_tydiqa_and_nq_with_the_papers_rows(tmp_path):
    rows = []
    for method, bits, f1 in (("fp32", 32, 60.0), ("i8", 8, 50.0), ("tm_iqr", 8, 58.0)):
        for seed, shift in ((1, 0.0), (2, 4.0)):
            rows.append(_row("tydiqa", seed, method, bits, {"exact_match": f1 - 10, "f1": f1 + shift}))
            rows.append(_row("nq", seed, method, bits, {"exact_match": f1 - 20, "f1": f1 - shift}))
    elkurdi.table2(pd.DataFrame(rows), VARIANTS, tmp_path / "t.md", tmp_path / "t.csv", models=["m"])
    csv = pd.read_csv(tmp_path / "t.csv")
    ours = csv[csv["source"] == "ours"].set_index(["row", "task"])
    assert ours.loc[("I8", "tydiqa"), "score"] == pytest.approx(52.0)  # F1, not the EM/F1 mean
    assert ours.loc[("TM-IQR", "nq"), "score"] == pytest.approx(56.0)
    assert ours.loc[("FP32", "nq"), "score_std"] == pytest.approx(np.std([60, 56], ddof=1), rel=1e-5)
    paper = csv[csv["source"] == "paper"].set_index(["model", "row", "task"])
    assert paper.loc[("XLM-R-large", "TM-IQR", "nq"), "score"] == 56.1
    assert paper.loc[("XLM-R-base", "I8", "tydiqa"), "score"] == 62.9
    md = (tmp_path / "t.md").read_text()
    assert "| M | I8 | 52.0 (2.8) | 48.0 (2.8) |" in md
    assert registry.get("elkurdi_table2").applies(["tydiqa"], {"i8": {"dynamic": {}}})
    assert not registry.get("elkurdi_table2").applies(["squad", "rte"], {"i8": {"dynamic": {}}})
