import json

from bertq.workflow import atomic_path, job

with job(snakemake):
    from bertq.reports.collect import collect

    inp, out = snakemake.input, snakemake.output
    with atomic_path(out.summary) as summary, atomic_path(out.throughput) as throughput, \
            atomic_path(out.tidy) as tidy:
        collect(inp.evaluations, inp.costs, inp.timings, json.loads(snakemake.params.models),
                summary, throughput, tidy)
