import json

from bertq.workflow import atomic_path, log_to

with log_to(snakemake.log[0]):
    from bertq.reports.collect import collect

    inp, out = snakemake.input, snakemake.output
    with atomic_path(out.summary) as summary, atomic_path(out.throughput) as throughput:
        collect(inp.evaluations, inp.costs, inp.timings, json.loads(snakemake.params.models),
                summary, throughput)
