def _checkpoint(path):
    return path if config["quantization"]["keep_checkpoints"] else temp(path)


rule quantize:
    input:
        model=f"{FINETUNED}/model.safetensors",
        config=f"{FINETUNED}/config.json",
    output:
        checkpoint=_checkpoint(f"{QUANTIZED}.safetensors"),
        summary=f"{QUANTIZED}.json",
    params:
        method=method_spec,
        cost=cost_params,
        code=job_code("quantize"),
    wildcard_constraints:
        method=_alternatives(PTQ_METHODS),
    log:
        "logs/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    resources:
        mem_mb=resources_of("quantize", "mem_mb"),
        runtime=resources_of("quantize", "runtime"),
    script:
        "../scripts/quantize.py"


use rule quantize as quantize_before_tuning with:
    output:
        checkpoint=temp(f"{BEFORE_TUNING}.safetensors"),
        summary=temp(f"{BEFORE_TUNING}.json"),
    wildcard_constraints:
        method=_alternatives(TUNED_METHODS),
    log:
        "logs/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.ptq.log",
    benchmark:
        "benchmarks/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.ptq.tsv"


def centroid_params(wc):
    return bq.canonical(bq.centroid_finetune_params(config, wc.method, wc.model, wc.task))


rule centroid_finetune:
    """Zhao et al. (2021), sec. 3.1: fine-tune the quantized model's centroids on its task."""
    input:
        quantized=f"{BEFORE_TUNING}.safetensors",
        summary=f"{BEFORE_TUNING}.json",
        model=f"{FINETUNED}/model.safetensors",
        config=f"{FINETUNED}/config.json",
        tokenized=tokenized_for,
    output:
        # kept: unlike a quantization, re-creating it costs a training run
        checkpoint=f"{QUANTIZED}.safetensors",
        summary=f"{QUANTIZED}.json",
    params:
        hyper=centroid_params,
        device=config["finetune"]["device"],
        code=job_code("centroid_finetune"),
    wildcard_constraints:
        method=_alternatives(TUNED_METHODS),
    threads: config["finetune"]["threads"]
    retries: 1
    log:
        "logs/centroid_finetune/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/centroid_finetune/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    resources:
        mem_mb=resources_of("centroid_finetune", "mem_mb"),
        runtime=resources_of("centroid_finetune", "runtime"),
        gpu=resources_of("centroid_finetune", "gpu"),
    script:
        "../scripts/centroid_finetune.py"


rule baseline_cost:
    input:
        model=f"{FINETUNED}/model.safetensors",
        config=f"{FINETUNED}/config.json",
    output:
        summary=f"{BASELINE}.json",
    params:
        cost=cost_params,
        code=job_code("baseline_cost"),
    log:
        "logs/quantize/{model}/{task}/seed{seed}/fp32/w32.log",
    resources:
        mem_mb=resources_of("baseline_cost", "mem_mb"),
        runtime=resources_of("baseline_cost", "runtime"),
    script:
        "../scripts/baseline_cost.py"
