# Gathering tables and drawing figures take seconds: run them where Snakemake runs, not as cluster jobs.
localrules:
    aggregate,
    reports,


HU, ZHAO, OURS = "Hu et al. (2022)", "Zhao et al. (2021)", "bertq: speed and all results"


def report_item(name):
    """(category, subcategory) of a report file in Snakemake's HTML report, or None for files kept
    out of it (markdown twins of the CSV tables, vector twins of the PNG figures, the index)."""
    stem, ext = name.rsplit(".", 1)
    if ext not in ("png", "csv"):
        return None
    paper = ZHAO if stem.startswith("zhao_") else OURS if stem in ("throughput", "results") else HU
    return paper, "Figures" if ext == "png" else "Tables"


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


REPORT_FILES = {
    "table1": ["table1.md", "table1.csv"],
    "fig2": ["fig2.png", "fig2.svg"],
    "fig3": [f"fig3_{m}.{ext}" for m in MODELS for ext in ("png", "svg")],
    "fig5a": ["fig5a.png", "fig5a.svg"],
    "table2": ["table2.md", "table2.csv"],
    "fig5b": ["fig5b.png", "fig5b.svg"],
    "fig6": ["fig6.png", "fig6.svg"],
    "zhao_table1": ["zhao_table1.md", "zhao_table1.csv"],
    "zhao_table2": ["zhao_table2.md", "zhao_table2.csv"],
    "zhao_fig1": ["zhao_fig1.png", "zhao_fig1.svg"],
    "zhao_fig3": ["zhao_fig3.png", "zhao_fig3.svg"],
    "zhao_table5": ["zhao_table5.md", "zhao_table5.csv"],
    "zhao_table6": ["zhao_table6.md", "zhao_table6.csv"],
}


def report_outputs():
    files = [f for r in config["reports"] for f in REPORT_FILES[r]]
    files += ["throughput.md", "throughput.csv", "throughput.png", "throughput.svg", "results.csv", "index.md"]
    outputs = []
    for f in files:
        item = report_item(f)
        if item is None:
            outputs.append(f"reports/{f}")
            continue
        stem = f.split(".")[0]
        key = stem if stem.startswith("zhao_") else stem.split("_")[0]
        key = "throughput_table" if f == "throughput.csv" else key
        outputs.append(report(f"reports/{f}", caption=f"../report/{key}.rst", category=item[0],
                              subcategory=item[1]))
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
