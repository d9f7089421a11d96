from bertq.pipeline.jobs import run

run(snakemake)
