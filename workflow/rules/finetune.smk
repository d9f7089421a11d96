rule finetune:
    input:
        tokenized=tokenized_for,
    output:
        model=FINETUNED_MODEL,
        config=FINETUNED_CONFIG,
        metrics=FINETUNED_METRICS,
    log:
        "logs/finetune/{model}/{task}/seed{seed}.log",
    benchmark:
        "benchmarks/finetune/{model}/{task}/seed{seed}.tsv"
    # A long job on a shared node can die of transient causes (node failure, memory): retried once
    # with twice the memory.
    retries: 1
    conda:
        "../../envs/bertq.yaml"
    threads: config["finetune"]["threads"]
    resources:
        mem_mb=resources_of("finetune", "mem_mb"),
        runtime=resources_of("finetune", "runtime"),
        gpu=resources_of("finetune", "gpu"),
        attempt=attempt_number,
    params:
        source=lambda wc: config["models"][wc.model]["source"],
        layers=lambda wc: config["models"][wc.model]["layers"],
        # Decoding settings only change scores: they rerun the evaluate jobs, not the fine-tune.
        hyper=lambda wc: bq.canonical({k: v for k, v in finetune_params(wc).items() if k not in bq.DECODING_KEYS}),
        device=config["finetune"]["device"],
        code=job_code("finetune"),
    script:
        "../scripts/finetune.py"
