"""The whole Snakemake pipeline on a tiny study: it runs, reports real numbers, reruns precisely.

A random-initialised 1-layer BERT-Tiny on a small RTE-format fixture and a synthetic SQuAD-format
file (split by articles) keeps this to about a minute.
"""

import contextlib
import csv
import json
import os
import random
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from snakemake_cli import offline_env, snakemake_argv
from squad_fixture import write_squad_dir

pytestmark = pytest.mark.pipeline

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "under",
    "mat",
    "house",
    "big",
    "small",
    "red",
    "blue",
    "quickly",
    "slowly",
]


def _sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10)))


def _write_tsv(path: Path, header: str, n: int, seed: int, row) -> None:
    """A GLUE-format TSV fixture: ``header``, then ``row(i, rng)`` for i < n."""
    rng = random.Random(seed)
    path.write_text("\n".join([header] + [row(i, rng) for i in range(n)]) + "\n")


def _write_rte(path: Path, n: int, seed: int):
    _write_tsv(
        path,
        "index\tsentence1\tsentence2\tlabel",
        n,
        seed,
        lambda i, rng: f"{i}\t{_sentence(rng)}\t{_sentence(rng)}\t{rng.choice(['entailment', 'not_entailment'])}",
    )


def run_rte_study(work: Path, config, train: int, dev: int = 24) -> Path:
    """A study directory with ``train`` and ``dev`` random RTE rows in a local GLUE layout and
    ``config(glue_dir)`` as its config, run to ``reports/all`` (which must succeed)."""
    from snakemake_cli import run_study

    glue = work / "glue" / "RTE"
    glue.mkdir(parents=True)
    _write_rte(glue / "train.tsv", train, 1)
    _write_rte(glue / "dev.tsv", dev, 2)
    return run_study(work, config(work / "glue"))


def tiny_rte_study(glue_dir: Path, name: str, quantization: dict, reports: list[str]) -> dict:
    """A study of BERT-Tiny's first layer (random weights) on local RTE, fine-tuned for one quick
    epoch, with these ``quantization`` settings and ``reports``."""
    return {
        "name": name,
        "models": {"tiny": {"source": "random:tiny", "layers": 1}},
        "tasks": ["rte"],
        "data": {"glue_dir": str(glue_dir)},
        "finetune": {"defaults": {"epochs": 1, "batch_size": 8, "max_length": 32, "learning_rate": 1e-3}, "threads": 1},
        "seeds": [0],
        "quantization": quantization,
        "cost": {"sequence_length": 32},
        "throughput": {"batch_size": 2, "sequence_length": 16, "repeats": 1, "warmup": 0},
        "reports": reports,
    }


def planned_after_change(study: Path, changed: dict, original: dict) -> set[tuple[str, ...]]:
    """The (rule, method) of every job a dry run plans once the study's config is ``changed``; the
    config is ``original`` again afterwards."""
    from snakemake_cli import run_snakemake

    (study / "config.yaml").write_text(yaml.safe_dump(changed))
    try:
        run = run_snakemake(study, "-n", "reports/all")
        assert run.returncode == 0, run.stderr[-3000:]
        return _planned_jobs(run.stdout + run.stderr)
    finally:
        (study / "config.yaml").write_text(yaml.safe_dump(original))


def _config(glue_dir: Path, expand_ratio: float, n_best_size: int = 20) -> dict:
    return {
        "name": "pipeline test",
        "models": {"tiny": {"source": "random:tiny", "layers": 1}},
        "tasks": ["rte", "squad"],
        "data": {
            "glue_dir": str(glue_dir),
            "squad": {"dir": str(glue_dir.parent / "squad"), "split": "dev_articles", "dev_fraction": 0.25},
        },
        "finetune": {
            "defaults": {"epochs": 1, "batch_size": 8, "max_length": 32, "learning_rate": 1e-3},
            "per_task": {
                "squad": {
                    "max_length": 48,
                    "doc_stride": 8,
                    "max_query_length": 12,
                    "epochs": 2,
                    "n_best_size": n_best_size,
                }
            },
            "threads": 1,
        },
        "seeds": [0],
        "quantization": {
            "bits": [4],
            "methods": {
                "lq": {},
                "ocs": {"expand_ratio": expand_ratio},
                # k-means with centroid fine-tuning (Zhao et al., 2021), at its own bit-width
                "kmeans": {"bits": [2], "granularity": 4, "centroid_finetune": {"epochs": 1, "lr_multiplier": 5.0}},
                # dynamic int8 with TM-IQR (El-Kurdi et al., 2022), scored on the integer engine
                "tm_iqr": {"method": "lq", "bits": [8], "scope": "all", "dynamic": {"tm_iqr": {}}},
            },
        },
        "cost": {"sequence_length": 32, "qa_sequence_length": 48},
        "throughput": {"batch_size": 2, "sequence_length": 16, "repeats": 1, "warmup": 0},
    }


def _snakemake(workdir: Path, *args):
    return subprocess.run(
        snakemake_argv(workdir, "--cores", "2", *args), capture_output=True, text=True, env=offline_env(), timeout=900
    )


def _planned_jobs(output: str, with_task: bool = False) -> set[tuple[str, ...]]:
    """(rule, method or '') for every job a dry run lists; with ``with_task``, (rule, task or '')."""
    jobs, rule = set(), None
    key = "task" if with_task else "method"
    for line in output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line)
        if m:
            rule = m.group(1)
            jobs.add((rule, ""))
        m = re.match(r"^\s+wildcards: (.*)", line)
        if m and rule:
            value = re.search(rf"{key}=(\w+)", m.group(1))
            jobs.discard((rule, ""))
            jobs.add((rule, value.group(1) if value else ""))
    return jobs


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    work = tmp_path_factory.mktemp("study")
    glue = work / "glue" / "RTE"
    glue.mkdir(parents=True)
    _write_rte(glue / "train.tsv", 48, 1)
    _write_rte(glue / "dev.tsv", 24, 2)
    write_squad_dir(work / "squad", n_articles=8)
    (work / "config.yaml").write_text(yaml.safe_dump(_config(work / "glue", 0.05)))
    run = _snakemake(work, "reports/all")
    assert run.returncode == 0, run.stderr[-4000:]
    return work


def test_pipeline_reports_real_numbers(study):
    rows = list(csv.DictReader((study / "results" / "summary.csv").read_text().splitlines()))
    assert {(r["task"], r["method"], r["bits"]) for r in rows} == {
        (t, m, b)
        for t in ("rte", "squad")
        for m, b in (("fp32", "32"), ("lq", "4"), ("ocs", "4"), ("kmeans", "2"), ("tm_iqr", "8"))
    }
    from bertq.kernels.simd import default_path

    for task in ("rte", "squad"):
        ev = json.loads((study / f"results/eval/tiny/{task}/seed0/tm_iqr/w8.json").read_text())
        assert ev["scored_on"] == "integer engine" and ev["kernel_path"] == default_path()
        lq = json.loads((study / f"results/eval/tiny/{task}/seed0/lq/w4.json").read_text())
        assert lq["scored_on"] == "fake-quant"
    cost = json.loads((study / "results/quantized/tiny/rte/seed0/tm_iqr/w8.json").read_text())
    bits = cost["site_activation_bits"]
    assert bits["layer0.ffn.intermediate"] == bits["pooler.output"] == 8 and bits["layer0.attention.probs"] == 32
    rows = [r for r in rows if r["task"] == "rte"]
    for r in rows:
        assert 0.0 <= float(r["score"]) <= 100.0
    by = {r["method"]: r for r in rows}
    # Size: 4-bit codes are about an eighth of fp32 for what is quantized; OCS costs a bit more.
    assert float(by["lq"]["size_bytes"]) < 0.2 * float(by["fp32"]["size_bytes"])
    assert float(by["ocs"]["size_bytes"]) > float(by["lq"]["size_bytes"])
    assert float(by["ocs"]["ace"]) > float(by["lq"]["ace"]) and float(by["lq"]["ace"]) < float(by["fp32"]["ace"])
    assert float(by["lq"]["quantization_ratio"]) > 0.95
    timing = list(csv.DictReader((study / "results" / "throughput.csv").read_text().splitlines()))
    # one timing job for the model: each torch backend once, both engines for every timed variant,
    # the dynamic int8 engine for the dynamic one
    assert [p.name for p in (study / "results" / "throughput").glob("*.json")] == ["tiny.json"]
    job = json.loads((study / "results" / "throughput" / "tiny.json").read_text())
    torchao = ["torchao dynamic int8"] if job["torchao"]["available"] else []
    timed = [("lq", "4"), ("ocs", "4"), ("kmeans", "2")]
    engines = [(b, m, w) for m, w in timed for b in ("bertq int8 engine", "bertq codebook engine")]
    engines.append(("bertq dynamic int8 engine", "tm_iqr", "8"))
    torch_rows = [(b, "fp32", "32") for b in ("torch fp32", "torch dynamic int8", *torchao)]
    assert sorted((r["backend"], r["method"], r["bits"]) for r in timing) == sorted(torch_rows + engines)
    assert all(float(r["sequences_per_second"]) > 0 and r["rounds"] == "1" for r in timing)
    assert all(float(r["ratio_to_torch_fp32"]) == 1.0 for r in timing if r["backend"] == "torch fp32")
    engine_rows = [r for r in timing if r["backend"].startswith("bertq")]
    assert all(r["kernel_path"] == default_path() for r in engine_rows)
    reports = study / "reports"
    manifest = (reports / "all").read_text().split()
    for name in ("table1.md", "fig2.png", "fig2.svg", "fig3_tiny.png", "fig5a.png", "index.md", "throughput.md"):
        assert name in manifest and (reports / name).stat().st_size > 0
    assert "random init" in (reports / "index.md").read_text()
    ratio = float(by["lq"]["quantization_ratio"])
    assert f"Quantization ratio {100 * ratio:.2f}%" in (reports / "table1.md").read_text()
    ft = json.loads((study / "results/finetuned/tiny/rte/seed0/dev_metrics.json").read_text())
    assert ft["train_examples"] == 48
    # centroid fine-tuning ran on both tasks (classification and span objectives) and is recorded
    for task, steps in (("rte", 6),):
        km = json.loads((study / f"results/quantized/tiny/{task}/seed0/kmeans/w2.json").read_text())
        assert km["centroid_finetune"]["steps"] == steps and km["centroid_finetune"]["params"]["lr_multiplier"] == 5.0
    km = json.loads((study / "results/quantized/tiny/squad/seed0/kmeans/w2.json").read_text())
    assert km["centroid_finetune"]["steps"] > 0 and km["bits"] == 2
    assert not list((study / "results/quantized").rglob("*.ptq.*"))  # the untuned checkpoints were temporary
    for name in ("zhao_table2.md", "zhao_fig1.png"):
        assert name in manifest and (reports / name).stat().st_size > 0


def test_every_result_records_its_provenance(study):
    results = study / "results"
    files = [
        *results.glob("eval/**/*.json"),
        *results.glob("quantized/**/*.json"),
        *results.glob("throughput/**/*.json"),
        *results.glob("finetuned/**/dev_metrics.json"),
    ]
    assert len(files) > 20
    for f in files:
        p = json.loads(f.read_text())["provenance"]
        assert p["wall_seconds"] > 0 and p["code"]["source_sha256"] and p["packages"]["torch"], f
        assert p["device"]["cpu"]["machine"] and "code" in p["params"], f
    ft = json.loads((results / "finetuned/tiny/rte/seed0/dev_metrics.json").read_text())["provenance"]
    assert ft["rule"] == "finetune" and ft["params"]["hyper"]["learning_rate"] == 1e-3
    assert ft["wildcards"] == {"model": "tiny", "task": "rte", "seed": "0"}
    km = json.loads((results / "quantized/tiny/rte/seed0/kmeans/w2.json").read_text())
    assert km["provenance"]["rule"] == "centroid_finetune" and km["quantized_by"]["rule"] == "quantize_before_tuning"
    ocs = json.loads((results / "quantized/tiny/rte/seed0/ocs/w4.json").read_text())["provenance"]
    assert ocs["params"]["method"]["params"]["expand_ratio"] == 0.05
    # the tidy table: a row per (model, task, seed, method, bits, metric), and as many evaluations
    tidy = list(csv.DictReader((results / "tidy.csv").read_text().splitlines()))
    summary = list(csv.DictReader((results / "summary.csv").read_text().splitlines()))
    assert {(r["task"], r["method"], r["bits"]) for r in tidy} == {(r["task"], r["method"], r["bits"]) for r in summary}
    keys = [(r["model"], r["task"], r["seed"], r["method"], r["bits"], r["metric"]) for r in tidy]
    assert len(keys) == len(set(keys))
    squad_em = {r["method"]: float(r["value"]) for r in tidy if r["task"] == "squad" and r["metric"] == "exact_match"}
    assert squad_em == {r["method"]: json.loads(r["metrics"])["exact_match"] for r in summary if r["task"] == "squad"}


def test_pipeline_squad_numbers(study):
    rows = {
        r["method"]: r
        for r in csv.DictReader((study / "results" / "summary.csv").read_text().splitlines())
        if r["task"] == "squad"
    }
    for r in rows.values():
        m = json.loads(r["metrics"])
        assert 0.0 <= m["exact_match"] <= m["f1"] <= 100.0
        assert float(r["score"]) == pytest.approx((m["exact_match"] + m["f1"]) / 2)
        assert m["split"] == "dev-v1.1 articles: 6 for training, 2 held out (dev_fraction 0.25, seed 0)"
        assert m["n"] == 12  # 2 articles x 3 paragraphs x 2 questions
    ev = json.loads((study / "results/eval/tiny/squad/seed0/lq/w4.json").read_text())
    assert len(ev["predictions"]) == 12  # the official predictions.json mapping, per variant
    cost = json.loads((study / "results/quantized/tiny/squad/seed0/lq/w4.json").read_text())
    assert cost["head"] == "span" and cost["cost_sequence_length"] == 48
    assert float(rows["lq"]["ace"]) < float(rows["fp32"]["ace"])
    reports = study / "reports"
    manifest = (reports / "all").read_text().split()
    for name in ("table2.md", "table2.csv", "fig6.png", "fig6.svg", "fig5b.png", "fig5b.svg"):
        assert name in manifest and (reports / name).stat().st_size > 0
    table2 = (reports / "table2.md").read_text()
    em, f1 = json.loads(rows["fp32"]["metrics"])["exact_match"], json.loads(rows["fp32"]["metrics"])["f1"]
    assert f"| 32-bit | {em:.2f} | {f1:.2f} |" in table2 and "6 for training, 2 held out" in table2


def test_changing_one_tasks_fine_tuning_reruns_that_task_and_what_follows(study):
    config = _config(study / "glue", 0.05)
    config["finetune"]["per_task"]["rte"] = {"learning_rate": 5e-4}
    (study / "config.yaml").write_text(yaml.safe_dump(config))
    try:
        run = _snakemake(study, "-n", "reports/all")
        assert run.returncode == 0, run.stderr[-3000:]
        jobs = _planned_jobs(run.stdout + run.stderr, with_task=True)
        # RTE's fine-tune and everything downstream of it (timing runs on the first task's
        # checkpoints); nothing of SQuAD, and no re-tokenisation.
        assert jobs == {
            ("finetune", "rte"),
            ("quantize", "rte"),
            ("quantize_before_tuning", "rte"),
            ("centroid_finetune", "rte"),
            ("baseline_cost", "rte"),
            ("evaluate", "rte"),
            ("timed_checkpoint", ""),
            ("throughput", ""),
            ("aggregate", ""),
            ("reports", ""),
        }, jobs
    finally:
        (study / "config.yaml").write_text(yaml.safe_dump(_config(study / "glue", 0.05)))


def test_changing_squad_decoding_reruns_only_squad_evaluation(study):
    (study / "config.yaml").write_text(yaml.safe_dump(_config(study / "glue", 0.05, n_best_size=5)))
    try:
        run = _snakemake(study, "-n", "reports/all")
        assert run.returncode == 0, run.stderr[-3000:]
        jobs = _planned_jobs(run.stdout + run.stderr, with_task=True)
        # No fine-tune and nothing of RTE; quantized checkpoints are temporary, so re-scoring
        # re-creates them.
        assert jobs == {("quantize", "squad"), ("evaluate", "squad"), ("aggregate", ""), ("reports", "")}, jobs
    finally:
        (study / "config.yaml").write_text(yaml.safe_dump(_config(study / "glue", 0.05)))


def test_second_run_has_nothing_to_do(study):
    run = _snakemake(study, "-n", "reports/all")
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def test_changing_one_method_parameter_reruns_only_that_method(study):
    (study / "config.yaml").write_text(yaml.safe_dump(_config(study / "glue", 0.1)))
    try:
        run = _snakemake(study, "-n", "reports/all")
        assert run.returncode == 0, run.stderr[-3000:]
        jobs = _planned_jobs(run.stdout + run.stderr)
        assert jobs == {
            ("quantize", "ocs"),
            ("evaluate", "ocs"),
            # the model's one timing job times every variant, from kept checkpoints: only this one is new
            ("timed_checkpoint", "ocs"),
            ("throughput", ""),
            ("aggregate", ""),
            ("reports", ""),
        }, jobs
    finally:
        (study / "config.yaml").write_text(yaml.safe_dump(_config(study / "glue", 0.05)))


def test_changing_centroid_fine_tuning_reruns_only_its_jobs(study):
    cfg = _config(study / "glue", 0.05)
    cfg["quantization"]["methods"]["kmeans"]["centroid_finetune"]["lr_multiplier"] = 10.0
    (study / "config.yaml").write_text(yaml.safe_dump(cfg))
    try:
        run = _snakemake(study, "-n", "reports/all")
        assert run.returncode == 0, run.stderr[-3000:]
        jobs = _planned_jobs(run.stdout + run.stderr)
        # the untuned checkpoint is temporary, so it is quantized again; nothing else is touched
        assert jobs == {
            ("quantize_before_tuning", "kmeans"),
            ("centroid_finetune", "kmeans"),
            ("evaluate", "kmeans"),
            ("timed_checkpoint", "kmeans"),
            ("throughput", ""),
            ("aggregate", ""),
            ("reports", ""),
        }, jobs
    finally:
        (study / "config.yaml").write_text(yaml.safe_dump(_config(study / "glue", 0.05)))


@pytest.mark.bad_input("config", "before_job")
def test_invalid_config_fails_before_any_job(tmp_path):
    cfg = _config(tmp_path, 0.05)
    cfg["quantization"]["methods"]["nonsense"] = {}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    run = _snakemake(tmp_path, "reports/all")
    assert run.returncode != 0
    assert "config key quantization.methods.nonsense" in run.stdout + run.stderr
    assert not (tmp_path / "results").exists()


# --- a job killed mid-run (SIGKILL) ---------------------------------------------------------------


def _kill_config(glue_dir: Path) -> dict:
    config = _config(glue_dir, 0.05)
    config["tasks"] = ["rte"]
    config["quantization"] = {"bits": [4], "methods": {"lq": {}}}
    config["finetune"]["defaults"]["epochs"] = 10  # long enough to be killed while training
    return config


def _job_pids(workdir: Path, script: str) -> list[int]:
    """PIDs of the processes running ``script`` for the workflow in ``workdir``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if script in cmd and str(workdir) in cmd:
                pids.append(int(proc.name))
    return pids


def _start_and_kill_finetune(work: Path, kill_group: bool) -> tuple[subprocess.Popen, int]:
    """Start the workflow and SIGKILL its fine-tuning job each time it has started training (the
    rule retries it once), or the first time kill the whole process group, Snakemake included.
    Return the finished Popen and the number of kills."""
    import signal
    import time

    proc = subprocess.Popen(
        snakemake_argv(work, "--cores", "1", "reports/all"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=offline_env(),
        start_new_session=True,
    )
    log = work / "logs/finetune/tiny/rte/seed0.log"
    deadline, kills, killed = time.time() + 600, 0, set()
    while proc.poll() is None and time.time() < deadline:
        # an attempt of the job is running and training has begun (in this or an earlier attempt)
        training = log.exists() and "fine-tune rte:" in log.read_text()
        pids = set(_job_pids(work, "finetune.py")) - killed if training else set()
        if pids:
            killed |= pids
            kills += 1
            if kill_group:
                os.killpg(proc.pid, signal.SIGKILL)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if kill_group:
                break
        time.sleep(0.1)
    proc.wait(timeout=120)
    return proc, kills


@pytest.fixture()
def kill_study(tmp_path):
    glue = tmp_path / "glue" / "RTE"
    glue.mkdir(parents=True)
    _write_rte(glue / "train.tsv", 48, 1)
    _write_rte(glue / "dev.tsv", 24, 2)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_kill_config(tmp_path / "glue")))
    return tmp_path


@pytest.mark.bad_input("kill", "handled")
def test_a_job_killed_mid_run_leaves_nothing_to_trust_and_the_rerun_completes(kill_study):
    proc, kills = _start_and_kill_finetune(kill_study, kill_group=False)
    out = proc.stdout.read()
    assert proc.returncode != 0 and kills == 2, out[-3000:]  # killed, retried once, killed again
    assert "Error in rule finetune" in out, out[-3000:]
    finetuned = kill_study / "results/finetuned/tiny/rte/seed0"
    assert not any((finetuned / f).exists() for f in ("model.safetensors", "config.json", "dev_metrics.json"))
    assert not (kill_study / "results/eval").exists() and not (kill_study / "results/quantized").exists()
    run = _snakemake(kill_study, "reports/all")
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads((finetuned / "dev_metrics.json").read_text())["provenance"]["rule"] == "finetune"


@pytest.mark.bad_input("kill", "handled")
def test_a_workflow_killed_with_its_job_marks_the_job_incomplete(kill_study):
    proc, kills = _start_and_kill_finetune(kill_study, kill_group=True)
    assert proc.returncode == -9 and kills == 1
    # Whatever the killed job left behind is not trusted: Snakemake refuses it as incomplete,
    # and reruns it once told to.
    _snakemake(kill_study, "--unlock")
    planned = _snakemake(kill_study, "-n", "reports/all")
    assert planned.returncode != 0 or ("finetune", "rte") in _planned_jobs(planned.stdout, with_task=True)
    if planned.returncode != 0:
        assert "incomplete" in (planned.stdout + planned.stderr).lower(), planned.stderr[-3000:]
    run = _snakemake(kill_study, "--rerun-incomplete", "reports/all")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (kill_study / "reports/all").exists()
    assert _snakemake(kill_study, "-n", "reports/all").stdout.count("Nothing to be done") == 1


# --- the Snakemake HTML report, in a real browser ---------------------------------------------------


def _chromium() -> str:
    """Debian's chromium (opt-in with BERTQ_CHROMIUM, which .ci/run sets after installing it)."""
    path = os.environ.get("BERTQ_CHROMIUM")
    if not path:
        pytest.skip("set BERTQ_CHROMIUM to a chromium binary (apt install chromium) to test the HTML report")
    assert Path(path).is_file(), f"BERTQ_CHROMIUM={path} does not exist"
    return path


CATEGORIES = ("Hu et al. (2022)", "Zhao et al. (2021)", "bertq: speed and all results")


def _open(page, html: Path, category: str) -> None:
    page.goto(html.as_uri())
    page.get_by_role("link", name=category).click()
    page.get_by_role("link", name="Figures").click()


def browse_report_figures(html: Path, chromium: str, shots: Path, study_name: str) -> dict:
    """Open every figure of the Snakemake report in headless Chromium, as a reader would (category,
    Figures, the eye button), screenshot it and read its caption; return {file: (category, [natural
    width, natural height, shown width, shown height])}."""
    from playwright.sync_api import sync_playwright

    seen = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for category in CATEGORIES:
            _open(page, html, category)
            names = [t.strip().split("/")[-1] for t in page.locator("tr td:first-child").all_inner_texts()]
            for name in names:
                _open(page, html, category)
                row = page.locator("tr", has=page.get_by_text(f"reports/{name}", exact=True))
                row.locator("a[iconname=eye]").click()
                img = page.locator(f'img[src*="filename={name}"]')
                img.wait_for(state="visible", timeout=10_000)
                seen[name] = (
                    category,
                    img.evaluate(
                        "e => [e.naturalWidth, e.naturalHeight, e.getBoundingClientRect().width, "
                        "e.getBoundingClientRect().height]"
                    ),
                )
                page.screenshot(path=str(shots / name))
                row.locator("a[iconname=information-circle]").click()
                caption = page.get_by_text(f"Study {study_name}").first
                caption.wait_for(state="visible", timeout=10_000)  # the caption names the study
        browser.close()
    return seen


def test_html_report_shows_every_figure_in_headless_chromium(study, tmp_path):
    chromium = _chromium()
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (in the test extras)")
    html = tmp_path / "report.html"
    run = _snakemake(study, "--report", str(html))
    assert run.returncode == 0 and html.stat().st_size > 0, run.stderr[-3000:]
    text = html.read_text(errors="replace")
    assert not re.search(r"""<(?:script|link|img)[^>]+(?:src|href)=["']https?://""", text)  # self-contained
    figures = sorted(f for f in (study / "reports/all").read_text().split() if f.endswith(".png"))
    shots = tmp_path / "screenshots"
    shots.mkdir()
    seen = browse_report_figures(html, chromium, shots, "pipeline test")
    assert sorted(seen) == figures
    for name, (category, (w, h, shown_w, shown_h)) in seen.items():
        assert w > 200 and h > 100 and shown_w > 200 and shown_h > 100, (name, w, h, shown_w, shown_h)
        assert category == (
            CATEGORIES[1]
            if name.startswith("zhao_")
            else CATEGORIES[2]
            if name.startswith("throughput")
            else CATEGORIES[0]
        ), name
        assert (shots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
