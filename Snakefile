# bertq: fine-tune -> quantize -> evaluate -> cost -> throughput -> reports.
# Run: snakemake --cores 2 reports/all   (see README.md; --configfile config/<preset>.yaml for others)
from snakemake.utils import min_version

min_version("8.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/quantize.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/throughput.smk"
include: "workflow/rules/reports.smk"


rule all:
    default_target: True
    input:
        "reports/all",
