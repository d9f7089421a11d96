"""TyDi QA GoldP and Natural Questions (MRQA) through the Snakemake pipeline from local files: a
random-initialised 1-layer BERT-Tiny is fine-tuned on each, quantized, evaluated with the task's
metric, and the numbers land in the summary and results.csv."""

import csv
import json

import pytest
from qa_tasks_fixture import write_nq_dir, write_tydiqa_dir
from snakemake_cli import run_study

pytestmark = pytest.mark.pipeline

WINDOW = {"max_length": 48, "doc_stride": 8, "max_query_length": 12}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    work = tmp_path_factory.mktemp("qa_study")
    config = {
        "name": "span tasks",
        "models": {"tiny": {"source": "random:tiny", "layers": 1}},
        "tasks": ["tydiqa", "nq"],
        "data": {
            "tydiqa": {"dir": str(write_tydiqa_dir(work / "tydiqa", n_articles=4))},
            "nq": {"dir": str(write_nq_dir(work / "nq", n_contexts=8))},
        },
        "finetune": {
            "defaults": {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, **WINDOW},
            "threads": 1,
        },
        "seeds": [0],
        "quantization": {"bits": [4], "methods": {"lq": {}}},
        "cost": {"sequence_length": 32, "qa_sequence_length": 48},
        "throughput": {"batch_size": 2, "sequence_length": 16, "repeats": 1, "warmup": 0},
    }
    return run_study(work, config)


def test_span_tasks_run_end_to_end(study):
    rows = list(csv.DictReader((study / "results" / "summary.csv").read_text().splitlines()))
    assert {(r["task"], r["method"], r["bits"]) for r in rows} == {
        (t, m, b) for t in ("tydiqa", "nq") for m, b in (("fp32", "32"), ("lq", "4"))
    }
    for r in rows:
        m = json.loads(r["metrics"])
        assert float(r["score"]) == pytest.approx((m["exact_match"] + m["f1"]) / 2)
        if r["task"] == "tydiqa":
            assert {"arabic/f1", "english/f1", "finnish/exact_match", "micro_f1", "f1_with_english"} <= set(m)
            assert m["f1"] == pytest.approx((m["arabic/f1"] + m["finnish/f1"]) / 2)
            assert m["n"] == 24
        else:
            assert m["n"] == 16
    tokenized = sorted(
        p.relative_to(study / "results/tokenized").parts[1:]
        for p in (study / "results/tokenized").rglob("*.safetensors")
    )
    assert tokenized == [("nq", "len48-stride8-q12.safetensors"), ("tydiqa", "len48-stride8-q12.safetensors")]
    ev = json.loads((study / "results/eval/tiny/tydiqa/seed0/lq/w4.json").read_text())
    assert ev["metric"] == "tydiqa" and ev["split"] == "official train / dev" and len(ev["predictions"]) == 24
    results = list(csv.DictReader((study / "reports" / "results.csv").read_text().splitlines()))
    assert {r["benchmark"] for r in results} == {
        "TyDi QA GoldP (EM + F1) / 2, non-English mean",
        "NQ (MRQA) (EM + F1) / 2",
    }
