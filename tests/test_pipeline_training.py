"""The training-based methods of Bondarenko et al. (2021) as DAG steps of a tiny study: AdaRound and
QAT (weights only, and with learned activation ranges) start from their variant's PTQ checkpoint
(and calibrated ranges), write checkpoints and ranges that evaluation, size and ACE read as PTQ
ones, land in Table 7's rows, and a changed QAT hyper-parameter reruns only that entry's training,
evaluation and what follows."""

import json

import numpy as np
import pytest
from test_pipeline import planned_after_change, run_rte_study, tiny_rte_study

from bertq.quantization.activation import load_ranges
from bertq.quantization.model import load_quantized

pytestmark = pytest.mark.pipeline


def _config(glue_dir, qat_lr: float = 1e-4) -> dict:
    qat = {"epochs": 1, "batch_size": 8, "learning_rate": qat_lr}
    return tiny_rte_study(
        glue_dir,
        "training test",
        {
            "bits": [4],
            "keep_checkpoints": True,
            "methods": {
                "w4": {"method": "mse", "scope": "all"},
                "w4_ada": {
                    "method": "mse",
                    "scope": "all",
                    "adaround": {"sequences": 16, "iterations": 30, "batch_size": 4},
                },
                "w4_qat": {"method": "mse", "scope": "all", "qat": qat},
                "w4a8_qat": {"method": "mse", "scope": "all", "activations": {"batch_size": 4}, "qat": qat},
            },
        },
        ["bondarenko_table7"],
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return run_rte_study(tmp_path_factory.mktemp("training_study"), _config, train=48)


def _summary(study, method):
    return json.loads((study / f"results/quantized/tiny/rte/seed0/{method}/w4.json").read_text())


def test_adaround_and_qat_start_from_their_ptq_checkpoint_and_write_ptq_format(study):
    base = study / "results/quantized/tiny/rte/seed0"
    ptq = load_quantized(base / "w4/w4.safetensors")
    for method, step in (("w4_ada", "adaround"), ("w4_qat", "qat"), ("w4a8_qat", "qat")):
        s = _summary(study, method)
        assert s["provenance"]["rule"] in (step, "qat_activations") and s["quantized_by"]["rule"] == (
            "quantize_before_training"
        )
        trained = load_quantized(base / f"{method}/w4.safetensors")
        before = load_quantized(base / f"{method}/w4.ptq.safetensors")
        assert set(trained.tensors) == set(ptq.tensors) and s["size_bytes"] == _summary(study, "w4")["size_bytes"]
        assert all(t.bits == 4 for t in trained.tensors.values())
        for name, t in before.tensors.items():  # the PTQ start is the plain PTQ variant's weights
            np.testing.assert_array_equal(t.codes, ptq.tensors[name].codes)
        changed = sum(not np.array_equal(trained.tensors[n].codes, before.tensors[n].codes) for n in before.tensors)
        assert changed > 0, method
    ada = _summary(study, "w4_ada")["adaround"]
    assert ada["settings"]["iterations"] == 30 and len(ada["layers"]) == 6 + 2  # 1 layer's 6 linears, pooler, head
    assert all(0 <= r["not_hard"] <= 1 for r in ada["layers"].values())
    for method in ("w4_qat", "w4a8_qat"):
        qat = _summary(study, method)["qat"]
        assert qat["steps"] > 0 and qat["params"]["learning_rate"] == 1e-4 and qat["params"]["attention_dropout"] == 0.1
    ranges = load_ranges(study / "results/ranges/tiny/rte/seed0/w4a8_qat/w4.json")
    start = load_ranges(study / "results/ranges/tiny/rte/seed0/w4a8_qat/w4.ptq.json")
    assert set(ranges) == set(start) and any(ranges[n].lo != start[n].lo for n in ranges)
    evaluation = json.loads((study / "results/eval/tiny/rte/seed0/w4a8_qat/w4.json").read_text())
    assert "score" in evaluation


def test_table7_shows_the_training_rows(study):
    table = (study / "reports/bondarenko_table7.md").read_text()
    for row in ("W4A32 AdaRound", "W4A32 QAT", "W4A8 QAT", "W4A32 AdaRound (PTQ)"):
        assert row in table, row
    rows = list(__import__("csv").DictReader((study / "reports/bondarenko_table7.csv").read_text().splitlines()))
    ours = {r["row"] for r in rows if r["source"] == "ours"}
    assert {"W4A32", "W4A32 AdaRound", "W4A32 QAT", "W4A8 QAT"} <= ours


def test_changing_a_qat_hyper_parameter_reruns_only_its_training_and_what_follows(study):
    jobs = planned_after_change(study, _config(study / "glue", qat_lr=3e-4), _config(study / "glue"))
    assert jobs == {
        ("qat", "w4_qat"),
        ("qat_activations", "w4a8_qat"),
        ("evaluate", "w4_qat"),
        ("evaluate", "w4a8_qat"),
        ("timed_checkpoint", "w4_qat"),
        ("timed_checkpoint", "w4a8_qat"),
        ("throughput", ""),
        ("aggregate", ""),
        ("reports", ""),
    }, jobs
