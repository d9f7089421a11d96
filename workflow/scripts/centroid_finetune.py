import json
from pathlib import Path

from bertq.workflow import atomic_path, job

with job(snakemake, results=[snakemake.output.summary]):
    from bertq.data.tasks import get_task
    from bertq.training.centroids import run_centroid_finetune

    p, out, inp = snakemake.params, snakemake.output, snakemake.input
    with atomic_path(out.checkpoint) as ckpt, atomic_path(out.summary) as summary:
        run_centroid_finetune(Path(inp.model).parent, inp.quantized, get_task(snakemake.wildcards.task),
                              inp.tokenized, json.loads(p.hyper), int(snakemake.wildcards.seed), checkpoint=ckpt,
                              summary=summary, base_summary=inp.summary, device=p.device, threads=snakemake.threads)
