"""A study with one tiny random model per encoder family bertq's encoder runs beside BERT
(RoBERTa, XLM-R, DistilBERT, MobileBERT; built offline by ``family_fixture``), end to end through the DAG: fine-tuning
with transformers, weight PTQ, static W8A8, El-Kurdi et al.'s dynamic int8 on the integer
engine, QAT, cost and throughput, into the reports."""

import csv
import json

import pytest
from family_fixture import tiny_checkpoint
from test_pipeline import run_rte_study

pytestmark = pytest.mark.pipeline
FAMILIES = {"roberta": "roberta", "xlmr": "xlm-roberta", "distil": "distilbert", "mobile": "mobilebert"}
BODY = {"roberta": "roberta.", "xlm-roberta": "roberta.", "distilbert": "distilbert.", "mobilebert": "mobilebert."}
HEAD = {
    "roberta": "classifier.",
    "xlm-roberta": "classifier.",
    "distilbert": ("pre_classifier.", "classifier."),
    "mobilebert": "classifier.",
}
LINEARS = {"mobilebert": 11 * 2 + 1}  # 2 FFNs: 11 linears a layer, and the embedding transformation
HEAD_LINEARS = {"mobilebert": 1}  # no pooler (classifier_activation false): the classifier only


def _config(models):
    def config(glue_dir):
        return {
            "name": "families test",
            "models": {name: {"source": f"path:{path}"} for name, path in models.items()},
            "tasks": ["rte"],
            "data": {"glue_dir": str(glue_dir)},
            "finetune": {
                "defaults": {"epochs": 1, "batch_size": 8, "max_length": 32, "learning_rate": 1e-3},
                "threads": 1,
            },
            "seeds": [0],
            "quantization": {
                "bits": [8],
                "methods": {
                    "lq": {},
                    "w8a8": {"method": "mse", "scope": "all", "activations": {"batch_size": 4, "batches": 2}},
                    "i8": {"method": "lq", "scope": "all", "dynamic": {}},
                    "w8_qat": {"method": "mse", "scope": "all", "qat": {"epochs": 1, "batch_size": 8}},
                },
            },
            "cost": {"sequence_length": 32},
            "throughput": {"batch_size": 2, "sequence_length": 16, "repeats": 1, "warmup": 0, "methods": ["i8"]},
            "reports": ["elkurdi_table3", "bondarenko_table1"],
        }

    return config


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    models = {name: tiny_checkpoint(root / name, family) for name, family in FAMILIES.items()}
    return run_rte_study(root / "study", _config(models), train=40)


@pytest.mark.parametrize("model", sorted(FAMILIES))
def test_each_family_runs_every_step_of_the_dag(study, model):
    base = study / "results"
    config = json.loads((base / f"finetuned/{model}/rte/seed0/config.json").read_text())
    assert config["model_type"] == FAMILIES[model]
    for method in ("lq", "w8a8", "i8", "w8_qat"):
        evaluation = json.loads((base / f"eval/{model}/rte/seed0/{method}/w8.json").read_text())
        assert 0 <= evaluation["score"] <= 100, (model, method)
    dynamic = json.loads((base / f"quantized/{model}/rte/seed0/i8/w8.json").read_text())
    assert dynamic["layers"] == 2 and dynamic["head"] == "sequence"
    family = FAMILIES[model]
    tables = 2 if family == "distilbert" else 3  # DistilBERT has no token types
    quantized = set(dynamic["layer_mse"])  # scope all: the tables, two layers' six linears, the head's two
    head = HEAD_LINEARS.get(family, 2)
    assert len(quantized) == tables + LINEARS.get(family, 6 * 2) + head
    assert len([n for n in quantized if n.startswith(HEAD[family])]) == head
    assert all(name.startswith((BODY[family], "classifier.", "pre_classifier.")) for name in quantized)
    with open(study / "results/summary.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["model"] == model]
    assert {row["method"] for row in rows} >= {"fp32", "lq", "w8a8", "i8", "w8_qat"}


def test_the_reports_hold_a_row_per_family(study):
    table = (study / "reports/elkurdi_table3.md").read_text()
    for model in FAMILIES:
        assert model in table.lower() or FAMILIES[model] in table.lower()
