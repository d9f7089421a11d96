localrules:
    timed_checkpoint,


rule timed_checkpoint:
    """A timed variant's checkpoint kept for its model's timing job (a copy)."""
    input:
        quantized=timed_checkpoint_source,
    output:
        checkpoint=TIMED_CHECKPOINT,
    log:
        "logs/timed_checkpoint/{model}/{method}/w{bits}.log",
    wildcard_constraints:
        method=_alternatives(sorted({m for m, _ in quantized_timed_variants()})),
    conda:
        "../../envs/bertq.yaml"
    params:
        code=job_code("timed_checkpoint"),
    script:
        "../scripts/timed_checkpoint.py"


rule throughput:
    input:
        unpack(throughput_inputs),
    output:
        timing=THROUGHPUT,
    log:
        "logs/throughput/{model}.log",
    retries: 1
    conda:
        "../../envs/bertq.yaml"
    threads: timing_job_threads
    resources:
        mem_mb=throughput_resources("mem_mb"),
        runtime=throughput_resources("runtime"),
    params:
        timing=bq.canonical(bq.timing_params(config)),
        variants=throughput_variants(),
        code=job_code("throughput"),
    script:
        "../scripts/throughput.py"
