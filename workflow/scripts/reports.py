import json
from pathlib import Path

from bertq.workflow import atomic_path, job

with job(snakemake):
    from bertq.reports.build import build_reports

    p = snakemake.params
    out_dir = Path(snakemake.output.manifest).parent
    written = build_reports(snakemake.input.summary, snakemake.input.throughput, out_dir,
                            reports=list(p.reports), models_order=list(p.models), tasks=list(p.tasks),
                            study_name=p.name, variants=json.loads(p.variants),
                            seed_statistics=json.loads(p.seed_statistics))
    missing = [f for f in snakemake.output if f != snakemake.output.manifest and not Path(f).exists()]
    if missing:
        raise RuntimeError(f"reports not written: {missing}")
    with atomic_path(snakemake.output.manifest) as manifest:
        manifest.write_text("".join(f"{Path(f).name}\n" for f in sorted(map(str, written))))
