def evaluate_code(task):
    shared = ("evaluation/job.py", "models/encoder.py", "quantization/model.py", "quantization/tensor.py")
    if get_task(task).is_span:
        return code_hash(*shared, "data/squad.py", "data/tokenized_squad.py", "evaluation/qa.py",
                         "evaluation/squad_decode.py", "metrics/squad.py")
    return code_hash(*shared, "evaluation/classify.py", "metrics/glue.py", "data/tokenized.py")


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
        qa_decoding=qa_decoding,
        code=lambda wc: evaluate_code(wc.task),
    wildcard_constraints:
        method="fp32|" + _alternatives(METHODS),
    log:
        "logs/evaluate/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/evaluate/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    resources:
        mem_mb=resources_of("evaluate", "mem_mb"),
        runtime=resources_of("evaluate", "runtime"),
    script:
        "../scripts/evaluate.py"
