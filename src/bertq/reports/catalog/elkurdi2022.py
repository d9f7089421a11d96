"""El-Kurdi et al. (2022), "Zero-Shot Dynamic Quantization for Transformer Inference": Table 3
(FP32 / I8 / TM-IQR per GLUE task), Table 2 (the same on TyDi QA and NQ) and Table 1 (words per second with and without IQR clipping),
over the study's method entries with ``dynamic`` settings."""

from __future__ import annotations

from bertq.reports.record import ANY, QA, Context, Report

PAPER = "El-Kurdi et al. (2022)"
ORDER = 3


def _uses_dynamic(methods: dict) -> bool:
    return any(isinstance(entry, dict) and "dynamic" in entry for entry in methods.values())


def _table3(c: Context):
    from bertq.reports import elkurdi

    return elkurdi.table3(c.summary, c.variants, c.path("elkurdi_table3.md"), c.path("elkurdi_table3.csv"),
                          tasks=c.tasks, models=c.models)


def _table2(c: Context):
    from bertq.reports import elkurdi

    return elkurdi.table2(c.qa, c.variants, c.path("elkurdi_table2.md"), c.path("elkurdi_table2.csv"),
                          models=c.models)


def _table1(c: Context):
    from bertq.reports import elkurdi

    return elkurdi.table1(c.throughput, c.variants, c.path("elkurdi_table1.md"), c.path("elkurdi_table1.csv"),
                          models=c.models)


REPORTS = (
    Report("elkurdi_table3", PAPER, render=_table3, uses=_uses_dynamic,
           needs="a method entry with dynamic settings", files={
               "elkurdi_table3.md": "FP32, I8 and TM-IQR per task, mean (std) over seeds, with El-Kurdi et al.'s "
                                    "Table 3 beside.",
               "elkurdi_table3.csv": "Table 3 in long form (ours and the paper's numbers)."},
           caption="Dynamic int8 (I8: per-sequence symmetric activations at every linear's input, eqs. 1-2) and "
                   "TM-IQR (Algorithm 2 at the FF2 input), scored on bertq's integer engine, against FP32: mean "
                   "(std) over seeds in the paper's metric per task, beside Table 3 of El-Kurdi et al. (2022). "
                   "Markdown: reports/elkurdi_table3.md."),
    Report("elkurdi_table2", PAPER, render=_table2, uses=_uses_dynamic, reads=QA,
           needs="a method entry with dynamic settings", files={
               "elkurdi_table2.md": "FP32, I8 and TM-IQR F1 on TyDi QA GoldP and Natural Questions (MRQA), mean "
                                    "(std) over seeds, with El-Kurdi et al.'s Table 2 beneath.",
               "elkurdi_table2.csv": "Table 2 in long form (ours and the paper's numbers)."},
           caption="Dynamic int8 and TM-IQR on extractive question answering (TyDi QA GoldP, F1 averaged over the "
                   "non-English languages; Natural Questions in MRQA's form), scored on bertq's integer engine, "
                   "beside Table 2 of El-Kurdi et al. (2022), whose XLM-R rows are on the full tasks. Markdown: "
                   "reports/elkurdi_table2.md."),
    Report("elkurdi_table1", PAPER, render=_table1, uses=_uses_dynamic, reads=ANY,
           needs="a method entry with dynamic settings", files={
               "elkurdi_table1.md": "Words per second of the dynamic int8 engine with and without TM-IQR, torch "
                                    "fp32 and torch dynamic int8 from the same job, per core, with El-Kurdi et "
                                    "al.'s Table 1 beside.",
               "elkurdi_table1.csv": "Table 1 in long form (ours and the paper's numbers)."},
           caption="Throughput cost of TM-IQR clipping: words per second (and per core) of bertq's dynamic int8 "
                   "engine without and with TM-IQR, beside torch fp32 and torch's dynamic int8 timed interleaved in "
                   "the same job, with the CPU and kernel path; the paper's 48-core Xeon rows beside (Table 1 of "
                   "El-Kurdi et al., 2022). Markdown: reports/elkurdi_table1.md."),
)
