rule throughput:
    input:
        unpack(throughput_inputs),
    output:
        timing=THROUGHPUT,
    log:
        "logs/throughput/{model}/{method}/w{bits}.log",
    wildcard_constraints:
        method=_alternatives([FP32[0], *METHODS]),
    retries: 1
    conda:
        "../../envs/bertq.yaml"
    threads: timing_job_threads
    resources:
        mem_mb=resources_of("throughput", "mem_mb"),
        runtime=resources_of("throughput", "runtime"),
    params:
        timing=bq.canonical(bq.timing_params(config)),
        code=job_code("throughput"),
    script:
        "../scripts/throughput.py"
