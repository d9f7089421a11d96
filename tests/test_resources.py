"""Cluster resources scale with the model a job runs."""

import json
import math

import pytest

from bertq.models.sources import parse_source
from bertq.pipeline.resources import RULES, job_resources, million_parameters, model_shape


def test_parameter_count_matches_the_published_bert_sizes():
    # Devlin et al.: BERT-Base 110 M, BERT-Large 340 M parameters (position and type embeddings,
    # biases, LayerNorms and the pooler, left out here, are about 1%).
    assert million_parameters(parse_source("random:base")) == pytest.approx(110, rel=0.02)
    assert million_parameters(parse_source("random:large")) == pytest.approx(335, rel=0.02)
    # BERT-Tiny: 4.4 M
    assert million_parameters(parse_source("random:tiny")) == pytest.approx(4.4, rel=0.05)
    # XLM-R base: 278M parameters, 192M of them its 250k-token table (Conneau et al., 2020)
    assert million_parameters(parse_source("hub:FacebookAI/xlm-roberta-base")) == pytest.approx(278, rel=0.02)
    assert million_parameters(parse_source("hub:FacebookAI/roberta-base")) == pytest.approx(125, rel=0.02)


def test_hub_and_path_models_are_sized_without_downloading(tmp_path):
    assert model_shape(parse_source("hub:google-bert/bert-large-uncased")) == (24, 1024, 4096)
    assert model_shape(parse_source("hub:google/bert_uncased_L-4_H-256_A-4")) == (4, 256, 1024)
    assert model_shape(parse_source("hub:google/bert_uncased_L-4_H-256_A-4", layers=2)) == (2, 256, 1024)
    (tmp_path / "config.json").write_text(
        json.dumps({"num_hidden_layers": 3, "hidden_size": 64, "intermediate_size": 100})
    )
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert model_shape(parse_source(f"path:{tmp_path}")) == (3, 64, 100)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_asks_more_for_a_larger_model(rule):
    tiny, base, large = (job_resources(rule, parse_source(f"random:{s}")) for s in ("tiny", "base", "large"))
    assert tiny["mem_mb"] < base["mem_mb"] < large["mem_mb"]
    assert tiny["runtime"] <= base["runtime"] < large["runtime"]
    assert tiny["mem_mb"] >= 1000 and tiny["runtime"] >= 5


def test_a_gpu_is_asked_for_only_by_training_jobs_and_shortens_them():
    base = parse_source("random:base")
    for rule in RULES:
        r = job_resources(rule, base, gpu=True)
        assert r["gpu"] == (1 if rule in ("finetune", "centroid_finetune", "qat", "adaround", "search") else 0)
    assert job_resources("finetune", base, gpu=True)["runtime"] < job_resources("finetune", base)["runtime"]


def test_squad_jobs_get_more_than_a_sentence_task():
    base = parse_source("random:base")
    glue, squad = job_resources("finetune", base), job_resources("finetune", base, span=True)
    assert squad["mem_mb"] > glue["mem_mb"] and squad["runtime"] == 3 * glue["runtime"]


def test_a_timing_job_holding_more_models_asks_more_for_their_parameters_only():
    base = parse_source("random:base")
    p = million_parameters(base)
    one, three = job_resources("throughput", base), job_resources("throughput", base, copies=3.0)
    assert three["mem_mb"] == math.ceil(2000 + 20 * 3 * p) and one["mem_mb"] == math.ceil(2000 + 20 * p)
    assert three["runtime"] == math.ceil(10 + 0.2 * 3 * p)
