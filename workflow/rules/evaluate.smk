rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        evaluation=EVALUATED,
    log:
        "logs/evaluate/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/evaluate/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    wildcard_constraints:
        method=_alternatives([FP32[0], *METHODS]),
    conda:
        "../../envs/bertq.yaml"
    resources:
        mem_mb=resources_of("evaluate", "mem_mb"),
        runtime=resources_of("evaluate", "runtime"),
    params:
        batch_size=lambda wc: finetune_params(wc)["eval_batch_size"],
        threads=1,
        qa_decoding=qa_decoding,
        dynamic=dynamic_spec,
        engine=on_engine,
        code=job_code("evaluate"),
    script:
        "../scripts/evaluate.py"
