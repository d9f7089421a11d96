import json

from bertq.workflow import atomic_path, job

with job(snakemake, results=[snakemake.output.summary]):
    from pathlib import Path

    from bertq.quantization.job import run_quantize

    cost = json.loads(snakemake.params.cost)
    out = snakemake.output
    with atomic_path(out.checkpoint) as ckpt, atomic_path(out.summary) as summary:
        spec = json.loads(snakemake.params.method)
        run_quantize(Path(snakemake.input.model).parent, spec["method"],
                     int(snakemake.wildcards.bits), spec["params"],
                     cost_sequence_length=cost["sequence_length"], activation_bits=cost["activation_bits"],
                     checkpoint=ckpt, summary=summary, embedding_bits=spec["embedding_bits"])
