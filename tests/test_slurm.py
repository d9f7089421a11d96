"""The pipeline through a real SLURM scheduler: the cluster profiles in profiles/ give exactly the
numbers of a local run, every job really goes through SLURM with the resources its rule asks for,
and a changed hyper-parameter reruns exactly its jobs on the cluster.

Opt-in: set BERTQ_SLURM=1 with a cluster up whose partition ``debug`` takes the jobs (CI does it
with ``.ci/slurm.sh start``, a one-node cluster on localhost) and both executor plugins installed
(snakemake-executor-plugin-slurm, snakemake-executor-plugin-cluster-generic). With BERTQ_SLURM=1
nothing here skips: a missing cluster or plugin fails.

The study is smaller than test_pipeline's: a random 1-layer BERT-Tiny on RTE- and MRPC-format
fixtures, fp32 and LQ at 4 bits, one seed (16 jobs, 14 of them cluster jobs). The local run and the
two cluster runs go at the same time: the cluster runs spend most of their time waiting for the
scheduler and for status polls.
"""

import csv
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from snakemake_cli import offline_env, snakemake_argv
from test_pipeline import _config, _planned_jobs, _sentence, _write_rte, _write_tsv

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "profiles"
RUN_TIMEOUT = 480  # seconds for one snakemake run (each takes 1-3 minutes)

pytestmark = [
    pytest.mark.pipeline,
    pytest.mark.skipif(
        os.environ.get("BERTQ_SLURM") != "1",
        reason="SLURM tests are opt-in: start a cluster (.ci/slurm.sh start) and set BERTQ_SLURM=1",
    ),
]

CLUSTER_RULES = {"tokenize", "finetune", "quantize", "baseline_cost", "evaluate", "throughput"}
LOCAL_RULES = {"aggregate", "reports", "timed_checkpoint"}  # `localrules:` run by Snakemake itself, not submitted
JOBS = 16
# Summary columns that are measurements of time, not results: they differ between any two runs.
TIMING = re.compile(r"_seconds$")
SLURM_SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid (\d+)", re.M)
GENERIC_SUBMITTED = re.compile(r"^Submitted job (\d+) with external jobid '(\d+)", re.M)


def _write_mrpc(path: Path, n: int, seed: int):
    """MRPC's TSV layout (Quality, the two sentence ids, the two sentences)."""
    _write_tsv(
        path,
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String",
        n,
        seed,
        lambda i, rng: f"{rng.choice('01')}\t{2 * i}\t{2 * i + 1}\t{_sentence(rng)}\t{_sentence(rng)}",
    )


def _study_config(glue: Path, rte_learning_rate: float = 1e-3) -> dict:
    cfg = _config(glue, 0.05)
    cfg["name"] = "slurm test"
    cfg["tasks"] = ["rte", "mrpc"]  # rte first: the throughput job times its checkpoints
    cfg["data"] = {"glue_dir": str(glue)}
    cfg["finetune"]["per_task"] = {"rte": {"learning_rate": rte_learning_rate}}
    cfg["quantization"] = {"bits": [4], "methods": {"lq": {}}}
    cfg["cost"] = {"sequence_length": 32}
    cfg["throughput"] = {"batch_size": 2, "sequence_length": 16, "repeats": 1, "warmup": 0}
    return cfg


def _new_study(tmp_path_factory, name: str) -> Path:
    work = tmp_path_factory.mktemp(name)
    for task, writer, sizes in (("RTE", _write_rte, (48, 24)), ("MRPC", _write_mrpc, (40, 20))):
        (work / "glue" / task).mkdir(parents=True)
        writer(work / "glue" / task / "train.tsv", sizes[0], 1)
        writer(work / "glue" / task / "dev.tsv", sizes[1], 2)
    (work / "config.yaml").write_text(yaml.safe_dump(_study_config(work / "glue")))
    return work


class Run(NamedTuple):
    returncode: int
    log: str  # stdout and stderr
    seconds: float


def _start(workdir: Path, *args: str, timeout: int = RUN_TIMEOUT):
    """Start ``snakemake reports/all`` in ``workdir``; it is killed after ``timeout`` seconds."""
    env = offline_env()
    env.pop("SNAKEMAKE_PROFILE", None)
    cmd = ["timeout", "-s", "KILL", str(timeout), *snakemake_argv(workdir, "reports/all", *args)]
    out = open(workdir.parent / f"{workdir.name}-{time.monotonic_ns()}.log", "w+")  # noqa: SIM115 (the job's log, closed by _wait)
    return (
        subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, env=env),
        out,
        timeout,
        time.monotonic(),
    )


def _wait(started, ended: float | None = None) -> Run:
    proc, out, timeout, t0 = started
    try:
        proc.wait(timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    ended = ended or time.monotonic()
    out.seek(0)
    log = out.read()
    out.close()
    if proc.returncode in (-9, 137):
        pytest.fail(f"snakemake was killed after {timeout} s:\n{log[-4000:]}")
    return Run(proc.returncode, log, ended - t0)


def _snakemake(workdir: Path, *args: str) -> Run:
    return _wait(_start(workdir, *args))


def _cluster_args(cluster: dict) -> list[str]:
    """What the test changes in the cluster profiles: jobs fitting the CI node, quick status polls."""
    return ["--max-threads", str(cluster["cpus"]), "--seconds-between-status-checks", "2"]


def _slurm_args(cluster: dict) -> list[str]:
    # The plugin's first status check comes 2 s after a job finishes; slurmctld must still know the
    # job by then, which the plugin takes as MinJobAge >= 3 x that delay.
    assert cluster["min_job_age"] >= 3 * 2
    return [
        "--profile",
        str(PROFILES / "slurm"),
        *_cluster_args(cluster),
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-keep-successful-logs",
    ]


def _metrics(work: Path) -> dict:
    """(model, task, seed, method, bits) -> the summary's result columns (not its timings)."""
    with open(work / "results" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows
    return {
        (r["model"], r["task"], r["seed"], r["method"], r["bits"]): {k: v for k, v in r.items() if not TIMING.search(k)}
        for r in rows
    }


def _jobs(log: str) -> dict[str, dict]:
    """Snakemake's job id -> rule, local or not, task wildcard, threads and mem_mb, from its log."""
    jobs, current = {}, None
    for line in log.splitlines():
        m = re.match(r"^(local)?rule (\w+):", line)
        if m:
            current = {"rule": m.group(2), "local": bool(m.group(1)), "task": "", "threads": 1, "mem_mb": None}
            continue
        if current is None:
            continue
        m = re.match(r"^\s+(jobid|wildcards|threads|resources): (.*)", line)
        if not m:
            if not line.startswith(" "):
                current = None
            continue
        key, value = m.groups()
        if key == "jobid":
            jobs[value] = current
        elif key == "wildcards":
            task = re.search(r"\btask=(\w+)", value)
            current["task"] = task.group(1) if task else ""
        elif key == "threads":
            current["threads"] = int(value)
        else:
            mem = re.search(r"\bmem_mb=(\d+)", value)
            current["mem_mb"] = int(mem.group(1)) if mem else None
    return jobs


def _scontrol(jobid: str) -> dict:
    """SLURM's record of a job (slurmctld keeps finished jobs for MinJobAge seconds); memory in MB."""
    out = subprocess.run(["scontrol", "show", "job", "-o", jobid], capture_output=True, text=True).stdout
    record = dict(re.findall(r"\b(JobState|NumCPUs|MinMemoryNode|Partition)=(\S+)", out))
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([MGT])", record.get("MinMemoryNode", ""))
    if m:
        record["mem_mb"] = round(float(m.group(1)) * {"M": 1, "G": 1024, "T": 1024**2}[m.group(2)])
    return record


def _check_went_through_slurm(log: str, submitted: re.Pattern, jobs_expected: int) -> list[str]:
    """Every cluster job of the run was submitted, ran to completion in SLURM, with its resources."""
    jobs = _jobs(log)
    ids = dict(submitted.findall(log))  # snakemake job id -> SLURM job id
    assert len(jobs) == jobs_expected, sorted(jobs.items())
    assert set(ids) == {j for j, job in jobs.items() if not job["local"]}, (ids, jobs)
    assert {job["rule"] for job in jobs.values() if job["local"]} <= LOCAL_RULES
    for jobid, slurm_id in ids.items():
        job, record = jobs[jobid], _scontrol(slurm_id)
        assert record.get("JobState") == "COMPLETED", (job, record)
        assert record["Partition"] == "debug" and record.get("mem_mb") == job["mem_mb"], (job, record)
        assert int(record["NumCPUs"]) == job["threads"], (job, record)
    return list(ids.values())


@pytest.fixture(scope="module")
def cluster():
    """The running cluster; fails (not skips) without one, since BERTQ_SLURM=1 asked for it."""
    if shutil.which("sinfo") is None:
        pytest.fail("BERTQ_SLURM=1 but there is no sinfo on PATH: is SLURM installed (.ci/slurm.sh start)?")
    info = subprocess.run(["sinfo", "-h", "-o", "%P %a %t %c %m"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0 or not info.stdout.strip():
        pytest.fail(f"BERTQ_SLURM=1 but sinfo cannot reach a SLURM controller: {info.stderr.strip()}")
    for plugin in ("snakemake_executor_plugin_slurm", "snakemake_executor_plugin_cluster_generic"):
        found = subprocess.run([sys.executable, "-c", f"import {plugin}"], capture_output=True)
        if found.returncode != 0:
            pytest.fail(f"BERTQ_SLURM=1 but {plugin} is not installed (pip install {plugin.replace('_', '-')})")
    partitions = {line.split()[0].rstrip("*"): line.split() for line in info.stdout.splitlines()}
    if "debug" not in partitions or partitions["debug"][1] != "up":
        pytest.fail(
            f"BERTQ_SLURM=1 but the cluster has no partition 'debug' that is up (the profiles' default):\n{info.stdout}"
        )
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
    min_job_age = int(re.search(r"^MinJobAge\s*=\s*(\d+)", config, re.M).group(1))
    yield {"cpus": int(partitions["debug"][3].rstrip("+")), "min_job_age": min_job_age}
    # A run killed by its timeout leaves its jobs behind: cancel this test's (bertq*-named) ones.
    queue = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True).stdout
    leftover = [
        line.split()[0] for line in queue.splitlines() if line.split()[1:2] and line.split()[1].startswith("bertq")
    ]
    if leftover:
        subprocess.run(["scancel", *leftover], capture_output=True)


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory) -> dict[str, tuple[Path, Run]]:
    """The study run locally, through profiles/slurm and through profiles/cluster-generic, at once."""
    works = {name: _new_study(tmp_path_factory, name) for name in ("local", "slurm", "generic")}
    started = {
        "local": _start(works["local"], "--profile", str(PROFILES / "local"), "--cores", "2"),
        "slurm": _start(works["slurm"], *_slurm_args(cluster)),
        "generic": _start(works["generic"], "--profile", str(PROFILES / "cluster-generic"), *_cluster_args(cluster)),
    }
    ended = {}
    while len(ended) < len(started) and time.monotonic() - min(s[3] for s in started.values()) < RUN_TIMEOUT + 60:
        ended.update(
            {name: time.monotonic() for name, s in started.items() if name not in ended and s[0].poll() is not None}
        )
        time.sleep(1)
    done = {name: (works[name], _wait(s, ended.get(name))) for name, s in started.items()}
    for name, (_, run) in done.items():
        print(f"{name}: exit {run.returncode} after {run.seconds:.0f} s")
    return done


@pytest.fixture(scope="module")
def local(runs) -> Path:
    work, run = runs["local"]
    assert run.returncode == 0, run.log[-4000:]
    return work


def test_slurm_profile_gives_the_local_numbers(runs, local):
    work, run = runs["slurm"]
    assert run.returncode == 0, run.log[-6000:]
    assert _metrics(work) == _metrics(local)
    assert len(_metrics(work)) == 2 * 2  # (rte, mrpc) x (fp32, lq/4)
    ids = _check_went_through_slurm(run.log, SLURM_SUBMITTED, JOBS)
    assert len(ids) == JOBS - len(LOCAL_RULES)
    # each job left its SLURM log where the plugin puts it (kept by --slurm-keep-successful-logs)
    logs = {p.stem for p in (work / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert logs >= set(ids), (sorted(logs), ids)
    assert list((work / ".snakemake/slurm_logs/rule_finetune/tiny_rte_0").glob("*.log"))


def test_cluster_generic_profile_gives_the_local_numbers(runs, local):
    work, run = runs["generic"]
    assert run.returncode == 0, run.log[-6000:]
    assert _metrics(work) == _metrics(local)
    ids = _check_went_through_slurm(run.log, GENERIC_SUBMITTED, JOBS)
    logs = {p.stem for p in (work / ".snakemake" / "cluster-generic" / "logs").rglob("*.log")}
    assert logs >= set(ids), (sorted(logs), ids)
    # status.py's last resort, a job's own log, agrees with SLURM on a finished job, and an unknown
    # job without a log is never taken for a success
    status = PROFILES / "cluster-generic" / "status.py"
    finished = subprocess.run([str(status), ids[-1]], cwd=work, capture_output=True, text=True)
    assert finished.stdout.strip() == "success", finished
    assert status.stat().st_mode & 0o111
    log_only = subprocess.run([str(status), "999999"], cwd=work, capture_output=True, text=True)
    assert (log_only.returncode, log_only.stdout.strip()) == (0, "failed"), log_only


def test_changing_one_tasks_learning_rate_reruns_exactly_its_jobs_on_slurm(cluster, runs):
    work, first = runs["slurm"]
    assert first.returncode == 0, "the first SLURM run failed (see test_slurm_profile_gives_the_local_numbers)"
    before = _metrics(work)
    mrpc_files = [p for p in (work / "results").rglob("*") if p.is_file() and "mrpc" in p.parts]
    assert mrpc_files
    mtimes = {p: p.stat().st_mtime_ns for p in mrpc_files}
    rte_model = work / "results/finetuned/tiny/rte/seed0/model.safetensors"
    rte_mtime = rte_model.stat().st_mtime_ns
    (work / "config.yaml").write_text(yaml.safe_dump(_study_config(work / "glue", rte_learning_rate=3e-3)))

    expected = {
        ("finetune", "rte"),
        ("quantize", "rte"),
        ("baseline_cost", "rte"),
        ("evaluate", "rte"),
        # the throughput job times the first task's (rte's) checkpoints
        ("timed_checkpoint", ""),
        ("throughput", ""),
        ("aggregate", ""),
        ("reports", ""),
    }
    dry = _snakemake(work, *_slurm_args(cluster), "-n")
    assert dry.returncode == 0, dry.log[-3000:]
    planned = _planned_jobs(dry.log, with_task=True)
    assert planned == expected, planned
    assert not [job for job in planned if job[1] == "mrpc"]

    run = _snakemake(work, *_slurm_args(cluster))
    assert run.returncode == 0, run.log[-6000:]
    executed = {(job["rule"], job["task"]) for job in _jobs(run.log).values()}
    assert executed == expected
    # 9 jobs: finetune, quantize, baseline_cost, evaluate x 2, timed_checkpoint, throughput (the model's
    # one), aggregate, reports
    ids = _check_went_through_slurm(run.log, SLURM_SUBMITTED, 9)
    new_logs = [p for p in (work / ".snakemake" / "slurm_logs").rglob("*.log") if p.stem in ids]
    assert len(new_logs) == 6 and not [p for p in new_logs if "mrpc" in str(p)], new_logs
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items()), "an MRPC result was rewritten"
    after = _metrics(work)
    assert after.keys() == before.keys()
    assert {k: v for k, v in after.items() if k[1] == "mrpc"} == {k: v for k, v in before.items() if k[1] == "mrpc"}
    assert rte_model.stat().st_mtime_ns > rte_mtime  # RTE was fine-tuned again
