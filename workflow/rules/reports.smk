# Gathering tables and drawing figures take seconds: run them where Snakemake runs, not as cluster jobs.
localrules:
    aggregate,
    reports,


from pathlib import Path

from bertq.reports import registry as report_registry

OURS = report_registry.reports()["results"].paper  # the tidy table sits beside bertq's own reports
CAPTIONS = report_registry.write_captions(Path(".snakemake/bertq/report-captions").resolve())
"""Each report's caption file (its registry caption and the study line), written where Snakemake runs."""


def study_line():
    """What every caption ends with: the study and the config values behind the item."""
    methods = ", ".join(f"{m} ({VARIANTS[m]['method']}, {'/'.join(map(str, VARIANTS[m]['bits']))} bits)"
                        for m in METHODS)
    return (f"Study *{config['name']}*: models {', '.join(MODELS)}; tasks {', '.join(TASKS)}; seeds "
            f"{', '.join(map(str, SEEDS))}; methods {methods or 'none'}. Every result file records the "
            "config values, code and machine that produced it (``provenance``).")


rule aggregate:
    input:
        evaluations=every(EVALUATED, variants()),
        costs=every(QUANTIZED + ".json", variants()),
        timings=[THROUGHPUT.format(model=m, method=method, bits=bits) for m in MODELS
                 for method, bits in timed_variants()],
    output:
        summary=SUMMARY,
        throughput=THROUGHPUT_TABLE,
        tidy=report(TIDY, caption="../report/tidy.rst", category=OURS, subcategory="Tables"),
    params:
        models=bq.canonical(model_meta()),
        study=study_line(),
        code=job_code("aggregate"),
    log:
        "logs/aggregate.log",
    script:
        "../scripts/aggregate.py"


def report_outputs():
    """Every file of the chosen reports and of those every study gets (bertq.reports.registry); the
    PNG figures and CSV tables go into the HTML report under their paper, with their report's caption."""
    outputs = []
    for record, name in report_registry.planned(config["reports"], MODELS):
        item = report_registry.html_item(record, name)
        if item is None:
            outputs.append(f"reports/{name}")
            continue
        outputs.append(report(f"reports/{name}", caption=str(CAPTIONS[record.name]), category=item[0],
                              subcategory=item[1]))
    outputs.append("reports/index.md")
    return outputs


rule reports:
    input:
        summary=SUMMARY,
        throughput=THROUGHPUT_TABLE,
    output:
        report_outputs(),
        manifest=MANIFEST,
    params:
        reports=config["reports"],
        models=MODELS,
        tasks=TASKS,
        name=config["name"],
        variants=bq.canonical({m: {"method": v["method"], "params": v["params"]} for m, v in VARIANTS.items()}),
        seed_statistics=bq.canonical(bq.seed_statistics(config)),
        study=study_line(),
        code=job_code("reports"),
    log:
        "logs/reports.log",
    script:
        "../scripts/reports.py"
