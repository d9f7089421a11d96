from bertq.pipeline.jobs import run

run(snakemake)  # noqa: F821 (Snakemake defines it)
