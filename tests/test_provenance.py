"""Provenance and the job protocol: every JSON result a job writes records its labels and what produced
it, written once and atomically; the tidy table collects them, joined by labels, not paths."""

import csv
import importlib.metadata
import json
import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy
import pytest
import torch

from bertq.pipeline import integrity, provenance
from bertq.pipeline.jobs import JOBS, Call, Job, run
from bertq.reports.collect import TIDY_COLUMNS, collect


class Named(dict):
    """Stands in for Snakemake's named lists (``.items()``, attribute access, iterating the values)."""

    __getattr__ = dict.__getitem__

    def __iter__(self):
        return iter(list(self.values()))


def _smk(tmp_path, **params):
    return SimpleNamespace(
        rule="evaluate",
        log=[str(tmp_path / "logs" / "job.log")],
        wildcards=Named(model="tiny", task="rte", seed="0", method="lq", bits="4"),
        params=Named(params),
        input=Named(),
        output=Named(evaluation=str(tmp_path / "result.json"), checkpoint=str(tmp_path / "w.bin")),
        threads=1,
    )


def test_a_job_writes_its_record_with_labels_config_code_packages_device_and_time(tmp_path):
    out = tmp_path / "result.json"
    smk = _smk(tmp_path, hyper=json.dumps({"learning_rate": 3e-5, "epochs": 2}), threads=1, code="abc123")
    seen = {}

    def score(hyper, seed, checkpoint):
        seen.update(hyper=hyper, seed=seed)
        assert not out.exists() and checkpoint != tmp_path / "w.bin"  # nothing final until the job succeeds
        checkpoint.write_bytes(b"weights")
        time.sleep(0.2)
        return {"score": 81.5}

    job = Job(
        score,
        lambda c: {"hyper": c.params["hyper"], "seed": c.wildcards["seed"], "checkpoint": c.files["checkpoint"]},
        files=("checkpoint",),
        record="evaluation",
    )
    assert run(smk, job) == {"score": 81.5}
    assert seen == {"hyper": {"learning_rate": 3e-5, "epochs": 2}, "seed": 0}  # decoded, cast
    assert (tmp_path / "w.bin").read_bytes() == b"weights"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".sha256")) == [
        "logs", "result.json", "w.bin"
    ]  # no temporaries left; every output sealed  # fmt: skip
    assert integrity.check(out) and integrity.check(tmp_path / "w.bin")
    data = json.loads(out.read_text())
    assert data["score"] == 81.5
    assert data["labels"] == {"model": "tiny", "task": "rte", "seed": 0, "method": "lq", "bits": 4}
    p = data["provenance"]
    assert p["rule"] == "evaluate"
    assert p["wildcards"] == {"model": "tiny", "task": "rte", "seed": "0", "method": "lq", "bits": "4"}
    assert p["params"] == {"hyper": {"learning_rate": 3e-5, "epochs": 2}, "threads": 1, "code": "abc123"}
    assert 0.2 <= p["wall_seconds"] < 30
    assert p["packages"]["torch"] == importlib.metadata.version("torch") and torch.__version__.startswith(
        p["packages"]["torch"].split("+")[0]
    )
    assert p["packages"]["numpy"] == numpy.__version__
    assert len(p["code"]["source_sha256"]) == 16
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=Path(provenance.__file__).parents[2], capture_output=True, text=True
    )
    if head.returncode == 0:  # imported from a checkout (an editable install)
        assert p["code"]["git_commit"] == head.stdout.strip()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        if names:
            assert p["device"]["cpu"]["model"] == names[0]
    assert p["device"]["gpu"] == (None if not torch.cuda.is_available() else p["device"]["gpu"])
    assert provenance.read(out) == p


@pytest.mark.bad_input("kill", "handled")
def test_a_failed_job_writes_nothing_and_logs_the_error(tmp_path):
    def half_done(checkpoint):
        checkpoint.write_bytes(b"partial")
        raise RuntimeError("boom")

    job = Job(half_done, lambda c: {"checkpoint": c.files["checkpoint"]}, files=("checkpoint",), record="evaluation")
    with pytest.raises(RuntimeError, match="boom"):
        run(_smk(tmp_path), job)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]  # neither output nor a temporary
    assert "RuntimeError: boom" in (tmp_path / "logs" / "job.log").read_text()


def test_a_job_refuses_a_record_that_is_not_an_object(tmp_path):
    with pytest.raises(TypeError, match="returned a list, not a record"):
        run(_smk(tmp_path), Job(lambda: [1, 2], lambda c: {}, record="evaluation"))
    assert not (tmp_path / "result.json").exists()


@pytest.mark.bad_input("hostile", "job_time")
def test_a_bad_numeric_wildcard_is_named():
    smk = SimpleNamespace(
        rule="evaluate",
        log=[],
        wildcards=Named(seed="x"),
        params=Named(),
        input=Named(),
        output=Named(evaluation="unused.json"),
    )
    with pytest.raises(ValueError, match="wildcard seed='x' is not an integer"):
        run(smk, Job(lambda: {}, lambda c: {}, record="evaluation"))


def test_every_job_entry_point_exists_and_takes_the_arguments_given():
    """Each rule's entry point resolves, and its builder's keywords are parameters of the function."""
    import inspect

    for rule, job in JOBS.items():
        params = inspect.signature(job.function()).parameters
        call = Call(
            {
                "model": "m",
                "task": "rte",
                "seed": 0,
                "method": "lq",
                "bits": 4,
                "max_length": 8,
                "doc_stride": 4,
                "max_query_length": 4,
                "tokenizer": "t",
            },
            _AnyParams(),
            _AnyNamed(),
            _AnyNamed(),
            {f: Path(f) for f in job.files},
        )
        given = set(job.arguments(call))
        assert given <= set(params), (rule, given - set(params))
        required = {n for n, p in params.items() if p.default is p.empty and p.kind != p.VAR_KEYWORD}
        assert required <= given, (rule, required - given)


class _AnyParams(dict):
    """Params where every key holds a dict of anything (enough to build arguments)."""

    def __getitem__(self, key):
        return (
            _AnyParams()
            if key not in ("source", "layers", "tokenizer")
            else ("random:tiny" if key == "source" else None)
        )

    def get(self, key, default=None):
        return self[key]


class _AnyNamed:
    def __getattr__(self, name):
        return f"results/{name}/x"

    def get(self, name, default=None):
        return getattr(self, name)

    def __iter__(self):
        return iter(())


def test_the_tidy_table_has_a_row_per_metric_with_its_provenance(tmp_path):
    block = provenance.record("evaluate", {}, {}, time.time() - 2.5, time.time())
    qblock = provenance.record("quantize", {}, {"method": json.dumps({"method": "lq", "params": {}})}, 0, 1)
    labels = {"model": "m", "task": "rte", "seed": 0, "method": "lq", "bits": 4}
    ev = {
        "task": "rte",
        "metric": "accuracy",
        "score": 55.0,
        "accuracy": 55.0,
        "split": "dev",
        "predictions": [1, 0],
        "labels": labels,
        "provenance": block,
    }
    cost = {
        "method": "lq",
        "bits": 4,
        "layers": 2,
        "hidden": 128,
        "size_bytes": 1000,
        "ace": 5e9,
        "quantization_ratio": 0.99,
        "mean_layer_mse": 1e-4,
        "labels": labels,
        "provenance": qblock,
    }
    other = {**cost, "size_bytes": 9999, "labels": {**labels, "seed": 1}}
    # file names say nothing: the labels inside join them
    for name, data in (("a.json", ev), ("b.json", cost), ("c.json", other)):
        (tmp_path / name).write_text(json.dumps(data))
    models = {"m": {"model_label": "M", "paper_name": "", "size_class": "", "random_init": True}}
    collect(
        [tmp_path / "a.json"],
        [tmp_path / "c.json", tmp_path / "b.json"],
        [],
        models,
        tmp_path / "s.csv",
        tmp_path / "t.csv",
        tmp_path / "tidy.csv",
    )
    rows = list(csv.DictReader((tmp_path / "tidy.csv").read_text().splitlines()))
    assert list(rows[0]) == TIDY_COLUMNS
    assert {(r["metric"], float(r["value"])) for r in rows} == {("score", 55.0), ("accuracy", 55.0)}
    r = rows[0]
    assert (r["model"], r["task"], r["seed"], r["method"], r["bits"]) == ("m", "rte", "0", "lq", "4")
    assert json.loads(r["quantization"]) == {"method": "lq", "params": {}}
    assert r["code_version"] == block["code"]["source_sha256"] and float(r["evaluate_seconds"]) == pytest.approx(
        2.5, abs=0.01
    )
    assert {r["size_bytes"] for r in rows} == {"1000"}
    summary = list(csv.DictReader((tmp_path / "s.csv").read_text().splitlines()))
    assert json.loads(summary[0]["metrics"]) == {"accuracy": 55.0, "score": 55.0, "split": "dev"}  # no provenance


@pytest.mark.bad_input("edited", "job_time")
def test_collect_names_a_result_without_labels_or_without_its_cost(tmp_path):
    labels = {"model": "m", "task": "rte", "seed": 0, "method": "lq", "bits": 4}
    (tmp_path / "ev.json").write_text(json.dumps({"score": 1.0, "labels": labels}))
    (tmp_path / "old.json").write_text(json.dumps({"size_bytes": 1, "method": "lq"}))
    models = {"m": {"model_label": "M", "paper_name": "", "size_class": "", "random_init": True}}
    with pytest.raises(ValueError, match=r"old.json: the result has no label\(s\)"):
        collect([], [tmp_path / "old.json"], [], models, tmp_path / "s.csv", tmp_path / "t.csv")
    with pytest.raises(ValueError, match="ev.json: no cost result for"):
        collect([tmp_path / "ev.json"], [], [], models, tmp_path / "s.csv", tmp_path / "t.csv")


def test_a_kept_file_outlives_its_temporary_source(tmp_path):
    from bertq.pipeline.workflow import keep_file

    source, target = tmp_path / "q.safetensors", tmp_path / "kept" / "q.safetensors"
    source.write_bytes(b"codes")
    target.parent.mkdir()
    os.utime(source, (1_000_000, 1_000_000))
    keep_file(source, target)
    os.utime(target)  # Snakemake may touch the kept file: the source's time must not move
    assert source.stat().st_mtime == 1_000_000 and source.stat().st_ino != target.stat().st_ino
    source.unlink()  # Snakemake removes a temporary checkpoint once its last reader is done
    assert target.read_bytes() == b"codes"
