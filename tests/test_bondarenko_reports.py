"""Reports of Bondarenko et al. (2021): the transcribed tables, the classes of variants, the
best-per-task choice under the seed statistic, the tables beside the paper, and the records."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bertq.reports
from bertq.reports import bondarenko, build, registry, tables
from bertq.reports import bondarenko_paper as bp

TASKS = ["mrpc", "stsb", "rte"]
FFN = ["*.attention.norm", "*.ffn.output", "*.ffn.residual_sum"]


def act(estimator="current_minmax", bs=1, nb=1, **extra):
    return {
        "estimator": estimator,
        "bits": 8,
        "batch_size": bs,
        "batches": nb,
        "sites": ["*"],
        "exclude": [],
        "site_bits": {},
        "momentum": 0.9,
        "percentile": 99.99,
        "candidates": 100,
        "peg": None,
        **extra,
    }


def variant(method="lq", bits=(8,), activations=None, embedding_bits=None, leave_one_out=None):
    return {
        "method": method,
        "params": {},
        "bits": list(bits),
        "embedding_bits": embedding_bits,
        "scope": "all",
        "activations": activations,
        "leave_one_out": leave_one_out,
    }


def loo(kind, layers="all"):
    return variant("float", (32,), act(), leave_one_out={"kind": kind, "layers": layers})


VARIANTS = {
    "lq_run": variant("lq", activations=act("running_minmax", 4, 16)),  # W8A8
    "mse_cur": variant("mse", activations=act()),  # W8A8
    "lq_cur": variant("lq", activations=act()),  # W8A8, the MP/PEG variants' setup
    "a8": variant("float", (32,), act()),  # W32A8
    "lq": variant("lq"),  # W8A32
    "mse": variant("mse"),  # W8A32
    "mp_res": variant("lq", activations=act(site_bits={"*.ffn.residual_sum": 16})),
    "mp_all": variant("lq", activations=act(site_bits=dict.fromkeys(FFN, 16) | {"head.output": 16})),
    "mp_last2": variant("lq", activations=act(site_bits={"layer-1.ffn.residual_sum": 16})),
    "peg6p": variant("lq", activations=act(peg={"groups": 6, "permute": True, "sites": FFN})),
    "peg768": variant("lq", activations=act(peg={"groups": 768, "permute": False, "sites": ["*"]})),
    "loo_all": loo(None),
    "loo_res": loo("ffn.residual_sum"),
    "loo_res2": loo("ffn.residual_sum", "last2"),
    "loo_scores": loo("attention.scores"),
    "emb2": variant("lq", embedding_bits=2),
    "mse_low": variant("mse", (6, 4)),
}
BITS = {"a8": [32], "mse_low": [6, 4]} | {n: [32] for n in VARIANTS if n.startswith("loo")}

# score per (variant, task); the best W8A8 is lq_run on mrpc and stsb, mse_cur on rte
SCORES = {
    "fp32": {"mrpc": 88.0, "stsb": 89.0, "rte": 70.0},
    "lq_run": {"mrpc": 87.0, "stsb": 80.0, "rte": 60.0},
    "mse_cur": {"mrpc": 86.0, "stsb": 79.0, "rte": 65.0},
    "lq_cur": {"mrpc": 85.0, "stsb": 78.0, "rte": 64.0},
    "a8": {"mrpc": 86.5, "stsb": 82.0, "rte": 55.0},
    "lq": {"mrpc": 88.5, "stsb": 88.0, "rte": 71.0},
    "mse": {"mrpc": 87.5, "stsb": 88.5, "rte": 69.0},
    "mp_res": {"mrpc": 87.0, "stsb": 85.0, "rte": 66.0},
    "mp_all": {"mrpc": 87.5, "stsb": 88.0, "rte": 69.0},
    "mp_last2": {"mrpc": 86.0, "stsb": 84.0, "rte": 63.0},
    "peg6p": {"mrpc": 87.0, "stsb": 87.5, "rte": 69.5},
    "peg768": {"mrpc": 87.2, "stsb": 87.0, "rte": 69.0},
    "loo_all": {"mrpc": 60.0, "stsb": 62.0, "rte": 48.0},
    "loo_res": {"mrpc": 85.0, "stsb": 81.0, "rte": 67.0},
    "loo_res2": {"mrpc": 84.0, "stsb": 79.0, "rte": 64.0},
    "loo_scores": {"mrpc": 70.0, "stsb": 71.0, "rte": 49.0},
    "emb2": {"mrpc": 87.0, "stsb": 88.9, "rte": 68.0},
    "mse_low": {"mrpc": 86.0, "stsb": 87.0, "rte": 68.5},
}
FP32_SIZE = 4.0e8


def size_of(name: str, bits: int) -> float:
    return FP32_SIZE if name == "fp32" or bits == 32 else FP32_SIZE * bits / 32


def row(model, task, seed, method, bits, score, paper_name="BERT-Base"):
    return {
        "model": model,
        "model_label": model.upper(),
        "paper_name": paper_name,
        "task": task,
        "seed": seed,
        "method": method,
        "bits": bits,
        "score": score,
        "metrics": json.dumps({}),
        "size_bytes": size_of(method, bits),
        "ace": 1.0,
        "random_init": False,
    }


def make_summary(models=(("bert", "BERT-Base"),)) -> pd.DataFrame:
    rows = []
    for model, paper_name in models:
        for name, scores in SCORES.items():
            for bits in [32] if name == "fp32" else BITS.get(name, [8]):
                for task, score in scores.items():
                    rows.append(row(model, task, 42, name, bits, score - (1.0 if bits == 4 else 0.0), paper_name))
    return pd.DataFrame(rows)


def render(function, summary=None, variants=VARIANTS, tmp_path=Path("."), models=("bert",)):
    summary = make_summary() if summary is None else summary
    paths = function(summary, variants, tmp_path / "t.md", tmp_path / "t.csv", tasks=TASKS, models=list(models))
    assert [p.name for p in paths] == ["t.md", "t.csv"]
    return (tmp_path / "t.md").read_text(), pd.read_csv(tmp_path / "t.csv")


def cell(csv, row, task, source="ours", model="bert"):
    hit = csv[(csv["model"] == model) & (csv["row"] == row) & (csv["task"] == task) & (csv["source"] == source)]
    assert len(hit) == 1, (row, task, source, hit)
    return hit.iloc[0]


# --- the transcriptions ---------------------------------------------------------------------------


def glue_mean(row, tasks=bp.TASKS):
    return float(np.mean([row[t] for t in tasks]))


def test_glue_column_is_the_mean_of_the_tasks():
    consistent = [*bp.TABLE1.values(), *(bp.TABLE6[k] for k in list(bp.TABLE6)[:5])]
    consistent += [bp.TABLE12[k] for k in bp.TABLE12 if "AdaRound" in k or "QAT" in k and "Q-BERT" not in k]
    consistent.append(bp.TABLE12["FP32 baseline"])
    assert len(consistent) == 4 + 5 + 4 + 1
    for r in consistent:
        assert glue_mean(r) == pytest.approx(r["glue"], abs=0.005), r
    # Q8BERT: the macro-average without MNLI (footnote §)
    for k in ("Q8BERT W8A8 PTQ*†", "Q8BERT W8A8 QAT*"):
        r = bp.TABLE6[k]
        assert r["mnli"] is None
        assert glue_mean(r, [t for t in bp.TASKS if t != "mnli"]) == pytest.approx(r["glue"], abs=0.01)
    # the three PTQ rows of Table 12 the docstring names deviate, but by less than 0.2
    for k, dev in (("W8A32, 6-bit embd. PTQ", 0.155), ("W6A32 PTQ", 0.043), ("W4A32 PTQ", 0.096)):
        assert abs(glue_mean(bp.TABLE12[k]) - bp.TABLE12[k]["glue"]) == pytest.approx(dev, abs=0.002)
    assert bp.TABLE12["W8A32, 4-bit embd. PTQ"]["cola"] is None


def test_tables_agree_with_each_other():
    fp32 = bp.TABLE1["FP32"]
    assert bp.TABLE6["FP32 baseline"] == fp32 == bp.TABLE12["FP32 baseline"]
    assert bp.TABLE6["Our W8A8 PTQ"] == bp.TABLE1["W8A8"]
    for t in bp.PROBLEM_TASKS:
        assert bp.TABLE2["none"][t] == bp.TABLE4["FP32"][t] == fp32[t]
        assert bp.TABLE4["W8A8 PTQ"][t] == bp.TABLE5[(1, False, "all")][t]
        # Table 6's MP-PTQ is Table 4's best setup, its PEG-PTQ K = 6 + P only on the FFN (sec. 5)
        assert bp.TABLE6["Our W8A{8,16} MP-PTQ"][t] == bp.TABLE4["MP-PTQ*†‡"][t]
        assert bp.TABLE6["Our W8A8 PEG-PTQ"][t] == bp.TABLE5[(6, True, "ffn")][t]
    for k, (_, glue) in bp.TABLE7.items():
        assert bp.TABLE12[k]["glue"] == glue
    # memory reduction of b-bit weights over fp32 is 32 / b (the embeddings at 2 bits add a little)
    assert bp.memory_reduction("W6A32 PTQ") == pytest.approx(32 / 6, abs=0.005)
    assert bp.memory_reduction("W4A32 PTQ") == pytest.approx(32 / 4)
    assert 8.0 < bp.memory_reduction("W4A8, 2-bit embd. QAT") < 32 / 2
    assert set(bp.TABLE9) == set(bp.TASKS)
    assert bp.table5_label(6, True, "ffn") == "6 + P (only FFN)" and bp.table5_label(1, False, "all") == (
        "1 (= per-tensor)"
    )
    assert bp.table2_key("ffn.residual_sum", "last2") in bp.TABLE2 and bp.table2_key(None) == "all"


# --- the classes of variants ----------------------------------------------------------------------


def test_predicates_classify_the_records():
    classes = {
        name: {
            c
            for c, f in (
                ("W8A32", bp.is_w8a32),
                ("W32A8", bp.is_w32a8),
                ("W8A8", bp.is_w8a8),
                ("MP", bp.is_mixed_precision),
                ("PEG", bp.is_peg),
                ("LOO", bp.is_leave_one_out),
            )
            if f(r)
        }
        for name, r in VARIANTS.items()
    }
    assert classes["lq_run"] == classes["mse_cur"] == classes["lq_cur"] == {"W8A8"}
    assert classes["a8"] == {"W32A8"}
    assert classes["lq"] == classes["mse"] == {"W8A32"}
    assert classes["mp_res"] == classes["mp_all"] == {"MP"}
    assert classes["peg6p"] == classes["peg768"] == {"PEG"}
    assert all(classes[n] == {"LOO"} for n in VARIANTS if n.startswith("loo"))
    assert classes["emb2"] == set() and classes["mse_low"] == set()
    # excluded sites or 4-bit activations are not per-tensor W8A8
    assert not bp.is_w8a8(variant("lq", activations=act(exclude=["*.ffn.residual_sum"])))
    assert not bp.is_w8a8(variant("lq", activations=act() | {"bits": 4}))
    assert not bp.is_w8a8(variant("lq", activations=act()), bits=4)  # the 4-bit point of a W8A8 entry
    # low-bit classes, by the point's weight bits
    assert bp.low_bit_class(VARIANTS["emb2"], 8) == "W8A32 e2"
    assert bp.low_bit_class(VARIANTS["mse_low"], 6) == "W6A32" and bp.low_bit_class(VARIANTS["mse_low"], 4) == "W4A32"
    assert bp.low_bit_class(VARIANTS["lq"], 8) is None and bp.low_bit_class(variant("lq", (4,)), 4) is None
    # raw config entries: the method defaults to the entry's name
    assert bp.is_w8a32(bp.record_of("lq", {})) and not bp.is_w8a32(bp.record_of("float", {}))
    assert bp.is_w8a8(bp.record_of("mse", {"bits": 8, "activations": {"estimator": "mse"}}))
    assert not bp.is_w8a8(bp.record_of("mse", {"bits": [4], "activations": {"estimator": "mse"}}))


def test_describing_variants():
    assert bondarenko.describe(VARIANTS["lq_run"]) == "W min-max, A running min-max (bs 4, nb 16)"
    assert bondarenko.describe(VARIANTS["mse_cur"]) == "W MSE, A current min-max (bs 1)"
    assert bondarenko.paper_setting("rte") == "W MSE, A current min-max (bs 1)"
    assert bondarenko.paper_setting("sst2") == "W MSE, A running min-max (bs 4, nb 16)"
    assert bondarenko.mp_paper_row(VARIANTS["mp_res"]) == "MP-PTQ*"
    assert bondarenko.mp_paper_row(VARIANTS["mp_all"]) == "MP-PTQ*†‡"
    assert bondarenko.mp_paper_row(VARIANTS["mp_last2"]) is None  # only the last layer: not the paper's
    ffn_only = variant("lq", activations=act(site_bits=dict.fromkeys(FFN, 16)))
    assert bondarenko.mp_paper_row(ffn_only) == "MP-PTQ*†"
    assert bondarenko.peg_key(VARIANTS["peg6p"]) == (6, True, "ffn")
    assert bondarenko.peg_key(VARIANTS["peg768"]) == (768, False, "all")
    assert bondarenko.loo_key(VARIANTS["loo_res2"]) == "ffn.residual_sum@last2"


# --- the tables -----------------------------------------------------------------------------------


def test_table1_picks_the_best_variant_per_task_and_names_it(tmp_path):
    md, csv = render(bondarenko.table1, tmp_path=tmp_path)
    assert cell(csv, "W8A8", "mrpc")["variant"] == "lq_run" and cell(csv, "W8A8", "rte")["variant"] == "mse_cur"
    assert cell(csv, "W8A8", "rte")["score"] == 65.0
    assert cell(csv, "W8A32", "stsb")["variant"] == "mse" and cell(csv, "W8A32", "rte")["variant"] == "lq"
    assert cell(csv, "W8A8", "avg")["score"] == pytest.approx(np.mean([87.0, 80.0, 65.0]))
    assert "running min-max (bs 4, nb 16)" in md and "`mse_cur`: W MSE, A current min-max (bs 1)" in md
    # the paper beside ours: Table 1 BERT-Base, and its mean over the same three tasks
    assert cell(csv, "W8A8", "rte", "paper")["score"] == 64.98
    assert cell(csv, "W32A8", "avg", "paper")["score"] == pytest.approx(np.mean([86.98, 82.87, 53.07]))
    assert "| ↳ paper | Table 1 W8A8 | 88.53 | 81.02 | 64.98 | 78.18 |" in md
    assert "W8A8, paper (Table 9, BERT-Base)" in md


def test_table1_uses_the_seed_statistic(tmp_path):
    rows = [row("bert", "rte", s, "fp32", 32, 70.0) for s in (1, 2, 3)]
    rows += [row("bert", "rte", s, "lq_run", 8, v) for s, v in zip((1, 2, 3), (50.0, 51.0, 90.0))]
    rows += [row("bert", "rte", s, "mse_cur", 8, 60.0) for s in (1, 2, 3)]
    summary = pd.DataFrame(rows)
    with tables.seed_statistic("median"):
        md, csv = render(bondarenko.table1, summary, tmp_path=tmp_path)
    best = cell(csv, "W8A8", "rte")
    assert best["variant"] == "mse_cur" and best["score"] == 60.0 and best["n_seeds"] == 3
    assert "the median over 3 seed(s)" in md
    md, csv = render(bondarenko.table1, summary, tmp_path=tmp_path)  # the mean: lq_run's 63.67
    assert cell(csv, "W8A8", "rte")["variant"] == "lq_run"
    assert cell(csv, "W8A8", "rte")["score"] == pytest.approx(191 / 3)


def test_table1_missing_class_and_several_models(tmp_path):
    s = make_summary((("bert", "BERT-Base"), ("mini", "")))
    s = s[~((s["method"] == "a8") | ((s["model"] == "mini") & (s["method"] == "mse_cur") & (s["task"] == "rte")))]
    md, csv = render(bondarenko.table1, s, tmp_path=tmp_path, models=("bert", "mini"))
    assert "| W32A8 |  | – | – | – | – |" in md
    assert md.count("| ↳ paper | Table 1 W32A8 |") == 2  # the paper beside every model
    assert "## MINI" in md and "This model is not BERT-Base (it has no paper name)" in md
    assert md.index("## BERT") < md.index("## MINI")
    assert cell(csv, "W8A8", "rte", model="mini")["variant"] == "lq_cur"  # mse_cur (65) has no rte result there
    assert np.isnan(cell(csv, "W32A8", "avg")["score"])


def test_table2_orders_the_leave_one_out_variants(tmp_path):
    md, csv = render(bondarenko.table2, tmp_path=tmp_path)
    order = [md.index(f"| {v} |") for v in ("loo_all", "loo_scores", "loo_res2", "loo_res")]
    assert order == sorted(order)  # lowest mean first
    assert (
        cell(csv, "all, except residual connections after FFN (`ffn.residual_sum`)", "stsb", "paper")["score"] == 81.57
    )
    last2 = "all, except residual connections after FFN (`ffn.residual_sum`), in the last two layers only"
    assert cell(csv, last2, "rte")["score"] == 64.0 and cell(csv, last2, "rte", "paper")["score"] == 63.90
    assert np.isnan(cell(csv, "all", "mrpc", "paper")["score"])  # Table 2 has no MRPC


def test_table4_mixed_precision(tmp_path):
    md, csv = render(bondarenko.table4, tmp_path=tmp_path)
    assert cell(csv, "MP-PTQ*", "stsb")["variant"] == "mp_res"
    assert cell(csv, "MP-PTQ*", "stsb", "paper")["score"] == 85.41
    assert cell(csv, "MP-PTQ*†‡", "rte", "paper")["score"] == 68.95
    assert cell(csv, "W8A8 PTQ", "rte")["variant"] == "lq_cur"  # the per-tensor variant of the same setup
    assert cell(csv, "W8A8 PTQ", "stsb", "paper")["score"] == 79.78
    assert "*.ffn.residual_sum: 16-bit" in md and "| mp_last2 |" in md


def test_table5_per_embedding_group(tmp_path):
    md, csv = render(bondarenko.table5, tmp_path=tmp_path)
    assert cell(csv, "6 + P (only FFN)", "rte")["score"] == 69.5
    assert cell(csv, "6 + P (only FFN)", "stsb", "paper")["score"] == 87.92
    assert cell(csv, "768 (= per-embd.)", "stsb", "paper")["score"] == 87.87
    assert md.index("| 768 (= per-embd.) | peg768 |") < md.index("| 6 + P (only FFN) | peg6p |")


def test_table5_per_embedding_is_the_hidden_size(tmp_path):
    """A model of hidden size 384 has per-embedding PEG at K = 384: the paper's K = 768 row."""
    peg384 = variant("lq", activations=act(peg={"groups": 384, "permute": False, "sites": FFN}))
    s = make_summary()
    s = pd.concat([s, s[s["method"] == "peg6p"].assign(method="peg384")], ignore_index=True).assign(hidden=384)
    md, csv = render(bondarenko.table5, s, VARIANTS | {"peg384": peg384}, tmp_path)
    row = "384 (= per-embd.) (only FFN)"
    assert cell(csv, row, "rte")["variant"] == "peg384"
    assert cell(csv, row, "rte", "paper")["score"] == bp.TABLE5[(768, False, "ffn")]["rte"] == 68.59
    assert bondarenko.peg_key(variant("lq", activations=act(peg={"groups": 3}))) == (3, False, "ffn")  # the default


def test_table6_best_variant_of_each_class(tmp_path):
    md, csv = render(bondarenko.table6, tmp_path=tmp_path)
    assert cell(csv, "W8A{8,16} MP-PTQ", "stsb")["variant"] == "mp_all"
    assert cell(csv, "W8A8 PEG-PTQ", "rte")["variant"] == "peg6p"  # 81.33 > 81.07 on the mean
    assert cell(csv, "W8A8 PTQ", "rte")["variant"] == "mse_cur"
    assert cell(csv, "W8A8 PEG-PTQ", "mrpc", "paper")["score"] == 88.53
    assert "Q8BERT W8A8 QAT*" in md


def test_table7_memory_reduction(tmp_path):
    md, csv = render(bondarenko.table7, tmp_path=tmp_path)
    w4 = cell(csv, "W4A32", "rte")
    assert w4["variant"] == "mse_low" and w4["score"] == 67.5 and w4["memory_reduction"] == pytest.approx(8.0)
    assert cell(csv, "W6A32", "avg")["memory_reduction"] == pytest.approx(32 / 6)
    assert cell(csv, "W8A32 e2", "stsb", "paper")["score"] == 88.87
    assert cell(csv, "W6A32", "avg", "paper")["memory_reduction"] == 5.33
    assert "| W4A32 | mse_low | ×8.00 |" in md and "×5.33" in md


# --- the records ----------------------------------------------------------------------------------

NAMES = [f"bondarenko_table{n}" for n in (1, 2, 4, 5, 6, 7)] + [
    "bondarenko_fig2",
    "bondarenko_outliers",
    "bondarenko_fig9",
]


def test_registry_finds_the_records_and_their_needs():
    records = registry.reports()
    assert set(NAMES) <= set(records)
    assert all(records[n].paper == "Bondarenko et al. (2021)" for n in NAMES)
    assert all(records[n].captures for n in NAMES[-3:]) and not records["bondarenko_table1"].captures
    w8a8 = {"w8a8": {"method": "lq", "bits": [8], "activations": {"estimator": "running_minmax"}}}
    assert not any(records[n].applies(["rte"], {"lq": {}}) for n in NAMES)
    assert records["bondarenko_table1"].applies(["rte"], w8a8)
    assert not records["bondarenko_table1"].applies(["squad"], w8a8)
    assert not records["bondarenko_table2"].applies(["rte"], w8a8)
    assert records["bondarenko_table2"].applies(["rte"], {"l": {"method": "float", "leave_one_out": {"kind": None}}})
    mp = {"mp": {"method": "lq", "bits": [8], "activations": {"site_bits": {"*.ffn.residual_sum": 16}}}}
    assert records["bondarenko_table4"].applies(["rte"], mp) and not records["bondarenko_table6"].applies(["rte"], mp)
    assert records["bondarenko_table6"].applies(["rte"], mp | w8a8)
    assert records["bondarenko_table7"].applies(["rte"], {"mse": {"bits": [4]}})
    assert not records["bondarenko_table7"].applies(["rte"], {"mse": {"bits": [8]}})
    assert records["bondarenko_fig9"].applies(["rte"], w8a8)
    assert records["bondarenko_outliers"].file_names(["a"]) == [
        "bondarenko_outliers.csv",
        "bondarenko_outliers_a.png",
        "bondarenko_outliers_a.svg",
    ]


def test_build_reports_renders_bondarenko_table1_under_the_median(tmp_path):
    s = make_summary()
    extra = s[(s["method"] == "lq_run") & (s["task"] == "rte")].copy()
    spread = [extra.assign(seed=seed, score=v) for seed, v in ((7, 90.0), (8, 55.0))]  # mean 68.3 > 65, median 60
    pd.concat([s, *spread], ignore_index=True).to_csv(tmp_path / "summary.csv", index=False)
    pd.DataFrame().to_csv(tmp_path / "throughput.csv", index=False)
    written = build.build_reports(
        tmp_path / "summary.csv",
        tmp_path / "throughput.csv",
        tmp_path / "out",
        reports=["bondarenko_table1"],
        models_order=["bert"],
        tasks=TASKS,
        study_name="bondarenko",
        variants=VARIANTS,
        seed_statistics={"bondarenko_table1": "median"},
    )
    assert {"bondarenko_table1.md", "bondarenko_table1.csv"} <= {p.name for p in written}
    csv = pd.read_csv(tmp_path / "out" / "bondarenko_table1.csv")
    assert cell(csv, "W8A8", "rte")["variant"] == "mse_cur"  # lq_run's median 60 < 65


def test_figure_records_call_the_figure_helpers(tmp_path, monkeypatch):
    calls = []

    def draw(name):
        def fn(first, out_png, out_svg, **kw):
            calls.append((name, first, kw))
            for p in (out_png, out_svg):
                Path(p).write_text(name)
            return [Path(out_png), Path(out_svg)]

        return fn

    def outlier_table(captures, out_csv):
        calls.append(("table", captures, {}))
        Path(out_csv).write_text("x\n")
        return [Path(out_csv)]

    fake = types.SimpleNamespace(
        fig2=draw("fig2"), outlier_maps=draw("maps"), fig9=draw("fig9"), outlier_table=outlier_table
    )
    monkeypatch.setitem(sys.modules, "bertq.reports.bondarenko_figures", fake)
    monkeypatch.setattr(bertq.reports, "bondarenko_figures", fake, raising=False)
    from bertq.reports.record import Context

    captures = {("bert", "stsb"): tmp_path / "bert_stsb.npz", ("bert", "rte"): tmp_path / "bert_rte.npz"}
    c = Context(
        out=tmp_path,
        summary=make_summary((("bert", "BERT-Base"), ("mini", ""))),
        squad=None,
        throughput=None,
        tasks=["stsb", "rte"],
        models=["bert", "mini"],
        variants=VARIANTS,
        captures=captures,
    )
    records = registry.reports()
    for name in NAMES[-3:]:
        written = records[name].render(c)
        assert [p.name for p in written] == records[name].file_names(["bert", "mini"])
        assert all(p.is_file() for p in written)
    fig2 = [x for x in calls if x[0] == "fig2"]
    assert fig2 == [("fig2", captures[("bert", "stsb")], {"model_label": "BERT", "task": "stsb"})]  # mini: none
    maps = [x for x in calls if x[0] == "maps"]
    assert maps[0][1] == {"stsb": captures[("bert", "stsb")], "rte": captures[("bert", "rte")]}
    assert [x[1] for x in calls if x[0] == "table"] == [captures]
    assert (tmp_path / "bondarenko_fig2_mini.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # a placeholder
