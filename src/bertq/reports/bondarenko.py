"""Reports reproducing Bondarenko et al. (2021): Tables 1, 2, 4, 5, 6 and 7/12 (activation
quantization of BERT: the problem, mixed precision and per-embedding-group PTQ, low-bit weights),
with the paper's numbers (:mod:`bertq.reports.bondarenko_paper`, BERT-Base) beneath ours.

The rows are classes of variants (the ``quantization.methods`` entries, read from their records
in :attr:`Context.variants`), classified by the predicates below: W8A32 (8-bit weights, fp32
activations), W32A8 (fp32 weights, 8-bit per-tensor activations), W8A8, MP-PTQ (activations with
16-bit sites), PEG-PTQ (per-embedding-group activations), the leave-one-out variants of Table 2 and
the low-bit PTQ classes of Table 7. Scores are reduced over seeds by the seed statistic in force
(:func:`bertq.reports.tables.seed_statistic`; the paper reports the median). Where a class holds
several variants, Tables 1 and 6 show the best per task (as the paper's Table 1 does over its range
settings, Table 9) and name it.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bertq.reports import tables
from bertq.reports.bondarenko_paper import (  # noqa: F401
    BONDARENKO_CITATION,
    LOW_BIT_ROWS,
    PAPER_MODEL,
    TABLE1,
    TABLE2,
    TABLE2_LABELS,
    TABLE4,
    TABLE4_NOTES,
    TABLE4_SITES16,
    TABLE5,
    TABLE6,
    TABLE6_PTQ,
    TABLE6_QAT,
    TABLE7,
    TABLE9,
    TABLE12,
    TASKS,
    activations,
    any_entry,
    is_leave_one_out,
    is_mixed_precision,
    is_peg,
    is_w8a8,
    is_w8a8_qat,
    is_w8a32,
    is_w32a8,
    low_bit_class,
    memory_reduction,
    per_tensor_activations,
    record_of,
    table2_key,
    table5_label,
)
from bertq.reports.paper import task_label
from bertq.reports.tables import (
    _md_table,
    labels,
    ordered_models,
    ordered_tasks,
    score_label,
    task_scores,
    write_csv,
    write_text,
)

CITE = BONDARENKO_CITATION
COLUMNS = ["model", "row", "variant", "bits", "task", "score", "score_std", "n_seeds", "source", "configuration"]
"""The long-form CSV of every table: our rows (``source`` ours) and the paper's beside them (paper)."""
PAPER_ROW = "↳ paper"
FFN_SITES = frozenset({"attention.norm", "ffn.output", "ffn.residual_sum"})
"""The FFN's input (the attention block's LayerNorm output), output and residual sum: where the
paper applies PEG "only FFN" (Table 5) and its † 16-bit sites (Table 4)."""
FINAL_OUTPUT = frozenset({"head.output", "pooler.output"})
KIND_WORDS = {
    "attention.scores": "softmax input",
    "embeddings.sum": "sum of embeddings",
    "attention.output": "self-attention output",
    "attention.probs": "softmax output",
    "ffn.residual_sum": "residual connections after FFN",
}
"""Table 2's words for the site kinds it leaves out."""
PEG_WHERE = {"ffn": "FFN input, output and sum", "all": "every site"}
REFERENCE_LAYERS = 12
"""Site patterns are read against BERT-Base's 12 layers to name what they select."""


# --- describing variants -------------------------------------------------------------------------


def weights_label(record: dict) -> str:
    """The weights' range setting in Table 9's words: min-max (LQ's max |W|), MSE, or the method."""
    method = record.get("method")
    if method == "float":
        return "fp32"
    text = {"lq": "min-max", "mse": "MSE", "aciq": "ACIQ"}.get(method, str(method))
    if record.get("embedding_bits") is not None:
        text += f", {record['embedding_bits']}-bit embd."
    return text


def estimator_label(a: dict | None) -> str:
    """An activation range estimator in Table 9's words: ``running min-max (bs 4, nb 16)``."""
    if not a:
        return "fp32"
    est, bs, nb = a.get("estimator", "current_minmax"), a.get("batch_size", 1), a.get("batches", 1)
    if est == "current_minmax":
        return f"current min-max (bs {bs})"
    name = {
        "running_minmax": "running min-max",
        "mse": "MSE",
        "percentile": f"percentile {a.get('percentile', 99.99)}",
    }.get(est, str(est))
    return f"{name} (bs {bs}, nb {nb})"


def training_label(record: dict) -> str:
    """A variant's training after quantization in words: ``QAT (lr 5e-05, bs 32, 3 epochs, attn.
    dropout 0.1)``, ``AdaRound (1024 seq., 10000 it.)``, or nothing."""
    if record.get("qat"):
        q = record["qat"]
        return (
            f"QAT (lr {q.get('learning_rate')}, bs {q.get('batch_size')}, {q.get('epochs')} epochs, "
            f"attn. dropout {q.get('attention_dropout')})"
        )
    if record.get("adaround"):
        a = record["adaround"]
        return f"AdaRound ({a.get('sequences')} seq., {a.get('iterations')} it.)"
    return ""


def describe(record: dict | None) -> str:
    """``W min-max, A running min-max (bs 4, nb 16)``, and the training after quantization."""
    if not record:
        return ""
    text = f"W {weights_label(record)}, A {estimator_label(activations(record))}"
    trained_by = training_label(record)
    return f"{text}, {trained_by}" if trained_by else text


def paper_setting(task: str) -> str:
    """Table 9's best W8A8 range setting for ``task``, as :func:`describe` words ours."""
    t = TABLE9.get(task)
    return f"W {t['weights']}, A {estimator_label(t)}" if t else "–"


def _site_kinds(patterns) -> tuple[set, set]:
    """(kinds selected in every layer, kinds selected in some layers only) by site ``patterns``,
    read against BERT-Base's sites."""
    from bertq.models import sites

    names = sites.site_names(REFERENCE_LAYERS, "sequence")
    chosen: set[str] = set()
    for p in patterns:
        with contextlib.suppress(ValueError):  # a pattern no site of BERT-Base matches selects nothing
            chosen.update(sites.select([p], names, REFERENCE_LAYERS))
    full, partial = set(), set()
    for kind in sites.KINDS:
        of_kind = [n for n in names if sites.kind_of(n) == kind]
        hit = [n for n in of_kind if n in chosen]
        if hit and len(hit) == len(of_kind):
            full.add(kind)
        elif hit:
            partial.add(kind)
    return full, partial


def sites16_description(record: dict) -> str:
    """The sites a mixed-precision variant keeps at other bits: ``*.ffn.residual_sum: 16-bit``."""
    a = activations(record) or {}
    return "; ".join(f"{p}: {b}-bit" for p, b in (a.get("site_bits") or {}).items())


def mp_paper_row(record: dict) -> str | None:
    """The Table 4 row whose 16-bit sites (all layers) the variant keeps, or None."""
    site_bits = (activations(record) or {}).get("site_bits") or {}
    if not site_bits or any(int(b) != 16 for b in site_bits.values()):
        return None
    full, partial = _site_kinds(list(site_bits))
    if partial:
        return None
    for row, kinds in TABLE4_SITES16.items():
        if full == kinds or (
            kinds & FINAL_OUTPUT and full - FINAL_OUTPUT == kinds - FINAL_OUTPUT and full & FINAL_OUTPUT
        ):
            return row
    return None


def peg_key(record: dict) -> tuple[int, bool, str]:
    """(groups K, permutation, where) of a PEG variant, where ``ffn`` = only the FFN's input, output
    and residual sum (PEG's default sites), ``all`` = every site, else the patterns."""
    peg = (activations(record) or {}).get("peg") or {}
    patterns = peg.get("sites")
    if patterns is not None and (patterns == "*" or "*" in patterns):
        where = "all"
    elif patterns is None:
        where = "ffn"
    else:
        full, partial = _site_kinds(patterns)
        where = "ffn" if full == FFN_SITES and not partial else ", ".join(patterns)
    return int(peg.get("groups", 1)), bool(peg.get("permute", False)), where


def peg_label(key: tuple[int, bool, str], hidden: int | None = None) -> str:
    """A PEG variant's row in Table 5's words; K equal to the model's ``hidden`` size (768 when
    unknown, BERT-Base's) is per-embedding."""
    groups, permute, where = key
    per_embd = groups == (hidden or 768)
    if groups == 1 or groups == 768 or where not in ("ffn", "all"):
        return table5_label(*key)  # the paper's own words
    suffix = (" + P" if permute else "") + (" (= per-embd.)" if per_embd else "")
    return f"{groups}{suffix}" + (" (only FFN)" if where == "ffn" else "")


def peg_paper_key(key: tuple[int, bool, str], hidden: int | None = None) -> tuple[int, bool, str]:
    """The Table 5 key of a PEG variant: per-embedding (K = ``hidden``) is the paper's K = 768."""
    groups, permute, where = key
    return (768 if groups == (hidden or 768) else groups), permute, where


def loo_key(record: dict) -> str:
    """The Table 2 key of a leave-one-out variant (:func:`bondarenko_paper.table2_key`)."""
    loo = record.get("leave_one_out") or {}
    return table2_key(loo.get("kind"), loo.get("layers", "all"))


def loo_label(record: dict) -> str:
    """Table 2's words for a leave-one-out variant: ``all, except softmax input (attention.scores)``."""
    loo = record.get("leave_one_out") or {}
    kind = loo.get("kind")
    if kind is None:
        return "all"
    text = f"all, except {KIND_WORDS.get(kind, kind)} (`{kind}`)"
    return text if loo.get("layers", "all") in (None, "all") else text + ", in the last two layers only"


# --- scores --------------------------------------------------------------------------------------


def _scores(summary: pd.DataFrame) -> pd.DataFrame:
    if summary.empty:
        return pd.DataFrame(columns=["model", "method", "bits", "task", "score", "score_std", "n_seeds", "size_bytes"])
    return task_scores(summary)


def points(ts: pd.DataFrame, variants: dict, model: str, predicate) -> list[tuple[str, int]]:
    """(variant, bits) of ``model``'s results whose record satisfies ``predicate(record, bits)``."""
    sub = ts[ts["model"] == model]
    found = []
    for method, bits in dict.fromkeys(zip(sub["method"], sub["bits"])):
        record = variants.get(method)
        if record is not None and predicate(record, int(bits)):
            found.append((method, int(bits)))
    return sorted(found)


def _cell(ts: pd.DataFrame, model: str, point, task: str) -> dict:
    method, bits = point
    hit = ts[(ts["model"] == model) & (ts["method"] == method) & (ts["bits"] == bits) & (ts["task"] == task)]
    if hit.empty or pd.isna(hit["score"].iloc[0]):
        return {}
    r = hit.iloc[0]
    return {
        "variant": method,
        "bits": bits,
        "score": float(r["score"]),
        "score_std": r["score_std"],
        "n_seeds": int(r["n_seeds"]),
    }


def best_per_task(ts: pd.DataFrame, model: str, candidates, tasks) -> dict[str, dict]:
    """Per task, the candidate (variant, bits) with the highest seed-statistic score (ties: the
    first in name order): ``{task: {"variant", "bits", "score", "score_std", "n_seeds"}}``; tasks
    without any result are left out."""
    out = {}
    for task in tasks:
        cells = [c for c in (_cell(ts, model, p, task) for p in sorted(candidates)) if c]
        if cells:
            out[task] = max(cells, key=lambda c: c["score"])
    return out


def point_row(ts: pd.DataFrame, model: str, point, tasks) -> dict[str, dict]:
    """One variant's cells per task (as :func:`best_per_task`)."""
    return {t: c for t in tasks if (c := _cell(ts, model, point, t))}


def row_mean(cells: dict[str, dict], tasks) -> float:
    """The mean over ``tasks`` of the row's scores; NaN unless every task has one."""
    if not tasks or any(t not in cells for t in tasks):
        return float("nan")
    return float(np.mean([cells[t]["score"] for t in tasks]))


def best_variant(ts: pd.DataFrame, model: str, candidates, tasks):
    """The single candidate with the highest mean over ``tasks`` (those with every task first)."""
    best, key = None, None
    for p in sorted(candidates):
        cells = point_row(ts, model, p, tasks)
        if not cells:
            continue
        k = (len(cells) == len(tasks), float(np.mean([c["score"] for c in cells.values()])))
        if key is None or k > key:
            best, key = p, k
    return best


# --- rendering -----------------------------------------------------------------------------------


def _fmt(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def paper_mean(row: dict, tasks) -> float:
    """The paper row's mean over ``tasks``: its printed GLUE for all eight, else the mean of the cells
    (NaN if one is missing)."""
    if set(tasks) == set(TASKS) and row.get("glue") is not None:
        return float(row["glue"])
    values = [row.get(t) for t in tasks]
    return float("nan") if not values or any(v is None for v in values) else float(np.mean(values))


class _Table:
    """Rows of one model's table and their CSV records."""

    def __init__(self, model: str, tasks: list[str], records: list, extra: list[str] | None = None):
        self.model, self.tasks, self.records, self.rows, self.extra = model, tasks, records, [], extra or []

    def ours(self, row: str, cells: dict[str, dict], variant: str = "", config: str = "", mean=None, extra=()):
        mean = row_mean(cells, self.tasks) if mean is None else mean
        self.rows.append(
            [row, variant, *extra] + [_fmt(cells.get(t, {}).get("score")) for t in self.tasks] + [_fmt(mean)]
        )
        for t in self.tasks:
            c = cells.get(t, {})
            self.records.append(
                {
                    "model": self.model,
                    "row": row,
                    "variant": c.get("variant", variant),
                    "bits": c.get("bits", np.nan),
                    "task": t,
                    "score": c.get("score", np.nan),
                    "score_std": c.get("score_std", np.nan),
                    "n_seeds": c.get("n_seeds", 0),
                    "source": "ours",
                    "configuration": config,
                }
            )
        self.records.append(
            {
                "model": self.model,
                "row": row,
                "variant": variant,
                "bits": np.nan,
                "task": "avg",
                "score": mean,
                "score_std": np.nan,
                "n_seeds": np.nan,
                "source": "ours",
                "configuration": config,
            }
        )

    def paper(self, row: str, paper_row: dict | None, label: str, extra=()):
        if paper_row is None:
            return
        mean = paper_mean(paper_row, self.tasks)
        self.rows.append([PAPER_ROW, label, *extra] + [_fmt(paper_row.get(t)) for t in self.tasks] + [_fmt(mean)])
        for t in self.tasks + ["avg"]:
            v = mean if t == "avg" else paper_row.get(t)
            self.records.append(
                {
                    "model": self.model,
                    "row": row,
                    "variant": "",
                    "bits": np.nan,
                    "task": t,
                    "score": np.nan if v is None else v,
                    "score_std": np.nan,
                    "n_seeds": np.nan,
                    "source": "paper",
                    "configuration": f"{CITE}, {label} ({PAPER_MODEL})",
                }
            )

    def markdown(self, first: str = "Configuration") -> str:
        header = [first, "Variant", *self.extra] + [task_label(t) for t in self.tasks] + [score_label(self.tasks)]
        return _md_table(header, self.rows, left=2 + len(self.extra))


def _context(summary: pd.DataFrame, tasks, models):
    tasks = ordered_tasks(summary, tasks) if not summary.empty else list(tasks or [])
    models = ordered_models(summary, models) if not summary.empty else []
    names = labels(summary) if not summary.empty else {}
    paper_of = (
        {}
        if summary.empty or "paper_name" not in summary
        else summary.dropna(subset=["paper_name"]).groupby("model")["paper_name"].first().astype(str).to_dict()
    )
    return tasks, models, names, paper_of


def _intro(title: str, table: str, summary: pd.DataFrame, tasks, what: str) -> list[str]:
    seeds = sorted(summary["seed"].unique()) if not summary.empty else []
    statistic = tables._seed_statistic.get()
    shown = [t for t in tasks if t in TASKS]
    mean = score_label(tasks)
    return [
        f"# {title}\n",
        f"Reproduces {table} of {CITE}. {what} Scores in percent (GLUE's metric per task; MRPC and QQP "
        f"the mean of accuracy and F1, STS-B of Pearson and Spearman, MNLI of matched and mismatched), the "
        f"{statistic} over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}); {mean} is the mean over the "
        f"tasks shown, given when every task has a score. Rows marked {PAPER_ROW} are the paper's "
        f"({PAPER_MODEL}, the median over 5 seeds), beside ours; their {mean} is the mean over the same "
        f"tasks{' (the printed GLUE score for all eight)' if set(shown) == set(TASKS) else ''}.\n",
    ]


def _model_header(model: str, names: dict, paper_of: dict) -> str:
    text = f"## {names.get(model, model)}\n"
    paper_name = paper_of.get(model, "")
    if paper_name != PAPER_MODEL:
        what = f"its paper name is {paper_name}" if paper_name and paper_name != "nan" else "it has no paper name"
        text += (
            f"\nThis model is not {PAPER_MODEL} ({what}): the paper's rows are {PAPER_MODEL}'s, shown for reference.\n"
        )
    return text


def _write(md: list[str], records: list, out_md, out_csv, columns=COLUMNS) -> list[Path]:
    write_text(out_md, "\n".join(md) + "\n")
    write_csv(pd.DataFrame(records, columns=columns), out_csv)
    return [Path(out_md), Path(out_csv)]


def _paper_table(title: str, rows: dict, columns: list[str], first: str = "Configuration") -> str:
    """A paper table in full, as printed."""
    body = [[label] + [_fmt(row.get(c)) for c in columns] for label, row in rows.items()]
    return f"{title}\n\n" + _md_table([first] + [task_label(c) if c != "glue" else "GLUE" for c in columns], body)


def _fp32(ts, model, tasks):
    return point_row(ts, model, ("fp32", 32), tasks)


TABLE1_CLASSES = {"W8A8": is_w8a8, "W32A8": lambda r, b: is_w32a8(r), "W8A32": is_w8a32}


def table1(summary: pd.DataFrame, variants: dict, out_md, out_csv, tasks=None, models=None) -> list[Path]:
    """Table 1: FP32, W8A8, W32A8 and W8A32 per task, each class's best variant per task (the paper's
    best range setting per task, Table 9), which one it was, and the paper's rows beneath."""
    tasks, models, names, paper_of = _context(summary, tasks, models)
    ts = _scores(summary)
    md = _intro(
        "Table 1: 8-bit post-training quantization, best range setting per task",
        "Table 1",
        summary,
        tasks,
        "Per task, the best variant of each class (highest score): W8A8 (8-bit weights and "
        "per-tensor 8-bit activations), W32A8 (activations only), W8A32 (weights only); the second "
        "table names the variant and its range setting, beside the paper's best (Table 9).",
    )
    records: list[dict] = []
    for model in models:
        md.append(_model_header(model, names, paper_of))
        t = _Table(model, tasks, records)
        t.ours("FP32", _fp32(ts, model, tasks), "fp32")
        t.paper("FP32", TABLE1["FP32"], "Table 1 FP32")
        chosen_rows = []
        for cls, predicate in TABLE1_CLASSES.items():
            best = best_per_task(ts, model, points(ts, variants, model, predicate), tasks)
            used = sorted({c["variant"] for c in best.values()})
            configs = {task: f"`{c['variant']}`: {describe(variants.get(c['variant']))}" for task, c in best.items()}
            t.ours(
                cls,
                best,
                ", ".join(used) if len(used) < 3 else f"{len(used)} variants (best per task)",
                config="; ".join(f"{task}: {text}" for task, text in configs.items()),
            )
            t.paper(cls, TABLE1[cls], f"Table 1 {cls}")
            chosen_rows.append([cls] + [configs.get(task, "–") for task in tasks])
        chosen_rows.append([f"W8A8, paper (Table 9, {PAPER_MODEL})"] + [paper_setting(task) for task in tasks])
        md.append(t.markdown())
        md.append(
            "\nThe variant chosen per task and its range setting (weights W, activations A with batch size bs "
            "and number of batches nb):\n"
        )
        md.append(_md_table(["Class"] + [task_label(task) for task in tasks], chosen_rows, left=1 + len(tasks)))
    if not models:
        md.append("**No results.**\n")
    md.append(f"## Paper ({CITE}, Table 1, {PAPER_MODEL})\n")
    md.append(_paper_table("As printed:", TABLE1, TASKS + ["glue"]))
    return _write(md, records, out_md, out_csv)


def table2(summary: pd.DataFrame, variants: dict, out_md, out_csv, tasks=None, models=None) -> list[Path]:
    """Table 2: the leave-one-out variants (weights fp32, one site kind left unquantized), ordered by
    their mean score (lowest first, as the paper's rows roughly are), the paper's value beneath those
    it has."""
    tasks, models, names, paper_of = _context(summary, tasks, models)
    ts = _scores(summary)
    md = _intro(
        "Table 2: leave-one-out analysis of the activation quantizers",
        "Table 2",
        summary,
        tasks,
        "Weights fp32, activations quantized at every site but the kind named (in every layer, or in "
        "the last two only; `all` leaves none out).",
    )
    records: list[dict] = []
    for model in models:
        md.append(_model_header(model, names, paper_of))
        t = _Table(model, tasks, records)
        t.ours("none (FP32 model)", _fp32(ts, model, tasks), "fp32")
        t.paper("none (FP32 model)", TABLE2["none"], TABLE2_LABELS["none"])
        found = points(ts, variants, model, lambda r, b: is_leave_one_out(r))
        rows = [(p, point_row(ts, model, p, tasks)) for p in found]
        means = {p: row_mean(cells, tasks) for p, cells in rows}
        rows.sort(key=lambda pr: (math.isnan(means[pr[0]]), 0.0 if math.isnan(means[pr[0]]) else means[pr[0]], pr[0]))
        for p, cells in rows:
            record = variants[p[0]]
            label, key = loo_label(record), loo_key(record)
            t.ours(label, cells, p[0], config=describe(record))
            t.paper(label, TABLE2.get(key), TABLE2_LABELS.get(key, ""))
        md.append(t.markdown("Quantized activations"))
        if not rows:
            md.append("\n**No leave-one-out results for this model.**\n")
    md.append(f"## Paper ({CITE}, Table 2, {PAPER_MODEL}, current min-max, batch size 1)\n")
    md.append(
        _paper_table(
            "As printed:",
            {TABLE2_LABELS[k]: v for k, v in TABLE2.items()},
            ["stsb", "mnli", "qnli", "rte"],
            first="Quantized activations",
        )
    )
    return _write(md, records, out_md, out_csv)


def _same_setup(a: dict, b: dict) -> bool:
    """Whether two variants share weights and the activation range estimator."""
    keys = ("estimator", "batch_size", "batches")
    aa, ab = activations(a) or {}, activations(b) or {}
    return (
        a.get("method") == b.get("method")
        and a.get("bits") == b.get("bits")
        and all(aa.get(k) == ab.get(k) for k in keys)
    )


def _w8a8_baselines(
    t: _Table, ts, variants, model, tasks, of: list[str], row: str, paper_row, paper_label, extra=()
) -> None:
    """The per-tensor W8A8 rows a table compares against: the W8A8 variants with the same weights
    and range estimator as the variants ``of``, else the best W8A8 per task."""
    candidates = points(ts, variants, model, is_w8a8)
    same = [p for p in candidates if any(_same_setup(variants[p[0]], variants[v]) for v in of if v in variants)]
    if same:
        for p in same:
            t.ours(row, point_row(ts, model, p, tasks), p[0], config=describe(variants[p[0]]), extra=extra)
    else:
        best = best_per_task(ts, model, candidates, tasks)
        used = sorted({c["variant"] for c in best.values()})
        t.ours(row, best, ("best per task: " + ", ".join(used)) if used else "none", extra=extra)
    t.paper(row, paper_row, paper_label, extra=extra)


def table4(summary: pd.DataFrame, variants: dict, out_md, out_csv, tasks=None, models=None) -> list[Path]:
    """Table 4: mixed-precision PTQ (W8, some activation sites in 16 bits) beside per-tensor W8A8
    and FP32; each variant's 16-bit sites named and matched to the paper's row."""
    tasks, models, names, paper_of = _context(summary, tasks, models)
    ts = _scores(summary)
    md = _intro(
        "Table 4: mixed-precision post-training quantization",
        "Table 4",
        summary,
        tasks,
        "8-bit weights and activations but for the sites each variant keeps in 16 bits "
        f"(paper: {'; '.join(f'{k} {v}' for k, v in TABLE4_NOTES.items())}); W8A8 is the per-tensor "
        "variant with the same range setting (else the best W8A8 per task).",
    )
    records: list[dict] = []
    mp_names = [n for n, r in variants.items() if is_mixed_precision(r)]
    for model in models:
        md.append(_model_header(model, names, paper_of))
        t = _Table(model, tasks, records, extra=["16-bit sites"])
        t.ours("FP32", _fp32(ts, model, tasks), "fp32", extra=[""])
        t.paper("FP32", TABLE4["FP32"], "Table 4 FP32", extra=[""])
        _w8a8_baselines(
            t, ts, variants, model, tasks, mp_names, "W8A8 PTQ", TABLE4["W8A8 PTQ"], "Table 4 W8A8 PTQ", extra=["none"]
        )
        found = points(ts, variants, model, lambda r, b: is_mixed_precision(r))
        order = list(TABLE4_SITES16)
        found.sort(
            key=lambda p: (
                order.index(mp_paper_row(variants[p[0]]) or "") if mp_paper_row(variants[p[0]]) else len(order),
                p,
            )
        )
        for p in found:
            record = variants[p[0]]
            paper_row = mp_paper_row(record)
            sites16 = sites16_description(record)
            t.ours(
                paper_row or "MP-PTQ",
                point_row(ts, model, p, tasks),
                p[0],
                config=f"{describe(record)}; {sites16}",
                extra=[sites16],
            )
            if paper_row:
                t.paper(paper_row, TABLE4[paper_row], f"Table 4 {paper_row}", extra=[""])
        md.append(t.markdown())
        if not found:
            md.append("\n**No mixed-precision results for this model.**\n")
    md.append(f"## Paper ({CITE}, Table 4, {PAPER_MODEL})\n")
    md.append(
        _paper_table(
            "As printed (" + "; ".join(f"{k} {v}" for k, v in TABLE4_NOTES.items()) + "):",
            TABLE4,
            ["stsb", "mnli", "qnli", "rte"],
            first="Method",
        )
    )
    return _write(md, records, out_md, out_csv)


def _hidden(summary: pd.DataFrame, model: str) -> int | None:
    """The model's hidden size, from the summary's ``hidden`` column where it has one."""
    if "hidden" not in summary:
        return None
    values = pd.to_numeric(summary.loc[summary["model"] == model, "hidden"], errors="coerce").dropna()
    return int(values.iloc[0]) if len(values) else None


def table5(summary: pd.DataFrame, variants: dict, out_md, out_csv, tasks=None, models=None) -> list[Path]:
    """Table 5: per-embedding-group activation quantization by the number of groups K, range-based
    permutation (+P) and where it applies (only the FFN's input, output and sum, or everywhere),
    beside per-tensor W8A8 (K = 1)."""
    tasks, models, names, paper_of = _context(summary, tasks, models)
    ts = _scores(summary)
    md = _intro(
        "Table 5: per-embedding-group activation quantization",
        "Table 5",
        summary,
        tasks,
        "8-bit weights and activations; PEG splits the embedding dimensions of the sites named into K "
        "groups with a range each (+P: sorted by range first); the rest per tensor.",
    )
    records: list[dict] = []
    peg_names = [n for n, r in variants.items() if is_peg(r)]
    for model in models:
        md.append(_model_header(model, names, paper_of))
        t = _Table(model, tasks, records, extra=["PEG sites"])
        t.ours("FP32", _fp32(ts, model, tasks), "fp32", extra=[""])
        t.paper("FP32", TABLE4["FP32"], "Table 5 FP32", extra=[""])
        per_tensor = table5_label(1, False, "all")
        _w8a8_baselines(
            t,
            ts,
            variants,
            model,
            tasks,
            peg_names,
            per_tensor,
            TABLE5[(1, False, "all")],
            f"Table 5 {per_tensor}",
            extra=["none (per tensor)"],
        )
        found = points(ts, variants, model, lambda r, b: is_peg(r))
        found.sort(
            key=lambda p: (
                peg_key(variants[p[0]])[2] != "all",
                -peg_key(variants[p[0]])[0],
                peg_key(variants[p[0]])[1],
                p,
            )
        )
        hidden = _hidden(summary, model)
        for p in found:
            record = variants[p[0]]
            key = peg_key(record)
            label, where, paper_key = peg_label(key, hidden), PEG_WHERE.get(key[2], key[2]), peg_paper_key(key, hidden)
            t.ours(label, point_row(ts, model, p, tasks), p[0], config=describe(record), extra=[where])
            if paper_key in TABLE5:
                paper_label = table5_label(*paper_key)
                t.paper(label, TABLE5[paper_key], f"Table 5 {paper_label}", extra=[where])
        md.append(t.markdown())
        if not found:
            md.append("\n**No per-embedding-group results for this model.**\n")
    md.append(f"## Paper ({CITE}, Table 5, {PAPER_MODEL})\n")
    md.append(
        _paper_table(
            "As printed (only FFN: PEG on the FFN's input, output and residual sum; +P: range-based permutation):",
            {table5_label(*k): v for k, v in TABLE5.items()},
            ["stsb", "mnli", "qnli", "rte"],
            first="#groups, K",
        )
    )
    return _write(md, records, out_md, out_csv)


def table6(summary: pd.DataFrame, variants: dict, out_md, out_csv, tasks=None, models=None) -> list[Path]:
    """Table 6: FP32, W8A8 PTQ (best per task, as Table 1), W8A{8,16} MP-PTQ, W8A8 PEG-PTQ and W8A8
    QAT (each the single variant of its class with the best mean score)."""
    tasks, models, names, paper_of = _context(summary, tasks, models)
    ts = _scores(summary)
    md = _intro(
        "Table 6: 8-bit quantization, the proposed methods",
        "Table 6",
        summary,
        tasks,
        "W8A8 PTQ is the best W8A8 variant per task (Table 1); MP-PTQ, PEG-PTQ and QAT are each the "
        "one variant of the class with the best mean score (the paper: Table 4's *†‡ setup; K = 6 with "
        "permutation on the FFN's input, output and sum; QAT with learned ranges from the W8A8 PTQ "
        "setup).",
    )
    records: list[dict] = []
    for model in models:
        md.append(_model_header(model, names, paper_of))
        t = _Table(model, tasks, records)
        t.ours("FP32", _fp32(ts, model, tasks), "fp32")
        t.paper("FP32", TABLE6[TABLE6_PTQ["FP32"]], TABLE6_PTQ["FP32"])
        best = best_per_task(ts, model, points(ts, variants, model, is_w8a8), tasks)
        used = sorted({c["variant"] for c in best.values()})
        t.ours("W8A8 PTQ", best, ", ".join(used) if len(used) < 3 else f"{len(used)} variants (best per task)")
        t.paper("W8A8 PTQ", TABLE6[TABLE6_PTQ["W8A8"]], TABLE6_PTQ["W8A8"])
        for cls, predicate, row in (
            ("MP-PTQ", lambda r, b: is_mixed_precision(r), "W8A{8,16} MP-PTQ"),
            ("PEG-PTQ", lambda r, b: is_peg(r), "W8A8 PEG-PTQ"),
            ("QAT", is_w8a8_qat, "W8A8 QAT"),
        ):
            p = best_variant(ts, model, points(ts, variants, model, predicate), tasks)
            cells = point_row(ts, model, p, tasks) if p else {}
            t.ours(row, cells, p[0] if p else "none", config=describe(variants.get(p[0])) if p else "")
            paper_row = {**TABLE6_PTQ, **TABLE6_QAT}[cls]
            t.paper(row, TABLE6[paper_row], paper_row)
        md.append(t.markdown("Method"))
    md.append(f"## Paper ({CITE}, Table 6, {PAPER_MODEL})\n")
    md.append(
        _paper_table(
            "As printed, with the literature's rows (Q8BERT: * fp32 softmax, GELU and "
            "LayerNorm, † dynamic activation quantization, MRPC/QQP F1 and STS-B Pearson, GLUE "
            "without MNLI; Q-BERT: ψ group-wise weights, last layer fp32):",
            TABLE6,
            TASKS + ["glue"],
            first="Method",
        )
    )
    return _write(md, records, out_md, out_csv)


def table7(summary: pd.DataFrame, variants: dict, out_md, out_csv, tasks=None, models=None) -> list[Path]:
    """Tables 7/12: low-bit PTQ (W8A32 with 6/4/2-bit token embeddings, W6A32, W4A32 with MSE
    weights), W4A32 AdaRound and the QAT rows (W4A32, W4A8, W4A8 with 2-bit token embeddings) per
    task, with the memory reduction (fp32 size over the variant's size)."""
    tasks, models, names, paper_of = _context(summary, tasks, models)
    ts = _scores(summary)
    md = _intro(
        "Tables 7 and 12: low-bit weight and token-embedding quantization",
        "Tables 7 and 12",
        summary,
        tasks,
        "Activations fp32 but in the W4A8 QAT rows (8-bit per tensor, ranges learned); memory "
        "reduction is the fp32 model's size over the variant's (ours: the sizes bertq stores; the "
        "paper's from Table 7, where it has the row).",
    )
    records: list[dict] = []
    for model in models:
        md.append(_model_header(model, names, paper_of))
        t = _Table(model, tasks, records, extra=["Memory reduction"])
        sub = summary[summary["model"] == model]
        base = sub.loc[sub["method"] == "fp32", "size_bytes"].mean()

        def reduction(method, bits, sub=sub, base=base):
            size = sub.loc[(sub["method"] == method) & (sub["bits"] == bits), "size_bytes"].mean()
            return base / size if size and not math.isnan(size) and not math.isnan(base) else float("nan")

        n0 = len(records)
        t.ours("FP32", _fp32(ts, model, tasks), "fp32", extra=["×1.00"])
        t.paper("FP32", TABLE12["FP32 baseline"], "Table 12 FP32 baseline", extra=["×1.00"])
        found_any = False
        for cls, paper_row in LOW_BIT_ROWS.items():
            found = points(ts, variants, model, lambda r, b, c=cls: low_bit_class(r, b) == c)
            for p in found:
                found_any = True
                ratio = reduction(*p)
                t.ours(
                    cls,
                    point_row(ts, model, p, tasks),
                    p[0],
                    config=describe(variants[p[0]]),
                    extra=["–" if math.isnan(ratio) else f"×{ratio:.2f}"],
                )
                for r in records[-(len(tasks) + 1) :]:
                    r["memory_reduction"] = ratio
            if found:
                paper_ratio = memory_reduction(paper_row)
                t.paper(
                    cls,
                    TABLE12[paper_row],
                    f"Table 12 {paper_row}",
                    extra=["–" if paper_ratio is None else f"×{paper_ratio:.2f}"],
                )
                for r in records[-(len(tasks) + 1) :]:
                    r["memory_reduction"] = paper_ratio if paper_ratio is not None else np.nan
        for r in records[n0 : n0 + 2 * (len(tasks) + 1)]:
            r["memory_reduction"] = 1.0
        md.append(t.markdown("Method"))
        if not found_any:
            md.append("\n**No low-bit results for this model.**\n")
    md.append(f"## Paper ({CITE}, Tables 7 and 12, {PAPER_MODEL})\n")
    md.append(
        _md_table(
            ["Method (Table 7)", "Memory reduction", "GLUE"],
            [[k, f"×{m:.2f}", f"{g:.2f}"] for k, (m, g) in TABLE7.items()],
        )
    )
    md.append("")
    md.append(
        _paper_table(
            "Table 12 as printed (– not printed, or illegible in our copy; Q-BERT: * last layer "
            "fp32, † group-wise weights):",
            TABLE12,
            TASKS + ["glue"],
            first="Method",
        )
    )
    return _write(md, records, out_md, out_csv, columns=COLUMNS + ["memory_reduction"])


# --- figures (drawn by bertq.reports.bondarenko_figures) ------------------------------------------


def _placeholder(out_png, out_svg, title: str, why: str) -> list[Path]:
    from bertq.reports.figures import RC, finish, plt

    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return finish(fig, title, out_png, out_svg)


def fig2(captures: dict, out: Path, models, tasks, model_labels: dict) -> list[Path]:
    """Fig. 2 per model from the capture of (model, first task); a placeholder where there is none."""
    from bertq.reports import bondarenko_figures

    written = []
    task = tasks[0] if tasks else None
    for model in models:
        png, svg, label = (
            out / f"bondarenko_fig2_{model}.png",
            out / f"bondarenko_fig2_{model}.svg",
            model_labels.get(model, model),
        )
        path = captures.get((model, task))
        if path is None:
            written += _placeholder(
                png,
                svg,
                f"{label}: FFN input and output (cf. {CITE}, Fig. 2)",
                f"no activation capture of {label} on {task}",
            )
        else:
            written += bondarenko_figures.fig2(Path(path), png, svg, model_label=label, task=task)
    return written


def _by_task(captures: dict, model: str, tasks) -> dict[str, Path]:
    return {t: Path(captures[(model, t)]) for t in tasks if (model, t) in captures}


def outliers(captures: dict, out: Path, models, tasks, model_labels: dict) -> list[Path]:
    """The outlier table over every capture, and Figs. 6-8 (outlier maps) per model over its captured tasks."""
    from bertq.reports import bondarenko_figures

    written = []
    for model in models:
        png, svg = out / f"bondarenko_outliers_{model}.png", out / f"bondarenko_outliers_{model}.svg"
        label, by_task = model_labels.get(model, model), _by_task(captures, model, tasks)
        if by_task:
            written += bondarenko_figures.outlier_maps(by_task, png, svg, model_label=label)
        else:
            written += _placeholder(
                png, svg, f"{label}: outliers (cf. {CITE}, Figs. 6-8)", f"no activation capture of {label}"
            )
    chosen = {(m, t): Path(p) for (m, t), p in captures.items() if m in models and t in tasks}
    csv = out / "bondarenko_outliers.csv"
    if chosen:
        table = bondarenko_figures.outlier_table(chosen, csv)
    else:
        table = [write_csv(pd.DataFrame(columns=["model", "task", "note"]), csv)]
    return list(table) + written  # the record's order: its own file, then the files per model


def fig9(captures: dict, out: Path, models, tasks, model_labels: dict) -> list[Path]:
    """Fig. 9 per model (FFN input and output ranges per sequence, one panel per task)."""
    from bertq.reports import bondarenko_figures

    written = []
    for model in models:
        png, svg = out / f"bondarenko_fig9_{model}.png", out / f"bondarenko_fig9_{model}.svg"
        label, by_task = model_labels.get(model, model), _by_task(captures, model, tasks)
        if by_task:
            written += bondarenko_figures.fig9(by_task, png, svg, model_label=label)
        else:
            written += _placeholder(
                png, svg, f"{label}: FFN activation ranges (cf. {CITE}, Fig. 9)", f"no activation capture of {label}"
            )
    return written
