import json

from bertq.workflow import atomic_path, job

with job(snakemake, results=[snakemake.output[0]]):
    from pathlib import Path

    from bertq.data.tasks import get_task
    from bertq.evaluation.job import run_evaluate

    wc = snakemake.wildcards
    labels = {"model": wc.model, "seed": int(wc.seed), "method": wc.method, "bits": int(wc.bits)}
    with atomic_path(snakemake.output[0]) as out:
        run_evaluate(Path(snakemake.input.model).parent, snakemake.input.get("quantized"),
                     snakemake.input.tokenized, get_task(wc.task), batch_size=snakemake.params.batch_size,
                     threads=snakemake.params.threads, output=out, labels=labels,
                     qa_decoding=json.loads(snakemake.params.qa_decoding or "null"))
