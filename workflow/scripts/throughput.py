import json

from bertq.workflow import atomic_path, job

with job(snakemake, results=[snakemake.output[0]]):
    from pathlib import Path

    from bertq.bench.throughput import run_throughput

    wc = snakemake.wildcards
    timing = json.loads(snakemake.params.timing)
    labels = {"model": wc.model, "method": wc.method, "bits": int(wc.bits)}
    with atomic_path(snakemake.output[0]) as out:
        run_throughput(Path(snakemake.input.model).parent, snakemake.input.get("quantized"),
                       batch_size=timing["batch_size"], sequence_length=timing["sequence_length"],
                       threads=timing["threads"], repeats=timing["repeats"], warmup=timing["warmup"],
                       output=out, labels=labels, kernel_path=timing.get("kernel_path"))
