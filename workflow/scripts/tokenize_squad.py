import json

from bertq.workflow import atomic_path, job

with job(snakemake):
    from bertq.data.tokenized_squad import run_tokenize_squad

    wc, p = snakemake.wildcards, snakemake.params
    squad = json.loads(p.squad)
    with atomic_path(snakemake.output[0]) as tmp:
        run_tokenize_squad(p.tokenizer, tmp, max_length=int(wc.max_length), doc_stride=int(wc.doc_stride),
                           max_query_length=int(wc.max_query_length), squad_dir=squad["dir"],
                           hub_dataset=squad["hub_dataset"], split_mode=squad["split"],
                           dev_fraction=squad["dev_fraction"], split_seed=squad["split_seed"])
