import json

from bertq.workflow import atomic_path, job

with job(snakemake, results=[snakemake.output.summary]):
    from pathlib import Path

    from bertq.quantization.job import run_baseline_cost

    cost = json.loads(snakemake.params.cost)
    with atomic_path(snakemake.output.summary) as summary:
        run_baseline_cost(Path(snakemake.input.model).parent, cost_sequence_length=cost["sequence_length"],
                          activation_bits=cost["activation_bits"], summary=summary)
