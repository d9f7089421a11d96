rule tokenize:
    input:
        glue_inputs,
    output:
        tokenized=TOKENIZED,
    log:
        "logs/tokenize/{tokenizer}/{task}/len{max_length}.log",
    benchmark:
        "benchmarks/tokenize/{tokenizer}/{task}/len{max_length}.tsv"
    wildcard_constraints:
        task=_alternatives(SEQUENCE_TASKS),
    conda:
        "../../envs/bertq.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        tokenizer=lambda wc: TOKENIZERS[wc.tokenizer],
        glue_dir=lambda wc: config["data"]["glue_dir"] if get_task(wc.task).glue_dir else None,
        hub_dataset=config["data"]["glue_hub_dataset"],
        dev_fraction=config["data"]["dev_fraction"],
        split_seed=config["data"]["split_seed"],
        code=job_code("tokenize"),
    script:
        "../scripts/tokenize.py"


rule tokenize_tags:
    input:
        conll_inputs,
    output:
        tokenized=TOKENIZED,
    log:
        "logs/tokenize/{tokenizer}/{task}/len{max_length}.log",
    benchmark:
        "benchmarks/tokenize/{tokenizer}/{task}/len{max_length}.tsv"
    wildcard_constraints:
        task=_alternatives(TOKEN_TASKS),
    conda:
        "../../envs/bertq.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        tokenizer=lambda wc: TOKENIZERS[wc.tokenizer],
        conll=bq.canonical(config["data"]["conll03"]),
        code=job_code("tokenize_tags"),
    script:
        "../scripts/tokenize.py"


rule tokenize_span:
    input:
        span_inputs,
    output:
        tokenized=TOKENIZED_SPAN,
    log:
        "logs/tokenize/{tokenizer}/{task}/len{max_length}-stride{doc_stride}-q{max_query_length}.log",
    benchmark:
        "benchmarks/tokenize/{tokenizer}/{task}/len{max_length}-stride{doc_stride}-q{max_query_length}.tsv"
    wildcard_constraints:
        task=_alternatives(SPAN_TASKS),
    conda:
        "../../envs/bertq.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        tokenizer=lambda wc: TOKENIZERS[wc.tokenizer],
        qa_data=span_source,
        code=job_code("tokenize_span"),
    script:
        "../scripts/tokenize_span.py"
