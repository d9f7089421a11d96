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
        code=lambda wc: method_code(wc.method),
    log:
        "logs/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    resources:
        mem_mb=8000,
        runtime=30,
    script:
        "../scripts/quantize.py"


rule baseline_cost:
    input:
        model=f"{FINETUNED}/model.safetensors",
        config=f"{FINETUNED}/config.json",
    output:
        summary=f"{BASELINE}.json",
    params:
        cost=cost_params,
        code=code_hash("quantization/job.py", "cost/ace.py", "cost/summary.py", "models/encoder.py"),
    log:
        "logs/quantize/{model}/{task}/seed{seed}/fp32/w32.log",
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/baseline_cost.py"
