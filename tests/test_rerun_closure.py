"""Editing one bertq module reruns exactly the jobs whose entry points import it, and nothing else.

A tiny study runs once on a private copy of the package (so that nobody's edits elsewhere move its
code hashes); then, for one module of each layer, a copy with that module edited is put first on
``PYTHONPATH`` and ``snakemake -n`` says which jobs it would rerun and why. Expected: the jobs of
the jobs of the rules whose entry point's import closure holds the module (their ``code`` param
changed), the jobs reading what those remake, and nothing else.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from snakemake_cli import offline_env, snakemake_argv

import bertq
from bertq.pipeline.imports import import_closure

pytestmark = pytest.mark.pipeline

# Each rule's entry point, stated here independently of bertq.pipeline.jobs.JOBS.
ENTRY_POINTS = {
    "tokenize": "bertq.data.tokenized",
    "finetune": "bertq.training.finetune",
    "quantize": "bertq.quantization.job",
    "quantize_kept": "bertq.quantization.job",
    "quantize_before_tuning": "bertq.quantization.job",
    "centroid_finetune": "bertq.training.centroids",
    "baseline_cost": "bertq.quantization.job",
    "float_cost": "bertq.quantization.job",
    "calibrate": "bertq.quantization.calibration",
    "capture": "bertq.evaluation.capture",
    "evaluate": "bertq.evaluation.job",
    "timed_checkpoint": "bertq.pipeline.workflow",
    "throughput": "bertq.bench.throughput",
    "aggregate": "bertq.reports.collect",
    "reports": "bertq.reports.build",
}
EDITS = [
    "kernels/packing.py",
    "models/sources.py",
    "quantization/job.py",
    "quantization/estimators.py",
    "metrics/glue.py",
    "reports/zhao.py",
]


def _rte(path: Path, n: int, seed: int) -> None:
    import random

    rng = random.Random(seed)
    words = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "house", "big", "small"]
    sentence = lambda: " ".join(rng.choice(words) for _ in range(rng.randint(3, 8)))
    rows = [f"{i}\t{sentence()}\t{sentence()}\t{rng.choice(['entailment', 'not_entailment'])}" for i in range(n)]
    path.write_text("\n".join(["index\tsentence1\tsentence2\tlabel", *rows]) + "\n")


def _snakemake(work: Path, package_parent: Path, *args) -> subprocess.CompletedProcess:
    env = offline_env(PYTHONPATH=os.pathsep.join([str(package_parent), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        snakemake_argv(work, "--cores", "2", *args), capture_output=True, text=True, env=env, timeout=900
    )


def _copy_package(dest: Path) -> Path:
    shutil.copytree(Path(bertq.__file__).parent, dest / "bertq", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    work = tmp_path_factory.mktemp("closure_study")
    package = _copy_package(tmp_path_factory.mktemp("package"))
    (work / "glue" / "RTE").mkdir(parents=True)
    _rte(work / "glue" / "RTE" / "train.tsv", 32, 1)
    _rte(work / "glue" / "RTE" / "dev.tsv", 16, 2)
    config = {
        "name": "closure test",
        "models": {"tiny": {"source": "random:tiny", "layers": 1}},
        "tasks": ["rte"],
        "data": {"glue_dir": str(work / "glue")},
        "seeds": [0],
        "finetune": {"defaults": {"epochs": 1, "batch_size": 8, "max_length": 24}, "threads": 1},
        "quantization": {
            "bits": [4],
            "methods": {
                "lq": {},
                "kmeans": {"bits": [2], "centroid_finetune": {"epochs": 1}},
                "w8a8": {"method": "lq", "bits": [8], "scope": "all", "activations": {"batch_size": 2, "batches": 2}},
                "w32a8": {"method": "float", "activations": {"estimator": "running_minmax"}},
            },
        },
        "cost": {"sequence_length": 24},
        "throughput": {"batch_size": 2, "sequence_length": 8, "repeats": 1, "warmup": 0},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    (work / "config.json").write_text(json.dumps(config))
    run = _snakemake(work, package, "reports/all")
    assert run.returncode == 0, run.stderr[-4000:]
    again = _snakemake(work, package, "-n", "reports/all")
    assert again.returncode == 0 and _jobs(again.stdout) == {}, again.stdout[-3000:]
    every = _snakemake(work, package, "-n", "--forceall", "reports/all")
    assert every.returncode == 0, every.stderr[-3000:]
    return work, package, _jobs(every.stdout)


def _jobs(output: str) -> dict[tuple[str, str], dict]:
    """Every job a dry run lists, by (rule, outputs): its inputs, outputs and reason."""
    jobs, job = {}, None
    for line in output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line)
        if m:
            job = {"rule": m.group(1), "input": [], "output": [], "reason": ""}
        m = re.match(r"^\s+(input|output|reason): (.*)", line)
        if m and job is not None:
            job[m.group(1)] = m.group(2) if m.group(1) == "reason" else m.group(2).split(", ")
            if m.group(1) == "output":
                jobs[(job["rule"], ", ".join(job["output"]))] = job
    return jobs


def _expected(all_jobs: dict, importers: set[str]) -> set[tuple[str, str]]:
    """The jobs of the importing rules, every job downstream of them (it reads a file they remake),
    and the jobs remaking a temporary input (``.ptq``) one of those needs."""
    producer = {f: key for key, job in all_jobs.items() for f in job["output"]}
    expected = {key for key, job in all_jobs.items() if job["rule"] in importers}
    while True:
        remade = {f for key in expected for f in all_jobs[key]["output"]}
        more = {key for key, job in all_jobs.items() if remade & set(job["input"])}
        more |= {producer[f] for key in expected | more for f in all_jobs[key]["input"] if ".ptq." in f}
        if more <= expected:
            return expected
        expected |= more


@pytest.mark.parametrize("edited", EDITS)
def test_editing_a_module_reruns_exactly_the_jobs_importing_it(study, edited, tmp_path):
    work, package, all_jobs = study
    module = "bertq." + edited[:-3].replace("/", ".")
    importers = {rule for rule, entry in ENTRY_POINTS.items() if module in import_closure(entry)}
    assert importers, f"no entry point imports {module}: a useless case"
    copy = tmp_path / "edited"
    shutil.copytree(package, copy)
    with open(copy / "bertq" / edited, "a") as f:
        f.write("\n# an edit that changes nothing but the source\n")
    dry = _snakemake(work, copy, "-n", "reports/all")
    assert dry.returncode == 0, dry.stderr[-3000:]
    planned = _jobs(dry.stdout)
    expected = _expected(all_jobs, importers)
    assert set(planned) == expected, (sorted(set(planned) - expected), sorted(expected - set(planned)))
    # Snakemake names a changed param only where no input was remade: never outside the importers
    assert {job["rule"] for job in planned.values() if "Params have changed" in job["reason"]} <= importers


def test_changing_an_estimator_reruns_calibration_and_evaluation_only(study):
    """Bondarenko et al.'s range estimators are a calibration setting: a new one recalibrates and
    rescores its variant, and neither quantizes nor fine-tunes again."""
    work, package, all_jobs = study
    config = json.loads((work / "config.json").read_text())
    config["quantization"]["methods"]["w8a8"]["activations"]["estimator"] = "mse"
    original = (work / "config.yaml").read_text()
    try:
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        dry = _snakemake(work, package, "-n", "reports/all")
    finally:
        (work / "config.yaml").write_text(original)
    assert dry.returncode == 0, dry.stderr[-3000:]
    planned = _jobs(dry.stdout)
    rules = {job["rule"] for job in planned.values()}
    assert rules == {"calibrate", "evaluate", "aggregate", "reports"}, sorted(planned)
    assert all("/w8a8/" in out for rule, out in planned if rule in ("calibrate", "evaluate"))


def _dry_run_with(work: Path, package: Path, edit) -> dict:
    """The jobs a dry run plans after ``edit`` changed the study's config (restored afterwards)."""
    config = json.loads((work / "config.json").read_text())
    edit(config)
    original = (work / "config.yaml").read_text()
    try:
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        dry = _snakemake(work, package, "-n", "reports/all")
    finally:
        (work / "config.yaml").write_text(original)
    assert dry.returncode == 0, dry.stderr[-3000:]
    return _jobs(dry.stdout)


def test_adding_a_timed_method_reruns_the_timing_job(study):
    """The model's one timing job times every timed variant: a new one is timed beside the others."""
    work, package, all_jobs = study
    planned = _dry_run_with(work, package, lambda c: c["quantization"]["methods"].update(aciq={}))
    new = {key for key in planned if "/aciq/" in key[1]}
    assert {rule for rule, _ in new} == {"quantize", "evaluate", "timed_checkpoint"}, sorted(planned)
    assert {rule for rule, _ in set(planned) - new} == {"throughput", "aggregate", "reports"}, sorted(planned)
    (timing,) = [job for (rule, _), job in planned.items() if rule == "throughput"]
    assert any("/aciq/w4.safetensors" in f for f in timing["input"])
    assert not any(rule == "quantize" and "/aciq/" not in out for rule, out in planned)  # the others are kept


def test_adding_an_untimed_method_or_changing_where_a_variant_is_scored_leaves_the_timing_alone(study):
    """A weight-fp32 variant is not timed, and where a variant is scored (its ``engine`` key) is a
    scoring setting: neither reruns the timing job."""
    work, package, all_jobs = study

    def add_float(c):
        c["quantization"]["methods"]["w32a6"] = {"method": "float", "activations": {"bits": 6}}

    planned = _dry_run_with(work, package, add_float)
    assert "throughput" not in {rule for rule, _ in planned}, sorted(planned)
    assert {rule for rule, out in planned if "/w32a6/" not in out} == {"aggregate", "reports"}, sorted(planned)

    def score_on_engine(c):
        c["quantization"]["methods"]["w8a8"]["engine"] = True

    planned = _dry_run_with(work, package, score_on_engine)
    assert {rule for rule, _ in planned} == {"evaluate", "aggregate", "reports"}, sorted(planned)
    assert all("/w8a8/" in out for rule, out in planned if rule == "evaluate")
