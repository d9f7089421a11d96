rule calibrate:
    """Bondarenko et al. (2021): static activation ranges from the task's training split."""
    input:
        unpack(calibrate_inputs),
    output:
        ranges=RANGES,
    log:
        "logs/calibrate/{model}/{task}/seed{seed}/{method}/w{bits}.log",
    benchmark:
        "benchmarks/calibrate/{model}/{task}/seed{seed}/{method}/w{bits}.tsv"
    wildcard_constraints:
        method=_alternatives(CALIBRATED_METHODS),
    conda:
        "../../envs/bertq.yaml"
    resources:
        mem_mb=resources_of("evaluate", "mem_mb"),
        runtime=resources_of("evaluate", "runtime"),
    params:
        activations=activation_spec,
        threads=1,
        code=job_code("calibrate"),
    script:
        "../scripts/calibrate.py"


use rule calibrate as calibrate_before_qat with:
    input:
        unpack(calibrate_before_tuning_inputs),
    output:
        ranges=RANGES_BEFORE_TUNING,
    log:
        "logs/calibrate/{model}/{task}/seed{seed}/{method}/w{bits}.ptq.log",
    benchmark:
        "benchmarks/calibrate/{model}/{task}/seed{seed}/{method}/w{bits}.ptq.tsv"
    wildcard_constraints:
        method=_alternatives([m for m in QAT_METHODS if m in ACTIVATION_METHODS]),
    params:
        activations=activation_spec,
        threads=1,
        code=job_code("calibrate_before_qat"),


rule capture:
    """The fp32 model's FFN input and output on the first dev sequences (Bondarenko et al., Figs. 2, 6-9)."""
    input:
        model=FINETUNED_MODEL,
        config=FINETUNED_CONFIG,
        tokenized=tokenized_for,
    output:
        capture=CAPTURE_FILE,
        summary=CAPTURE_SUMMARY,
    log:
        "logs/capture/{model}/{task}/seed{seed}.log",
    conda:
        "../../envs/bertq.yaml"
    resources:
        mem_mb=resources_of("evaluate", "mem_mb"),
        runtime=resources_of("evaluate", "runtime"),
    params:
        sequences=10,
        tokenizer=lambda wc: TOKENIZERS[bq.tokenizer_id(config["models"][wc.model]["source"])],
        code=job_code("capture"),
    script:
        "../scripts/capture.py"
