"""CoNLL-2003 NER end to end through the DAG (local files in the original release's IOB1): a tiny
DistilBERT and MobileBERT (WordPiece) and a tiny RoBERTa (byte-level BPE, words read with a prefix
space), the DAG planned within its time budget, fine-tuned
as token classifiers with transformers, then weight PTQ, static W8A8 with the head, dynamic int8
on the integer engine, QAT, AdaRound, the AQ-BERT and Q-BERT searches, cost, and AQ-BERT's Table 1
with its CoNLL column."""

import csv
import json
import time

import pytest
import yaml
from conll_fixture import write_conll
from family_fixture import tiny_checkpoint
from snakemake_cli import run_snakemake, run_study

from bertq.data.tasks import CONLL03

pytestmark = pytest.mark.pipeline
MODELS = ("distil", "roberta", "mobile")
FAMILIES = {"distil": "distilbert", "roberta": "roberta", "mobile": "mobilebert"}
DAG_SECONDS = 30
"""A study's DAG is planned within this budget (``snakemake -n``)."""
METHODS = ("lq", "w8a8", "i8", "w8_qat", "ada", "aq", "qb")


def _config(conll_dir, checkpoints):
    return {
        "name": "ner test",
        "models": {name: {"source": f"path:{path}"} for name, path in checkpoints.items()},
        "tasks": ["conll03"],
        "data": {"conll03": {"dir": str(conll_dir), "scheme": "iob1"}},
        "finetune": {
            "defaults": {"epochs": 1, "batch_size": 8, "max_length": 24, "learning_rate": 2e-3},
            "threads": 1,
        },
        "seeds": [0],
        "quantization": {
            "bits": [8],
            "methods": {
                "lq": {},
                "w8a8": {"method": "mse", "scope": "all", "activations": {"batch_size": 4, "batches": 2}},
                "i8": {"method": "lq", "scope": "all", "dynamic": {}, "engine": True},
                "w8_qat": {"method": "mse", "scope": "all", "qat": {"epochs": 1, "batch_size": 8}},
                "ada": {"method": "mse", "scope": "all", "adaround": {"sequences": 16, "iterations": 20,
                                                                      "batch_size": 4}},
                "qb": {"method": "q_bert", "search": {"target_mb": 0.01, "groups": 4, "hessian_batches": 1,
                                                      "hessian_batch_size": 8, "power_iterations": 2}},
                "aq": {
                    "method": "aq_bert",
                    "search": {"target_mb": 0.01, "groups": 4, "epochs": 2, "delay_epochs": 1, "batch_size": 8,
                               "arch_learning_rate": 5.0},
                },
            },
        },
        "cost": {"sequence_length": 24},
        "throughput": {"batch_size": 2, "sequence_length": 16, "repeats": 1, "warmup": 0, "methods": ["i8"]},
        "reports": ["aqbert_table1"],
    }  # fmt: skip


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner")
    conll = root / "conll"
    conll.mkdir()
    write_conll(conll / "eng.train", 64, 1, "iob1")
    write_conll(conll / "eng.testa", 24, 2, "iob1")
    checkpoints = {name: tiny_checkpoint(root / name, family) for name, family in FAMILIES.items()}
    work = root / "study"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(_config(conll, checkpoints)))
    started = time.perf_counter()
    plan = run_snakemake(work, "-n", "reports/all")
    planned = time.perf_counter() - started
    assert plan.returncode == 0, plan.stderr[-3000:]
    (work / "planned_seconds").write_text(f"{planned}")
    return run_study(work, _config(conll, checkpoints))


def test_the_dag_is_planned_within_budget(study):
    assert float((study / "planned_seconds").read_text()) < DAG_SECONDS


@pytest.mark.parametrize("model", MODELS)
def test_ner_runs_every_step_for_each_tokenizer(study, model):
    base = study / "results"
    finetuned = json.loads((base / f"finetuned/{model}/conll03/seed0/dev_metrics.json").read_text())
    assert finetuned["gold_entities"] > 10 and finetuned["score"] == finetuned["f1"]
    config = json.loads((base / f"finetuned/{model}/conll03/seed0/config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(len(CONLL03.label_names))] == list(CONLL03.label_names)
    for method in METHODS:
        evaluation = json.loads((base / f"eval/{model}/conll03/seed0/{method}/w8.json").read_text())
        assert evaluation["metric"] == "entity_f1" and 0 <= evaluation["f1"] <= 100, (model, method)
        assert evaluation["gold_entities"] == finetuned["gold_entities"]
    dynamic = json.loads((base / f"eval/{model}/conll03/seed0/i8/w8.json").read_text())
    assert dynamic["scored_on"] == "integer engine"
    summary = json.loads((base / f"quantized/{model}/conll03/seed0/i8/w8.json").read_text())
    assert summary["head"] == "token" and "classifier.weight" in summary["layer_mse"]
    with open(study / "results/summary.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["model"] == model]
    assert {row["method"] for row in rows} >= {"fp32", *METHODS}


def test_aqbert_table1_has_a_conll_column(study):
    table = (study / "reports/aqbert_table1.md").read_text()
    assert "CoNLL" in table and "AQ-BERT" in table
    with open(study / "reports/aqbert_table1.csv", newline="") as f:
        ours = [row for row in csv.DictReader(f) if row["source"] == "ours" and row["variant"] in ("aq", "qb")]
    assert {row["task"] for row in ours} == {"conll03"} and len(ours) == 2 * len(MODELS)
    with open(study / "results/summary.csv", newline="") as f:
        models = {row["model_label"]: row["model"] for row in csv.DictReader(f)}
    for row in ours:  # the column is each variant's entity F1 on the dev split
        model = models[row["model"]]
        evaluation = json.loads((study / f"results/eval/{model}/conll03/seed0/{row['variant']}/w8.json").read_text())
        assert float(row["score"]) == pytest.approx(evaluation["f1"], abs=1e-3), row
