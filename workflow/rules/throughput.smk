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
