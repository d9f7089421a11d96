"""Mixed-precision entries (method aq_bert or q_bert with search settings) in the study config: resolved
over their method's defaults, and every bad input the issue names (an unreachable size target, a
bit set without a usable width, subgroups that do not divide a layer) an error naming its key before
any job runs. The model is the packaged MiniLM-L6 (6 layers, hidden 384, FFN 1536), whose encoder
spans 0.114 MiB (every subgroup pruned: biases and LayerNorm only) to 10.24 MiB (8 bits)."""

import pytest

import bertq.pipeline.config as bq
from bertq.training.bit_search import SEARCH_DEFAULTS
from bertq.training.search_job import QBERT_DEFAULTS

BASE = {"models": {"m": {"source": "packaged:all-MiniLM-L6-v2"}}, "tasks": ["rotten_tomatoes"]}
SEARCHED = 6 * (4 * 384 * 384 + 2 * 384 * 1536)
FIXED = 32 * 6 * (9 * 384 + 1536)


def _study(**methods):
    return {**BASE, "quantization": {"bits": [4], "methods": methods}}


def test_a_search_entry_resolves_over_its_methods_defaults():
    cfg = bq.validate(
        _study(
            aq={"method": "aq_bert", "search": {"target_mb": 3.5, "groups": 12}},
            qb={"method": "q_bert", "search": {"target_mb": 3.5, "bits": [2, 4]}, "embedding_bits": 4},
            uniform={"method": "lq", "granularity": 128},
        )
    )
    aq, qb = bq.method_variant(cfg, "aq"), bq.method_variant(cfg, "qb")
    assert aq["search"] == {**SEARCH_DEFAULTS, "target_mb": 3.5, "groups": 12}
    assert aq["bits"] == [8] and aq["params"] == {} and aq["embedding_bits"] is None  # labelled by its widest width
    assert qb["search"] == {**QBERT_DEFAULTS, "target_mb": 3.5, "bits": [2, 4]} and qb["bits"] == [4]
    assert bq.variant_record(cfg, "aq")["search"] == aq["search"]
    assert bq.method_variant(cfg, "uniform")["search"] is None and "search" not in bq.variant_record(cfg, "uniform")
    assert {"aqbert_table1", "aqbert_table2", "aqbert_assignment", "aqbert_tradeoff"} <= set(cfg["reports"])
    assert "aqbert_table1" not in bq.validate(_study(lq={}))["reports"]


def test_the_reachable_range_is_the_encoders():
    mib = 8 * 2**20
    lo, hi = FIXED / mib, (FIXED + 8 * SEARCHED) / mib
    assert (round(lo, 3), round(hi, 2)) == (0.114, 10.24)
    bq.validate(_study(aq={"method": "aq_bert", "search": {"target_mb": hi, "tolerance": 0.0}}))
    with pytest.raises(
        bq.ConfigError,
        match=r"search.target_mb: 10.3 MiB is out of reach for models.m: its encoder "
        r"takes 0.114 MiB \(every subgroup at 0 bits\) to 10.2 MiB \(at 8 bits\)",
    ):
        bq.validate(_study(aq={"method": "aq_bert", "search": {"target_mb": 10.3, "tolerance": 0.0}}))
    # within the tolerance band of the largest size is reachable
    bq.validate(_study(aq={"method": "aq_bert", "search": {"target_mb": 10.3, "tolerance": 0.05}}))
    # Q-BERT stays within its budget: a target above the largest size by up to 5% is every layer at the widest
    bq.validate(_study(qb={"method": "q_bert", "search": {"target_mb": 3.92, "bits": [3]}}))
    with pytest.raises(bq.ConfigError, match=r"3.5 MiB is out of reach for models.m: its encoder takes 3.91 MiB"):
        bq.validate(_study(qb={"method": "q_bert", "search": {"target_mb": 3.5, "bits": [3]}}))
    with pytest.raises(bq.ConfigError, match=r"4.2 MiB is out of reach for models.m: its encoder takes 3.91 MiB"):
        bq.validate(_study(qb={"method": "q_bert", "search": {"target_mb": 4.2, "bits": [3]}}))


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            {"method": "aq_bert", "search": {"target_mb": 0.05}},
            r"config key quantization.methods.bad.search.target_mb: 0.05 MiB is out of reach",
        ),
        (
            {"method": "q_bert", "search": {"target_mb": 2.0, "bits": [2, 4, 8]}},
            r"methods.bad.search.target_mb: 2.0 MiB is out of reach for models.m: its encoder takes 2.65 MiB "
            r"\(every subgroup at 2 bits\)",
        ),
        (
            {"method": "aq_bert", "search": {"target_mb": 3.0, "bits": [0]}},
            r"config key quantization.methods.bad.search.bits: \[0\] has no usable width",
        ),
        (
            {"method": "aq_bert", "search": {"target_mb": 3.0, "groups": 7}},
            r"methods.bad.search.groups: 7 subgroups do not divide the 384 output neurons of models.m's "
            r"attention.self.query",
        ),
        (
            {"method": "aq_bert", "search": {"target_mb": 3.0, "groups": 256}},
            r"methods.bad.search.groups: 256 subgroups do not divide the 384 output neurons",
        ),
        ({"method": "aq_bert", "search": {"target_mb": 3.0, "bits": [0, 9]}}, r"methods.bad.search.bits\[1\]"),
        ({"method": "aq_bert", "search": {"groups": 12}}, r"methods.bad.search.target_mb: aq_bert needs a size target"),
        ({"method": "aq_bert"}, r"methods.bad.search.target_mb: aq_bert needs a size target"),
        (
            {"method": "aq_bert", "bits": [4], "search": {"target_mb": 3.0}},
            r"methods.bad.bits: aq_bert assigns the bits itself; give the widths it chooses from as "
            r"quantization.methods.bad.search.bits",
        ),
        (
            {"method": "q_bert", "search": {"target_mb": 3.0, "size_weight": 1.0}},
            r"methods.bad.search.size_weight: q_bert has no setting 'size_weight'",
        ),
        (
            {"method": "aq_bert", "search": {"target_mb": 3.0}, "granularity": 12},
            r"methods.bad.granularity: aq_bert takes no 'granularity' \(its settings go under search\)",
        ),
        (
            {"method": "aq_bert", "search": {"target_mb": 3.0}, "activations": {}, "engine": True},
            r"methods.bad.engine: mixed-precision weights are scored in fake quantization",
        ),
        (
            {"method": "lq", "search": {"target_mb": 3.0}},
            r"methods.bad.search: lq is not a mixed-precision method \(aq_bert, q_bert\)",
        ),
        ({"method": "aq_bert", "search": {"target_mb": 3.0, "held_out": 1.0}}, r"methods.bad.search.held_out"),
    ],
)
@pytest.mark.bad_input("config", "before_job")
def test_bad_search_entries_are_named_before_any_job(entry, message):
    with pytest.raises(bq.ConfigError, match=message):
        bq.validate(_study(bad=entry))


@pytest.mark.bad_input("config", "before_job")
def test_a_search_needs_bert_encoders_and_runs_on_squad_too(tmp_path):
    entry = {"method": "aq_bert", "search": {"target_mb": 3.0}}
    bq.validate({**_study(aq=entry), "tasks": ["squad"], "data": {"squad": {"dir": None}}})
    (tmp_path / "config.json").write_text('{"model_type": "albert", "hidden_size": 768, "intermediate_size": 3072}')
    (tmp_path / "model.safetensors").write_bytes(b"")  # the config check reads config.json only
    albert = {"models": {"a": {"source": f"path:{tmp_path}"}}, "tasks": ["rotten_tomatoes"]}
    with pytest.raises(bq.ConfigError, match=r"models.a is albert; aq_bert searches the bits of bertq's encoder"):
        bq.validate({**albert, "quantization": {"methods": {"aq": entry}}})


def test_a_truncated_model_is_sized_by_its_kept_layers():
    tiny = {"models": {"t": {"source": "random:tiny", "layers": 1}}, "tasks": ["rte"]}
    entry = {"method": "aq_bert", "search": {"target_mb": 0.15, "groups": 4, "tolerance": 0.0}}
    bq.validate({**tiny, "quantization": {"methods": {"aq": entry}}})  # one layer at 8 bits: 0.194 MiB
    with pytest.raises(bq.ConfigError, match=r"to 0.194 MiB \(at 8 bits\)"):
        bq.validate({**tiny, "quantization": {"methods": {"aq": {**entry, "search": {"target_mb": 0.3}}}}})
