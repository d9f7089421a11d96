"""Seed averaging, the per-point aggregate score, and the tabular reports.

``table1`` reproduces Table 1 of Hu et al. (2022): fp32 and 8-bit LQ / ACIQ / OCS scores per task
with the difference to fp32 in parentheses, followed by the paper's own numbers; ``table2`` does
the same for SQuAD v1.1 (Table 2: exact match and F1).
``throughput_table`` is ours (the paper reports no wall-clock speed): sequences/s per backend and
the speed-ups over torch fp32 and torch dynamic int8, paired round by round in the same job.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bertq.data.tasks import GLUE_TASKS
from bertq.reports.paper import (METHODS, PAPER_BITS, PAPER_CITATION, PAPER_TABLE1, PAPER_TABLE1_AVG,
                                 PAPER_TABLE2,
                                 PAPER_TASKS, method_label, task_label)
from bertq.pipeline.workflow import atomic_path

POINT = ["model", "method", "bits"]
BASELINE_BACKEND = "torch fp32"
DYNAMIC_INT8_BACKEND = "torch dynamic int8"
TORCHAO_BACKEND = "torchao dynamic int8"
TORCH_BACKENDS = (BASELINE_BACKEND, DYNAMIC_INT8_BACKEND, TORCHAO_BACKEND)
RATIO_COLUMNS = ("ratio_to_torch_fp32", "ratio_to_torch_dynamic_int8")
"""The paired-ratio columns of the throughput CSV (bertq.reports.collect), one per baseline."""
ENGINE_BACKEND = "bertq int8 engine"
CODEBOOK_BACKEND = "bertq codebook engine"


def write_text(path, text: str) -> Path:
    """Write ``text`` via a temporary sibling, renamed into place only when complete."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_csv(df: pd.DataFrame, path) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")
    return Path(path)


def ordered_tasks(summary: pd.DataFrame, tasks=None) -> list[str]:
    """The configured tasks, or those present in the paper's column order, then the rest."""
    if tasks:
        return list(tasks)
    present = list(dict.fromkeys(summary["task"]))
    return [t for t in PAPER_TASKS if t in present] + sorted(t for t in present if t not in PAPER_TASKS)


def ordered_models(summary: pd.DataFrame, models=None) -> list[str]:
    """The configured models present in ``summary``, else those present by fp32 size."""
    present = set(summary["model"])
    if models:
        return [m for m in models if m in present]
    sizes = summary.groupby("model")["size_bytes"].max()
    return sorted(present, key=lambda m: (sizes.get(m, 0.0), m))


SPAN_SCORE_LABELS = {
    "squad": "SQuAD (EM + F1) / 2",
    "tydiqa": "TyDi QA GoldP (EM + F1) / 2, non-English mean",
    "nq": "NQ (MRQA) (EM + F1) / 2",
}
"""A span task's headline score (its metrics' ``score``) in the reports."""


def score_label(tasks) -> str:
    """'GLUE score' when every task is a GLUE task, a span task's score (SQuAD's: Fig. 6) for it alone, else
    'mean task score'."""
    if len(tasks or []) == 1 and tasks[0] in SPAN_SCORE_LABELS:
        return SPAN_SCORE_LABELS[tasks[0]]
    return "GLUE score" if tasks and all(t in GLUE_TASKS for t in tasks) else "mean task score"


MD_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|", "\n": " ", "\r": " ", "\t": " "}
"""What a user's text (a model label, the study's name) must not be in Markdown: HTML (it would
reach the HTML report as markup), a table's column separator, or a line break."""


def md_escape(text: str) -> str:
    """``text`` safe inside a Markdown line or table cell (:data:`MD_ESCAPES`)."""
    return "".join(MD_ESCAPES.get(c, c) for c in str(text))


def labels(summary: pd.DataFrame) -> dict[str, str]:
    """Each model's label as the reports print it (escaped for Markdown and HTML)."""
    raw = summary["model_label"].fillna(summary["model"]).astype(str)
    return dict(zip(summary["model"], map(md_escape, raw)))


SEED_STATISTICS = ("mean", "median")
_seed_statistic: contextvars.ContextVar[str] = contextvars.ContextVar("seed_statistic", default="mean")


@contextlib.contextmanager
def seed_statistic(statistic: str):
    """Within the block, reports reduce seeds by ``statistic``: ``mean`` (Hu et al.; the TM-IQR
    paper's mean ± std) or ``median`` (Bondarenko et al. report the median over seeds)."""
    if statistic not in SEED_STATISTICS:
        raise ValueError(f"seed statistic {statistic!r}: choose one of {', '.join(SEED_STATISTICS)}")
    token = _seed_statistic.set(statistic)
    try:
        yield
    finally:
        _seed_statistic.reset(token)


def seed_reduction() -> str:
    """How the reports now reduce seeds, in words: 'mean ± std' or 'median (± std)'."""
    return "mean ± std" if _seed_statistic.get() == "mean" else "median (± std)"


def task_scores(summary: pd.DataFrame) -> pd.DataFrame:
    """Score per (model, method, bits, task) over seeds: score (the mean, or the median inside
    :func:`seed_statistic`), score_std (NaN for one seed), n_seeds, plus the mean size_bytes and ace."""
    g = summary.groupby(POINT + ["task"], sort=False)
    out = g.agg(score=("score", _seed_statistic.get()), score_std=("score", "std"), n_seeds=("seed", "nunique"),
                size_bytes=("size_bytes", "mean"), ace=("ace", "mean")).reset_index()
    out.loc[out["n_seeds"] < 2, "score_std"] = np.nan
    return out


def aggregate(summary: pd.DataFrame, tasks=None) -> pd.DataFrame:
    """Per-point aggregate: the mean over ``tasks`` of the seed-averaged task scores.

    Points (model, method, bits) lacking a result for any task are dropped. ``score_std`` is the
    std over seeds of the per-seed task means (seeds that cover every task; NaN when < 2).
    """
    cols = POINT + ["score", "size_bytes", "ace", "score_std", "n_seeds"]
    tasks = ordered_tasks(summary, tasks)
    if summary.empty or not tasks:
        return pd.DataFrame(columns=cols)
    ts = task_scores(summary[summary["task"].isin(tasks)])
    rows = []
    for key, grp in ts.groupby(POINT, sort=False):
        if set(tasks) - set(grp["task"]):
            continue
        sel = summary[(summary["model"] == key[0]) & (summary["method"] == key[1])
                      & (summary["bits"] == key[2]) & summary["task"].isin(tasks)]
        per_seed = sel.pivot_table(index="seed", columns="task", values="score", aggfunc="mean")
        per_seed = per_seed.dropna().reindex(columns=tasks).dropna()
        std = per_seed.mean(axis=1).std() if len(per_seed) > 1 else np.nan
        rows.append({"model": key[0], "method": key[1], "bits": int(key[2]),
                     "score": grp["score"].mean(), "score_std": std, "n_seeds": int(grp["n_seeds"].min()),
                     "size_bytes": grp["size_bytes"].mean(), "ace": grp["ace"].mean()})
    out = pd.DataFrame(rows, columns=cols)
    order = {m: i for i, m in enumerate(METHODS)}
    return out.sort_values(["model", "method", "bits"], key=lambda s: s.map(order).fillna(9)
                           if s.name == "method" else s, ascending=[True, True, False],
                           ignore_index=True)


def _fmt(x, std=None, diff=None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    s = f"{x:.2f}"
    if std is not None and not math.isnan(std):
        s += f" ± {std:.2f}"
    if diff is not None and not math.isnan(diff):
        d = round(diff, 2) + 0.0  # no "-0.00"
        s += f" ({d:+.2f})"
    return s


def _md_table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """Pipe table; the first ``left`` columns left-aligned, the numbers right-aligned."""
    align = ["---"] * left + ["---:"] * (len(header) - left)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _paper_block(paper_name: str, tasks: list[str], records: list[dict]) -> str:
    """Markdown for the paper's Table 1 rows of ``paper_name`` restricted to ``tasks``."""
    table = PAPER_TABLE1[paper_name]
    full = tasks == PAPER_TASKS
    avg = {m: PAPER_TABLE1_AVG[paper_name][m] if full else float(np.mean([table[m][t] for t in tasks]))
           for m in METHODS}
    rows = []
    for m in METHODS:
        diff = None if m == "fp32" else avg[m] - avg["fp32"]
        cells = [_fmt(table[m][t], diff=None if m == "fp32" else table[m][t] - table["fp32"][t])
                 for t in tasks]
        rows.append([method_label(m)] + cells + [_fmt(avg[m], diff=diff)])
        for t in tasks:
            records.append({"model": paper_name, "method": m, "bits": 32 if m == "fp32" else PAPER_BITS,
                            "task": t, "score": table[m][t],
                            "diff_to_fp32": np.nan if m == "fp32" else table[m][t] - table["fp32"][t],
                            "source": "paper"})
        records.append({"model": paper_name, "method": m, "bits": 32 if m == "fp32" else PAPER_BITS,
                        "task": "avg", "score": avg[m], "diff_to_fp32": np.nan if diff is None else diff,
                        "source": "paper"})
    note = "" if full else (f"\nAvg here is over the {len(tasks)} task(s) shown; the paper's 8-task Avg is "
                            + ", ".join(f"{method_label(m)} {PAPER_TABLE1_AVG[paper_name][m]:.2f}"
                                        for m in METHODS) + ".\n")
    return _md_table([paper_name] + [task_label(t) for t in tasks] + ["Avg"], rows) + note


def _ratio_line(summary: pd.DataFrame, model: str, bits: int) -> str:
    """Quantization ratio (quantized weights over all parameters; the paper's is 99.6% for BERT)
    and model size at ``bits`` against fp32."""
    hu = summary["method"].isin(METHODS) & (summary["method"] != "fp32")
    rows = summary[(summary["model"] == model) & hu & (summary["bits"] == bits)]
    base = summary[(summary["model"] == model) & (summary["method"] == "fp32")]
    if rows.empty or base.empty:
        return ""
    ratio = float(rows["quantization_ratio"].iloc[0])
    sizes = ", ".join(f"{method_label(m)} {g['size_bytes'].mean() / 1e6:.2f} MB"
                      for m, g in rows.groupby("method", sort=False))
    return (f"\nQuantization ratio {100 * ratio:.2f}% of all parameters (paper: 99.6% for BERT); "
            f"size fp32 {base['size_bytes'].mean() / 1e6:.2f} MB, {bits}-bit {sizes}.\n")


def table1(summary: pd.DataFrame, out_md, out_csv, bits: int = 8, tasks=None, models=None) -> list[Path]:
    """Table 1 of Hu et al. (2022) for our models: fp32 and LQ/ACIQ/OCS at ``bits``, per task and Avg,
    quantized rows with the difference to fp32 in parentheses; the paper's numbers beneath."""
    tasks = ordered_tasks(summary, tasks)
    ts = task_scores(summary) if not summary.empty else pd.DataFrame(columns=POINT + ["task", "score"])
    agg = aggregate(summary, tasks)
    names = labels(summary) if not summary.empty else {}
    paper_of = (summary.dropna(subset=["paper_name"]).groupby("model")["paper_name"].first().astype(str)
                .to_dict() if not summary.empty else {})
    seeds = sorted(summary["seed"].unique()) if not summary.empty else []
    md = [f"# Table 1: {score_label(tasks)} of fp32 and {bits}-bit quantized models\n",
          f"Reproduces Table 1 of {PAPER_CITATION}. Scores in percent (the paper's metric per task), "
          f"{seed_reduction()} over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}); the difference to fp32 is in "
          "parentheses. Avg is the mean over the tasks of the seed-averaged scores, shown only when every "
          "task has a result.\n"]
    records: list[dict] = []
    for model in ordered_models(summary, models):
        md.append(f"## {names.get(model, model)}\n")
        base_t = ts[(ts["model"] == model) & (ts["method"] == "fp32")].set_index("task")
        base_a = agg[(agg["model"] == model) & (agg["method"] == "fp32")]
        base_avg = base_a["score"].iloc[0] if len(base_a) else np.nan
        rows, missing = [], []
        for m in METHODS:
            b = 32 if m == "fp32" else bits
            t_m = ts[(ts["model"] == model) & (ts["method"] == m) & (ts["bits"] == b)].set_index("task")
            if t_m.empty:
                missing.append(method_label(m))
                continue
            cells = []
            for t in tasks:
                score = t_m["score"].get(t, np.nan)
                std = t_m["score_std"].get(t, np.nan)
                diff = np.nan if m == "fp32" else score - base_t["score"].get(t, np.nan)
                cells.append(_fmt(score, std, None if m == "fp32" else diff))
                records.append({"model": model, "method": m, "bits": b, "task": t, "score": score,
                                "diff_to_fp32": diff, "source": "ours", "score_std": std,
                                "n_seeds": t_m["n_seeds"].get(t, 0)})
            a = agg[(agg["model"] == model) & (agg["method"] == m) & (agg["bits"] == b)]
            avg, astd = (a["score"].iloc[0], a["score_std"].iloc[0]) if len(a) else (np.nan, np.nan)
            adiff = np.nan if m == "fp32" else avg - base_avg
            cells.append(_fmt(avg, astd, None if m == "fp32" else adiff))
            records.append({"model": model, "method": m, "bits": b, "task": "avg", "score": avg,
                            "diff_to_fp32": adiff, "source": "ours", "score_std": astd,
                            "n_seeds": int(a["n_seeds"].iloc[0]) if len(a) else 0})
            rows.append([f"{method_label(m)}" + ("" if m == "fp32" else f" ({b}-bit)")] + cells)
        if rows:
            md.append(_md_table(["Method"] + [task_label(t) for t in tasks] + ["Avg"], rows))
        if missing:
            md.append(f"\n**No results for {', '.join(missing)} at "
                      f"{'32 / ' if 'fp32' in [x.lower() for x in missing] else ''}{bits} bits for this model.**\n")
        md.append(_ratio_line(summary, model, bits))
        paper_name = paper_of.get(model, "")
        if paper_name in PAPER_TABLE1:
            shown = [t for t in tasks if t in PAPER_TASKS]
            if shown:
                md.append(f"\nPaper ({PAPER_CITATION}), {paper_name}, 8-bit:\n")
                md.append(_paper_block(paper_name, shown, []))
        md.append("")
    md.append(f"## Paper ({PAPER_CITATION})\n")
    shown = [t for t in tasks if t in PAPER_TASKS]
    if not shown:
        md.append("None of the tasks above is in the paper's Table 1; its full table for reference:\n")
        shown = list(PAPER_TASKS)
    if bits != PAPER_BITS:
        md.append(f"The paper's Table 1 is at {PAPER_BITS} bits (the table above is at {bits}).\n")
    for paper_name in PAPER_TABLE1:
        md.append(_paper_block(paper_name, shown, records))
    write_text(out_md, "\n".join(md))
    cols = ["model", "method", "bits", "task", "score", "diff_to_fp32", "source", "score_std", "n_seeds"]
    write_csv(pd.DataFrame(records, columns=cols), out_csv)
    return [Path(out_md), Path(out_csv)]


def throughput_table(throughput: pd.DataFrame, out_md, out_csv, models=None) -> list[Path]:
    """Sequences/s per model, backend, method and bits (median over the timed rounds, with the
    slowest and fastest round) and the speed-ups over ``torch fp32`` and ``torch dynamic int8``
    taken round by round in the same job (median of the paired ratios and their interquartile
    range). Not in the paper, which reports ACE instead."""
    ratio_cols = [f"{col}{part}" for col in RATIO_COLUMNS for part in ("", "_q1", "_q3", "_iqr")]
    cols = ["model", "model_label", "method", "bits", "backend", "kernel_path", "sequences_per_second",
            "min_sequences_per_second", "max_sequences_per_second", "words_per_second", *ratio_cols,
            "first_call_seconds", "rounds", "cpu", "threads", "batch_size", "sequence_length"]
    if throughput.empty:
        df = pd.DataFrame(columns=cols)
    else:
        df = throughput.copy()
        for col in ("kernel_path", "first_call_seconds", "words_per_second", "rounds", *ratio_cols):
            if col not in df:
                df[col] = np.nan
        duplicated = df.duplicated(POINT + ["backend"], keep=False)
        if duplicated.any():
            raise ValueError(f"throughput: several rows for {df[duplicated][POINT + ['backend']].values.tolist()}")
        df["min_sequences_per_second"] = df["batch_size"] / df["max_seconds"]
        df["max_sequences_per_second"] = df["batch_size"] / df["min_seconds"]
        order = {m: i for i, m in enumerate(ordered_models(throughput.assign(size_bytes=0.0), models))}
        morder = {m: i for i, m in enumerate(METHODS)}
        border = {b: i for i, b in enumerate((*TORCH_BACKENDS, ENGINE_BACKEND, CODEBOOK_BACKEND))}
        df = df.assign(_m=df["model"].map(order).fillna(len(order)), _k=df["method"].map(morder).fillna(9),
                       _b=-df["bits"], _base=df["backend"].map(border).fillna(len(border)))
        df = df.sort_values(["_m", "model", "_k", "method", "_b", "_base", "backend"]).drop(
            columns=["_m", "_k", "_b", "_base"])[cols].reset_index(drop=True)
    md = ["# Throughput\n",
          "Sequences per second of the forward pass on CPU, per backend: the median over the timed rounds "
          "(slowest and fastest round in brackets). Every backend of a model is timed in one job, "
          "interleaved: each round calls each backend once, so a slow spell of the machine hits all alike. "
          f"The speed-ups over `{BASELINE_BACKEND}` and `{DYNAMIC_INT8_BACKEND}` are taken round by round "
          "(that round's baseline seconds / the backend's) and given as the median of those paired ratios, "
          "± half their interquartile range. "
          "`bertq int8 engine` runs the quantized linears on bertq's integer kernels (7-bit per-token "
          "activations x int8 weight codes, int32 accumulation) on the instruction path named beside it; "
          "`bertq codebook engine` runs them from the packed low-bit codes on the lookup-table kernels; "
          f"`{TORCHAO_BACKEND}` is torchao's int8 x int8 dynamic quantization, where torchao is installed. "
          "The first call (JIT compile or loading the kernel cache) is not timed but reported. "
          f"Not reported by {PAPER_CITATION}.\n"]
    if df.empty:
        md.append("No throughput results.\n")
    for _, g in df.groupby("model", sort=False):
        first = g.iloc[0]
        md.append(f"## {first['model_label']}\n")
        md.append(f"CPU: {first['cpu']}; threads {first['threads']}, batch {first['batch_size']}, "
                  f"sequence length {first['sequence_length']}, {_count(first['rounds'])} timed rounds.\n")

        def ratio(median, iqr):
            if pd.isna(median) or median == "":
                return "–"
            return f"{float(median):.2f}× ± {float(iqr) / 2:.2f}" if not pd.isna(iqr) else f"{float(median):.2f}×"

        rows = [[method_label(r.method), str(int(r.bits)),
                 str(r.backend) + (f" ({r.kernel_path})" if isinstance(r.kernel_path, str) and r.kernel_path else ""),
                 f"{r.sequences_per_second:.1f} [{r.min_sequences_per_second:.1f}–{r.max_sequences_per_second:.1f}]",
                 ratio(r.ratio_to_torch_fp32, r.ratio_to_torch_fp32_iqr),
                 ratio(r.ratio_to_torch_dynamic_int8, r.ratio_to_torch_dynamic_int8_iqr),
                 _seconds(r.first_call_seconds)]
                for r in g.itertuples()]
        md.append(_md_table(["Method", "Bits", "Backend", "Sequences/s [range]", "vs torch fp32",
                             "vs torch dynamic int8", "First call"], rows, left=3))
    write_text(out_md, "\n".join(md))
    write_csv(df, out_csv)
    return [Path(out_md), Path(out_csv)]


def _count(value) -> str:
    return "?" if pd.isna(value) or value == "" else str(int(value))


def _seconds(value) -> str:
    return "" if pd.isna(value) or value == "" else f"{float(value):.2f} s"


SQUAD_METRICS = {"exact_match": "EM", "f1": "F1", "score": "(EM + F1) / 2"}


def squad_scores(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per SQuAD (model, method, bits, seed) with ``exact_match``, ``f1``, ``score`` and
    the ``split`` it was evaluated on, read from the ``metrics`` column."""
    cols = POINT + ["seed", "exact_match", "f1", "score", "split", "size_bytes", "ace"]
    sq = summary[summary["task"] == "squad"] if not summary.empty else summary
    rows = []
    for r in sq.itertuples():
        m = json.loads(r.metrics) if isinstance(r.metrics, str) else {}
        rows.append({"model": r.model, "method": r.method, "bits": int(r.bits), "seed": r.seed,
                     "exact_match": m.get("exact_match", np.nan), "f1": m.get("f1", np.nan),
                     "score": r.score, "split": m.get("split", ""), "size_bytes": r.size_bytes,
                     "ace": r.ace})
    return pd.DataFrame(rows, columns=cols)


def table2(summary: pd.DataFrame, out_md, out_csv, bits: int = 8, models=None) -> list[Path]:
    """Table 2 of Hu et al. (2022) for our models: SQuAD v1.1 EM and F1 (and their mean, which
    Fig. 6 plots) of fp32 and LQ/ACIQ/OCS at ``bits``, the difference to fp32 in parentheses,
    mean ± std over seeds, with the split evaluated on and the paper's numbers beside."""
    sq = squad_scores(summary)
    names = labels(summary) if not summary.empty else {}
    paper_of = (summary.dropna(subset=["paper_name"]).groupby("model")["paper_name"].first().astype(str)
                .to_dict() if not summary.empty else {})
    seeds = sorted(sq["seed"].unique())
    metrics = list(SQUAD_METRICS)
    md = [f"# Table 2: SQuAD v1.1 of fp32 and {bits}-bit quantized models\n",
          f"Reproduces Table 2 of {PAPER_CITATION}. Exact match and F1 as the official v1.1 evaluation "
          f"script defines them, in percent, {seed_reduction()} over {len(seeds)} seed(s) "
          f"({', '.join(map(str, seeds))}); the difference to fp32 is in parentheses.\n"]
    splits = sorted({s for s in sq["split"] if s})
    if splits:
        md.append("Evaluated on: " + "; ".join(splits) + ".\n")
    records: list[dict] = []
    models = [m for m in (models or list(dict.fromkeys(sq["model"]))) if m in set(sq["model"])]
    for model in models:
        md.append(f"## {names.get(model, model)}\n")
        sub = sq[sq["model"] == model]
        base = sub[sub["method"] == "fp32"][metrics].agg(_seed_statistic.get())
        rows, missing = [], []
        for m in METHODS:
            b = 32 if m == "fp32" else bits
            g = sub[(sub["method"] == m) & (sub["bits"] == b)]
            if g.empty:
                missing.append(method_label(m))
                continue
            cells = []
            for k in metrics:
                mean, std = g[k].agg(_seed_statistic.get()), g[k].std() if len(g) > 1 else np.nan
                diff = np.nan if m == "fp32" else mean - base[k]
                cells.append(_fmt(mean, std, None if m == "fp32" else diff))
                records.append({"model": model, "method": m, "bits": b, "metric": k, "score": mean,
                                "diff_to_fp32": diff, "score_std": std, "n_seeds": len(g),
                                "source": "ours"})
            rows.append([method_label(m) + ("" if m == "fp32" else f" ({b}-bit)")] + cells)
        if rows:
            md.append(_md_table(["Method"] + [SQUAD_METRICS[k] for k in metrics], rows))
        if missing:
            md.append(f"\n**No SQuAD results for {', '.join(missing)} at {bits} bits for this model.**\n")
        if paper_of.get(model) in PAPER_TABLE2:
            md.append(f"\nPaper ({PAPER_CITATION}), {paper_of[model]}, 8-bit:\n")
            md.append(_paper_table2_block(paper_of[model], []))
        md.append("")
    md.append(f"## Paper ({PAPER_CITATION})\n")
    if bits != PAPER_BITS:
        md.append(f"The paper's Table 2 is at {PAPER_BITS} bits (the table above is at {bits}).\n")
    for paper_name in PAPER_TABLE2:
        md.append(f"{paper_name}:\n")
        md.append(_paper_table2_block(paper_name, records))
    md.append("Cells marked – are not legible in the text of the paper available to us.\n")
    write_text(out_md, "\n".join(md))
    cols = ["model", "method", "bits", "metric", "score", "diff_to_fp32", "source", "score_std", "n_seeds"]
    write_csv(pd.DataFrame(records, columns=cols), out_csv)
    return [Path(out_md), Path(out_csv)]


def _paper_table2_block(paper_name: str, records: list[dict]) -> str:
    table = PAPER_TABLE2[paper_name]
    rows = []
    for m in METHODS:
        cells = []
        for k in ("exact_match", "f1"):
            v, base = table[m][k], table["fp32"][k]
            diff = None if m == "fp32" or v is None else v - base
            cells.append(_fmt(np.nan if v is None else v, diff=diff))
            records.append({"model": paper_name, "method": m, "bits": 32 if m == "fp32" else PAPER_BITS,
                            "metric": k, "score": np.nan if v is None else v,
                            "diff_to_fp32": np.nan if diff is None else diff, "source": "paper"})
        rows.append([method_label(m)] + cells)
    return _md_table(["Method", "EM", "F1"], rows)
