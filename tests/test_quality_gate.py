"""The quality-gate report: the lowest bit-width within 99% / 99.9% of fp32 (MLPerf's bert-99 and
bert-99.9), checked against values worked out by hand on a small synthetic summary."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

import bertq.pipeline.config as bq
from bertq.reports import build
from bertq.reports.catalog.quality_gate import HU_CLAIMS, lowest_passing, passes

# One model ("bert", paper_name BERT-Base), one seed unless said otherwise. Scores per (method, bits):
RTE = {
    ("fp32", 32): 80.0,
    ("ocs", 8): 79.92,
    ("ocs", 4): 79.3,
    ("ocs", 3): 79.5,
    ("ocs", 2): 60.0,
    ("lq", 8): 79.0,
    ("lq", 4): 79.9,
    ("lq", 3): 40.0,
}
COLA = {
    ("fp32", 32): -2.0,
    ("ocs", 8): -1.0,
    ("ocs", 4): -3.0,
    ("ocs", 3): -5.0,
    ("ocs", 2): 0.0,
    ("lq", 8): -2.0,
    ("lq", 4): -2.0,
    ("lq", 3): -2.0,
}
SQUAD = {
    ("fp32", 32): 90.0,
    ("ocs", 8): 89.95,
    ("ocs", 4): 89.2,
    ("ocs", 3): 84.0,
    ("ocs", 2): 10.0,
    ("lq", 8): 89.5,
    ("lq", 4): 80.0,
    ("lq", 3): 20.0,
}


def _rows(task, scores, seeds=(0,)):
    rows = []
    for (method, bits), score in scores.items():
        for seed in seeds:
            rows.append(
                {
                    "model": "bert",
                    "model_label": "BERT",
                    "paper_name": "BERT-Base",
                    "size_class": "Base",
                    "random_init": False,
                    "task": task,
                    "seed": seed,
                    "method": method,
                    "bits": bits,
                    # two seeds: +-1 around the score, so mean and median are the score
                    "score": score + (0 if len(seeds) == 1 else (-1.0 if seed == seeds[0] else 1.0)),
                    "metrics": json.dumps({}),
                    "size_bytes": 4e8 * bits / 32,
                    "ace": 1e9 * bits,
                    "quantization_ratio": 1.0,
                    "mean_layer_mse": 0.0,
                }
            )
    return rows


def _build(tmp_path, tasks, rows, reports=("quality_gate",)):
    pd.DataFrame(rows).to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame().to_csv(tmp_path / "t.csv", index=False)
    build.build_reports(
        tmp_path / "s.csv",
        tmp_path / "t.csv",
        tmp_path / "out",
        reports=list(reports),
        models_order=["bert"],
        tasks=tasks,
        study_name="gate",
    )
    csv = pd.read_csv(tmp_path / "out" / "quality_gate.csv")
    return csv, (tmp_path / "out" / "quality_gate.md").read_text()


def _gate(csv, benchmark, method, target):
    r = csv[(csv["benchmark"] == benchmark) & (csv["method"] == method) & (csv["target"] == target)]
    assert len(r) == 1
    return r.iloc[0]


def test_the_rule_itself():
    # 99% of 80 is 79.2 and 99.9% is 79.92 (passes exactly at the boundary).
    assert passes(79.2, 80.0, 0.99) and not passes(79.19, 80.0, 0.99) and passes(79.92, 80.0, 0.999)
    ocs = {8: 79.92, 4: 79.3, 3: 79.5, 2: 60.0}
    assert lowest_passing(ocs, 80.0, 0.99) == 3  # 8, 4, 3 pass; 2 fails
    assert lowest_passing(ocs, 80.0, 0.999) == 8  # 4 fails: 8 is the last before it
    # 8 fails: nothing counts, though 4 passes (the score must stay above the target)
    assert lowest_passing({8: 79.0, 4: 79.9, 3: 40.0}, 80.0, 0.99) is None
    assert lowest_passing({8: 0.5}, 0.0, 0.99) is None and lowest_passing({8: -1.0}, -2.0, 0.99) is None
    assert lowest_passing({8: 80.0}, math.nan, 0.99) is None


def test_gate_rows_hand_computed(tmp_path):
    rows = _rows("rte", RTE) + _rows("cola", COLA) + _rows("squad", SQUAD)
    csv, md = _build(tmp_path, ["rte", "cola", "squad"], rows)
    g = _gate(csv, "rte", "ocs", 0.99)
    assert (g["bits"], g["score"], g["size_bytes"], g["ace"]) == (3, 79.5, 4e8 * 3 / 32, 3e9)
    assert g["retention"] == pytest.approx(79.5 / 80) and g["fp32_score"] == 80.0
    assert _gate(csv, "rte", "ocs", 0.999)["bits"] == 8
    assert math.isnan(_gate(csv, "rte", "lq", 0.99)["bits"])  # 8 bits fail (79.0 < 79.2)
    # CoLA's fp32 MCC is negative: no gate, whatever the quantized scores
    assert math.isnan(_gate(csv, "cola", "ocs", 0.99)["bits"]) and math.isnan(_gate(csv, "cola", "lq", 0.99)["bits"])
    # The GLUE score over rte and cola: fp32 39; ocs 8: 39.46, 4: 38.15, 3: 37.25; 99% of 39 is 38.61
    agg = _gate(csv, "GLUE score", "ocs", 0.99)
    assert agg["fp32_score"] == pytest.approx(39.0) and agg["bits"] == 8 and agg["score"] == pytest.approx(39.46)
    # SQuAD: 99% of 90 is 89.1 (ocs 4 at 89.2 passes, 3 fails); 99.9% is 89.91 (ocs 8 at 89.95 passes)
    assert _gate(csv, "squad", "ocs", 0.99)["bits"] == 4 and _gate(csv, "squad", "ocs", 0.999)["bits"] == 8
    assert _gate(csv, "squad", "lq", 0.99)["bits"] == 8 and math.isnan(_gate(csv, "squad", "lq", 0.999)["bits"])
    assert "| RTE | OCS | 80.00 | 3 | 79.50 (99.4%) | 37.50 MB | 3e+09 | 8 | 79.92 (99.9%) | 100.00 MB | 8e+09 |" in md
    assert "| CoLA | OCS | -2.00 | fp32 <= 0 |" in md and "| RTE | LQ | 80.00 | none of 8/4/3 |" in md


def test_hu_claims_beside_ours(tmp_path):
    """3-bit OCS: ours retains 79.5/80 of the task score (one task: it is the classification
    benchmark) and 84/90 of SQuAD; Hu et al. claim 98% (GLUE) and 93% (SQuAD) for BERT-Base."""
    assert HU_CLAIMS[("BERT-Base", "classification")] == 0.98 and HU_CLAIMS[("BERT-Large", "classification")] == 0.96
    assert HU_CLAIMS[("BERT-Base", "squad")] == HU_CLAIMS[("BERT-Large", "squad")] == 0.93
    csv, md = _build(tmp_path, ["rte", "squad"], _rows("rte", RTE, seeds=(1, 2)) + _rows("squad", SQUAD))
    claims = csv[csv["target"].isna()].set_index(["benchmark", "source"])["retention"]
    paper = "Hu et al., 2022 (BERT-Base)"
    assert claims[("rte", "ours")] == pytest.approx(79.5 / 80) and claims[("rte", paper)] == 0.98
    assert claims[("squad", "ours")] == pytest.approx(84 / 90) and claims[("squad", paper)] == 0.93
    assert "| BERT | RTE | OCS 3-bit | 99.4% | 98% |" in md and "| BERT | SQuAD v1.1 | OCS 3-bit | 93.3% | 93% |" in md


def test_quality_gate_is_a_default_report(tmp_path):
    base = {"models": {"m": {"source": "random:tiny"}}}
    assert bq.validate({**base, "tasks": ["rte"]})["reports"][-1] == "quality_gate"
    assert bq.validate({**base, "tasks": ["squad"]})["reports"][-1] == "quality_gate"
    assert "quality_gate" not in bq.applicable_reports(["rte"], {})  # no method: nothing to gate
    with pytest.raises(bq.ConfigError, match=r"reports\[0\]: quality_gate needs .* at least one method entry"):
        bq.validate({**base, "tasks": ["rte"], "quantization": {"methods": {}}, "reports": ["quality_gate"]})
