"""Provenance: every JSON result a job writes records what produced it; the tidy table collects them."""

import csv
import importlib.metadata
import json
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy
import pytest
import torch

from bertq import provenance
from bertq.reports.collect import TIDY_COLUMNS, collect
from bertq.workflow import job


class Named(dict):
    """Stands in for Snakemake's named lists (``.items()`` and attribute access)."""

    __getattr__ = dict.__getitem__


def _smk(tmp_path, **params):
    return SimpleNamespace(rule="evaluate", log=[str(tmp_path / "logs" / "job.log")],
                           wildcards=Named(model="tiny", task="rte", seed="0"), params=Named(params))


def test_a_job_stamps_its_json_results_with_config_code_packages_device_and_time(tmp_path):
    out = tmp_path / "result.json"
    smk = _smk(tmp_path, hyper=json.dumps({"learning_rate": 3e-5, "epochs": 2}), threads=1, code="abc123")
    with job(smk, results=[out]):
        out.write_text(json.dumps({"score": 81.5}))
        time.sleep(0.2)
    data = json.loads(out.read_text())
    assert data["score"] == 81.5
    p = data["provenance"]
    assert p["rule"] == "evaluate" and p["wildcards"] == {"model": "tiny", "task": "rte", "seed": "0"}
    assert p["params"] == {"hyper": {"learning_rate": 3e-5, "epochs": 2}, "threads": 1, "code": "abc123"}
    assert 0.2 <= p["wall_seconds"] < 30
    assert p["packages"]["torch"] == importlib.metadata.version("torch") and torch.__version__.startswith(
        p["packages"]["torch"].split("+")[0])
    assert p["packages"]["numpy"] == numpy.__version__
    assert len(p["code"]["source_sha256"]) == 16
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(provenance.__file__).parents[2],
                          capture_output=True, text=True)
    if head.returncode == 0:  # imported from a checkout (an editable install)
        assert p["code"]["git_commit"] == head.stdout.strip()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        if names:
            assert p["device"]["cpu"]["model"] == names[0]
    assert p["device"]["gpu"] == (None if not torch.cuda.is_available() else p["device"]["gpu"])
    assert provenance.read(out) == p


def test_a_failed_job_stamps_nothing_and_logs_the_error(tmp_path):
    out = tmp_path / "result.json"
    out.write_text(json.dumps({"score": 1.0}))
    with pytest.raises(RuntimeError, match="boom"):
        with job(_smk(tmp_path), results=[out]):
            raise RuntimeError("boom")
    assert "provenance" not in json.loads(out.read_text())
    assert "RuntimeError: boom" in (tmp_path / "logs" / "job.log").read_text()


def test_stamp_refuses_a_json_that_is_not_an_object(tmp_path):
    out = tmp_path / "list.json"
    out.write_text("[1, 2]")
    with pytest.raises(ValueError, match="list.json: provenance goes into a JSON object"):
        provenance.stamp(out, {})


def test_the_tidy_table_has_a_row_per_metric_with_its_provenance(tmp_path):
    block = provenance.record("evaluate", {}, {}, time.time() - 2.5, time.time())
    qblock = provenance.record("quantize", {}, {"method": json.dumps({"method": "lq", "params": {}})}, 0, 1)
    ev_dir, cost_dir = tmp_path / "results/eval/m/rte/seed0/lq", tmp_path / "results/quantized/m/rte/seed0/lq"
    ev_dir.mkdir(parents=True)
    cost_dir.mkdir(parents=True)
    ev = {"model": "m", "task": "rte", "seed": 0, "method": "lq", "bits": 4, "score": 55.0, "accuracy": 55.0,
          "split": "dev", "predictions": [1, 0], "provenance": block}
    cost = {"layers": 2, "hidden": 128, "size_bytes": 1000, "ace": 5e9, "quantization_ratio": 0.99,
            "mean_layer_mse": 1e-4, "provenance": qblock}
    (ev_dir / "w4.json").write_text(json.dumps(ev))
    (cost_dir / "w4.json").write_text(json.dumps(cost))
    models = {"m": {"model_label": "M", "paper_name": "", "size_class": "", "random_init": True}}
    collect([ev_dir / "w4.json"], [cost_dir / "w4.json"], [], models, tmp_path / "s.csv", tmp_path / "t.csv",
            tmp_path / "tidy.csv")
    rows = list(csv.DictReader(open(tmp_path / "tidy.csv")))
    assert list(rows[0]) == TIDY_COLUMNS
    assert {(r["metric"], float(r["value"])) for r in rows} == {("score", 55.0), ("accuracy", 55.0)}
    r = rows[0]
    assert (r["model"], r["task"], r["seed"], r["method"], r["bits"]) == ("m", "rte", "0", "lq", "4")
    assert json.loads(r["quantization"]) == {"method": "lq", "params": {}}
    assert r["code_version"] == block["code"]["source_sha256"] and float(r["evaluate_seconds"]) == pytest.approx(2.5, abs=0.01)
    summary = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert json.loads(summary[0]["metrics"]) == {"accuracy": 55.0, "score": 55.0, "split": "dev"}  # no provenance
