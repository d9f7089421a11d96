"""Reports reproducing AQ-BERT (Zhao et al., 2021, "Automatic Mixed-Precision Quantization Search of
BERT"): Table 1 (AQ-BERT against Q-BERT, and here against uniform bit-widths, at the sizes the
study targets), Table 2 (the number of subgroups per layer), the bit assignments found (a heat-map
per model: layer and linear against subgroup, pruned subgroups in black) and the trade-off between
the encoder's size and the score, each with the paper's numbers (:mod:`bertq.reports.aqbert_paper`)
beside ours.

Sizes are the paper's: the encoder layers in MiB, embeddings excluded (``encoder_size_mib`` of
every result, :func:`bertq.cost.summary.encoder_size_bits`). The mixed-precision variants are the
study's entries with ``search`` settings (their records in :attr:`Context.variants`); every other
entry with quantized weights is a uniform baseline, one row per bit-width.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bertq.reports.aqbert_paper import (
    AQBERT_CITATION,
    COLUMN_LABELS,
    COLUMNS,
    METHOD_ROWS,
    TABLE1,
    TABLE2,
    TABLE2_COLUMNS,
    TABLE3,
    TABLE3_COLUMNS,
)
from bertq.reports.paper import task_label
from bertq.reports.tables import (
    POINT,
    _md_table,
    labels,
    ordered_models,
    ordered_tasks,
    seed_reduction,
    task_scores,
    write_csv,
    write_text,
)

CITE = AQBERT_CITATION
FP32 = ("fp32", 32)
CSV_COLUMNS = ["source", "model", "row", "variant", "bits", "groups", "target_mb", "size_mib", "task", "score",
               "score_std", "n_seeds"]


SQUAD_COLUMNS = {"squad_em": "exact_match", "squad_f1": "f1"}
"""SQuAD's two columns in Table 1 (exact match and F1 apart, as the paper prints them)."""


def with_squad(summary: pd.DataFrame, squad: pd.DataFrame | None) -> tuple[pd.DataFrame, list[str]]:
    """The classification rows and, from SQuAD's, one row per metric of Table 1 (``squad_em``,
    ``squad_f1``) with that metric as the score; returns them and those two task names (if any)."""
    if squad is None or squad.empty:
        return summary, []
    parts = [summary]
    for column, metric in SQUAD_COLUMNS.items():
        rows = squad.copy()
        rows["score"] = [json.loads(m).get(metric, math.nan) if isinstance(m, str) else math.nan
                         for m in rows["metrics"]]
        rows["task"] = column
        parts.append(rows)
    return pd.concat([p for p in parts if not p.empty], ignore_index=True), list(SQUAD_COLUMNS)


def column_label(task: str) -> str:
    return COLUMN_LABELS.get(task) if task in SQUAD_COLUMNS else task_label(task)


def searched(variants: dict) -> dict[str, dict]:
    """The mixed-precision entries (records with ``search`` settings), by name."""
    return {n: r for n, r in sorted(variants.items()) if (r or {}).get("search") is not None}


def uniform(variants: dict) -> list[str]:
    """The entries with quantized weights at one bit-width (not searched, not float, not dynamic)."""
    return [n for n, r in sorted(variants.items()) if (r or {}).get("search") is None
            and (r or {}).get("method") not in (None, "float") and (r or {}).get("dynamic") is None
            and (r or {}).get("leave_one_out") is None]


def series(name: str, record: dict) -> str:
    """The family a variant belongs to in the figures: AQ-BERT, Q-BERT, a uniform width retrained
    (a search entry with one width), or a uniform method without retraining."""
    if name == FP32[0]:
        return "fp32"
    search = record.get("search")
    if search is None:
        return f"uniform {record.get('method', name)}"
    if len(search["bits"]) == 1:
        return "uniform, retrained" if search.get("retrain_epochs", 1) else "uniform min-max"
    return METHOD_ROWS[record["method"]]


def row_label(name: str, record: dict, bits: int) -> str:
    """A variant's row in Table 1: its family, with its width where it has one."""
    family = series(name, record)
    if family == "uniform, retrained":
        return f"uniform {record['search']['bits'][0]}-bit, retrained"
    if family == "uniform min-max":
        return f"uniform min-max {record['search']['bits'][0]}-bit"
    if family.startswith("uniform"):
        return f"{family} {bits}-bit"
    return family


def points(summary: pd.DataFrame, variants: dict, tasks) -> pd.DataFrame:
    """One row per (model, variant, bits) of fp32, the searched and the uniform entries: the
    score per task (over seeds), the mean encoder size, the row's label, its target and groups."""
    chosen = {**searched(variants), **{n: variants[n] for n in uniform(variants)}}
    keep = summary[summary["method"].isin([FP32[0], *chosen]) & summary["task"].isin(tasks)]
    if keep.empty:
        return pd.DataFrame(columns=POINT + ["task", "score", "score_std", "n_seeds", "size_mib", "row", "series",
                                             "target_mb", "groups"])
    scores = task_scores(keep)
    sizes = pd.to_numeric(keep["encoder_size_mib"], errors="coerce").groupby(
        [keep["model"], keep["method"], keep["bits"]]).mean()
    scores["size_mib"] = [sizes.get((m, v, b), math.nan) for m, v, b in scores[POINT].itertuples(index=False)]
    records = {FP32[0]: {"method": "fp32"}, **chosen}
    scores["row"] = [row_label(v, records[v], int(b)) for v, b in zip(scores["method"], scores["bits"])]
    scores["series"] = [series(v, records[v]) for v in scores["method"]]
    scores["target_mb"] = [(records[v].get("search") or {}).get("target_mb", math.nan) for v in scores["method"]]
    scores["groups"] = [_groups(records[v]) for v in scores["method"]]
    return scores


def _groups(record: dict):
    search = record.get("search")
    if search is not None:
        return search["groups"]
    g = (record.get("params") or {}).get("granularity")
    return g if isinstance(g, int) and not isinstance(g, bool) else math.nan


def _cell(row) -> str:
    if row is None or math.isnan(row["score"]):
        return "–"
    std = row["score_std"]
    return f"{row['score']:.2f}" + ("" if math.isnan(std) else f" ± {std:.2f}")


def _size(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def _ours_long(pts: pd.DataFrame, names: dict) -> pd.DataFrame:
    out = pts.rename(columns={"method": "variant"}).assign(source="ours")
    out["model"] = out["model"].map(lambda m: names.get(m, m))
    return out.reindex(columns=CSV_COLUMNS)


def _paper_long(rows: list[dict], columns: list[str], key: str, distilbert: bool = False) -> pd.DataFrame:
    out = []
    for r in rows:
        for c in columns:
            model = "BERT-Base" if r["method"] == "fp32" or not distilbert else "DistilBERT"
            out.append({"source": "paper", "model": model,
                        "row": METHOD_ROWS.get(r["method"], r["method"]), "variant": r["method"],
                        "bits": math.nan, key: r["key"], "task": c, "score": r[c]})
    return pd.DataFrame(out).reindex(columns=CSV_COLUMNS)


def _paper_md(rows: list[dict], columns: list[str], key_label: str) -> str:
    header = ["Row", key_label] + [COLUMN_LABELS[c] for c in columns]
    body = [[METHOD_ROWS.get(r["method"], r["method"]), "N/A" if r["key"] is None else f"{r['key']:g}"]
            + ["–" if r[c] is None else f"{r[c]:.2f}" for c in columns] for r in rows]
    return _md_table(header, body, left=1)


def _study_points(summary, squad, variants: dict, tasks, models):
    """What both tables read: the task columns (SQuAD's two last), the models, their labels and the
    :func:`points`."""
    tasks = ordered_tasks(summary, tasks) if not summary.empty else list(tasks or [])
    summary, squad_tasks = with_squad(summary, squad)
    tasks = tasks + squad_tasks
    models = ordered_models(summary, models) if not summary.empty else []
    names = labels(summary) if not summary.empty else {}
    return tasks, models, names, points(summary, variants, tasks)


PAPER_TABLES = {
    1: ("Table 1: AQ-BERT against Q-BERT and uniform bit-widths at equal size", TABLE1, COLUMNS,
        "Table 1 (BERT-Base, 128 groups, 8-bit activations and embeddings)"),
    3: ("Table 3: AQ-BERT on DistilBERT", TABLE3, TABLE3_COLUMNS,
        "Table 3 (BERT-Base, DistilBERT, and AQ-BERT's searches on DistilBERT)"),
}
"""The two tables of size against score: their title, the paper's rows and columns, its heading."""


def table1(summary: pd.DataFrame, variants: dict, out_md, out_csv, tasks=None, models=None,
           squad: pd.DataFrame | None = None, table: int = 1) -> list[Path]:
    """Table 1 (or 3, on DistilBERT): per model, fp32 then every searched and uniform variant by
    size (largest first), with its size, target and score per task (SQuAD as exact match and F1);
    the paper's table beneath."""
    title, paper_rows, paper_columns, heading = PAPER_TABLES[table]
    tasks, models, names, pts = _study_points(summary, squad, variants, tasks, models)
    md = [f"# {title}\n",
          f"Reproduces Table {table} of {CITE}. Size: the encoder layers in MiB as the paper counts it (embeddings "
          "excluded; searched weights at their bits, biases and LayerNorm at 32), the mean over tasks and seeds "
          "(each task's search finds its own assignment). AQ-BERT: a bit-width per "
          "subgroup of output neurons, searched (eqs. 3-14) and retrained; Q-BERT: a bit-width per layer ranked "
          "by the Hessian's top eigenvalue, retrained the same way; uniform: one bit-width for every weight. "
          f"Cells: the task score ({seed_reduction()} over seeds). Rows ordered by size, so AQ-BERT, Q-BERT "
          "and the uniform rows of about the same size sit together.\n"]
    for model in models:
        sub = pts[pts["model"] == model]
        header = ["Row", "Variant", "Size (MiB)", "Target"] + [column_label(t) for t in tasks] + ["Mean"]
        rows = []
        order = sub.groupby(["method", "bits"], sort=False)["size_mib"].mean().sort_values(ascending=False)
        for (variant, bits), size in order.items():
            cells = sub[(sub["method"] == variant) & (sub["bits"] == bits)].set_index("task")
            got = [cells.loc[t] if t in cells.index else None for t in tasks]
            mean = (np.mean([g["score"] for g in got]) if all(g is not None for g in got) and got else math.nan)
            first = cells.iloc[0]
            rows.append([first["row"], f"`{variant}`" + ("" if variant == "fp32" else f" w{int(bits)}"), _size(size),
                         _size(first["target_mb"])] + [_cell(g) for g in got] + [_size(mean)])
        md.append(f"## {names.get(model, model)}\n")
        md.append(_md_table(header, rows, left=2) if rows else "No results.\n")
    md.append(f"## {CITE}, {heading}\n")
    md.append(_paper_md(paper_rows, paper_columns, "Size (MB)"))
    long = pd.concat([_ours_long(pts, names), _paper_long(paper_rows, paper_columns, "size_mib", distilbert=table == 3)], ignore_index=True)
    return [write_text(out_md, "\n".join(md)), write_csv(long, out_csv)]


def table2(summary: pd.DataFrame, variants: dict, out_md, out_csv, tasks=None, models=None,
           squad: pd.DataFrame | None = None) -> list[Path]:
    """Table 2: the searched variants (AQ-BERT and Q-BERT, not the single-width ones) by method and
    groups per layer, with their size and score per task; the paper's Table 2 beneath."""
    tasks, models, names, pts = _study_points(summary, squad, variants, tasks, models)
    pts = pts[pts["series"].isin(["AQ-BERT", "Q-BERT"])]
    md = ["# Table 2: the number of subgroups per layer\n",
          f"Reproduces Table 2 of {CITE}: each searched variant with its subgroups per linear (groups), its size "
          f"(MiB, embeddings excluded) and the task score ({seed_reduction()} over seeds), by method and groups.\n"]
    for model in models:
        sub = pts[pts["model"] == model].sort_values(["row", "groups", "size_mib"], ascending=[False, True, False])
        header = ["Row", "Groups", "Variant", "Size (MiB)"] + [column_label(t) for t in tasks]
        rows = []
        for variant, cells in sub.groupby("method", sort=False):
            cells = cells.set_index("task")
            first = cells.iloc[0]
            rows.append([first["row"], f"{int(first['groups'])}", f"`{variant}`", _size(first["size_mib"])]
                        + [_cell(cells.loc[t]) if t in cells.index else "–" for t in tasks])
        md.append(f"## {names.get(model, model)}\n")
        md.append(_md_table(header, rows, left=3) if rows else "No results.\n")
    md.append(f"## {CITE}, Table 2 (BERT-Base, a 40 MB model, bits 2/3/4/8)\n")
    md.append(_paper_md(TABLE2, TABLE2_COLUMNS, "Groups"))
    long = pd.concat([_ours_long(pts, names), _paper_long(TABLE2, TABLE2_COLUMNS, "groups")], ignore_index=True)
    return [write_text(out_md, "\n".join(md)), write_csv(long, out_csv)]


def assignments(summary: pd.DataFrame, variants: dict, model: str, tasks=None) -> dict[str, dict[str, list[int]]]:
    """``{variant: {linear: bits per subgroup}}`` of the model's searched variants, from the first
    task (in the study's order, SQuAD last) and the lowest seed that has one."""
    tasks = ordered_tasks(summary, tasks) if not summary.empty else []
    tasks = tasks + [t for t in summary["task"].unique() if t not in tasks] if not summary.empty else tasks
    out = {}
    for name, record in searched(variants).items():
        if series(name, record) not in METHOD_ROWS.values():  # one width everywhere: nothing assigned
            continue
        rows = summary[(summary["model"] == model) & (summary["method"] == name)
                       & summary["group_bits"].fillna("").astype(str).str.len().gt(0)]
        for task in tasks:
            found = rows[rows["task"] == task].sort_values("seed")
            if not found.empty:
                out[name] = json.loads(found.iloc[0]["group_bits"])
                break
    return out


def assignment_figure(summary: pd.DataFrame, variants: dict, model: str, out_png, out_svg, tasks=None,
                      squad: pd.DataFrame | None = None) -> list[Path]:
    """The bit assignment of each searched variant (AQ-BERT and Q-BERT, not the single-width ones):
    one panel per variant, a row per linear (layer by layer: Q, K, V, attention output, FFN in, FFN
    out), a column per subgroup, coloured by bits, pruned subgroups black."""
    from matplotlib import colors

    from bertq.reports.figures import _no_data, finish, plt

    if squad is not None and not squad.empty:
        summary = pd.concat([summary, squad], ignore_index=True)
    found = assignments(summary, variants, model, tasks)
    names = labels(summary) if not summary.empty else {}
    widths = sorted({b for a in found.values() for bits in a.values() for b in bits} | {0})
    palette = ["black"] + [plt.get_cmap("viridis")(i / max(1, len(widths) - 2)) for i in range(len(widths) - 1)]
    cmap = colors.ListedColormap(palette)
    norm = colors.BoundaryNorm(np.arange(len(widths) + 1) - 0.5, len(widths))
    index = {b: i for i, b in enumerate(widths)}
    height = 2.2 + 2.6 * max(1, len(found)) / 1.3
    fig, axes = plt.subplots(max(1, len(found)), 1, figsize=(7.5, height), squeeze=False)
    if not found:
        _no_data(axes[0][0], "no searched variant")
    for ax, (name, assignment) in zip(axes[:, 0], found.items()):
        linears = list(assignment)
        grid = np.array([[index[b] for b in assignment[n]] for n in linears])
        image = ax.imshow(grid, aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
        per_layer = sum(1 for n in linears if n.split(".")[3] == linears[0].split(".")[3])
        ax.set_yticks(range(0, len(linears), per_layer))
        ax.set_yticklabels([f"layer {n.split('.')[3]}" for n in linears[::per_layer]], fontsize=7)
        pruned = int(sum(b == 0 for bits in assignment.values() for b in bits))
        total = sum(len(b) for b in assignment.values())
        record = variants[name]
        ax.set_title(f"{series(name, record)} `{name}`: target {record['search']['target_mb']:g} MiB, "
                     f"{pruned}/{total} subgroups pruned", fontsize=8)
        ax.set_xlabel("subgroup of output neurons", fontsize=8)
        ax.set_xticks(range(0, grid.shape[1], math.ceil(grid.shape[1] / 8)))
        ax.set_xlim(-0.5, grid.shape[1] - 0.5)
        bar = fig.colorbar(image, ax=ax, ticks=range(len(widths)), fraction=0.04, pad=0.02)
        bar.ax.set_yticklabels([f"{b} bits" if b else "pruned" for b in widths], fontsize=7)
    title = f"AQ-BERT bit assignments: {names.get(model, model)} (rows per layer: Q, K, V, O, FFN in, FFN out)"
    return finish(fig, title, out_png, out_svg, rect=(0, 0, 1, 1 - 0.45 / height))


def tradeoff_figure(summary: pd.DataFrame, variants: dict, model: str, out_png, out_svg, tasks=None,
                    squad: pd.DataFrame | None = None) -> list[Path]:
    """Score against the encoder's size (MiB, embeddings excluded), a panel per task: AQ-BERT and
    Q-BERT at their targets, each uniform entry over its bit-widths, fp32 as a dashed line."""
    from bertq.reports.figures import _grid, _no_data, finish

    tasks = ordered_tasks(summary, tasks) if not summary.empty else list(tasks or [])
    summary, squad_tasks = with_squad(summary, squad)
    tasks = tasks + squad_tasks
    names = labels(summary) if not summary.empty else {}
    pts = points(summary, variants, tasks)
    pts = pts[pts["model"] == model]
    fig, axes = _grid(len(tasks))
    styles = {"AQ-BERT": ("tab:red", "*", 10), "Q-BERT": ("tab:purple", "D", 6)}
    lines = sorted(set(pts["series"]) - set(styles) - {"fp32"})  # a colour each, the same in every panel
    colours = dict(zip(lines, ["tab:blue", "tab:green", "tab:brown", "tab:olive", "tab:cyan", "tab:pink"] * len(lines)))
    for ax, task in zip(axes, tasks):
        sub = pts[(pts["task"] == task) & pts["size_mib"].notna()]
        if sub.empty:
            _no_data(ax, column_label(task))
            continue
        for family, g in sub[sub["method"] != FP32[0]].groupby("series", sort=True):
            g = g.sort_values("size_mib")
            color, marker, size = styles[family] if family in styles else (colours[family], "o", 4)
            ax.plot(g["size_mib"], g["score"], marker=marker, markersize=size, color=color,
                    linestyle="none" if family in styles else "-", label=family)
        fp = sub[sub["method"] == FP32[0]]
        if not fp.empty:
            ax.axhline(fp["score"].iloc[0], color="black", linestyle="--", linewidth=1,
                       label=f"fp32 ({fp['size_mib'].iloc[0]:.1f} MiB)")
        ax.set_title(column_label(task), fontsize=9)
        ax.set_xlabel("encoder size (MiB, embeddings excluded)", fontsize=8)
        ax.set_ylabel("score", fontsize=8)
        ax.legend(fontsize=6)
    return finish(fig, f"Score against encoder size: {names.get(model, model)}", out_png, out_svg)
