"""Zhao et al. (2021), "Automatic Mixed-Precision Quantization Search of BERT" (AQ-BERT): Table 1
(AQ-BERT against Q-BERT and uniform bit-widths at equal size), Table 2 (subgroups per layer), the
bit assignments found and the size-score trade-off, over the study's entries with ``search``
settings (``method: aq_bert`` or ``q_bert``)."""

from __future__ import annotations

from bertq.reports.record import ANY, MODEL, Context, Report

PAPER = "Zhao et al. (2021), AQ-BERT"
ORDER = 4


def _uses_search(methods: dict) -> bool:
    return any(isinstance(entry, dict) and entry.get("search") is not None for entry in methods.values())


def _table1(c: Context):
    from bertq.reports import aqbert

    return aqbert.table1(c.summary, c.variants, c.path("aqbert_table1.md"), c.path("aqbert_table1.csv"),
                         tasks=c.tasks, models=c.models, squad=c.squad)


def _table3(c: Context):
    from bertq.reports import aqbert

    return aqbert.table1(c.summary, c.variants, c.path("aqbert_table3.md"), c.path("aqbert_table3.csv"),
                         tasks=c.tasks, models=c.models, squad=c.squad, table=3)


def _table2(c: Context):
    from bertq.reports import aqbert

    return aqbert.table2(c.summary, c.variants, c.path("aqbert_table2.md"), c.path("aqbert_table2.csv"),
                         tasks=c.tasks, models=c.models, squad=c.squad)


def _per_model(c: Context, figure: str, stem: str):
    """Render ``aqbert.<figure>`` for every model of the study as ``<stem>_<model>.png``/``.svg``."""
    from bertq.reports import aqbert

    draw = getattr(aqbert, figure)
    return [p for m in c.models for p in draw(c.summary, c.variants, m, c.path(f"{stem}_{m}.png"),
                                              c.path(f"{stem}_{m}.svg"), tasks=c.tasks, squad=c.squad)]


def _assignment(c: Context):
    return _per_model(c, "assignment_figure", "aqbert_assignment")


def _tradeoff(c: Context):
    return _per_model(c, "tradeoff_figure", "aqbert_tradeoff")


NEEDS = "a method entry with search settings (method aq_bert or q_bert)"
REPORTS = (
    Report("aqbert_table1", PAPER, render=_table1, uses=_uses_search, reads=ANY, needs=NEEDS, files={
        "aqbert_table1.md": "AQ-BERT, Q-BERT and uniform bit-widths by encoder size (MiB, embeddings excluded), "
                            "score per task, with the paper's Table 1 beneath.",
        "aqbert_table1.csv": "Table 1 in long form (ours and the paper's numbers)."},
        caption="AQ-BERT (a bit-width per subgroup, searched by Gumbel-softmax under a size loss and retrained) "
                "against Q-BERT (a bit-width per layer from the Hessian's top eigenvalue, retrained) and uniform "
                "bit-widths, at the encoder sizes the study targets (MiB as Zhao et al. count it: embeddings "
                "excluded), beside Table 1 of Zhao et al. (2021). Markdown: reports/aqbert_table1.md."),
    Report("aqbert_table3", PAPER, render=_table3, uses=_uses_search, reads=ANY, needs=NEEDS, files={
        "aqbert_table3.md": "AQ-BERT on DistilBERT (or any model) by encoder size, score per task, with the paper's "
                            "Table 3 beneath.",
        "aqbert_table3.csv": "Table 3 in long form (ours and the paper's numbers)."},
        caption="AQ-BERT's searches on DistilBERT at the encoder sizes the study targets, with Q-BERT and uniform "
                "bit-widths, beside Table 3 of Zhao et al. (2021) (BERT-Base, DistilBERT, AQ-BERT at 15, 12.5 and "
                "10 MB). Markdown: reports/aqbert_table3.md."),
    Report("aqbert_table2", PAPER, render=_table2, uses=_uses_search, reads=ANY, needs=NEEDS, files={
        "aqbert_table2.md": "The searched variants by method and subgroups per layer, with the paper's Table 2 "
                            "beneath.",
        "aqbert_table2.csv": "Table 2 in long form (ours and the paper's numbers)."},
        caption="The effect of the number of subgroups per linear on AQ-BERT and Q-BERT, beside Table 2 of Zhao "
                "et al. (2021). Markdown: reports/aqbert_table2.md."),
    Report("aqbert_assignment", PAPER, render=_assignment, uses=_uses_search, reads=ANY, needs=NEEDS, files={
        f"aqbert_assignment_{MODEL}.png": f"The bit assignments found for {MODEL}: layer and linear against "
                                          "subgroup, coloured by bits, pruned subgroups black.",
        f"aqbert_assignment_{MODEL}.svg": "The same figure as SVG."},
        caption="The bit-width of every subgroup of output neurons of every encoder linear, as AQ-BERT's search "
                "and Q-BERT's ranking assign them (first task, lowest seed); black subgroups are pruned (0 bits: "
                "no weights, no MACs)."),
    Report("aqbert_tradeoff", PAPER, render=_tradeoff, uses=_uses_search, reads=ANY, needs=NEEDS, files={
        f"aqbert_tradeoff_{MODEL}.png": f"Score against encoder size for {MODEL}: AQ-BERT and Q-BERT at their "
                                        "targets, uniform bit-widths, fp32.",
        f"aqbert_tradeoff_{MODEL}.svg": "The same figure as SVG."},
        caption="Task score against the encoder's size (MiB, embeddings excluded) for AQ-BERT and Q-BERT at each "
                "target and for the uniform entries over their bit-widths, fp32 dashed."),
)
