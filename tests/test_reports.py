"""Reports (Table 1, Figs. 2, 3/4, 5a of Hu et al., 2022; throughput; index) on a synthetic summary
with known numbers, and the transcription of the paper's Table 1."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from bertq.reports import build, figures, tables
from bertq.reports.paper import PAPER_TABLE1, PAPER_TABLE1_AVG, PAPER_TASKS

TASKS = ["rte", "mrpc"]
BASE = {"small": {"rte": 80.0, "mrpc": 80.0}, "big": {"rte": 70.0, "mrpc": 90.0}}
DELTA = {("fp32", 32): 0.0, ("lq", 8): -0.5, ("aciq", 8): 0.25, ("ocs", 8): 0.125,
         ("lq", 4): -3.0, ("aciq", 4): -2.0, ("ocs", 4): -1.0,
         ("lq", 2): -30.0, ("aciq", 2): -25.0, ("ocs", 2): -20.0}
SEED_OFFSET = {0: -1.0, 1: 1.0}  # seed mean = base + delta, seed std = sqrt(2)
SIZE = {"small": 100e6, "big": 400e6}
META = {"small": dict(model_label="Small (random init: cost/speed only)", paper_name=None, size_class="Small",
                      random_init=True, layers=4, hidden=256),
        "big": dict(model_label="Big", paper_name="BERT-Base", size_class="Base", random_init=False,
                    layers=12, hidden=768)}


def make_summary(drop_incomplete: bool = True) -> pd.DataFrame:
    rows = []
    for model, base in BASE.items():
        for (method, bits), delta in DELTA.items():
            for task in TASKS:
                for seed, off in SEED_OFFSET.items():
                    rows.append({"model": model, **META[model], "task": task, "seed": seed, "method": method,
                                 "bits": bits, "score": base[task] + delta + off,
                                 "metrics": json.dumps({"accuracy": 0.0}),
                                 "size_bytes": SIZE[model] * bits / 32, "ace": SIZE[model] * bits * 8,
                                 "quantization_ratio": 32 / bits, "mean_layer_mse": 0.0})
    df = pd.DataFrame(rows)
    if drop_incomplete:  # (big, aciq, 2) has no mrpc result: not a complete point
        df = df[~((df["model"] == "big") & (df["method"] == "aciq") & (df["bits"] == 2) & (df["task"] == "mrpc"))]
    return df.reset_index(drop=True)


def make_throughput() -> pd.DataFrame:
    rows = []
    for model in BASE:
        for method, bits in [("fp32", 32), ("ocs", 8)]:
            for backend, sps in [("torch fp32", 100.0), ("torch dynamic int8", 150.0),
                                 ("fake-quant (fp32, dequantized weights)", 90.0)]:
                rows.append({"model": model, "model_label": META[model]["model_label"], "method": method,
                             "bits": bits, "backend": backend, "sequences_per_second": sps * (2 if model == "small" else 1),
                             "cpu": "Test CPU [avx2]", "threads": 1, "batch_size": 8, "sequence_length": 128})
    return pd.DataFrame(rows)


def test_paper_table1_averages_match_printed_avg():
    for paper_name, methods in PAPER_TABLE1.items():
        for method, row in methods.items():
            assert list(row) == PAPER_TASKS
            assert np.mean(list(row.values())) == pytest.approx(PAPER_TABLE1_AVG[paper_name][method], abs=0.01)
    assert PAPER_TABLE1["BERT-Base"]["aciq"]["mnli"] == 84.15


def test_task_scores_average_seeds():
    ts = tables.task_scores(make_summary())
    r = ts[(ts["model"] == "small") & (ts["method"] == "lq") & (ts["bits"] == 8) & (ts["task"] == "rte")].iloc[0]
    assert r["score"] == pytest.approx(79.5)
    assert r["score_std"] == pytest.approx(np.sqrt(2))
    assert r["n_seeds"] == 2
    one_seed = tables.task_scores(make_summary().query("seed == 0"))
    assert one_seed["score_std"].isna().all()


def test_aggregate_means_tasks_and_drops_incomplete_points():
    agg = tables.aggregate(make_summary(), TASKS)
    pts = {(r.model, r.method, r.bits): r.score for r in agg.itertuples()}
    assert pts[("small", "fp32", 32)] == pytest.approx(80.0)
    assert pts[("small", "lq", 8)] == pytest.approx(79.5)
    assert pts[("big", "fp32", 32)] == pytest.approx(80.0)
    assert pts[("big", "ocs", 2)] == pytest.approx(60.0)
    assert ("big", "aciq", 2) not in pts and ("small", "aciq", 2) in pts
    assert len(agg) == 2 * len(DELTA) - 1
    # per-seed task means are 79 and 81: std over seeds is sqrt(2)
    assert agg.set_index(["model", "method", "bits"]).loc[("small", "fp32", 32), "score_std"] == pytest.approx(np.sqrt(2))
    assert tables.score_label(TASKS) == "GLUE score"
    assert tables.score_label(["rotten_tomatoes"]) == "mean task score"


def test_table1_values(tmp_path):
    paths = tables.table1(make_summary(), tmp_path / "t.md", tmp_path / "t.csv", tasks=TASKS)
    assert [p.name for p in paths] == ["t.md", "t.csv"]
    md = (tmp_path / "t.md").read_text()
    lines = {ln.split("|")[1].strip() + "@" + str(i): ln for i, ln in enumerate(md.splitlines()) if ln.startswith("| ")}
    small = md.split("## Small")[1].split("## Big")[0]
    fp32_row = next(ln for ln in small.splitlines() if ln.startswith("| 32-bit"))
    lq_row = next(ln for ln in small.splitlines() if ln.startswith("| LQ"))
    aciq_row = next(ln for ln in small.splitlines() if ln.startswith("| ACIQ"))
    assert fp32_row.rstrip(" |").endswith("80.00 ± 1.41")
    assert lq_row.rstrip(" |").endswith("79.50 ± 1.41 (-0.50)")
    assert "79.50 ± 1.41 (-0.50)" in lq_row.split("|")[2]  # RTE cell
    assert aciq_row.rstrip(" |").endswith("(+0.25)")
    assert lines  # tables present
    # paper numbers beneath the model with a paper_name, and in the final section, for RTE and MRPC
    big = md.split("## Big")[1]
    assert "Paper (Hu et al., 2022), BERT-Base" in big
    assert "| LQ | 64.98 (-0.36) | 86.52 (+0.49) |" in big
    assert "## Paper (Hu et al., 2022)" in md and "BERT-Large" in md.split("## Paper (Hu et al., 2022)")[1]
    assert "Paper (Hu et al., 2022), BERT-Base" not in small
    csv = pd.read_csv(tmp_path / "t.csv")
    assert list(csv.columns[:7]) == ["model", "method", "bits", "task", "score", "diff_to_fp32", "source"]
    ours = csv[(csv["source"] == "ours") & (csv["model"] == "small") & (csv["task"] == "avg")].set_index("method")
    assert ours.loc["lq", "score"] == pytest.approx(79.5)
    assert ours.loc["lq", "diff_to_fp32"] == pytest.approx(-0.5)
    assert ours.loc["lq", "bits"] == 8
    paper = csv[(csv["source"] == "paper") & (csv["model"] == "BERT-Base") & (csv["task"] == "rte")].set_index("method")
    assert paper.loc["ocs", "score"] == pytest.approx(65.70)
    assert paper.loc["ocs", "diff_to_fp32"] == pytest.approx(0.36)


def test_table1_missing_bits_reported_not_crashing(tmp_path):
    tables.table1(make_summary(), tmp_path / "t.md", tmp_path / "t.csv", bits=6, tasks=TASKS)
    md = (tmp_path / "t.md").read_text()
    assert "No results for LQ, ACIQ, OCS at 6 bits" in md
    s = make_summary()
    tables.table1(s[s["method"] == "fp32"].iloc[:0], tmp_path / "e.md", tmp_path / "e.csv", tasks=TASKS)
    assert "## Paper (Hu et al., 2022)" in (tmp_path / "e.md").read_text()


def test_throughput_speedup(tmp_path):
    tables.throughput_table(make_throughput(), tmp_path / "t.md", tmp_path / "t.csv", models=["small", "big"])
    df = pd.read_csv(tmp_path / "t.csv")
    sp = df.set_index(["model", "method", "bits", "backend"])["speedup_vs_torch_fp32"]
    assert sp[("small", "ocs", 8, "torch fp32")] == pytest.approx(1.0)
    assert sp[("small", "ocs", 8, "torch dynamic int8")] == pytest.approx(1.5)
    assert sp[("big", "fp32", 32, "fake-quant (fp32, dequantized weights)")] == pytest.approx(0.9)
    assert df["model"].iloc[0] == "small" and df["backend"].iloc[0] == "torch fp32"
    assert "1.50×" in (tmp_path / "t.md").read_text()


def test_build_reports_files_and_index(tmp_path):
    make_summary().to_csv(tmp_path / "summary.csv", index=False)
    make_throughput().to_csv(tmp_path / "throughput.csv", index=False)
    out = tmp_path / "reports"
    written = build.build_reports(tmp_path / "summary.csv", tmp_path / "throughput.csv", out,
                                  reports=["table1", "fig2", "fig3", "fig5a"], models_order=["small", "big"],
                                  tasks=TASKS, study_name="Synthetic study")
    names = {p.name for p in written}
    expected = {"table1.md", "table1.csv", "fig2.png", "fig2.svg", "fig3_small.png", "fig3_small.svg",
                "fig3_big.png", "fig3_big.svg", "fig5a.png", "fig5a.svg", "throughput.md", "throughput.csv",
                "results.csv", "index.md"}
    assert names == expected
    assert {p.name for p in out.iterdir()} == expected  # no temporary files left behind
    for p in written:
        assert p.parent == out and p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if p.suffix == ".svg":
            assert b"<svg" in p.read_bytes()[:2000] and b"<dc:date>" not in p.read_bytes()
    index = (out / "index.md").read_text()
    assert "# Synthetic study" in index
    linked = set(re.findall(r"\]\(([^)]+)\)", index))
    assert linked == expected - {"index.md"}
    assert "Random-init models" in index and "Small (random init" in index
    res = pd.read_csv(out / "results.csv")
    assert list(res.columns[:6]) == ["model", "method", "bits", "score", "size_bytes", "ace"]
    assert len(res) == 2 * len(DELTA) - 1
    # byte-stable rerun of a figure
    svg1 = (out / "fig2.svg").read_bytes()
    figures.fig2(make_summary(), out / "fig2.png", out / "fig2.svg", tasks=TASKS, models=["small", "big"])
    assert (out / "fig2.svg").read_bytes() == svg1
