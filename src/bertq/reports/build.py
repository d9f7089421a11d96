"""Build the study's reports from results/summary.csv and results/throughput.csv.

Table 1, Figs. 2, 3/4 and 5a (over the classification tasks) and Table 2, Figs. 5b and 6 (over
SQuAD) of Hu et al. (2022) as requested, always the throughput table and figure, the per-point aggregate
(results.csv) and an index.md that links and captions every file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bertq.reports import figures, tables, zhao
from bertq.reports.collect import SUMMARY_COLUMNS, THROUGHPUT_COLUMNS
from bertq.reports.paper import PAPER_CITATION
from bertq.reports.zhao_paper import ZHAO_CITATION

REPORTS = ("table1", "fig2", "fig3", "fig5a", "table2", "fig5b", "fig6", "zhao_table1", "zhao_table2", "zhao_fig1",
           "zhao_fig3", "zhao_table5", "zhao_table6")
CAPTIONS = {
    "table1.md": f"Table 1: fp32 and 8-bit LQ / ACIQ / OCS scores per task, difference to fp32 in "
                 f"parentheses, with {PAPER_CITATION}'s numbers (Table 1).",
    "table1.csv": "Table 1 in long form (ours and the paper's numbers).",
    "fig2.png": "Score against model size per method, points per bit-width (Fig. 2).",
    "fig2.svg": "Fig. 2, vector version.",
    "fig5a.png": "Model family under OCS: score against size and ACE (Fig. 5a).",
    "fig5a.svg": "Fig. 5a, vector version.",
    "table2.md": "Table 2: SQuAD v1.1 exact match and F1 of fp32 and 8-bit LQ / ACIQ / OCS, difference to "
                 f"fp32 in parentheses, with {PAPER_CITATION}'s numbers (Table 2).",
    "table2.csv": "Table 2 in long form (ours and the paper's numbers).",
    "fig6.png": "SQuAD score (mean of EM and F1) against model size per method, points per bit-width "
                "(Fig. 6).",
    "fig6.svg": "Fig. 6, vector version.",
    "fig5b.png": "Model family under OCS on SQuAD: score against size and ACE (Fig. 5b).",
    "fig5b.svg": "Fig. 5b, vector version.",
    "throughput.md": "CPU throughput per backend (torch fp32, torch dynamic int8, bertq's integer engine) "
                     "and speed-ups over both torch baselines (not in the paper).",
    "throughput.png": "Integer-engine throughput against bit-width per method, torch baselines as lines "
                      "(not in the paper).",
    "throughput.svg": "Throughput figure, vector version.",
    "throughput.csv": "Throughput table as CSV.",
    "zhao_table1.md": f"Linear clustering: per-task scores at every bit-width, difference to fp32 in parentheses, "
                      f"with {ZHAO_CITATION}'s Tables 1 (BERT) and 3 (ALBERT).",
    "zhao_table1.csv": "Linear-clustering table in long form (ours and the paper's numbers).",
    "zhao_table2.md": f"k-means: per-task scores at every bit-width, difference to fp32 in parentheses, with "
                      f"{ZHAO_CITATION}'s Tables 2 (BERT) and 4 (ALBERT).",
    "zhao_table2.csv": "k-means table in long form (ours and the paper's numbers).",
    "zhao_fig1.png": f"Average score against bit-width, linear clustering against k-means, the paper's curves "
                     f"dashed ({ZHAO_CITATION}, Figs. 1-2).",
    "zhao_fig1.svg": "Zhao et al. Figs. 1-2, vector version.",
    "zhao_fig3.png": f"k-means across models: average score and its percentage of fp32 against bit-width, the "
                     f"paper's BERT and ALBERT curves dashed ({ZHAO_CITATION}, Figs. 3-4).",
    "zhao_fig3.svg": "Zhao et al. Figs. 3-4, vector version.",
    "zhao_table5.md": f"k-means against group-wise linear clustering: scores and time per task, with "
                      f"{ZHAO_CITATION}'s Table 5.",
    "zhao_table5.csv": "Table 5 in long form.",
    "zhao_table6.md": f"Score against the number of k-means iterations, with {ZHAO_CITATION}'s Table 6.",
    "zhao_table6.csv": "Table 6 in long form.",
    "results.csv": "Per-point aggregate: benchmark (the classification tasks, or SQuAD), model, method, "
                   "bits, score (mean over the benchmark's tasks of seed means), size_bytes, ace.",
}


def _read(path, columns: list[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame()
    return df if len(df.columns) else pd.DataFrame(columns=columns)


def _caption(name: str, model_labels: dict[str, str]) -> str:
    if name.startswith("fig3_"):
        model = name[len("fig3_"):].rsplit(".", 1)[0]
        kind = "vector version" if name.endswith(".svg") else "per-task score against bit-width"
        return f"Figs. 3/4 for {model_labels.get(model, model)}: {kind}."
    return CAPTIONS.get(name, name)


def build_reports(summary_csv, throughput_csv, out_dir, reports: list[str], models_order: list[str],
                  tasks: list[str], study_name: str, variants: dict | None = None,
                  seed_statistics: dict[str, str] | None = None) -> list[Path]:
    """Write the requested reports into ``out_dir``; return every path written (index.md last).

    ``seed_statistics`` maps a report to how it reduces seeds ("mean" or "median"; mean if absent).
    """
    unknown = set(reports) - set(REPORTS)
    if unknown:
        raise ValueError(f"unknown reports {sorted(unknown)}; known: {', '.join(REPORTS)}")
    stats = seed_statistics or {}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = _read(summary_csv, SUMMARY_COLUMNS)
    throughput = _read(throughput_csv, THROUGHPUT_COLUMNS)
    summary = summary[summary["model"].isin(models_order) & summary["task"].isin(tasks)]
    squad = summary[summary["task"] == "squad"]
    classify_tasks = [t for t in tasks if t != "squad"]
    summary = summary[summary["task"].isin(classify_tasks)]
    tasks = classify_tasks
    written: list[Path] = []
    for name in reports:
        with tables.seed_statistic(stats.get(name, "mean")):
            written += _render(name, summary, squad, out, tasks, models_order, variants or {})
    written += tables.throughput_table(throughput, out / "throughput.md", out / "throughput.csv",
                                       models=models_order)
    throughput = throughput[throughput["model"].isin(models_order)] if not throughput.empty else throughput
    written += figures.throughput_figure(throughput, out / "throughput.png", out / "throughput.svg",
                                         models=models_order)
    parts = []
    if tasks:
        parts.append(tables.aggregate(summary, tasks).assign(benchmark=tables.score_label(tasks)))
    if not squad.empty:
        parts.append(tables.aggregate(squad, ["squad"]).assign(benchmark=tables.score_label(["squad"])))
    results = (pd.concat(parts, ignore_index=True) if parts else
               tables.aggregate(summary, tasks).assign(benchmark=pd.Series(dtype=str)))
    results = results[["benchmark"] + [c for c in results.columns if c != "benchmark"]]
    written.append(tables.write_csv(results, out / "results.csv"))
    everything = pd.concat([summary, squad], ignore_index=True) if not squad.empty else summary
    written.append(_index(everything, out / "index.md", written, tasks, study_name,
                          squad=not squad.empty))
    return written


def _widest_bits(summary: pd.DataFrame) -> int:
    """The papers' tables are at 8 bits; a study without 8-bit points shows its widest bit-width."""
    quantized = set(summary.loc[summary["method"] != "fp32", "bits"]) if not summary.empty else set()
    return 8 if 8 in quantized or not quantized else int(max(quantized))


def _render(name: str, summary: pd.DataFrame, squad: pd.DataFrame, out: Path, tasks: list[str],
            models: list[str], variants: dict) -> list[Path]:
    """One report: classification reports read ``summary`` (over ``tasks``), SQuAD ones ``squad``."""
    png, svg, md, csv = (out / f"{name}.{ext}" for ext in ("png", "svg", "md", "csv"))
    if name == "table1":
        return tables.table1(summary, md, csv, bits=_widest_bits(summary), tasks=tasks, models=models)
    if name == "fig2":
        return figures.fig2(summary, png, svg, tasks=tasks, models=models)
    if name == "fig3":
        return [p for m in models
                for p in figures.fig3(summary, m, out / f"fig3_{m}.png", out / f"fig3_{m}.svg", tasks=tasks)]
    if name == "fig5a":
        return figures.fig5a(summary, png, svg, tasks=tasks, models=models)
    if name == "table2":
        return tables.table2(squad, md, csv, bits=_widest_bits(squad), models=models)
    if name == "fig6":
        return figures.fig6(squad, png, svg, models=models)
    if name == "fig5b":
        return figures.fig5b(squad, png, svg, models=models)
    if name in ("zhao_table1", "zhao_table2"):
        method = "linear_clustering" if name == "zhao_table1" else "kmeans"
        return zhao.zhao_table(summary, method, md, csv, tasks=tasks, models=models)
    if name == "zhao_fig1":
        return zhao.zhao_fig1(summary, png, svg, tasks=tasks, models=models)
    if name == "zhao_fig3":
        return zhao.zhao_fig3(summary, png, svg, tasks=tasks, models=models)
    if name == "zhao_table5":
        return zhao.zhao_table5(summary, variants, md, csv, tasks=tasks, models=models)
    if name == "zhao_table6":
        return zhao.zhao_table6(summary, variants, md, csv, tasks=tasks, models=models)
    raise ValueError(f"unknown report {name!r}")


def _index(summary: pd.DataFrame, path: Path, files: list[Path], tasks, study_name: str,
           squad: bool = False) -> Path:
    names = tables.labels(summary) if not summary.empty else {}
    lines = [f"# {study_name}\n",
             f"Reports reproducing {PAPER_CITATION}, \"Empirical Evaluation of Post-Training Quantization "
             f"Methods for Language Tasks\"."]
    if tasks:
        lines[-1] += (f" Tasks: {', '.join(tasks)}. The aggregate score is the "
                      f"{tables.score_label(tasks)}: the mean over these tasks of the seed-averaged task "
                      "scores, for points with a result on every task.")
    if squad:
        lines[-1] += (" SQuAD v1.1 is reported on its own (Table 2, Figs. 5b and 6), scored by exact match "
                      "and F1 as the official v1.1 script defines them, and their mean.")
    lines[-1] += "\n"
    lines += [f"- [{f.name}]({f.name}): {_caption(f.name, names)}" for f in files]
    if not summary.empty:
        rand = summary[summary["random_init"].astype(str).str.lower().isin(["true", "1"])]
        rand_models = list(dict.fromkeys(rand["model"]))
        if rand_models:
            lines.append("\n**Random-init models** ("
                         + ", ".join(names.get(m, m) for m in rand_models)
                         + "): weights are randomly initialized, so their task scores are near chance "
                           "and say nothing about quantization accuracy; they are included for size, "
                           "ACE and throughput only.")
    return tables.write_text(path, "\n".join(lines) + "\n")
