import json
from pathlib import Path

from bertq.workflow import job

with job(snakemake, results=[snakemake.output.metrics]):
    from bertq.data.tasks import get_task
    from bertq.models.sources import parse_source
    from bertq.training.finetune import run_finetune

    p = snakemake.params
    run_finetune(parse_source(p.source, p.layers), get_task(snakemake.wildcards.task),
                 snakemake.input.tokenized, json.loads(p.hyper), int(snakemake.wildcards.seed),
                 Path(snakemake.output.model).parent, device=p.device, threads=snakemake.threads)
