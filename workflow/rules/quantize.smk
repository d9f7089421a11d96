rule quantize:
    input:
        model=FINETUNED_MODEL,
        config=FINETUNED_CONFIG,
    output:
        checkpoint=temp_unless_kept(QUANTIZED_CHECKPOINT),
        summary=QUANTIZED_SUMMARY,
    log:
        "logs/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    wildcard_constraints:
        method=_alternatives([m for m in PTQ_METHODS if m not in KEPT_METHODS]),
    conda:
        "../../envs/bertq.yaml"
    resources:
        mem_mb=resources_of("quantize", "mem_mb"),
        runtime=resources_of("quantize", "runtime"),
    params:
        method=method_spec,
        cost=cost_params,
        activations=activation_cost,
        code=job_code("quantize"),
    script:
        "../scripts/quantize.py"


use rule quantize as quantize_kept with:
    output:
        # kept: a variant with activation ranges reads its weights again whenever its calibration
        # changes (a new estimator), which then neither requantizes nor retimes it
        checkpoint=QUANTIZED_CHECKPOINT,
        summary=QUANTIZED_SUMMARY,
    wildcard_constraints:
        method=_alternatives(KEPT_METHODS),
    params:
        method=method_spec,
        cost=cost_params,
        activations=activation_cost,
        code=job_code("quantize_kept"),


use rule quantize as quantize_before_tuning with:
    output:
        checkpoint=temp(BEFORE_TUNING_CHECKPOINT),
        summary=temp(BEFORE_TUNING_SUMMARY),
    log:
        "logs/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.ptq.log",
    benchmark:
        "benchmarks/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.ptq.tsv"
    wildcard_constraints:
        method=_alternatives(CENTROID_METHODS),


use rule quantize as quantize_before_training with:
    output:
        # kept: QAT and AdaRound read them again when only their own settings change
        checkpoint=BEFORE_TUNING_CHECKPOINT,
        summary=BEFORE_TUNING_SUMMARY,
    log:
        "logs/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.ptq.log",
    benchmark:
        "benchmarks/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.ptq.tsv"
    wildcard_constraints:
        method=_alternatives(QAT_METHODS + ADAROUND_METHODS),
    params:
        method=method_spec,
        cost=cost_params,
        activations=activation_cost,
        code=job_code("quantize_before_training"),


rule centroid_finetune:
    """Zhao et al. (2021), sec. 3.1: fine-tune the quantized model's centroids on its task."""
    input:
        quantized=BEFORE_TUNING_CHECKPOINT,
        summary=BEFORE_TUNING_SUMMARY,
        model=FINETUNED_MODEL,
        config=FINETUNED_CONFIG,
        tokenized=tokenized_for,
    output:
        # kept: unlike a quantization, re-creating it costs a training run
        checkpoint=QUANTIZED_CHECKPOINT,
        summary=QUANTIZED_SUMMARY,
    log:
        "logs/centroid_finetune/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/centroid_finetune/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    wildcard_constraints:
        method=_alternatives(CENTROID_METHODS),
    retries: 1
    conda:
        "../../envs/bertq.yaml"
    threads: config["finetune"]["threads"]
    resources:
        mem_mb=resources_of("centroid_finetune", "mem_mb"),
        runtime=resources_of("centroid_finetune", "runtime"),
        gpu=resources_of("centroid_finetune", "gpu"),
        attempt=attempt_number,
    params:
        hyper=centroid_params,
        device=config["finetune"]["device"],
        code=job_code("centroid_finetune"),
    script:
        "../scripts/centroid_finetune.py"


rule adaround:
    """Nagel et al. (2020), as Bondarenko et al. (2021, Table 7): learned rounding of the PTQ weights."""
    input:
        unpack(tuning_inputs),
    output:
        # kept: re-creating it costs an optimisation per layer
        checkpoint=QUANTIZED_CHECKPOINT,
        summary=QUANTIZED_SUMMARY,
    log:
        "logs/adaround/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/adaround/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    wildcard_constraints:
        method=_alternatives(ADAROUND_METHODS),
    conda:
        "../../envs/bertq.yaml"
    threads: config["finetune"]["threads"]
    resources:
        mem_mb=resources_of("adaround", "mem_mb"),
        runtime=resources_of("adaround", "runtime"),
        gpu=resources_of("adaround", "gpu"),
        attempt=attempt_number,
    params:
        settings=adaround_params,
        device=config["finetune"]["device"],
        code=job_code("adaround"),
    script:
        "../scripts/adaround.py"


rule qat:
    """Bondarenko et al. (2021), sec. 4: quantization-aware training with learned ranges, from the
    PTQ model."""
    input:
        unpack(tuning_inputs),
    output:
        # kept: re-creating it costs a training run
        checkpoint=QUANTIZED_CHECKPOINT,
        summary=QUANTIZED_SUMMARY,
    log:
        "logs/qat/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/qat/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    wildcard_constraints:
        method=_alternatives([m for m in QAT_METHODS if m not in ACTIVATION_METHODS]),
    retries: 1
    conda:
        "../../envs/bertq.yaml"
    threads: config["finetune"]["threads"]
    resources:
        mem_mb=resources_of("qat", "mem_mb"),
        runtime=resources_of("qat", "runtime"),
        gpu=resources_of("qat", "gpu"),
        attempt=attempt_number,
    params:
        hyper=qat_params,
        device=config["finetune"]["device"],
        code=job_code("qat"),
    script:
        "../scripts/qat.py"


use rule qat as qat_activations with:
    output:
        checkpoint=QUANTIZED_CHECKPOINT,
        summary=QUANTIZED_SUMMARY,
        ranges=RANGES,
    wildcard_constraints:
        method=_alternatives([m for m in QAT_METHODS if m in ACTIVATION_METHODS]),
    params:
        hyper=qat_params,
        device=config["finetune"]["device"],
        code=job_code("qat_activations"),


rule search:
    """Zhao et al. (2021): a bit-width per subgroup (AQ-BERT's search) or per layer (Q-BERT's Hessian
    ranking) under a size target, the network retrained with it, from the fine-tuned model."""
    input:
        model=FINETUNED_MODEL,
        config=FINETUNED_CONFIG,
        tokenized=tokenized_for,
    output:
        # kept: re-creating it costs a search and a training run
        checkpoint=QUANTIZED_CHECKPOINT,
        summary=QUANTIZED_SUMMARY,
    log:
        "logs/search/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/search/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    wildcard_constraints:
        method=_alternatives(SEARCHED_METHODS),
    retries: 1
    conda:
        "../../envs/bertq.yaml"
    threads: config["finetune"]["threads"]
    resources:
        mem_mb=resources_of("search", "mem_mb"),
        runtime=resources_of("search", "runtime"),
        gpu=resources_of("search", "gpu"),
        attempt=attempt_number,
    params:
        search=search_params,
        cost=cost_params,
        activations=activation_cost,
        device=config["finetune"]["device"],
        code=job_code("search"),
    script:
        "../scripts/search.py"


rule baseline_cost:
    input:
        model=FINETUNED_MODEL,
        config=FINETUNED_CONFIG,
    output:
        summary=BASELINE_SUMMARY,
    log:
        "logs/quantize/{model}/{task}/seed{seed}/fp32/w32.log",
    conda:
        "../../envs/bertq.yaml"
    resources:
        mem_mb=resources_of("baseline_cost", "mem_mb"),
        runtime=resources_of("baseline_cost", "runtime"),
    params:
        cost=cost_params,
        code=job_code("baseline_cost"),
    script:
        "../scripts/baseline_cost.py"


use rule baseline_cost as float_cost with:
    output:
        summary=QUANTIZED_SUMMARY,
    log:
        "logs/quantize/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    wildcard_constraints:
        method=_alternatives(FLOAT_METHODS),
        bits="32",
    params:
        cost=cost_params,
        activations=activation_cost,
        code=job_code("float_cost"),
