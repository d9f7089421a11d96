def throughput_inputs(wc):
    """Timing needs one checkpoint per (model, method, bits): the first task and seed's."""
    fields = dict(model=wc.model, task=TASKS[0], seed=SEEDS[0], method=wc.method, bits=wc.bits)
    inputs = {"model": FINETUNED.format(**fields) + "/model.safetensors",
              "config": FINETUNED.format(**fields) + "/config.json"}
    if wc.method != FP32[0]:
        inputs["quantized"] = QUANTIZED.format(**fields) + ".safetensors"
    return inputs


def timing_job_threads(wildcards):
    """Timing jobs take every core so that nothing else runs beside them on one machine; on a
    cluster (or with no --cores, as for --report) they ask for the threads they time, and a
    profile can add --exclusive through slurm_extra. Evaluated per job, once the executor is
    known (at parse time a cluster run still looks local)."""
    if workflow.local_exec and not workflow.remote_exec:
        try:
            return workflow.cores
        except WorkflowError:
            pass
    return config["throughput"]["threads"]


rule throughput:
    input:
        unpack(throughput_inputs),
    output:
        timing=THROUGHPUT,
    params:
        timing=bq.canonical(bq.timing_params(config)),
        code=job_code("throughput"),
    wildcard_constraints:
        method=_alternatives([FP32[0], *METHODS]),
    threads: timing_job_threads
    retries: 1
    log:
        "logs/throughput/{model}/{method}/w{bits}.log",
    resources:
        mem_mb=resources_of("throughput", "mem_mb"),
        runtime=resources_of("throughput", "runtime"),
    script:
        "../scripts/throughput.py"
