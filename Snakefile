# bertq: fine-tune -> quantize -> evaluate -> cost -> throughput -> reports.
# Run: snakemake --cores 2 reports/all   (see README.md; --configfile config/<preset>.yaml for others)
from snakemake.utils import min_version

min_version("8.0")


# The default study, unless a preset is given with --configfile: a preset replaces it (Snakemake
# would otherwise merge the two, adding the default's models to the preset's).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/quantize.smk"
include: "workflow/rules/calibrate.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/throughput.smk"
include: "workflow/rules/reports.smk"


rule all:
    default_target: True
    input:
        MANIFEST,
