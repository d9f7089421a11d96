"""Hu et al. (2022), "Empirical Evaluation of Post-Training Quantization Methods for Language
Tasks": Table 1, Figs. 2, 3/4 and 5a over the classification tasks; Table 2, Figs. 5b and 6 over
SQuAD v1.1."""

from __future__ import annotations

from bertq.reports.paper import PAPER_CITATION
from bertq.reports.record import MODEL, SQUAD, Context, Report

PAPER = "Hu et al. (2022)"
ORDER = 0


def _widest_bits(summary) -> int:
    """The paper's tables are at 8 bits; a study without 8-bit points of the paper's methods shows
    their widest bit-width."""
    from bertq.reports.paper import METHODS

    ours = summary["method"].isin(METHODS) & (summary["method"] != "fp32") if not summary.empty else None
    quantized = set(summary.loc[ours, "bits"]) if not summary.empty else set()
    return 8 if 8 in quantized or not quantized else int(max(quantized))


def _table1(c: Context):
    from bertq.reports import tables

    return tables.table1(c.summary, c.path("table1.md"), c.path("table1.csv"), bits=_widest_bits(c.summary),
                         tasks=c.tasks, models=c.models)


def _fig2(c: Context):
    from bertq.reports import figures

    return figures.fig2(c.summary, c.path("fig2.png"), c.path("fig2.svg"), tasks=c.tasks, models=c.models)


def _fig3(c: Context):
    from bertq.reports import figures

    return [p for m in c.models
            for p in figures.fig3(c.summary, m, c.path(f"fig3_{m}.png"), c.path(f"fig3_{m}.svg"), tasks=c.tasks)]


def _fig5a(c: Context):
    from bertq.reports import figures

    return figures.fig5a(c.summary, c.path("fig5a.png"), c.path("fig5a.svg"), tasks=c.tasks, models=c.models)


def _table2(c: Context):
    from bertq.reports import tables

    return tables.table2(c.squad, c.path("table2.md"), c.path("table2.csv"), bits=_widest_bits(c.squad),
                         models=c.models)


def _fig6(c: Context):
    from bertq.reports import figures

    return figures.fig6(c.squad, c.path("fig6.png"), c.path("fig6.svg"), models=c.models)


def _fig5b(c: Context):
    from bertq.reports import figures

    return figures.fig5b(c.squad, c.path("fig5b.png"), c.path("fig5b.svg"), models=c.models)


REPORTS = (
    Report("table1", PAPER, render=_table1, files={
        "table1.md": f"Table 1: fp32 and 8-bit LQ / ACIQ / OCS scores per task, difference to fp32 in "
                     f"parentheses, with {PAPER_CITATION}'s numbers (Table 1).",
        "table1.csv": "Table 1 in long form (ours and the paper's numbers)."},
        caption="Table 1 of Hu et al. (2022) for this study: fp32 and 8-bit (or the widest bit-width run) LQ, "
                "ACIQ and OCS scores per task in percent, with the difference to fp32, the standard deviation "
                "over seeds and the paper's own numbers as rows with source \"paper\". The same table in "
                "Markdown is reports/table1.md."),
    Report("fig2", PAPER, render=_fig2, files={
        "fig2.png": "Score against model size per method, points per bit-width (Fig. 2).",
        "fig2.svg": "Fig. 2, vector version."},
        caption="GLUE score (or the mean task score) against model size for each quantization method; one "
                "point per bit-width, fp32 as reference. Reproduces Fig. 2 of Hu et al. (2022)."),
    Report("fig3", PAPER, render=_fig3, files={
        f"fig3_{MODEL}.png": f"Figs. 3/4 for {MODEL}: per-task score against bit-width.",
        f"fig3_{MODEL}.svg": f"Figs. 3/4 for {MODEL}: vector version."},
        caption="Per-task score against bit-width for each method, fp32 dashed. Reproduces Figs. 3 and 4 of "
                "Hu et al. (2022)."),
    Report("fig5a", PAPER, render=_fig5a, files={
        "fig5a.png": "Model family under OCS: score against size and ACE (Fig. 5a).",
        "fig5a.svg": "Fig. 5a, vector version."},
        caption="The model family under OCS: score against model size and against Arithmetic Computation "
                "Effort (eq. 8). Reproduces Fig. 5a of Hu et al. (2022)."),
    Report("table2", PAPER, render=_table2, reads=SQUAD, files={
        "table2.md": "Table 2: SQuAD v1.1 exact match and F1 of fp32 and 8-bit LQ / ACIQ / OCS, difference to "
                     f"fp32 in parentheses, with {PAPER_CITATION}'s numbers (Table 2).",
        "table2.csv": "Table 2 in long form (ours and the paper's numbers)."},
        caption="Table 2 of Hu et al. (2022) for this study: SQuAD v1.1 exact match and F1 (the official v1.1 "
                "definitions) of fp32 and 8-bit LQ, ACIQ and OCS, with the difference to fp32 and the paper's "
                "own numbers as rows with source \"paper\". The same table in Markdown is reports/table2.md."),
    Report("fig5b", PAPER, render=_fig5b, reads=SQUAD, files={
        "fig5b.png": "Model family under OCS on SQuAD: score against size and ACE (Fig. 5b).",
        "fig5b.svg": "Fig. 5b, vector version."},
        caption="The model family under OCS on SQuAD v1.1: the mean of exact match and F1 against model size "
                "and against Arithmetic Computation Effort (eq. 8, counted at the QA sequence length). "
                "Reproduces Fig. 5b of Hu et al. (2022)."),
    Report("fig6", PAPER, render=_fig6, reads=SQUAD, files={
        "fig6.png": "SQuAD score (mean of EM and F1) against model size per method, points per bit-width "
                    "(Fig. 6).",
        "fig6.svg": "Fig. 6, vector version."},
        caption="SQuAD v1.1 score (mean of exact match and F1) against model size for each quantization "
                "method; one point per bit-width, fp32 as reference. Reproduces Fig. 6 of Hu et al. (2022)."),
)
