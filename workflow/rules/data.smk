def glue_inputs(wc):
    """Local GLUE files are inputs, so editing them reruns tokenisation (hub data is not tracked)."""
    spec = get_task(wc.task)
    glue_dir = config["data"]["glue_dir"]
    if glue_dir is None or spec.glue_dir is None:
        return []
    return [f"{glue_dir}/{spec.glue_dir}/{split}.tsv" for split in ("train", *spec.dev_splits)]


rule tokenize:
    input:
        glue_inputs,
    output:
        TOKENIZED,
    params:
        tokenizer=lambda wc: TOKENIZERS[wc.tokenizer],
        glue_dir=lambda wc: config["data"]["glue_dir"] if get_task(wc.task).glue_dir else None,
        hub_dataset=config["data"]["glue_hub_dataset"],
        dev_fraction=config["data"]["dev_fraction"],
        split_seed=config["data"]["split_seed"],
        code=code_hash("data/tasks.py", "data/loading.py", "data/tokenized.py"),
    log:
        "logs/tokenize/{tokenizer}/{task}/len{max_length}.log",
    benchmark:
        "benchmarks/tokenize/{tokenizer}/{task}/len{max_length}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/tokenize.py"
