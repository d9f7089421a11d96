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
    """Per benchmark (the classification tasks together, or SQuAD), the per-point aggregate."""
    import pandas as pd

    from bertq.reports import tables

    parts = []
    if c.tasks:
        parts.append(tables.aggregate(c.summary, c.tasks).assign(benchmark=tables.score_label(c.tasks)))
    if not c.squad.empty:
        parts.append(tables.aggregate(c.squad, ["squad"]).assign(benchmark=tables.score_label(["squad"])))
    results = (pd.concat(parts, ignore_index=True) if parts else
               tables.aggregate(c.summary, c.tasks).assign(benchmark=pd.Series(dtype=str)))
    results = results[["benchmark"] + [col for col in results.columns if col != "benchmark"]]
    return [tables.write_csv(results, c.path("results.csv"))]


REPORTS = (
    Report("throughput_table", PAPER, render=_throughput_table, reads=ANY, selectable=False, files={
        "throughput.md": "CPU throughput per backend (torch fp32, torch dynamic int8, bertq's integer engine) "
                         "and speed-ups over both torch baselines (not in the paper).",
        "throughput.csv": "Throughput table as CSV."},
        caption="CPU throughput per backend (torch fp32, torch's dynamic int8, bertq's int8 and codebook engines) "
                "for every timed model, method and bit-width: sequences per second (median and best of the timed "
                "calls), the kernel path, the first call's time (JIT compile or cache load), CPU, threads, batch "
                "and sequence length; speed-ups over both torch baselines are in reports/throughput.md."),
    Report("throughput", PAPER, render=_throughput_figure, reads=ANY, selectable=False, files={
        "throughput.png": "Integer-engine throughput against bit-width per method, torch baselines as lines "
                          "(not in the paper).",
        "throughput.svg": "Throughput figure, vector version."},
        caption="CPU throughput of bertq's integer engine (sequences per second of the forward pass) against "
                "weight bit-width, one line per quantization method, with torch fp32 and torch's dynamic int8 "
                "timed in the same jobs as horizontal lines. The engine runs every quantized linear on bertq's "
                "numba int8 kernels (7-bit per-token activations x weight codes, int32 accumulation) on the "
                "instruction path named in the panel title; batch, sequence length and threads are the study's "
                "``throughput`` settings. Not in Hu et al. (2022), which reports ACE instead."),
    Report("results", PAPER, render=_results, reads=ANY, selectable=False, files={
        "results.csv": "Per-point aggregate: benchmark (the classification tasks, or SQuAD), model, method, "
                       "bits, score (mean over the benchmark's tasks of seed means), size_bytes, ace."},
        caption="Every point of the study: per benchmark (the classification tasks together, or SQuAD), model, "
                "method and bit-width, the score over tasks (each task reduced over seeds), its spread over "
                "seeds, model size in bytes and ACE (Arithmetic Computation Effort, Hu et al. eq. 8)."),
)
