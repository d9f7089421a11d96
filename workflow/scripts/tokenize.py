from bertq.workflow import atomic_path, job

with job(snakemake):
    from bertq.data.tasks import get_task
    from bertq.data.tokenized import run_tokenize

    p = snakemake.params
    with atomic_path(snakemake.output[0]) as tmp:
        run_tokenize(get_task(snakemake.wildcards.task), p.tokenizer, int(snakemake.wildcards.max_length),
                     tmp, glue_dir=p.glue_dir, hub_dataset=p.hub_dataset, dev_fraction=p.dev_fraction,
                     split_seed=p.split_seed)
