"""AQ-BERT and Q-BERT as DAG steps of a tiny study (BERT-Tiny's first layer, random weights): the
search job writes a mixed-precision checkpoint and a summary that evaluation, calibration, size,
ACE and timing read as any other variant's; the reports show AQ-BERT, Q-BERT and the uniform rows
by size with the paper's Table 1 beneath, and the assignment figure; changing one entry's search
setting reruns only that entry's search and what follows."""

import csv
import json

import pytest
from snakemake_cli import run_snakemake
from test_pipeline import planned_after_change, run_rte_study, tiny_rte_study

from bertq.quantization.model import load_quantized
from bertq.quantization.tensor import MixedPrecisionTensor

pytestmark = pytest.mark.pipeline

FIXED_BITS = 32 * (9 * 128 + 512)
"""One BERT-Tiny layer's biases and LayerNorm at 32 bits."""
SEARCH = {"groups": 4, "epochs": 2, "delay_epochs": 1, "batch_size": 8, "arch_learning_rate": 5.0}


def _config(glue_dir, target: float = 0.1) -> dict:
    return tiny_rte_study(
        glue_dir,
        "search test",
        {
            "methods": {
                "aq": {"method": "aq_bert", "search": {**SEARCH, "target_mb": target}},
                "qb": {
                    "method": "q_bert",
                    "search": {"target_mb": 0.1, "groups": 4, "hessian_batches": 2, "hessian_batch_size": 8},
                    "activations": {"batch_size": 4},
                },
                "u2": {
                    "method": "q_bert",
                    "search": {
                        "target_mb": 0.055,
                        "bits": [2],
                        "groups": 4,
                        "hessian_batches": 1,
                        "power_iterations": 1,
                    },
                },
                "lq_g4": {"method": "lq", "granularity": 4, "bits": [8, 4]},
            },
        },
        ["aqbert_table1", "aqbert_table2", "aqbert_assignment", "aqbert_tradeoff"],
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return run_rte_study(tmp_path_factory.mktemp("search_study"), _config, train=64)


def _summary(study, method, bits=8):
    return json.loads((study / f"results/quantized/tiny/rte/seed0/{method}/w{bits}.json").read_text())


def test_the_search_jobs_write_mixed_precision_variants_that_every_step_reads(study):
    fp32 = _summary(study, "fp32", 32)
    for method in ("aq", "qb"):
        s = _summary(study, method)
        assert s["provenance"]["rule"] == "search" and s["labels"] == {
            "model": "tiny", "task": "rte", "seed": 0, "method": method, "bits": 8
        }  # fmt: skip
        qm = load_quantized(study / f"results/quantized/tiny/rte/seed0/{method}/w8.safetensors")
        linears = {n: t for n, t in qm.tensors.items() if ".encoder." in n}
        assert len(linears) == 6 and all(isinstance(t, MixedPrecisionTensor) for t in linears.values())
        for name, bits in s["assignment"].items():
            assert linears[f"{name}.weight"].group_bits.tolist() == bits
        stored = sum(int(t.group_bits.sum()) * t.in_channels * t.group_size for t in linears.values())
        assert s["encoder_size_mib"] == pytest.approx((FIXED_BITS + stored) / 2**23)  # the paper's count
        assert s["encoder_size_mib"] < fp32["encoder_size_mib"] and s["ace"] < fp32["ace"]
        evaluation = json.loads((study / f"results/eval/tiny/rte/seed0/{method}/w8.json").read_text())
        assert 0 <= evaluation["score"] <= 100
    aq = _summary(study, "aq")  # (test_bit_search_minilm checks that a search reaches its target)
    assert aq["encoder_size_mib"] == pytest.approx(aq["search"]["size_mb"]) and aq["search"]["target_mb"] == 0.1
    assert _summary(study, "qb")["encoder_size_mib"] <= 0.1
    assert (study / "results/ranges/tiny/rte/seed0/qb/w8.json").exists()  # calibrated on the retrained model
    assert _summary(study, "qb")["site_activation_bits"] is not None
    timing = json.loads((study / "results/throughput/tiny.json").read_text())
    assert {("aq", 8), ("qb", 8)} <= {(b["method"], b["bits"]) for b in timing["backends"]}


def test_the_reports_show_searched_and_uniform_rows_by_size(study):
    table = (study / "reports/aqbert_table1.md").read_text()
    for row in (
        "| AQ-BERT | `aq` w8",
        "| Q-BERT | `qb` w8",
        "| uniform lq 4-bit | `lq_g4` w4",
        "| uniform 2-bit, retrained | `u2` w2 | 0.05 | 0.06 |",
        "| fp32 | `fp32`",
    ):
        assert row in table, row
    assert "Table 1 (BERT-Base, 128 groups" in table and "| AQ-BERT | 20 | 91.10 |" in table
    rows = list(csv.DictReader((study / "reports/aqbert_table1.csv").read_text().splitlines()))
    ours = {r["variant"]: float(r["size_mib"]) for r in rows if r["source"] == "ours"}
    assert ours["aq"] == pytest.approx(_summary(study, "aq")["encoder_size_mib"], rel=1e-5)
    assert ours["fp32"] > ours["aq"]
    lines = [line.split("|") for line in table.split("## ")[1].splitlines() if line.startswith("| ")][1:]
    sizes = [float(cells[3]) for cells in lines]
    assert lines[0][1].strip() == "fp32" and sizes == sorted(sizes, reverse=True)  # largest first
    table2 = (study / "reports/aqbert_table2.md").read_text()
    assert "| AQ-BERT | 4 | `aq` |" in table2 and "| Q-BERT | 4 | `qb` |" in table2 and "`u2`" not in table2
    for figure in ("aqbert_assignment_tiny.png", "aqbert_tradeoff_tiny.png"):
        assert (study / "reports" / figure).stat().st_size > 5000


def test_changing_a_search_setting_reruns_only_its_search_and_what_follows(study):
    jobs = planned_after_change(study, _config(study / "glue", target=0.12), _config(study / "glue"))
    assert jobs == {
        ("search", "aq"),
        ("evaluate", "aq"),
        ("timed_checkpoint", "aq"),
        ("throughput", ""),
        ("aggregate", ""),
        ("reports", ""),
    }, jobs


@pytest.mark.bad_input("edited", "job_time")
def test_an_edited_result_stops_the_job_that_would_read_it(study):
    """A score edited by hand after its evaluate job: the aggregate job refuses it, naming the file,
    the rule that wrote it and what to do, and the reports are not rewritten from it."""
    result = study / "results/eval/tiny/rte/seed0/aq/w8.json"
    original = result.read_text()
    before = (study / "reports/aqbert_table1.md").read_text()
    edited = json.loads(original)
    edited["score"] = 99.0
    result.write_text(json.dumps(edited, indent=1))
    try:
        run = run_snakemake(study, "reports/all")
        assert run.returncode != 0
        log = "\n".join(p.read_text() for p in (study / "logs").rglob("aggregate*.log"))
        assert "results/eval/tiny/rte/seed0/aq/w8.json was edited after rule evaluate wrote it" in log
        assert "--forcerun evaluate" in log
        assert (study / "reports/aqbert_table1.md").read_text() == before
    finally:
        result.write_text(original)
    run = run_snakemake(study, "reports/all")  # the original content passes its seal again
    assert run.returncode == 0, run.stderr[-3000:]
