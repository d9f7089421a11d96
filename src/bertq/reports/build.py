"""Build the study's reports from results/summary.csv and results/throughput.csv.

The reports the config asks for (each rendered by its record in :mod:`bertq.reports.registry`,
under its seed statistic), then those every study gets (throughput table and figure, the
per-point aggregate results.csv), and an index.md that links and captions every file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bertq.reports import registry, tables
from bertq.reports.collect import SUMMARY_COLUMNS, THROUGHPUT_COLUMNS
from bertq.reports.paper import PAPER_CITATION
from bertq.data.tasks import TASKS
from bertq.reports.record import Context

SPAN_SCORES = {
    "tydiqa": "the TyDi QA GoldP evaluation's exact match and F1 averaged over the non-English "
              "languages, and their mean; per-language scores in summary.csv's metrics",
    "nq": "MRQA's official exact match and F1 against the gold answer strings, and their mean",
}
"""How each span task other than SQuAD is scored, for index.md."""


def _read(path, columns: list[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame()
    return df if len(df.columns) else pd.DataFrame(columns=columns)


def build_reports(summary_csv, throughput_csv, out_dir, reports: list[str], models_order: list[str],
                  tasks: list[str], study_name: str, variants: dict | None = None,
                  seed_statistics: dict[str, str] | None = None, captures: dict | None = None) -> list[Path]:
    """Write the requested reports into ``out_dir``; return every path written (index.md last).

    ``captures`` maps ``(model, task)`` to the fp32 model's activation capture, for the reports
    that read them.

    ``seed_statistics`` maps a report to how it reduces seeds ("mean" or "median"; mean if absent).
    """
    for name in reports:
        registry.get(name)  # a clear error for an unknown name, before anything is written
    stats = seed_statistics or {}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = _read(summary_csv, SUMMARY_COLUMNS)
    throughput = _read(throughput_csv, THROUGHPUT_COLUMNS)
    summary = summary[summary["model"].isin(models_order) & summary["task"].isin(tasks)]
    span_tasks = [t for t in tasks if TASKS[t].is_span]
    squad = summary[summary["task"] == "squad"]
    qa = summary[summary["task"].isin([t for t in span_tasks if t != "squad"])]
    classify_tasks = [t for t in tasks if t not in span_tasks]
    summary = summary[summary["task"].isin(classify_tasks)]
    context = Context(out=out, summary=summary, squad=squad, throughput=throughput, tasks=classify_tasks,
                      models=list(models_order), variants=variants or {},
                      captures={k: Path(v) for k, v in (captures or {}).items()}, qa=qa)
    written: list[Path] = []
    for name in reports:
        with tables.seed_statistic(stats.get(name, "mean")):
            written += registry.get(name).render(context)
    for report in registry.always():
        written += report.render(context)
    everything = pd.concat([p for p in (summary, squad, qa) if not p.empty] or [summary], ignore_index=True)
    names = tables.labels(everything) if not everything.empty else {}
    captions = {f: line for name in list(reports) + [r.name for r in registry.always()]
                for f, line in registry.reports()[name].index_lines(models_order, names).items()}
    written.append(_index(everything, out / "index.md", written, captions, classify_tasks, study_name,
                          squad=not squad.empty, qa_tasks=list(dict.fromkeys(qa["task"]))))
    return written


def _index(summary: pd.DataFrame, path: Path, files: list[Path], captions: dict[str, str], tasks,
           study_name: str, squad: bool = False, qa_tasks: list[str] | None = None) -> Path:
    """The study's index: what it reproduces, then a line per file (its report's caption)."""
    names = tables.labels(summary) if not summary.empty else {}
    lines = [f"# {tables.md_escape(study_name)}\n",
             f"Reports reproducing {PAPER_CITATION}, \"Empirical Evaluation of Post-Training Quantization "
             f"Methods for Language Tasks\"."]
    if tasks:
        lines[-1] += (f" Tasks: {', '.join(tasks)}. The aggregate score is the "
                      f"{tables.score_label(tasks)}: the mean over these tasks of the seed-averaged task "
                      "scores, for points with a result on every task.")
    if squad:
        lines[-1] += (" SQuAD v1.1 is reported on its own (Table 2, Figs. 5b and 6), scored by exact match "
                      "and F1 as the official v1.1 script defines them, and their mean.")
    for task in qa_tasks or []:
        lines[-1] += f" {tables.score_label([task])} is in results.csv, per point ({SPAN_SCORES[task]})."
    lines[-1] += "\n"
    lines += [f"- [{f.name}]({f.name}): {captions.get(f.name, f.name)}" for f in files]
    if not summary.empty:
        rand = summary[summary["random_init"].astype(str).str.lower().isin(["true", "1"])]
        rand_models = list(dict.fromkeys(rand["model"]))
        if rand_models:
            lines.append("\n**Random-init models** ("
                         + ", ".join(names.get(m, m) for m in rand_models)
                         + "): weights are randomly initialized, so their task scores are near chance "
                           "and say nothing about quantization accuracy; they are included for size, "
                           "ACE and throughput only.")
        lines += _warning_lines(summary, names)
    return tables.write_text(path, "\n".join(lines) + "\n")


def _warning_lines(summary: pd.DataFrame, names: dict[str, str]) -> list[str]:
    """A section naming each (model, task) whose dev set leaves its metric undefined, once."""
    if "warnings" not in summary:
        return []
    flagged = summary[summary["warnings"].fillna("").astype(str).str.len() > 0]
    found = dict.fromkeys((m, t, w) for m, t, w in zip(flagged["model"], flagged["task"], flagged["warnings"]))
    if not found:
        return []
    return ["\n**Warnings**: these scores measure nothing about quantization:"] + [
        f"- {names.get(m, m)}, {t}: {tables.md_escape(w)}" for m, t, w in found
    ]
