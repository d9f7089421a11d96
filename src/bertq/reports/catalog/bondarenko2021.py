"""Bondarenko et al. (2021), "Understanding and Overcoming the Challenges of Efficient Transformer
Quantization": Tables 1, 2, 4, 5, 6 and 7/12 over the classification tasks and the
method entries they read, and Figs. 2, 6-8 and 9 from the fp32 models' activation captures."""

from __future__ import annotations

from bertq.reports import bondarenko_paper as bp
from bertq.reports.record import MODEL, Context, Report

PAPER = "Bondarenko et al. (2021)"
ORDER = 2
CITE = bp.BONDARENKO_CITATION
MEDIAN = (
    "Ours are the median over seeds, as the paper's (over 5 seeds), under the seed statistic the Bondarenko preset "
    "sets for this report (the markdown states the one used)"
)


def _has(predicate):
    """A ``uses`` predicate: some ``quantization.methods`` entry's record satisfies ``predicate``."""
    return lambda methods: bp.any_entry(methods, predicate)


def _table6_uses(methods: dict) -> bool:
    return bp.any_entry(methods, bp.is_w8a8) and (
        bp.any_entry(methods, bp.is_mixed_precision)
        or bp.any_entry(methods, bp.is_peg)
        or bp.any_entry(methods, bp.is_w8a8_qat)
    )


def _table7_uses(methods: dict) -> bool:
    return bp.any_entry(methods, lambda r: bp.low_bit_class(r) is not None)


def _any_activations(methods: dict) -> bool:
    return bp.any_entry(methods, lambda r: bp.activations(r) is not None)


def _table(name: str, function: str):
    def render(c: Context):
        from bertq.reports import bondarenko

        return getattr(bondarenko, function)(
            c.summary, c.variants, c.path(f"{name}.md"), c.path(f"{name}.csv"), tasks=c.tasks, models=c.models
        )

    render.__name__ = f"_{name}"
    return render


def _labels(c: Context) -> dict:
    from bertq.reports import tables

    return tables.labels(c.summary) if not c.summary.empty else {}


def _fig2(c: Context):
    from bertq.reports import bondarenko

    return bondarenko.fig2(c.captures, c.out, c.models, c.tasks, _labels(c))


def _outliers(c: Context):
    from bertq.reports import bondarenko

    return bondarenko.outliers(c.captures, c.out, c.models, c.tasks, _labels(c))


def _fig9(c: Context):
    from bertq.reports import bondarenko

    return bondarenko.fig9(c.captures, c.out, c.models, c.tasks, _labels(c))


REPORTS = (
    Report(
        "bondarenko_table1",
        PAPER,
        render=_table("bondarenko_table1", "table1"),
        uses=_has(bp.is_w8a8),
        needs="a W8A8 entry (8-bit weights, 8-bit per-tensor activations)",
        files={
            "bondarenko_table1.md": f"8-bit PTQ: FP32, W8A8, W32A8 and W8A32 per task, each the best variant "
            f"per task and named, with {CITE}'s Table 1 and Table 9's range settings.",
            "bondarenko_table1.csv": "Bondarenko Table 1 in long form (ours and the paper's numbers).",
        },
        caption="8-bit post-training quantization (Bondarenko et al., 2021, Table 1): per task, the FP32 "
        "model and the best variant of each class, joint (W8A8), activations only (W32A8) and weights "
        "only (W8A32), named with its range setting; the mean over the tasks. " + MEDIAN + ". Rows "
        "marked 'paper' are the paper's BERT-Base numbers (Table 1, and Table 9's best range settings). "
        "Markdown: reports/bondarenko_table1.md.",
    ),
    Report(
        "bondarenko_table2",
        PAPER,
        render=_table("bondarenko_table2", "table2"),
        uses=_has(bp.is_leave_one_out),
        needs="an entry with leave_one_out",
        files={
            "bondarenko_table2.md": f"Leave-one-out over the activation quantizers, with {CITE}'s Table 2.",
            "bondarenko_table2.csv": "Bondarenko Table 2 in long form (ours and the paper's numbers).",
        },
        caption="Leave-one-out analysis of the activation quantizers (Bondarenko et al., 2021, Table 2): "
        "weights fp32, activations quantized (current min-max, batch size 1) at every site but one kind, "
        "ours ordered by mean score. " + MEDIAN + ". Rows marked 'paper' are the paper's BERT-Base "
        "numbers. Markdown: reports/bondarenko_table2.md.",
    ),
    Report(
        "bondarenko_table4",
        PAPER,
        render=_table("bondarenko_table4", "table4"),
        uses=_has(bp.is_mixed_precision),
        needs="an entry with activations.site_bits (mixed precision)",
        files={
            "bondarenko_table4.md": f"Mixed-precision PTQ (16-bit sites named) beside W8A8 and FP32, with "
            f"{CITE}'s Table 4.",
            "bondarenko_table4.csv": "Bondarenko Table 4 in long form (ours and the paper's numbers).",
        },
        caption="Mixed-precision post-training quantization (Bondarenko et al., 2021, Table 4): 8-bit weights "
        "and activations but for the sites each variant keeps in 16 bits, beside per-tensor W8A8 and "
        "FP32. " + MEDIAN + ". Rows marked 'paper' are the paper's BERT-Base numbers for the same "
        "16-bit sites. Markdown: reports/bondarenko_table4.md.",
    ),
    Report(
        "bondarenko_table5",
        PAPER,
        render=_table("bondarenko_table5", "table5"),
        uses=_has(bp.is_peg),
        needs="an entry with activations.peg (per-embedding-group)",
        files={
            "bondarenko_table5.md": f"Per-embedding-group activation quantization by groups K, permutation and "
            f"sites, with {CITE}'s Table 5.",
            "bondarenko_table5.csv": "Bondarenko Table 5 in long form (ours and the paper's numbers).",
        },
        caption="Per-embedding-group (PEG) activation quantization (Bondarenko et al., 2021, Table 5): by the "
        "number of groups K, range-based permutation (+P) and where it applies (only the FFN's input, "
        "output and residual sum, or everywhere), beside per-tensor W8A8 (K = 1). " + MEDIAN + ". Rows "
        "marked 'paper' are the paper's BERT-Base numbers. Markdown: reports/bondarenko_table5.md.",
    ),
    Report(
        "bondarenko_table6",
        PAPER,
        render=_table("bondarenko_table6", "table6"),
        uses=_table6_uses,
        needs="a W8A8 entry and an entry with activations.site_bits, activations.peg or qat",
        files={
            "bondarenko_table6.md": f"The proposed methods side by side: FP32, W8A8, MP-PTQ, PEG-PTQ, QAT, with "
            f"{CITE}'s Table 6.",
            "bondarenko_table6.csv": "Bondarenko Table 6 in long form (ours and the paper's numbers).",
        },
        caption="8-bit quantization with the proposed methods (Bondarenko et al., 2021, Table 6): FP32, W8A8 "
        "PTQ (best per task), W8A{8,16} mixed precision, W8A8 per-embedding-group and W8A8 QAT with "
        "learned ranges, each the best variant of its class. " + MEDIAN + ". Rows marked 'paper' are "
        "the paper's BERT-Base numbers; its literature rows are listed in the markdown. "
        "Markdown: reports/bondarenko_table6.md.",
    ),
    Report(
        "bondarenko_table7",
        PAPER,
        render=_table("bondarenko_table7", "table7"),
        uses=_table7_uses,
        needs="a low-bit entry (8-bit weights with 6/4/2-bit embedding_bits, or mse weights at 6 or 4 bits, "
        "activations fp32; or 4-bit weights with adaround or qat)",
        files={
            "bondarenko_table7.md": f"Low-bit weights and token embeddings: memory reduction and per-task "
            f"scores, with {CITE}'s Tables 7 and 12.",
            "bondarenko_table7.csv": "Bondarenko Tables 7/12 in long form (ours and the paper's numbers).",
        },
        caption="Low-bit weight and token-embedding quantization (Bondarenko et al., 2021, Tables 7 and 12): "
        "W8A32 with 6-, 4- and 2-bit token embeddings, W6A32 and W4A32 (MSE ranges) post-training, W4A32 "
        "with AdaRound, and W4A32, W4A8 and W4A8 with 2-bit token embeddings trained with learned ranges "
        "(QAT); the memory reduction over fp32 and per-task scores. " + MEDIAN + ". Rows marked 'paper' "
        "are the paper's BERT-Base numbers. Markdown: reports/bondarenko_table7.md.",
    ),
    Report(
        "bondarenko_fig2",
        PAPER,
        render=_fig2,
        uses=_any_activations,
        captures=True,
        needs="an entry with activations",
        files={
            f"bondarenko_fig2_{MODEL}.png": f"{MODEL}: FFN input and output in the last-but-one layer, per-token "
            f"ranges and outlier dimensions (cf. {CITE}, Fig. 2).",
            f"bondarenko_fig2_{MODEL}.svg": f"Bondarenko Fig. 2 for {MODEL}: vector version.",
        },
        caption="The fp32 model's FFN input and output (Bondarenko et al., 2021, Fig. 2): per-token ranges on "
        "the first sequence of the study's first task, and the embedding dimensions whose values exceed "
        "six standard deviations. Ours, from the activation capture of the fine-tuned fp32 model.",
    ),
    Report(
        "bondarenko_outliers",
        PAPER,
        render=_outliers,
        uses=_any_activations,
        captures=True,
        needs="an entry with activations",
        files={
            f"bondarenko_outliers_{MODEL}.png": f"{MODEL}: outlier dimensions of the FFN input and output per "
            f"task (cf. {CITE}, Figs. 6-8).",
            f"bondarenko_outliers_{MODEL}.svg": f"Bondarenko outlier maps for {MODEL}: vector version.",
            "bondarenko_outliers.csv": "Outlier dimensions per model, task and site (values beyond six standard "
            "deviations).",
        },
        caption="Outliers of the fp32 models' FFN input and output across embedding dimensions, per task "
        "(Bondarenko et al., 2021, Figs. 6-8): values beyond six standard deviations of the tensor. "
        "Ours, from the activation captures of the fine-tuned fp32 models.",
    ),
    Report(
        "bondarenko_fig9",
        PAPER,
        render=_fig9,
        uses=_any_activations,
        captures=True,
        needs="an entry with activations",
        files={
            f"bondarenko_fig9_{MODEL}.png": f"{MODEL}: FFN input and output ranges per sequence, one panel per "
            f"task (cf. {CITE}, Fig. 9).",
            f"bondarenko_fig9_{MODEL}.svg": f"Bondarenko Fig. 9 for {MODEL}: vector version.",
        },
        caption="Activation ranges of the FFN's input and output in the last-but-one layer per data sequence, "
        "one panel per task (Bondarenko et al., 2021, Fig. 9). Ours, from the activation captures of "
        "the fine-tuned fp32 models.",
    ),
)
