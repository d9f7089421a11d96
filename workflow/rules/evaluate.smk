def evaluate_inputs(wc):
    inputs = {
        "model": FINETUNED.format(**wc) + "/model.safetensors",
        "config": FINETUNED.format(**wc) + "/config.json",
        "tokenized": tokenized_for(wc),
    }
    if wc.method != FP32[0]:
        inputs["quantized"] = QUANTIZED.format(**wc) + ".safetensors"
    return inputs


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        evaluation=EVALUATED,
    params:
        batch_size=lambda wc: finetune_params(wc)["eval_batch_size"],
        threads=1,
        qa_decoding=qa_decoding,
        code=job_code("evaluate"),
    wildcard_constraints:
        method=_alternatives([FP32[0], *METHODS]),
    log:
        "logs/evaluate/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/evaluate/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    resources:
        mem_mb=resources_of("evaluate", "mem_mb"),
        runtime=resources_of("evaluate", "runtime"),
    script:
        "../scripts/evaluate.py"
