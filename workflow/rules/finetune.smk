rule finetune:
    input:
        tokenized=tokenized_for,
    output:
        model=f"{FINETUNED}/model.safetensors",
        config=f"{FINETUNED}/config.json",
        metrics=f"{FINETUNED}/dev_metrics.json",
    params:
        source=lambda wc: config["models"][wc.model]["source"],
        layers=lambda wc: config["models"][wc.model]["layers"],
        hyper=lambda wc: bq.canonical(finetune_params(wc)),
        device=config["finetune"]["device"],
        code=code_hash("training/finetune.py", "models/sources.py", "evaluation/classify.py",
                       "metrics/glue.py", "data/tokenized.py"),
    threads: config["finetune"]["threads"]
    log:
        "logs/finetune/{model}/{task}/seed{seed}.log",
    benchmark:
        "benchmarks/finetune/{model}/{task}/seed{seed}.tsv"
    resources:
        mem_mb=16000,
        runtime=720,
    script:
        "../scripts/finetune.py"
