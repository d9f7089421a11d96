"""Reports reproducing Zhao et al. (2021): Tables 1-4 (per-task scores of linear clustering and
k-means at each bit-width, for BERT and ALBERT) and Figs. 1-2 (the average score against bits for
both schemes), with the paper's numbers beside ours.

The tables read the method entries named ``linear_clustering`` (Tables 1 and 3) and ``kmeans``
(Tables 2 and 4); a model's paper counterpart is its ``paper_name`` (BERT-Base for Tables 1-2,
ALBERT-Base for Tables 3-4). The paper averages over eight GLUE tasks; a study on fewer tasks is
compared with the paper's mean over the same tasks, and the paper's printed 8-task average is
shown beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bertq.reports.figures import RC, _grid, _no_data, finish, plt
from bertq.reports.paper import task_label
from bertq.reports.tables import (_fmt, _md_table, aggregate, labels, ordered_models, ordered_tasks, score_label,
                                  task_scores, write_csv, write_text)
from bertq.reports.zhao_paper import ZHAO_CITATION, ZHAO_TABLE_NUMBER, ZHAO_TABLES, ZHAO_TASKS, paper_scores

SCHEMES = {"linear_clustering": "linear clustering", "kmeans": "k-means"}
COLORS = {"linear_clustering": "tab:blue", "kmeans": "tab:red"}


def _bits(b: int) -> str:
    return f"{b} bit" + ("" if b == 1 else "s")


def _paper_names(summary: pd.DataFrame) -> dict[str, str]:
    if summary.empty or "paper_name" not in summary:
        return {}
    return summary.dropna(subset=["paper_name"]).groupby("model")["paper_name"].first().astype(str).to_dict()


def _bits_of(ts: pd.DataFrame, model: str, method: str) -> list[int]:
    return sorted({int(b) for b in ts.loc[(ts["model"] == model) & (ts["method"] == method), "bits"]}, reverse=True)


def paper_average(paper_model: str, method: str, tasks: list[str]) -> dict[int, float]:
    """The paper's mean score over ``tasks`` (those it reports) per bit-width."""
    shown = [t for t in tasks if t in ZHAO_TASKS]
    if not shown:
        return {}
    return {b: float(np.mean([row[t] for t in shown])) for b, row in paper_scores(paper_model, method).items()}


def zhao_table(summary: pd.DataFrame, method: str, out_md, out_csv, tasks=None, models=None) -> list[Path]:
    """Tables 1/3 (``linear_clustering``) or 2/4 (``kmeans``): per model, fp32 and every bit-width
    of ``method`` per task and their average, the difference to fp32 in parentheses; then the
    paper's table for the model's paper counterpart."""
    scheme = SCHEMES[method]
    tasks = ordered_tasks(summary, tasks)
    ts = task_scores(summary) if not summary.empty else pd.DataFrame(columns=["model", "method", "bits", "task"])
    agg = aggregate(summary, tasks)
    names, paper_of = (labels(summary) if not summary.empty else {}), _paper_names(summary)
    md = [f"# {scheme.capitalize()}: {score_label(tasks)} per bit-width\n",
          f"Reproduces Tables {ZHAO_TABLE_NUMBER[('BERT-Base', method)]} (BERT) and "
          f"{ZHAO_TABLE_NUMBER[('ALBERT-Base', method)]} (ALBERT) of {ZHAO_CITATION}: every weight of the "
          f"embeddings and encoder linears {scheme}-quantized, scores in percent, the difference to fp32 in "
          "parentheses, Avg the mean over the tasks shown.\n"]
    records = []
    for model in ordered_models(summary, models):
        bits_list = _bits_of(ts, model, method)
        md.append(f"## {names.get(model, model)}\n")
        if not bits_list:
            md.append(f"**No {scheme} results for this model** (add a method entry named `{method}`).\n")
            continue
        base = ts[(ts["model"] == model) & (ts["method"] == "fp32")].set_index("task")["score"]
        base_avg = agg.loc[(agg["model"] == model) & (agg["method"] == "fp32"), "score"]
        base_avg = base_avg.iloc[0] if len(base_avg) else np.nan
        rows = []
        for m, b in [("fp32", 32)] + [(method, b) for b in bits_list]:
            t_m = ts[(ts["model"] == model) & (ts["method"] == m) & (ts["bits"] == b)].set_index("task")
            cells = []
            for t in tasks:
                score = t_m["score"].get(t, np.nan)
                diff = np.nan if m == "fp32" else score - base.get(t, np.nan)
                cells.append(_fmt(score, None, None if m == "fp32" else diff))
                records.append({"model": model, "method": m, "bits": b, "task": t, "score": score,
                                "diff_to_fp32": diff, "source": "ours"})
            a = agg.loc[(agg["model"] == model) & (agg["method"] == m) & (agg["bits"] == b), "score"]
            avg = a.iloc[0] if len(a) else np.nan
            cells.append(_fmt(avg, None, None if m == "fp32" else avg - base_avg))
            records.append({"model": model, "method": m, "bits": b, "task": "avg", "score": avg,
                            "diff_to_fp32": np.nan if m == "fp32" else avg - base_avg, "source": "ours"})
            rows.append([_bits(b)] + cells)
        md.append(_md_table(["#bits"] + [task_label(t) for t in tasks] + ["Avg"], rows))
        paper_model = paper_of.get(model, "")
        if (paper_model, method) in ZHAO_TABLES:
            md.append(_paper_rows(paper_model, method, tasks, records, model))
    md.append(f"## Paper ({ZHAO_CITATION})\n")
    for paper_model in ("BERT-Base", "ALBERT-Base"):
        md.append(f"Table {ZHAO_TABLE_NUMBER[(paper_model, method)]}, {paper_model} ({scheme}), all eight tasks "
                  "(MRPC and QQP accuracy/F1, MNLI matched/mismatched):\n")
        table = ZHAO_TABLES[(paper_model, method)]
        md.append(_md_table(["#bits"] + [task_label(t) for t in ZHAO_TASKS] + ["average"],
                            [[_bits(b)] + [row[t] for t in ZHAO_TASKS] + [row["average"]] for b, row in table.items()]))
    write_text(out_md, "\n".join(md))
    cols = ["model", "method", "bits", "task", "score", "diff_to_fp32", "source"]
    write_csv(pd.DataFrame(records, columns=cols), out_csv)
    return [Path(out_md), Path(out_csv)]


def _paper_rows(paper_model: str, method: str, tasks: list[str], records: list, model: str) -> str:
    shown = [t for t in tasks if t in ZHAO_TASKS]
    if not shown:
        return ""
    scores, averages = paper_scores(paper_model, method), paper_average(paper_model, method, tasks)
    rows = []
    for b, row in scores.items():
        rows.append([_bits(b)] + [_fmt(row[t], None, None if b == 32 else row[t] - scores[32][t]) for t in shown]
                    + [_fmt(averages[b], None, None if b == 32 else averages[b] - averages[32]),
                       ZHAO_TABLES[(paper_model, method)][b]["average"]])
        for t in shown:
            records.append({"model": model, "method": method if b != 32 else "fp32", "bits": b, "task": t,
                            "score": row[t], "diff_to_fp32": np.nan if b == 32 else row[t] - scores[32][t],
                            "source": f"{ZHAO_CITATION}, {paper_model}"})
    return (f"\nPaper ({ZHAO_CITATION}, Table {ZHAO_TABLE_NUMBER[(paper_model, method)]}), {paper_model}, the same "
            "tasks (a pair is its mean):\n\n"
            + _md_table(["#bits"] + [task_label(t) for t in shown] + ["Avg (these tasks)", "average (8 tasks, printed)"], rows))


def zhao_fig1(summary: pd.DataFrame, out_png, out_svg, tasks=None, models=None) -> list[Path]:
    """Figs. 1-2: average score against bit-width, linear clustering against k-means, one subplot per
    model; fp32 dotted; the paper's curves (its mean over the same tasks) dashed where the model
    has a paper counterpart."""
    tasks = ordered_tasks(summary, tasks)
    agg, names, ylabel = aggregate(summary, tasks), labels(summary), score_label(tasks)
    paper_of = _paper_names(summary)
    models = ordered_models(summary, models) if not summary.empty else []
    with plt.rc_context(RC):
        fig, axes = _grid(len(models))
        for ax, model in zip(axes, models):
            a = agg[agg["model"] == model]
            ax.set_title(names.get(model, model), fontsize=9)
            if a[a["method"].isin(list(SCHEMES))].empty:
                _no_data(ax, "for linear clustering or k-means")
                continue
            fp = a[a["method"] == "fp32"]
            if len(fp):
                ax.axhline(fp["score"].iloc[0], color="black", ls=":", lw=1, label="fp32")
            paper_model = paper_of.get(model, "")
            for method, label in SCHEMES.items():
                q = a[a["method"] == method].sort_values("bits")
                if len(q):
                    ax.plot(q["bits"], q["score"], marker="o", ms=4, color=COLORS[method], label=label)
                avg = paper_average(paper_model, method, tasks)
                if avg:
                    bits = sorted(b for b in avg if b != 32)
                    ax.plot(bits, [avg[b] for b in bits], ls="--", marker="x", ms=4, color=COLORS[method], alpha=0.6,
                            label=f"{label}, paper ({paper_model})")
            ax.set_xlabel("weight bits")
            ax.set_ylabel(f"{ylabel} (%)")
            ax.set_xticks(sorted({int(b) for b in a.loc[a["method"].isin(list(SCHEMES)), "bits"]} | {1, 2, 3, 4, 5}))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6, loc="lower right")
        if not models:
            _no_data(axes[0], "")
        return finish(fig, f"{ylabel} against bit-width: linear clustering and k-means "
                           f"(cf. {ZHAO_CITATION}, Figs. 1-2)", out_png, out_svg)


def zhao_fig3(summary: pd.DataFrame, out_png, out_svg, tasks=None, models=None) -> list[Path]:
    """Figs. 3-4: k-means on every model (BERT against ALBERT in the paper): the average score
    against bit-width (left) and the same as a percentage of the model's fp32 score (right), the
    paper's BERT-Base and ALBERT-Base curves (its mean over the same tasks) dashed."""
    tasks = ordered_tasks(summary, tasks)
    agg, names = aggregate(summary, tasks), labels(summary)
    models = ordered_models(summary, models) if not summary.empty else []
    palette = ["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown"]
    with plt.rc_context(RC):
        fig, (ax_score, ax_keep) = plt.subplots(1, 2, figsize=(10, 3.6))
        drawn = False
        for i, model in enumerate(models):
            a = agg[agg["model"] == model]
            q, fp = a[a["method"] == "kmeans"].sort_values("bits"), a[a["method"] == "fp32"]
            if q.empty or fp.empty:
                continue
            drawn = True
            color = palette[i % len(palette)]
            ax_score.plot(q["bits"], q["score"], marker="o", ms=4, color=color, label=names.get(model, model))
            ax_keep.plot(q["bits"], 100 * q["score"] / fp["score"].iloc[0], marker="o", ms=4, color=color,
                         label=names.get(model, model))
        for paper_model, color in (("BERT-Base", "0.35"), ("ALBERT-Base", "0.65")):
            avg = paper_average(paper_model, "kmeans", tasks)
            if not avg:
                continue
            bits = sorted(b for b in avg if b != 32)
            label = f"paper, {paper_model}"
            ax_score.plot(bits, [avg[b] for b in bits], ls="--", marker="x", ms=4, color=color, label=label)
            ax_keep.plot(bits, [100 * avg[b] / avg[32] for b in bits], ls="--", marker="x", ms=4, color=color,
                         label=label)
        if not drawn:
            _no_data(ax_score, "for k-means")
        for ax, ylabel in ((ax_score, f"{score_label(tasks)} (%)"), (ax_keep, "% of the fp32 score")):
            ax.set_xlabel("weight bits")
            ax.set_ylabel(ylabel)
            ax.set_xticks([1, 2, 3, 4, 5])
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6, loc="lower right")
        ax_keep.axhline(100, color="black", ls=":", lw=1)
        return finish(fig, f"k-means across models: score and retention against bit-width (cf. {ZHAO_CITATION}, "
                           "Figs. 3-4)", out_png, out_svg)


def _variants_of(variants: dict, algorithm: str, grouped: bool | None = None) -> list[str]:
    """Method entries running ``algorithm``; with ``grouped``, only those with (or without) N groups."""
    out = []
    for name, spec in variants.items():
        if spec["method"] != algorithm:
            continue
        g = spec["params"].get("granularity", "tensor")
        if grouped is None or grouped == (isinstance(g, int) and not isinstance(g, bool)):
            out.append(name)
    return out


def _seconds(summary: pd.DataFrame, model: str, method: str, bits: int) -> float:
    """Mean over tasks of the quantization time plus any centroid fine-tuning."""
    rows = summary[(summary["model"] == model) & (summary["method"] == method) & (summary["bits"] == bits)]
    if rows.empty:
        return np.nan
    q = pd.to_numeric(rows.get("quantization_seconds"), errors="coerce").fillna(0.0)
    t = pd.to_numeric(rows.get("tuning_seconds"), errors="coerce").fillna(0.0)
    per_task = (q + t).groupby(rows["task"]).mean()
    return float(per_task.mean())


def zhao_table5(summary: pd.DataFrame, variants: dict, out_md, out_csv, tasks=None, models=None) -> list[Path]:
    """Table 5: k-means against group-wise linear clustering at the same bit-widths: scores, and
    the time each took (quantization plus centroid fine-tuning, mean per task) with the speed-up
    of k-means over group-wise."""
    from bertq.reports.zhao_paper import ZHAO_TABLE5

    tasks = ordered_tasks(summary, tasks)
    ts = task_scores(summary) if not summary.empty else pd.DataFrame(columns=["model", "method", "bits", "task"])
    agg, names = aggregate(summary, tasks), (labels(summary) if not summary.empty else {})
    kmeans, grouped = _variants_of(variants, "kmeans", grouped=False), _variants_of(variants, "linear_clustering", True)
    md = ["# k-means against group-wise linear clustering\n",
          f"Reproduces Table 5 of {ZHAO_CITATION}: per-task scores (percent), their average, and the time "
          "per task of quantization plus centroid fine-tuning; speed-up is the group-wise time over "
          f"k-means' at the same bit-width. k-means entries: {', '.join(kmeans) or 'none'}; group-wise "
          f"entries: {', '.join(grouped) or 'none'}.\n"]
    records = []
    for model in ordered_models(summary, models):
        md.append(f"## {names.get(model, model)}\n")
        rows = []
        bits_all = sorted({b for m in kmeans + grouped for b in _bits_of(ts, model, m)}, reverse=True)
        for b in bits_all:
            t_km = [_seconds(summary, model, m, b) for m in kmeans]
            t_km = t_km[0] if t_km else np.nan
            for m in kmeans + grouped:
                t_m = ts[(ts["model"] == model) & (ts["method"] == m) & (ts["bits"] == b)].set_index("task")
                if t_m.empty:
                    continue
                a = agg.loc[(agg["model"] == model) & (agg["method"] == m) & (agg["bits"] == b), "score"]
                seconds = _seconds(summary, model, m, b)
                speedup = seconds / t_km if m in grouped and t_km > 0 else np.nan
                rows.append([f"{_bits(b)} {m}"] + [_fmt(t_m["score"].get(t, np.nan)) for t in tasks]
                            + [_fmt(a.iloc[0] if len(a) else np.nan), f"{seconds:.2f}",
                               "" if np.isnan(speedup) else f"{speedup:.1f}x"])
                records.append({"model": model, "method": m, "bits": b, "seconds": seconds,
                                "kmeans_speedup": speedup, "score": a.iloc[0] if len(a) else np.nan})
        if rows:
            md.append(_md_table(["Model"] + [task_label(t) for t in tasks] + ["Avg", "seconds / task",
                                                                              "k-means speed-up"], rows))
        else:
            md.append("**No k-means or group-wise linear clustering results for this model.**\n")
    md.append(f"## Paper ({ZHAO_CITATION}, Table 5, BERT-Base, 128 groups, four 2080 Ti)\n")
    md.append(_md_table(["Model", "RTE", "MRPC", "acceleration"], [[k, *v] for k, v in ZHAO_TABLE5.items()]))
    write_text(out_md, "\n".join(md))
    write_csv(pd.DataFrame(records, columns=["model", "method", "bits", "seconds", "kmeans_speedup", "score"]), out_csv)
    return [Path(out_md), Path(out_csv)]


def zhao_table6(summary: pd.DataFrame, variants: dict, out_md, out_csv, tasks=None, models=None) -> list[Path]:
    """Table 6: score against the number of k-means iterations, per bit-width, over the k-means
    entries that differ in ``iterations``."""
    from bertq.reports.zhao_paper import ZHAO_TABLE6

    tasks = ordered_tasks(summary, tasks)
    ts = task_scores(summary) if not summary.empty else pd.DataFrame(columns=["model", "method", "bits", "task"])
    agg, names = aggregate(summary, tasks), (labels(summary) if not summary.empty else {})
    kmeans = sorted(_variants_of(variants, "kmeans", grouped=False),
                    key=lambda m: variants[m]["params"].get("iterations", 3))
    md = ["# Score against k-means iterations\n",
          f"Reproduces Table 6 of {ZHAO_CITATION}: per-task scores (percent) and their average for each "
          "k-means entry (per-tensor codebooks), by its maximum number of Lloyd iterations.\n"]
    records = []
    for model in ordered_models(summary, models):
        md.append(f"## {names.get(model, model)}\n")
        rows = []
        for b in sorted({b for m in kmeans for b in _bits_of(ts, model, m)}, reverse=True):
            for m in kmeans:
                t_m = ts[(ts["model"] == model) & (ts["method"] == m) & (ts["bits"] == b)].set_index("task")
                if t_m.empty:
                    continue
                it = variants[m]["params"].get("iterations", 3)
                a = agg.loc[(agg["model"] == model) & (agg["method"] == m) & (agg["bits"] == b), "score"]
                rows.append([_bits(b), str(it), m] + [_fmt(t_m["score"].get(t, np.nan)) for t in tasks]
                            + [_fmt(a.iloc[0] if len(a) else np.nan)])
                for t in tasks:
                    records.append({"model": model, "method": m, "iterations": it, "bits": b, "task": t,
                                    "score": t_m["score"].get(t, np.nan)})
        md.append(_md_table(["#bits", "iterations", "entry"] + [task_label(t) for t in tasks] + ["Avg"], rows, left=3)
                  if rows else "**No k-means results for this model.**\n")
    md.append(f"## Paper ({ZHAO_CITATION}, Table 6, ALBERT-Base, 1 bit)\n")
    md.append(_md_table(["Iteration", "QNLI", "MRPC", "STS-B"], [[str(k), *v] for k, v in ZHAO_TABLE6.items()]))
    write_text(out_md, "\n".join(md))
    write_csv(pd.DataFrame(records, columns=["model", "method", "iterations", "bits", "task", "score"]), out_csv)
    return [Path(out_md), Path(out_csv)]
