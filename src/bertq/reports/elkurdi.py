"""Reports reproducing El-Kurdi et al. (2022): Table 3 (FP32 / I8 / TM-IQR per GLUE task, mean and
standard deviation over seeds), Table 2 (the same on TyDi QA and Natural Questions) and Table 1 (words per second with and without IQR clipping), with
the paper's numbers (:mod:`bertq.reports.elkurdi_paper`) beside ours.

I8 and TM-IQR are the study's method entries with ``dynamic`` settings, without and with
``tm_iqr`` (read from their records in :attr:`Context.variants`); where several qualify, the first
in name order. Table 3 uses the paper's metric per task (Appendix A): MRPC and QQP F1, STS-B
Pearson, CoLA Matthews, the rest accuracy, MNLI matched and mismatched apart.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bertq.reports.elkurdi_paper import (
    ELKURDI_CITATION,
    MODES,
    PAPER_MODEL,
    PAPER_TASKS,
    TABLE1,
    TABLE1_TOKENS,
    TABLE2,
    TABLE2_TASKS,
    TABLE3,
    TABLE3_AVERAGE,
    iqr_cost,
    per_core,
)
from bertq.reports.paper import task_label
from bertq.reports.tables import _md_table, labels, ordered_models, ordered_tasks, write_csv, write_text

CITE = ELKURDI_CITATION
PAPER_METRIC = {"mrpc": "f1", "qqp": "f1", "stsb": "pearson", "cola": "matthews"}
"""The metric Table 3 prints per task (accuracy elsewhere)."""
MNLI_SPLITS = {"mnli": "dev_matched", "mnli_mm": "dev_mismatched"}
COLUMNS = ["model", "row", "variant", "task", "score", "score_std", "n_seeds", "source"]


def dynamic_variants(variants: dict) -> dict[str, str | None]:
    """``{"I8": name, "TM-IQR": name}``: the first entry (in name order) with dynamic settings
    without and with TM-IQR clipping, or None."""
    found: dict[str, str | None] = {"I8": None, "TM-IQR": None}
    for name in sorted(variants):
        dynamic = (variants[name] or {}).get("dynamic")
        if dynamic is None:
            continue
        mode = "I8" if dynamic.get("tm_iqr") is None else "TM-IQR"
        found[mode] = found[mode] or name
    return found


def uses_dynamic(methods: dict) -> bool:
    """Whether a study's ``quantization.methods`` has a dynamic entry (Table 3 and Table 1 read them)."""
    return any("dynamic" in (entry or {}) for entry in methods.values())


def paper_columns(tasks) -> list[str]:
    """Table 3's columns for the study's tasks: MNLI as its two rows, the rest as themselves."""
    out = []
    for t in tasks:
        out += ["mnli", "mnli_mm"] if t == "mnli" else [t]
    return out


def paper_value(summary_row: pd.Series, column: str) -> float:
    """One result's score in the paper's metric for ``column``."""
    metrics = json.loads(summary_row["metrics"]) if isinstance(summary_row["metrics"], str) else {}
    if column in MNLI_SPLITS:
        return float(metrics.get(f"{MNLI_SPLITS[column]}/accuracy", math.nan))
    key = PAPER_METRIC.get(column, "accuracy")
    if key in metrics:
        return float(metrics[key])
    return float(summary_row["score"]) if column not in PAPER_METRIC else math.nan


def _cells(summary: pd.DataFrame, model: str, method: str, bits: int, columns) -> dict[str, tuple]:
    """``{column: (mean, std, n_seeds)}`` of one variant over seeds, in the paper's metrics."""
    sub = summary[(summary["model"] == model) & (summary["method"] == method) & (summary["bits"] == bits)]
    out = {}
    for column in columns:
        task = "mnli" if column in MNLI_SPLITS else column
        rows = sub[sub["task"] == task]
        values = [v for v in (paper_value(r, column) for _, r in rows.iterrows()) if not math.isnan(v)]
        if values:
            std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
            out[column] = (float(np.mean(values)), std, len(values))
    return out


def _fmt(cell) -> str:
    if not cell:
        return "–"
    mean, std = cell[0], cell[1]
    return f"{mean:.1f}" if std is None or math.isnan(std) else f"{mean:.1f} ({std:.1f})"


def _average(cells: dict, columns) -> float:
    return float(np.mean([cells[c][0] for c in columns])) if columns and all(c in cells for c in columns) else math.nan


def table3(summary: pd.DataFrame, variants: dict, out_md, out_csv, tasks=None, models=None) -> list[Path]:
    """Table 3: FP32, I8 and TM-IQR per task (mean (std) over seeds), the differences to FP32,
    and the paper's rows for the same tasks beneath ours."""
    tasks = ordered_tasks(summary, tasks) if not summary.empty else list(tasks or [])
    models = ordered_models(summary, models) if not summary.empty else []
    names = labels(summary) if not summary.empty else {}
    chosen = dynamic_variants(variants)
    columns = paper_columns(tasks)
    shown = [c for c in columns if c in PAPER_TASKS]
    seeds = sorted(summary["seed"].unique()) if not summary.empty else []
    md = [
        "# Table 3: dynamic int8 with and without TM-IQR clipping\n",
        f"Reproduces Table 3 of {CITE}. FP32, I8 (8-bit weights per tensor, 8-bit activations quantized "
        "at run time per sequence at every linear's input, eqs. 1-2) and TM-IQR (I8 with the FF2 input "
        "clipped by Algorithm 2), both scored on bertq's integer engine unless the variant says otherwise. "
        f"Cells are the mean (standard deviation) over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}) "
        "in the paper's metric per task (MRPC and QQP F1, STS-B Pearson, CoLA Matthews, accuracy elsewhere, "
        f"MNLI matched and mismatched apart). I8: `{chosen['I8']}`; TM-IQR: `{chosen['TM-IQR']}`. Rows "
        f"marked ↳ paper are {PAPER_MODEL}'s (5 seeds) for the same tasks; Avg is over the tasks shown.\n",
    ]
    records: list[dict] = []
    points = {"FP32": ("fp32", 32), "I8": (chosen["I8"], 8), "TM-IQR": (chosen["TM-IQR"], 8)}
    header = ["Mode"] + [task_label(c) if c != "mnli_mm" else "MNLI-MM" for c in columns] + ["Avg"]
    for model in models:
        md.append(f"## {names.get(model, model)}\n")
        rows, cells_of = [], {}
        for mode, (method, bits) in points.items():
            cells = {} if method is None else _cells(summary, model, method, bits, columns)
            cells_of[mode] = cells
            rows.append([mode] + [_fmt(cells.get(c)) for c in columns] + [_fmt((_average(cells, columns), None))])
            for c, (mean, std, n) in cells.items():
                records.append(dict(model=model, row=mode, variant=method, task=c, score=mean, score_std=std,
                                    n_seeds=n, source="ours"))
        for mode in ("I8", "TM-IQR"):
            diff = {c: (cells_of[mode][c][0] - cells_of["FP32"][c][0], None)
                    for c in columns if c in cells_of[mode] and c in cells_of["FP32"]}
            rows.append([f"{mode} − FP32"] + [_fmt(diff.get(c)) for c in columns]
                        + [_fmt((_average(diff, columns), None))])
        for mode in ("FP32", "I8", "TM-IQR") if shown else ():  # the paper has none of the tasks shown
            paper = TABLE3[PAPER_MODEL][mode]
            cells = {c: (*paper[c], 5) for c in shown}
            rows.append([f"↳ paper {mode}"] + [_fmt(cells.get(c)) for c in columns]
                        + [_fmt((_average(cells, shown), None)) if shown == columns else "–"])
            for c in shown:
                records.append(dict(model=model, row=mode, variant=PAPER_MODEL, task=c, score=paper[c][0],
                                    score_std=paper[c][1], n_seeds=5, source="paper"))
        md.append(_md_table(header, rows))
        md.append("")
    if not models:
        md.append("**No results.**\n")
    md.append(f"## Paper ({CITE}, Table 3, as printed)\n")
    paper_rows = []
    for model, table in TABLE3.items():
        for mode in ("FP32", "I8", "TM-IQR"):
            paper_rows.append([model, mode] + [_fmt((*table[mode][c], 5)) for c in PAPER_TASKS]
                              + [f"{TABLE3_AVERAGE[model][mode]:.1f}"])
    md.append(_md_table(["Model", "Mode"] + [task_label(c) if c != "mnli_mm" else "MNLI-MM" for c in PAPER_TASKS]
                        + ["Average"], paper_rows, left=2))
    write_text(out_md, "\n".join(md) + "\n")
    write_csv(pd.DataFrame(records, columns=COLUMNS), out_csv)
    return [Path(out_md), Path(out_csv)]


def _qa_cells(qa: pd.DataFrame, model: str, method: str | None, bits: int) -> dict[str, tuple]:
    """``{task: (mean F1, std, seeds)}`` of one point on the QA tasks (F1 from each result's metrics)."""
    if method is None or qa.empty:
        return {}
    rows = qa[(qa["model"] == model) & (qa["method"] == method) & (qa["bits"] == bits)]
    out = {}
    for task, group in rows.groupby("task", sort=False):
        f1 = pd.Series([json.loads(m).get("f1", np.nan) if isinstance(m, str) else np.nan for m in group["metrics"]])
        out[task] = (float(f1.mean()), float(f1.std()) if len(f1) > 1 else None, len(f1))
    return out


def table2(qa: pd.DataFrame, variants: dict, out_md, out_csv, models=None) -> list[Path]:
    """Table 2: FP32, I8 and TM-IQR F1 on TyDi QA and Natural Questions per model (mean (std) over
    seeds), the paper's XLM-R rows as printed beneath."""
    models = ordered_models(qa, models) if not qa.empty else []
    names = labels(qa) if not qa.empty else {}
    chosen = dynamic_variants(variants)
    points = {"FP32": ("fp32", 32), "I8": (chosen["I8"], 8), "TM-IQR": (chosen["TM-IQR"], 8)}
    tasks = [t for t in TABLE2_TASKS if not qa.empty and t in set(qa["task"])]
    md = [
        "# Table 2: question answering with dynamic int8 and TM-IQR\n",
        f"Reproduces Table 2 of {CITE}: F1 (mean (std) over seeds) in FP32, I8 (`{chosen['I8']}`) and TM-IQR "
        f"(`{chosen['TM-IQR']}`). TyDi QA is its gold-passage task, F1 averaged over the non-English languages as "
        "its official GoldP evaluation does; Natural Questions is MRQA's short-answer version, F1 against its "
        "answer strings. The paper follows Alberti et al. (2019) and Clark et al. (2020) on the full tasks, so "
        "its numbers (beneath) measure a related but different thing.\n",
    ]
    records = []
    header = ["Model", "Mode"] + [task_label(t) for t in tasks]
    rows = []
    for model in models:
        for mode, (method, bits) in points.items():
            cells = _qa_cells(qa, model, method, bits)
            rows.append([names.get(model, model), mode] + [_fmt(cells.get(t)) for t in tasks])
            for t, (mean, std, n) in cells.items():
                records.append(dict(model=model, row=mode, variant=method, task=t, score=mean, score_std=std,
                                    n_seeds=n, source="ours"))
    md.append(_md_table(header, rows, left=2) if rows else "**No results.**\n")
    md.append(f"\n## Paper ({CITE}, Table 2, as printed)\n")
    paper_rows = []
    for model, table in TABLE2.items():
        for mode in MODES:
            paper_rows.append([model, mode] + [f"{table[t][mode]:.1f}" for t in TABLE2_TASKS])
            records += [dict(model=model, row=mode, variant=model, task=t, score=table[t][mode], score_std=None,
                             n_seeds=None, source="paper") for t in TABLE2_TASKS]
    md.append(_md_table(["Model", "Mode"] + [task_label(t) for t in TABLE2_TASKS], paper_rows, left=2))
    write_text(out_md, "\n".join(md) + "\n")
    write_csv(pd.DataFrame(records, columns=COLUMNS), out_csv)
    return [Path(out_md), Path(out_csv)]


TABLE1_COLUMNS = ["model", "backend", "variant", "method", "cpu", "kernel_path", "threads", "batch_size",
                  "sequence_length", "words_per_second", "words_per_second_per_core", "source"]


def _dynamic_mode(variants: dict, method: str) -> str | None:
    dynamic = (variants.get(method) or {}).get("dynamic")
    return None if dynamic is None else ("IQR" if dynamic.get("tm_iqr") is not None else "none")


def table1(throughput: pd.DataFrame, variants: dict, out_md, out_csv, models=None) -> list[Path]:
    """Table 1: words per second (sequences/s x tokens per sequence) of the dynamic int8 engine
    without and with TM-IQR, beside torch fp32 and torch's dynamic int8 timed in the same job,
    per core; the paper's Xeon rows beside."""
    df = throughput if not throughput.empty else pd.DataFrame(columns=["model"])
    models = [m for m in (models or list(dict.fromkeys(df["model"]))) if m in set(df["model"])]
    md = [
        "# Table 1: throughput cost of TM-IQR clipping\n",
        f"Reproduces Table 1 of {CITE}: words per second (tokens of the timed batch per second), on one "
        "machine, bertq's dynamic int8 engine without and with TM-IQR (I8 and TM-IQR: the paper's Method none "
        "and IQR) beside torch fp32 and torch's dynamic int8 timed in the same job (interleaved), and per core. "
        "The paper timed "
        f"{TABLE1_TOKENS}-token inputs on a 48-core Xeon 8260 (batch 48); our sequence length and threads are "
        "the study's `throughput` settings, given per row.\n",
    ]
    records, rows, speedup = [], [], {}
    for model in models:
        sub = df[df["model"] == model]
        for _, r in sub.iterrows():
            mode = _dynamic_mode(variants, str(r.get("method", "")))
            backend = str(r["backend"])
            if mode is None and not backend.startswith("torch"):
                continue
            if mode is not None and "engine" not in backend:
                continue
            wps = float(r["sequences_per_second"]) * float(r["sequence_length"])
            threads = int(r["threads"])
            label = backend if mode is None else f"bertq dynamic int8 engine ({'TM-IQR' if mode == 'IQR' else 'I8'})"
            rec = dict(model=model, backend=label, variant=r.get("method", ""), method=mode or "none",
                       cpu=r.get("cpu", ""), kernel_path=r.get("kernel_path", "") if mode else "",
                       threads=threads, batch_size=int(r["batch_size"]), sequence_length=int(r["sequence_length"]),
                       words_per_second=wps, words_per_second_per_core=wps / threads, source="ours")
            if rec in records:
                continue
            records.append(rec)
            if mode is not None and pd.notna(r.get("ratio_to_torch_fp32", float("nan"))):
                speedup[(model, mode)] = float(r["ratio_to_torch_fp32"])
            rows.append([model, label, rec["method"], str(rec["kernel_path"] or "–"), f"{threads}",
                         f"{rec['batch_size']} x {rec['sequence_length']}", f"{wps:,.0f}", f"{wps / threads:,.0f}"])
    header = ["Model", "Backend", "Method", "Kernel path", "Threads", "Batch", "WPS", "WPS per core"]
    if rows:
        md.append(_md_table(header, rows, left=4))
    else:
        md.append("**No throughput results for dynamic int8 variants** (time a `dynamic` entry through "
                  "`throughput.methods`).\n")
    cpus = sorted({r["cpu"] for r in records if r["cpu"]})
    if cpus:
        md.append(f"\nCPU: {'; '.join(cpus)}.\n")
    iqr = {r["model"]: r["words_per_second"] for r in records if r["method"] == "IQR"}
    none = {r["model"]: r["words_per_second"] for r in records if r["method"] == "none" and r["kernel_path"]}
    for model in sorted(iqr.keys() & none.keys()):
        paired = (model, "IQR") in speedup and (model, "none") in speedup
        cost = 1 - (speedup[(model, "IQR")] / speedup[(model, "none")] if paired else iqr[model] / none[model])
        how = "from each one's speed-up over torch fp32 within the same rounds" if paired else "from the medians"
        md.append(f"- {model}: TM-IQR costs {100 * cost:.1f}% of I8's words per second ({how}; the paper: "
                  f"{100 * iqr_cost():.1f}%).")
    md.append(f"\n## Paper ({CITE}, Table 1)\n")
    paper_rows = []
    for row in TABLE1:
        pc = per_core(row)
        paper_rows.append([row["cpu"], row["precision"], row["method"], str(row["batch"]), f"{row['wps']:,}",
                           "–" if pc is None else f"{pc:,.0f}"])
        records.append(dict(model="", backend=f"{row['cpu']} {row['precision']}", variant="", method=row["method"],
                            cpu=row["cpu"], kernel_path="", threads=row["cores"] or "", batch_size=row["batch"],
                            sequence_length=TABLE1_TOKENS, words_per_second=row["wps"],
                            words_per_second_per_core=pc if pc is not None else "", source="paper"))
    md.append(_md_table(["CPU", "Precision", "Method", "Batch", "WPS", "WPS per core"], paper_rows, left=3))
    write_text(out_md, "\n".join(md) + "\n")
    write_csv(pd.DataFrame(records, columns=TABLE1_COLUMNS), out_csv)
    return [Path(out_md), Path(out_csv)]
