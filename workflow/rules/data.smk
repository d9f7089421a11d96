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
        tokenized=TOKENIZED,
    wildcard_constraints:
        task=_alternatives(SEQUENCE_TASKS),
    params:
        tokenizer=lambda wc: TOKENIZERS[wc.tokenizer],
        glue_dir=lambda wc: config["data"]["glue_dir"] if get_task(wc.task).glue_dir else None,
        hub_dataset=config["data"]["glue_hub_dataset"],
        dev_fraction=config["data"]["dev_fraction"],
        split_seed=config["data"]["split_seed"],
        code=job_code("tokenize"),
    log:
        "logs/tokenize/{tokenizer}/{task}/len{max_length}.log",
    benchmark:
        "benchmarks/tokenize/{tokenizer}/{task}/len{max_length}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/tokenize.py"


def squad_inputs(wc):
    """Local SQuAD files are inputs, so editing them reruns tokenisation (hub data is not tracked)."""
    squad = config["data"]["squad"]
    if squad["dir"] is None:
        return []
    splits = ["dev"] if squad["split"] == "dev_articles" else ["train", "dev"]
    return [f"{squad['dir']}/{SQUAD_FILES[s]}" for s in splits]


def squad_source():
    """The data.squad settings that matter: the article split's share and seed only for that split."""
    squad = dict(config["data"]["squad"])
    if squad["split"] == "official":
        squad["dev_fraction"] = squad["split_seed"] = None
    return squad


rule tokenize_squad:
    input:
        squad_inputs,
    output:
        tokenized=TOKENIZED_SQUAD,
    params:
        tokenizer=lambda wc: TOKENIZERS[wc.tokenizer],
        squad=bq.canonical(squad_source()),
        code=job_code("tokenize_squad"),
    log:
        "logs/tokenize/{tokenizer}/squad/len{max_length}-stride{doc_stride}-q{max_query_length}.log",
    benchmark:
        "benchmarks/tokenize/{tokenizer}/squad/len{max_length}-stride{doc_stride}-q{max_query_length}.tsv"
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/tokenize_squad.py"
