"""Quality gate: for each model, task (and the classification tasks' aggregate) and method, the
lowest bit-width whose score stays within 99% and 99.9% of fp32 (MLPerf's bert-99 and bert-99.9
accuracy targets, which ask for at least 99% / 99.9% of the fp32 reference), with its size and
ACE; and Hu et al. (2022)'s retention claims beside our retention at the same point.

The rule. A point passes a target ``t`` when its score >= ``t`` x the fp32 score (seed mean, or
median under ``seed_statistic``; a relative slack of 1e-9 for rounding). The gate's bit-width is
the lowest ``b`` such that ``b`` and every wider bit-width run for that method pass: the score
must *stay* above the target on the way down, so a lucky pass below a failing bit-width does not
count. No bit-width passes: "none". Retention is score / fp32 score, and neither it nor the gate
is defined when the fp32 score is <= 0 (CoLA's Matthews correlation of a model that learnt
nothing): such rows say "fp32 <= 0" and leave the bits empty.

Hu et al.'s claims (abstract, sec. 1 and sec. 4.3): OCS quantizes BERT-Base and BERT-Large to
3 bits and retains 98% and 96% of their GLUE score respectively, and 93% of their SQuAD v1.1
performance (both models).
"""

from __future__ import annotations

import math

from bertq.reports.record import ANY, Context, Report

TARGETS = (0.99, 0.999)
"""MLPerf's bert-99 and bert-99.9: at least 99% / 99.9% of the fp32 score."""
SLACK = 1e-9
CLAIM_METHOD, CLAIM_BITS = "ocs", 3
HU_CLAIMS = {("BERT-Base", "classification"): 0.98, ("BERT-Large", "classification"): 0.96,
             ("BERT-Base", "squad"): 0.93, ("BERT-Large", "squad"): 0.93}
"""Hu et al. (2022): the share of the fp32 GLUE score (classification) and SQuAD score that
3-bit OCS retains, by paper model."""
CITATION = "Hu et al., 2022"
COLUMNS = ["model", "benchmark", "method", "target", "fp32_score", "bits", "score", "retention", "size_bytes",
           "ace", "source"]


def passes(score: float, fp32: float, target: float) -> bool:
    """Whether ``score`` is at least ``target`` x ``fp32`` (False when fp32 <= 0 or is missing)."""
    return fp32 > 0 and score >= target * fp32 - SLACK * fp32


def lowest_passing(points: dict[int, float], fp32: float, target: float) -> int | None:
    """The lowest bit-width that, with every wider one in ``points`` ({bits: score}), passes."""
    best = None
    for bits in sorted(points, reverse=True):
        if not passes(points[bits], fp32, target):
            break
        best = bits
    return best


def retention(score: float, fp32: float) -> float:
    return score / fp32 if fp32 > 0 else math.nan


def _points(c: Context):
    """Score, size and ACE per (model, benchmark, method, bits): each classification task, their
    aggregate (when there are several), SQuAD; the benchmark's kind ("classification"/"squad")."""
    import pandas as pd

    from bertq.reports import tables

    cols = ["model", "benchmark", "kind", "method", "bits", "score", "size_bytes", "ace"]
    parts = []
    if c.tasks and not c.summary.empty:
        ts = tables.task_scores(c.summary[c.summary["task"].isin(c.tasks)])
        parts.append(ts.rename(columns={"task": "benchmark"}).assign(kind="task"))
        if len(c.tasks) > 1:
            agg = tables.aggregate(c.summary, c.tasks)
            parts.append(agg.assign(benchmark=tables.score_label(c.tasks), kind="classification"))
    if not c.squad.empty:
        parts.append(tables.task_scores(c.squad).rename(columns={"task": "benchmark"}).assign(kind="squad"))
    points = pd.concat([p[cols] for p in parts], ignore_index=True) if parts else pd.DataFrame(columns=cols)
    if len(c.tasks) == 1:  # one task: it is also the classification benchmark of the claims
        points.loc[points["kind"] == "task", "kind"] = "classification"
    return points


def gate_rows(points, models: list[str]) -> list[dict]:
    """One row per (model, benchmark, method, target): the gate's bit-width and its point."""
    from bertq.reports.paper import METHODS

    rows = []
    for model in models:
        mine = points[points["model"] == model]
        for benchmark in dict.fromkeys(mine["benchmark"]):
            here = mine[mine["benchmark"] == benchmark]
            base = here[here["method"] == "fp32"]
            fp32 = float(base["score"].iloc[0]) if len(base) else math.nan
            methods = [m for m in dict.fromkeys(here["method"]) if m != "fp32"]
            methods.sort(key=lambda m: METHODS.index(m) if m in METHODS else len(METHODS))
            for method in methods:
                runs = here[here["method"] == method].set_index("bits")
                scores = {int(b): float(s) for b, s in runs["score"].items()}
                for target in TARGETS:
                    bits = lowest_passing(scores, fp32, target)
                    row = {"model": model, "benchmark": benchmark, "method": method, "target": target,
                           "fp32_score": fp32, "bits": bits, "score": math.nan, "retention": math.nan,
                           "size_bytes": math.nan, "ace": math.nan, "source": "ours",
                           "tried": sorted(scores, reverse=True)}
                    if bits is not None:
                        point = runs.loc[bits]
                        row.update(score=float(point["score"]), retention=retention(float(point["score"]), fp32),
                                   size_bytes=float(point["size_bytes"]), ace=float(point["ace"]))
                    rows.append(row)
    return rows


def claim_rows(points, models: list[str], paper_names: dict[str, str]) -> list[dict]:
    """Per model and benchmark the claims are about (the classification aggregate, SQuAD): our
    retention of 3-bit OCS, and Hu et al.'s claim for the model's paper counterpart."""
    rows = []
    for model in models:
        mine = points[points["model"] == model]
        for kind in ("classification", "squad"):
            here = mine[mine["kind"] == kind]
            if here.empty:
                continue
            fp32 = here.loc[here["method"] == "fp32", "score"]
            at = here.loc[(here["method"] == CLAIM_METHOD) & (here["bits"] == CLAIM_BITS), "score"]
            fp32 = float(fp32.iloc[0]) if len(fp32) else math.nan
            ours = retention(float(at.iloc[0]), fp32) if len(at) else math.nan
            common = {"model": model, "benchmark": here["benchmark"].iloc[0], "method": CLAIM_METHOD,
                      "target": math.nan, "bits": CLAIM_BITS, "size_bytes": math.nan, "ace": math.nan}
            rows.append({**common, "fp32_score": fp32, "score": float(at.iloc[0]) if len(at) else math.nan,
                         "retention": ours, "source": "ours"})
            claim = HU_CLAIMS.get((paper_names.get(model), kind))
            if claim is not None:
                rows.append({**common, "fp32_score": math.nan, "score": math.nan, "retention": claim,
                             "source": f"{CITATION} ({paper_names[model]})"})
    return rows


def _pct(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def _cell(row: dict) -> list[str]:
    if math.isnan(row["fp32_score"]):
        return ["no fp32", "–", "–", "–"]
    if not row["fp32_score"] > 0:
        return ["fp32 <= 0", "–", "–", "–"]
    if row["bits"] is None:
        return ["none of " + "/".join(map(str, row["tried"])), "–", "–", "–"]
    return [str(row["bits"]), f"{row['score']:.2f} ({_pct(row['retention'])})", f"{row['size_bytes'] / 1e6:.2f} MB",
            f"{row['ace']:.3g}"]


def quality_gate(c: Context):
    """Write quality_gate.md and quality_gate.csv; return their paths."""
    import pandas as pd

    from bertq.reports import tables
    from bertq.reports.paper import method_label, task_label

    points = _points(c)
    everything = pd.concat([c.summary, c.squad], ignore_index=True)
    models = tables.ordered_models(everything, c.models) if not everything.empty else []
    names = tables.labels(everything) if not everything.empty else {}
    paper_names = ({} if everything.empty or "paper_name" not in everything else
                   everything.dropna(subset=["paper_name"]).groupby("model")["paper_name"].first().to_dict())
    gates, claims = gate_rows(points, models), claim_rows(points, models, paper_names)
    statistic = tables.seed_reduction().split()[0]
    md = ["# Quality gate: the lowest bit-width within 99% and 99.9% of fp32\n",
          f"Per model, task and method: the lowest weight bit-width whose score (each task's {statistic} over "
          "seeds) is at least 99% and 99.9% of the fp32 score (MLPerf's bert-99 and bert-99.9 targets), with "
          "every wider bit-width run passing too; its score (retention = score / fp32), size and ACE. "
          "\"none\": no bit-width passes; \"fp32 <= 0\": a ratio to a score <= 0 (e.g. CoLA's MCC) is no "
          "gate.\n"]
    header = ["Benchmark", "Method", "fp32"] + [f"{h} ({int(t * 1000) / 10:g}%)" for t in TARGETS
                                                for h in ("bits", "score", "size", "ACE")]
    for model in models:
        rows = [r for r in gates if r["model"] == model]
        table = []
        for i in range(0, len(rows), len(TARGETS)):
            group = rows[i:i + len(TARGETS)]
            first = group[0]
            table.append([task_label(first["benchmark"]), method_label(first["method"]),
                          tables._fmt(first["fp32_score"])] + [x for r in group for x in _cell(r)])
        md += [f"## {names.get(model, model)}\n",
               tables._md_table(header, table, left=2) if table else "No quantized results for this model.\n"]
    if claims:
        md += [f"## {CITATION}'s retention claims beside ours\n",
               f"{CITATION}: 3-bit OCS retains 98% (BERT-Base) and 96% (BERT-Large) of the fp32 GLUE score "
               "(over its eight GLUE tasks; ours is over this study's tasks) and 93% of the SQuAD v1.1 score "
               "(both models). A model's paper counterpart is its paper_name.\n"]
        table = []
        for r in claims:
            if r["source"] == "ours":
                paper = next((p for p in claims if p["model"] == r["model"] and p["benchmark"] == r["benchmark"]
                              and p["source"] != "ours"), None)
                table.append([names.get(r["model"], r["model"]), task_label(r["benchmark"]),
                              f"{method_label(CLAIM_METHOD)} {CLAIM_BITS}-bit", _pct(r["retention"]),
                              f"{100 * paper['retention']:g}%" if paper else "–"])
        md.append(tables._md_table(["Model", "Benchmark", "Method", "Ours", CITATION], table, left=3))
    csv = pd.DataFrame([{k: r[k] for k in COLUMNS} for r in gates + claims], columns=COLUMNS)
    csv["bits"] = csv["bits"].astype("Int64")
    return [tables.write_text(c.path("quality_gate.md"), "\n".join(md)),
            tables.write_csv(csv, c.path("quality_gate.csv"))]


REPORTS = (
    Report("quality_gate", "bertq: speed and all results", render=quality_gate, reads=ANY, uses=bool,
           needs="at least one method entry", files={
               "quality_gate.md": "Quality gate: per model, task and method the lowest bit-width within 99% and "
                                  "99.9% of fp32 (MLPerf's bert-99 / bert-99.9), with its size and ACE; Hu et "
                                  "al. (2022)'s 3-bit OCS retention claims beside ours.",
               "quality_gate.csv": "Quality gate in long form (ours and the paper's claims)."},
           caption="The quality gate: for each model, task (and the classification tasks' aggregate) and "
                   "method, the lowest weight bit-width whose score stays at or above 99% and 99.9% of the fp32 "
                   "score (MLPerf's bert-99 and bert-99.9 targets; every wider bit-width must pass too), with "
                   "its score, retention, size and ACE; then our retention of 3-bit OCS beside Hu et al. "
                   "(2022)'s claims (98% / 96% of the GLUE score for BERT-Base / BERT-Large, 93% of SQuAD). "
                   "Markdown: reports/quality_gate.md."),
)
