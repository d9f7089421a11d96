"""bertq's own reports, rendered for every study: CPU throughput (table and figure) and the
per-point aggregate of every result (results.csv). Not in the papers."""

from __future__ import annotations

from bertq.reports.record import ANY, Context, Report

PAPER = "bertq: speed and all results"


def _throughput_table(c: Context):
    from bertq.reports import tables

    return tables.throughput_table(c.throughput, c.path("throughput.md"), c.path("throughput.csv"), models=c.models)


def _throughput_figure(c: Context):
    from bertq.reports import figures

    throughput = c.throughput[c.throughput["model"].isin(c.models)] if not c.throughput.empty else c.throughput
    return figures.throughput_figure(throughput, c.path("throughput.png"), c.path("throughput.svg"), models=c.models)


def _results(c: Context):
    """Per benchmark (the classification tasks together, or a span task: SQuAD, TyDi QA, NQ), the
    per-point aggregate."""
    import pandas as pd

    from bertq.reports import tables

    parts = []
    if c.tasks:
        parts.append(tables.aggregate(c.summary, c.tasks).assign(benchmark=tables.score_label(c.tasks)))
    if not c.squad.empty:
        parts.append(tables.aggregate(c.squad, ["squad"]).assign(benchmark=tables.score_label(["squad"])))
    if c.qa is not None and not c.qa.empty:
        for task in dict.fromkeys(c.qa["task"]):
            parts.append(tables.aggregate(c.qa, [task]).assign(benchmark=tables.score_label([task])))
    results = (pd.concat(parts, ignore_index=True) if parts else
               tables.aggregate(c.summary, c.tasks).assign(benchmark=pd.Series(dtype=str)))
    results = results[["benchmark"] + [col for col in results.columns if col != "benchmark"]]
    return [tables.write_csv(results, c.path("results.csv"))]


REPORTS = (
    Report("throughput_table", PAPER, render=_throughput_table, reads=ANY, selectable=False, files={
        "throughput.md": "CPU throughput per backend (torch fp32, torch's and torchao's dynamic int8, bertq's "
                         "integer engines) with its spread over the rounds, and speed-ups over both torch "
                         "baselines paired round by round (not in the paper).",
        "throughput.csv": "Throughput table as CSV."},
        caption="CPU throughput per backend (torch fp32, torch's dynamic int8, torchao's dynamic int8 where "
                "installed, bertq's int8 and codebook engines) for every timed model, method and bit-width, all "
                "of a model's backends timed in one job, interleaved round by round: sequences per second at "
                "the median round with the slowest and fastest, words per second, and the speed-ups over torch "
                "fp32 and torch's dynamic int8 as the median (and interquartile range) of the ratios taken per "
                "round; the kernel path, the first call's time (JIT compile or cache load), CPU, threads, batch "
                "and sequence length."),
    Report("throughput", PAPER, render=_throughput_figure, reads=ANY, selectable=False, files={
        "throughput.png": "Integer-engine speed-up over torch fp32 against bit-width per method, torch's and "
                          "torchao's dynamic int8 as lines (not in the paper).",
        "throughput.svg": "Throughput figure, vector version."},
        caption="Speed-up of bertq's integer engine over torch fp32 (forward pass on CPU) against weight "
                "bit-width, one line per quantization method and engine (int8 codes on the int8 kernels, packed "
                "codes on the lookup-table kernels), with torch fp32 (1.0) and torch's and torchao's dynamic "
                "int8 as horizontal lines. Every backend of a model is timed in the same job, interleaved; each "
                "point is the median of the per-round ratios (that round's fp32 time / the backend's), its bars "
                "and the baselines' shading their interquartile range. The engine runs every quantized linear "
                "on bertq's numba kernels on the instruction path named in the panel title; batch, sequence "
                "length and threads are the study's ``throughput`` settings. Not in Hu et al. (2022), which "
                "reports ACE instead."),
    Report("results", PAPER, render=_results, reads=ANY, selectable=False, files={
        "results.csv": "Per-point aggregate: benchmark (the classification tasks, or a span task), model, method, "
                       "bits, score (mean over the benchmark's tasks of seed means), size_bytes, ace."},
        caption="Every point of the study: per benchmark (the classification tasks together, or each span task), model, "
                "method and bit-width, the score over tasks (each task reduced over seeds), its spread over "
                "seeds, model size in bytes and ACE (Arithmetic Computation Effort, Hu et al. eq. 8)."),
)
