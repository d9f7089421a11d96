# Gathering tables and drawing figures take seconds: run them where Snakemake runs, not as cluster jobs.
localrules:
    aggregate,
    reports,


rule aggregate:
    input:
        evaluations=every(EVALUATED, variants()),
        costs=every(QUANTIZED_SUMMARY, variants()),
        timings=timed_outputs(),
    output:
        summary=SUMMARY,
        throughput=THROUGHPUT_TABLE,
        tidy=report(TIDY, caption="../report/tidy.rst", category=OURS, subcategory="Tables"),
    log:
        "logs/aggregate.log",
    conda:
        "../../envs/bertq.yaml"
    params:
        models=bq.canonical(model_meta()),
        study=study_line(),
        code=job_code("aggregate"),
    script:
        "../scripts/aggregate.py"


rule reports:
    input:
        summary=SUMMARY,
        throughput=THROUGHPUT_TABLE,
        captures=capture_files(),
    output:
        report_outputs(),
        manifest=MANIFEST,
    log:
        "logs/reports.log",
    conda:
        "../../envs/bertq.yaml"
    params:
        reports=config["reports"],
        models=MODELS,
        tasks=TASKS,
        name=config["name"],
        variants=bq.canonical({m: bq.variant_record(config, m) for m in METHODS}),
        capture_models=[m for m, _ in capture_pairs()],
        capture_tasks=[t for _, t in capture_pairs()],
        seed_statistics=bq.canonical(bq.seed_statistics(config)),
        study=study_line(),
        code=job_code("reports"),
    script:
        "../scripts/reports.py"
