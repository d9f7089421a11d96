def evaluate_inputs(wc):
    inputs = {
        "model": FINETUNED.format(**wc) + "/model.safetensors",
        "config": FINETUNED.format(**wc) + "/config.json",
        "tokenized": tokenized_for(wc),
    }
    if wc.method != "fp32":
        inputs["quantized"] = QUANTIZED.format(**wc) + ".safetensors"
    return inputs


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        "results/eval/{model}/{task}/seed{seed}/{method}/w{bits}.json",
    params:
        batch_size=lambda wc: finetune_params(wc)["eval_batch_size"],
        threads=1,
        code=code_hash("evaluation/job.py", "evaluation/classify.py", "metrics/glue.py",
                       "models/encoder.py", "quantization/model.py", "quantization/tensor.py",
                       "data/tokenized.py"),
    wildcard_constraints:
        method="fp32|" + _alternatives(METHODS),
    log:
        "logs/evaluate/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/evaluate/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/evaluate.py"
