"""Reports (Tables 1 and 2, Figs. 2, 3/4, 5a, 5b and 6 of Hu et al., 2022; throughput; index) on a
synthetic summary with known numbers, and the transcription of the paper's Tables 1 and 2."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from bertq.reports import build, figures, tables
from bertq.reports.paper import PAPER_TABLE1, PAPER_TABLE1_AVG, PAPER_TABLE2, PAPER_TASKS

TASKS = ["rte", "mrpc"]
BASE = {"small": {"rte": 80.0, "mrpc": 80.0}, "big": {"rte": 70.0, "mrpc": 90.0}}
DELTA = {
    ("fp32", 32): 0.0,
    ("lq", 8): -0.5,
    ("aciq", 8): 0.25,
    ("ocs", 8): 0.125,
    ("lq", 4): -3.0,
    ("aciq", 4): -2.0,
    ("ocs", 4): -1.0,
    ("lq", 2): -30.0,
    ("aciq", 2): -25.0,
    ("ocs", 2): -20.0,
}
SEED_OFFSET = {0: -1.0, 1: 1.0}  # seed mean = base + delta, seed std = sqrt(2)
SIZE = {"small": 100e6, "big": 400e6}
META = {
    "small": dict(
        model_label="Small (random init: cost/speed only)",
        paper_name=None,
        size_class="Small",
        random_init=True,
        layers=4,
        hidden=256,
    ),
    "big": dict(model_label="Big", paper_name="BERT-Base", size_class="Base", random_init=False, layers=12, hidden=768),
}


def make_summary(drop_incomplete: bool = True) -> pd.DataFrame:
    rows = []
    for model, base in BASE.items():
        for (method, bits), delta in DELTA.items():
            for task in TASKS:
                for seed, off in SEED_OFFSET.items():
                    rows.append(
                        {
                            "model": model,
                            **META[model],
                            "task": task,
                            "seed": seed,
                            "method": method,
                            "bits": bits,
                            "score": base[task] + delta + off,
                            "metrics": json.dumps({"accuracy": 0.0}),
                            "size_bytes": SIZE[model] * bits / 32,
                            "ace": SIZE[model] * bits * 8,
                            "quantization_ratio": 32 / bits,
                            "mean_layer_mse": 0.0,
                        }
                    )
    df = pd.DataFrame(rows)
    if drop_incomplete:  # (big, aciq, 2) has no mrpc result: not a complete point
        df = df[~((df["model"] == "big") & (df["method"] == "aciq") & (df["bits"] == 2) & (df["task"] == "mrpc"))]
    return df.reset_index(drop=True)


SLOW_SPELL = (1.0, 1.0, 2.0, 1.0)
"""A timing job's rounds: the machine is twice as slow in round 3, for every backend alike."""
SEQUENCES_PER_SECOND = {
    ("torch fp32", "fp32", 32): 100.0,
    ("torch dynamic int8", "fp32", 32): 150.0,
    ("torchao dynamic int8", "fp32", 32): 180.0,
    ("bertq int8 engine", "ocs", 8): 240.0,
    ("bertq codebook engine", "ocs", 8): 230.0,
    ("bertq int8 engine", "ocs", 4): 200.0,
    ("bertq codebook engine", "ocs", 4): 230.0,
    ("bertq int8 engine", "lq", 8): 240.0,
    ("bertq codebook engine", "lq", 8): 230.0,
}
NOISY = ("bertq int8 engine", "ocs", 4)
"""This backend's round 2 is a quarter slower than the machine's: paired ratios 2, 1.6, 2, 2 (small
model, double speed everywhere)."""


def timing_job(model: str) -> dict:
    """A model's timing job (bertq.bench.throughput) on 3 + 1 rounds of a batch of 8 with known
    seconds; the big model has no torchao."""
    from bertq.bench.throughput import summarize

    labels, seconds = [], []
    for key, sps in SEQUENCES_PER_SECOND.items():
        if model == "big" and key[0] == "torchao dynamic int8":
            continue
        noise = (1.0, 1.25, 1.0, 1.0) if key == NOISY else (1.0,) * 4
        speed = sps * (2 if model == "small" else 1)
        labels.append(key)
        seconds.append([8 / speed * f * n for f, n in zip(SLOW_SPELL, noise)])
    backends = summarize(labels, seconds, batch_size=8)
    for b in backends:
        if b["backend"].startswith("bertq"):
            b.update(kernel_path="avx2", first_call_seconds=2.5)
    cpu = {"model": "Test CPU", "machine": "x86_64", "simd_flags": ["avx2"]}
    return dict(
        labels={"model": model}, threads=1, batch_size=8, sequence_length=128, rounds=4, cpu=cpu, backends=backends
    )


def make_throughput() -> pd.DataFrame:
    """The throughput CSV of both models' timing jobs, as bertq.reports.collect writes it."""
    from bertq.reports.collect import THROUGHPUT_COLUMNS, throughput_rows

    rows = [r for model in BASE for r in throughput_rows(timing_job(model), model, META)]
    return pd.DataFrame(rows, columns=THROUGHPUT_COLUMNS)


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


def _skewed_seeds() -> pd.DataFrame:
    """Three seeds per task, one an outlier: mean and median differ."""
    df = make_summary()
    third = df[df["seed"] == 1].assign(seed=2)
    third["score"] = third["score"] - 30.0
    return pd.concat([df, third], ignore_index=True)


def test_seed_statistic_selects_median_or_mean():
    df = _skewed_seeds()
    sel = df[(df["model"] == "small") & (df["method"] == "lq") & (df["bits"] == 8) & (df["task"] == "rte")]
    pick = lambda ts: ts[
        (ts["model"] == "small") & (ts["method"] == "lq") & (ts["bits"] == 8) & (ts["task"] == "rte")
    ].iloc[0]
    assert pick(tables.task_scores(df))["score"] == pytest.approx(np.mean(sel["score"]))
    with tables.seed_statistic("median"):
        r = pick(tables.task_scores(df))
        assert r["score"] == pytest.approx(np.median(sel["score"]))
        assert r["score_std"] == pytest.approx(np.std(sel["score"], ddof=1))
        agg = tables.aggregate(df, TASKS).set_index(["model", "method", "bits"])
        medians = [
            np.median(
                df[(df["model"] == "small") & (df["method"] == "lq") & (df["bits"] == 8) & (df["task"] == t)]["score"]
            )
            for t in TASKS
        ]
        assert agg.loc[("small", "lq", 8), "score"] == pytest.approx(np.mean(medians))
    # back to the mean outside the block; an unknown statistic is refused
    assert pick(tables.task_scores(df))["score"] == pytest.approx(np.mean(sel["score"]))
    with pytest.raises(ValueError, match="seed statistic 'mode'"), tables.seed_statistic("mode"):
        pass


def test_build_reports_applies_each_reports_seed_statistic(tmp_path):
    _skewed_seeds().to_csv(tmp_path / "summary.csv", index=False)
    make_throughput().to_csv(tmp_path / "throughput.csv", index=False)
    build.build_reports(
        tmp_path / "summary.csv",
        tmp_path / "throughput.csv",
        tmp_path / "out",
        reports=["table1"],
        models_order=["small", "big"],
        tasks=TASKS,
        study_name="s",
        seed_statistics={"table1": "median"},
    )
    t = pd.read_csv(tmp_path / "out" / "table1.csv")
    row = t[
        (t["source"] == "ours")
        & (t["model"] == "small")
        & (t["method"] == "lq")
        & (t["bits"] == 8)
        & (t["task"] == "rte")
    ].iloc[0]
    assert row["score"] == pytest.approx(80.0 - 0.5 - 1.0)  # median of 78.5, 80.5, 50.5
    assert "median (± std) over 3 seed(s)" in (tmp_path / "out" / "table1.md").read_text()


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
    assert agg.set_index(["model", "method", "bits"]).loc[("small", "fp32", 32), "score_std"] == pytest.approx(
        np.sqrt(2)
    )
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


def test_throughput_csv_has_a_row_per_backend_and_variant(tmp_path):
    from bertq.reports.collect import THROUGHPUT_COLUMNS, collect

    (tmp_path / "small.json").write_text(json.dumps(timing_job("small")))
    collect([], [], [tmp_path / "small.json"], META, tmp_path / "s.csv", tmp_path / "t.csv")
    df = pd.read_csv(tmp_path / "t.csv", keep_default_na=False)
    assert list(df.columns) == THROUGHPUT_COLUMNS
    assert len(df) == len(SEQUENCES_PER_SECOND) and not df.duplicated(["backend", "method", "bits"]).any()
    row = df.set_index(["backend", "method", "bits"]).loc[("bertq int8 engine", "ocs", 4)]
    # seconds 0.02, 0.025, 0.04, 0.02: median 0.0225 s, so 8 / 0.0225 sequences/s and 128 words each
    assert row["median_seconds"] == pytest.approx(0.0225) and row["sequences_per_second"] == pytest.approx(8 / 0.0225)
    assert row["words_per_second"] == pytest.approx(128 * 8 / 0.0225)
    assert (row["min_seconds"], row["max_seconds"]) == pytest.approx((0.02, 0.04))
    # sorted 0.02, 0.02, 0.025, 0.04: q1 at rank 0.75 is 0.02, q3 at rank 2.25 is 0.025 + 0.25 * 0.015
    assert row["iqr_seconds"] == pytest.approx(0.025 + 0.25 * 0.015 - 0.02)
    # paired per round against fp32's 0.04, 0.04, 0.08, 0.04: 2, 1.6, 2, 2
    assert row["ratio_to_torch_fp32"] == pytest.approx(2.0) and row["ratio_to_torch_fp32_iqr"] == pytest.approx(0.1)
    assert row["ratio_to_torch_fp32_q1"] == pytest.approx(1.9) and row["ratio_to_torch_fp32_q3"] == pytest.approx(2.0)
    assert row["ratio_to_torch_dynamic_int8"] == pytest.approx(4 / 3)  # 200 / 150 in rounds 1, 3 and 4
    assert (row["kernel_path"], float(row["first_call_seconds"]), row["rounds"]) == ("avx2", 2.5, 4)
    assert (row["threads"], row["batch_size"], row["sequence_length"]) == (1, 8, 128)
    assert row["cpu"] == "Test CPU [avx2]" and row["model_label"] == META["small"]["model_label"]
    fp32 = df[df["backend"] == "torch fp32"]
    assert len(fp32) == 1 and fp32["method"].iloc[0] == "fp32" and fp32["kernel_path"].iloc[0] == ""


def test_throughput_speedup(tmp_path):
    tables.throughput_table(make_throughput(), tmp_path / "t.md", tmp_path / "t.csv", models=["small", "big"])
    df = pd.read_csv(tmp_path / "t.csv")
    sp = df.set_index(["model", "method", "bits", "backend"])["ratio_to_torch_fp32"]
    assert sp[("small", "fp32", 32, "torch fp32")] == pytest.approx(1.0)
    assert sp[("small", "fp32", 32, "torch dynamic int8")] == pytest.approx(1.5)
    assert sp[("big", "ocs", 4, "bertq int8 engine")] == pytest.approx(2.0)
    dyn = df.set_index(["model", "method", "bits", "backend"])["ratio_to_torch_dynamic_int8"]
    assert dyn[("big", "lq", 8, "bertq int8 engine")] == pytest.approx(1.6)
    assert dyn[("big", "fp32", 32, "torch fp32")] == pytest.approx(100 / 150)
    assert df["model"].iloc[0] == "small" and list(df["backend"].iloc[:3]) == [
        "torch fp32",
        "torch dynamic int8",
        "torchao dynamic int8",
    ]
    assert "torchao dynamic int8" not in set(df[df["model"] == "big"]["backend"])
    md = (tmp_path / "t.md").read_text()
    # big, OCS 4-bit: median 0.045 s, rounds 0.04 to 0.08 s for a batch of 8; paired ratios to fp32
    # 2, 1.6, 2, 2 (IQR 0.1), to dynamic int8 4/3, 16/15, 4/3, 4/3 (IQR 0.75 * 4/15)
    assert "| OCS | 4 | bertq int8 engine (avx2) | 177.8 [100.0–200.0] | 2.00× ± 0.05 | 1.33× ± 0.03 | 2.50 s |" in md
    assert "| 32-bit | 32 | torch fp32 | 100.0 [50.0–100.0] | 1.00× ± 0.00 | 0.67× ± 0.00 |  |" in md
    engines = df[(df["model"] == "big") & (df["method"] == "ocs") & (df["bits"] == 4)]["backend"]
    assert list(engines) == ["bertq int8 engine", "bertq codebook engine"]
    assert "4 timed rounds" in md
    with pytest.raises(ValueError, match="several rows"):
        t = make_throughput()
        tables.throughput_table(pd.concat([t, t.iloc[:1]]), tmp_path / "d.md", tmp_path / "d.csv")


def test_throughput_figure(tmp_path):
    written = figures.throughput_figure(
        make_throughput(), tmp_path / "t.png", tmp_path / "t.svg", models=["small", "big"]
    )
    assert [p.name for p in written] == ["t.png", "t.svg"]
    svg = (tmp_path / "t.svg").read_text()
    assert svg.count("<path") > 20
    empty = figures.throughput_figure(make_throughput().iloc[:0], tmp_path / "e.png", tmp_path / "e.svg")
    assert all(p.stat().st_size > 0 for p in empty)


def test_throughput_figure_legend_covers_no_panel(tmp_path, monkeypatch):
    """The legend sits beside the panels: its box overlaps no axes."""
    import matplotlib.pyplot as plt

    seen = {}
    monkeypatch.setattr(figures, "save", lambda fig, png, svg: seen.setdefault("fig", fig) and [])
    figures.throughput_figure(make_throughput(), tmp_path / "t.png", tmp_path / "t.svg", models=["small", "big"])
    fig = seen["fig"]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2 and not any(box.overlaps(ax.get_window_extent(renderer)) for ax in axes)
    labels = [t.get_text() for t in legend.get_texts()]
    assert "torch fp32 (1.0)" in labels and "torchao dynamic int8" in labels
    assert "OCS, int8 codes, int8 kernels" in labels and "LQ, packed codes, lookup-table kernels" in labels
    # every point is the median paired ratio: the big model's OCS 4-bit int8-engine point is at 2.0
    ys = {
        (line.get_label(), round(float(x), 2)): float(y)
        for ax in axes[1:]
        for line in ax.lines
        for x, y in zip(line.get_xdata(), line.get_ydata())
    }
    assert 2.0 in [y for (_, x), y in ys.items() if 3.5 < x < 4.5]
    plt.close(fig)


def test_throughput_figure_with_one_bit_width_keeps_its_markers_beside_the_tick(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    seen = {}
    monkeypatch.setattr(figures, "save", lambda fig, png, svg: seen.setdefault("fig", fig) and [])
    t = make_throughput()
    one = t[(t["bits"].isna()) | (t["bits"] == 4) | ~t["backend"].astype(str).str.startswith("bertq")]
    figures.throughput_figure(one, tmp_path / "t.png", tmp_path / "t.svg", models=["big"])
    (ax,) = [ax for ax in seen["fig"].axes if ax.get_visible()]
    lo, hi = ax.get_xlim()
    xs = [float(x) for line in ax.lines for x in line.get_xdata() if np.isfinite(float(x)) and 3 < float(x) < 5]
    assert xs and hi - lo >= 1.5 and all(lo + 0.5 < x < hi - 0.5 for x in xs), (lo, hi, xs)
    plt.close(seen["fig"])


def test_build_reports_files_and_index(tmp_path):
    make_summary().to_csv(tmp_path / "summary.csv", index=False)
    make_throughput().to_csv(tmp_path / "throughput.csv", index=False)
    out = tmp_path / "reports"
    written = build.build_reports(
        tmp_path / "summary.csv",
        tmp_path / "throughput.csv",
        out,
        reports=["table1", "fig2", "fig3", "fig5a"],
        models_order=["small", "big"],
        tasks=TASKS,
        study_name="Synthetic study",
    )
    names = {p.name for p in written}
    expected = {
        "table1.md",
        "table1.csv",
        "fig2.png",
        "fig2.svg",
        "fig3_small.png",
        "fig3_small.svg",
        "fig3_big.png",
        "fig3_big.svg",
        "fig5a.png",
        "fig5a.svg",
        "throughput.md",
        "throughput.csv",
        "throughput.png",
        "throughput.svg",
        "results.csv",
        "index.md",
    }
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
    assert list(res.columns[:7]) == ["benchmark", "model", "method", "bits", "score", "size_bytes", "ace"]
    assert len(res) == 2 * len(DELTA) - 1 and set(res["benchmark"]) == {"GLUE score"}
    # byte-stable rerun of a figure
    svg1 = (out / "fig2.svg").read_bytes()
    figures.fig2(make_summary(), out / "fig2.png", out / "fig2.svg", tasks=TASKS, models=["small", "big"])
    assert (out / "fig2.svg").read_bytes() == svg1


# --- SQuAD: Table 2, Figs. 5b and 6 ----------------------------------------------------------

SQUAD_BASE = {"small": (60.0, 70.0), "big": (80.0, 88.0)}  # (EM, F1) of fp32
SQUAD_DELTA = {
    ("fp32", 32): 0.0,
    ("lq", 8): -0.5,
    ("aciq", 8): -0.25,
    ("ocs", 8): -0.125,
    ("lq", 3): -10.0,
    ("aciq", 3): -6.0,
    ("ocs", 3): -4.0,
}
SPLIT = "dev-v1.1 articles: 38 for training, 10 held out (dev_fraction 0.2, seed 0)"


def make_squad_summary() -> pd.DataFrame:
    """SQuAD rows: EM = base + delta + seed offset, F1 = base + 2 * delta + seed offset."""
    rows = []
    for model, (em0, f10) in SQUAD_BASE.items():
        for (method, bits), delta in SQUAD_DELTA.items():
            for seed, off in SEED_OFFSET.items():
                em, f1 = em0 + delta + off, f10 + 2 * delta + off
                rows.append(
                    {
                        "model": model,
                        **META[model],
                        "task": "squad",
                        "seed": seed,
                        "method": method,
                        "bits": bits,
                        "score": (em + f1) / 2,
                        "metrics": json.dumps(
                            {"exact_match": em, "f1": f1, "score": (em + f1) / 2, "n": 100, "split": SPLIT}
                        ),
                        "size_bytes": SIZE[model] * bits / 32,
                        "ace": SIZE[model] * bits * 24,
                        "quantization_ratio": 0.99,
                        "mean_layer_mse": 0.0,
                    }
                )
    return pd.DataFrame(rows)


def test_paper_table2_differences_match_printed_ones():
    """The paper prints the 8-bit differences to fp32 in parentheses; our numbers reproduce them."""
    printed = {
        ("BERT-Base", "lq"): (-0.43, -0.28),
        ("BERT-Base", "aciq"): (-0.44, -0.28),
        ("BERT-Base", "ocs"): (-0.16, -0.04),
        ("BERT-Large", "lq"): (-0.66, -0.45),
    }
    for (paper_name, method), (d_em, d_f1) in printed.items():
        t = PAPER_TABLE2[paper_name]
        assert t[method]["exact_match"] - t["fp32"]["exact_match"] == pytest.approx(d_em, abs=1e-9)
        assert t[method]["f1"] - t["fp32"]["f1"] == pytest.approx(d_f1, abs=1e-9)


def test_table2_values(tmp_path):
    tables.table2(make_squad_summary(), tmp_path / "t2.md", tmp_path / "t2.csv", bits=8, models=["small", "big"])
    md = (tmp_path / "t2.md").read_text()
    csv = pd.read_csv(tmp_path / "t2.csv")
    ours = csv[csv["source"] == "ours"].set_index(["model", "method", "bits", "metric"])
    # Seed means are base + delta; std over the two seeds is sqrt(2); differences are delta, 2 delta.
    assert ours.loc[("big", "ocs", 8, "exact_match"), "score"] == pytest.approx(79.875)
    assert ours.loc[("big", "ocs", 8, "f1"), "diff_to_fp32"] == pytest.approx(-0.25)
    assert ours.loc[("small", "lq", 8, "score"), "score"] == pytest.approx((59.5 + 69.0) / 2)
    assert ours.loc[("small", "lq", 8, "exact_match"), "score_std"] == pytest.approx(np.sqrt(2), rel=1e-5)
    assert "| LQ (8-bit) | 59.50 ± 1.41 (-0.50) | 69.00 ± 1.41 (-1.00) | 64.25 ± 1.41 (-0.75) |" in md
    assert "| 32-bit | 60.00 ± 1.41 | 70.00 ± 1.41 | 65.00 ± 1.41 |" in md
    assert SPLIT in md
    # The big model maps to BERT-Base: the paper's rows appear beside ours.
    assert "| OCS | 80.83 (-0.16) | 88.17 (-0.04) |" in md
    paper = csv[csv["source"] == "paper"]
    assert paper["score"].isna().sum() == 4  # BERT-Large ACIQ/OCS EM/F1 are not legible


def test_build_reports_with_squad(tmp_path):
    summary = pd.concat([make_summary(), make_squad_summary()], ignore_index=True)
    summary.to_csv(tmp_path / "summary.csv", index=False)
    make_throughput().to_csv(tmp_path / "throughput.csv", index=False)
    out = tmp_path / "reports"
    written = build.build_reports(
        tmp_path / "summary.csv",
        tmp_path / "throughput.csv",
        out,
        reports=["table1", "fig2", "table2", "fig5b", "fig6"],
        models_order=["small", "big"],
        tasks=TASKS + ["squad"],
        study_name="With SQuAD",
    )
    names = {p.name for p in written}
    assert {"table2.md", "table2.csv", "fig6.png", "fig6.svg", "fig5b.png", "fig5b.svg"} <= names
    # SQuAD stays out of the GLUE score and Table 1, and has its own rows in results.csv.
    assert "SQuAD" not in (out / "table1.md").read_text().split("## Paper")[0]
    res = pd.read_csv(out / "results.csv").set_index(["benchmark", "model", "method", "bits"])
    assert res.loc[("GLUE score", "big", "fp32", 32), "score"] == pytest.approx(80.0)
    assert res.loc[("SQuAD (EM + F1) / 2", "big", "ocs", 3), "score"] == pytest.approx((76 + 80) / 2)
    assert "SQuAD v1.1 is reported on its own" in (out / "index.md").read_text()
    svg = (out / "fig6.svg").read_text()
    assert "Fig. 6" in svg or "<svg" in svg


@pytest.mark.bad_input("hostile", "handled")
def test_hostile_labels_and_study_names_are_escaped_in_markdown(tmp_path):
    summary = make_summary()
    summary.loc[summary["model"] == "small", "model_label"] = "<script>x</script> | A&B"
    summary.to_csv(tmp_path / "summary.csv", index=False)
    make_throughput().to_csv(tmp_path / "throughput.csv", index=False)
    out = tmp_path / "reports"
    build.build_reports(
        tmp_path / "summary.csv", tmp_path / "throughput.csv", out, reports=["table1"],
        models_order=["small", "big"], tasks=TASKS, study_name="Study <b>bold</b>",
    )  # fmt: skip
    table, index = (out / "table1.md").read_text(), (out / "index.md").read_text()
    assert "<script>" not in table + index and "<b>" not in index
    assert "&lt;script&gt;x&lt;/script&gt; \\| A&amp;B" in table
    assert index.startswith("# Study &lt;b&gt;bold&lt;/b&gt;\n")


@pytest.mark.bad_input("data", "handled")
def test_the_index_names_each_dev_set_whose_metric_is_undefined_once(tmp_path):
    summary = make_summary()
    task = TASKS[0]
    summary["warnings"] = ""
    summary.loc[(summary["model"] == "small") & (summary["task"] == task), "warnings"] = "the dev split has one class"
    summary.to_csv(tmp_path / "summary.csv", index=False)
    make_throughput().to_csv(tmp_path / "throughput.csv", index=False)
    build.build_reports(
        tmp_path / "summary.csv", tmp_path / "throughput.csv", tmp_path / "r", reports=["table1"],
        models_order=["small", "big"], tasks=TASKS, study_name="s",
    )  # fmt: skip
    index = (tmp_path / "r" / "index.md").read_text()
    assert "**Warnings**" in index and index.count(f", {task}: the dev split has one class") == 1
