"""Config validation: defaults filled in, bad input named by its key before any job runs."""

import pytest

import bertq.pipeline.config as bq

BASE = {"models": {"m": {"source": "packaged:all-MiniLM-L6-v2"}}, "tasks": ["rotten_tomatoes"]}


def with_(**changes):
    cfg = {**BASE, **changes}
    return cfg


def test_defaults_are_filled():
    cfg = bq.validate(BASE)
    assert cfg["quantization"]["bits"] == [8, 6, 4, 3, 2]
    assert cfg["quantization"]["methods"] == {"lq": {}, "aciq": {"prior": "gaussian"}, "ocs": {"expand_ratio": 0.01}}
    assert cfg["seeds"] == [42]
    assert cfg["cost"] == {"sequence_length": 128, "activation_bits": 32, "qa_sequence_length": 384}
    assert bq.finetune_params(cfg, "m", "rotten_tomatoes")["learning_rate"] == 2e-5
    assert cfg["reports"] == ["table1", "fig2", "fig3", "fig5a", "quality_gate"]
    assert cfg["data"]["squad"] == {
        "dir": None,
        "hub_dataset": "rajpurkar/squad",
        "split": "official",
        "dev_fraction": 0.2,
        "split_seed": 0,
    }


def test_finetune_overrides_layer_in_order():
    cfg = bq.validate(
        with_(
            finetune={
                "defaults": {"epochs": 2, "learning_rate": 1e-4},
                "per_task": {"mrpc": {"epochs": 5}},
                "per_model": {"m": {"learning_rate": 3e-5, "epochs": 12}},
                "per_model_task": {"m": {"rte": {"epochs": 6}}},
            },
            tasks=["mrpc", "rte"],
        )
    )
    mrpc = bq.finetune_params(cfg, "m", "mrpc")
    rte = bq.finetune_params(cfg, "m", "rte")
    assert (mrpc["epochs"], rte["epochs"]) == (12, 6)
    assert mrpc["learning_rate"] == rte["learning_rate"] == 3e-5
    assert mrpc["batch_size"] == 32


@pytest.mark.parametrize(
    "changes,key",
    [
        ({"tasks": ["rotten_tomatoes", "nope"]}, "tasks[1]"),
        ({"quantization": {"methods": {"gptq": {}}}}, "quantization.methods.gptq"),
        ({"quantization": {"methods": {"ocs": {"ratio": 0.1}}}}, "quantization.methods.ocs.ratio"),
        ({"quantization": {"methods": {"ocs": {"expand_ratio": "big"}}}}, "quantization.methods.ocs.expand_ratio"),
        ({"quantization": {"methods": {"aciq": {"prior": "cauchy"}}}}, "quantization.methods.aciq"),
        ({"quantization": {"bits": [8, 0]}}, "quantization.bits[1]"),
        ({"quantization": {"bits": [33]}}, "quantization.bits[0]"),
        ({"models": {"m": {"source": "path:/does/not/exist"}}}, "models.m.source"),
        ({"models": {"m": {"source": "packaged:bert-base"}}}, "models.m.source"),
        ({"models": {"m": {"source": "random:huge"}}}, "models.m.source"),
        ({"models": {"m": {"source": "packaged:all-MiniLM-L6-v2", "layers": 7}}}, "models.m.source"),
        ({"models": {"m": {"source": "weights.bin"}}}, "models.m.source"),
        ({"seeds": [-1]}, "seeds[0]"),
        ({"finetune": {"defaults": {"learning_rate": -1}}}, "finetune.defaults.learning_rate"),
        ({"finetune": {"per_model": {"other": {"epochs": 1}}}}, "finetune.per_model.other"),
        ({"finetune": {"per_model_task": {"other": {"rte": {"epochs": 1}}}}}, "finetune.per_model_task.other"),
        ({"finetune": {"per_model_task": {"m": {"mnli2": {"epochs": 1}}}}}, "finetune.per_model_task.m.mnli2"),
        ({"finetune": {"per_model_task": {"m": {"rte": {"epoch": 1}}}}}, "finetune.per_model_task.m.rte"),
        ({"data": {"glue_dir": "/does/not/exist"}}, "data.glue_dir"),
        ({"reports": ["fig99"]}, "reports[0]"),
        ({"quantization": {"bits": [2, 1]}}, "quantization.bits"),  # lq (a default method) has no 1-bit grid
        ({"quantization": {"methods": {"km": {"method": "kmean"}}}}, "quantization.methods.km.method"),
        ({"quantization": {"methods": {"lq": {"bits": [4, 1]}}}}, "quantization.methods.lq.bits"),
        ({"quantization": {"methods": {"kmeans": {"granularity": 0}}}}, "quantization.methods.kmeans.granularity"),
        ({"quantization": {"methods": {"kmeans": {"granularity": "row"}}}}, "quantization.methods.kmeans.granularity"),
        ({"quantization": {"methods": {"kmeans": {"iterations": 2.5}}}}, "quantization.methods.kmeans.iterations"),
        ({"quantization": {"methods": {"mse": {"embedding_bits": 1}}}}, "quantization.methods.mse.embedding_bits"),
        ({"quantization": {"methods": {"mse": {"candidates": 0}}}}, "quantization.methods.mse"),
        ({"unknown_key": 1}, "<root>"),
    ],
)
@pytest.mark.bad_input("config", "before_job")
def test_bad_config_names_the_key(changes, key):
    with pytest.raises(bq.ConfigError) as info:
        bq.validate(with_(**changes))
    assert f"config key {key}" in str(info.value)


@pytest.mark.bad_input("config", "before_job")
def test_glue_dir_must_hold_each_task(tmp_path):
    (tmp_path / "RTE").mkdir()
    bq.validate(with_(tasks=["rte"], data={"glue_dir": str(tmp_path)}))
    with pytest.raises(bq.ConfigError, match=r"config key tasks\[1\].*MRPC"):
        bq.validate(with_(tasks=["rte", "mrpc"], data={"glue_dir": str(tmp_path)}))


@pytest.mark.bad_input("config", "before_job")
def test_local_model_directory_needs_safetensors(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(bq.ConfigError, match="model.safetensors"):
        bq.validate(with_(models={"m": {"source": f"path:{tmp_path}"}}))


def test_tokenizer_ids_are_path_safe():
    assert bq.tokenizer_id("hub:google/bert_uncased_L-2_H-128_A-2") == "google--bert_uncased_L-2_H-128_A-2"
    assert bq.tokenizer_id("random:base") == bq.tokenizer_id("packaged:all-MiniLM-L6-v2")


def test_shipped_configs_are_valid():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    bq.load(root / "config.yaml")
    for preset in sorted((root / "config").glob("*.yaml")):
        # presets on a local GLUE copy are checked without it (the tests do not need ../shared)
        bq.load(preset, overrides={"data": {"glue_dir": None}} if "glue_dir" in preset.read_text() else None)


# --- SQuAD ------------------------------------------------------------------------------------


def test_squad_defaults_and_reports():
    cfg = bq.validate(with_(tasks=["squad"]))
    p = bq.finetune_params(cfg, "m", "squad")
    # Devlin et al. (2019) for SQuAD v1.1: 2 epochs at 3e-5, batch 32, 384-token windows, stride 128.
    assert (p["learning_rate"], p["epochs"], p["batch_size"], p["max_length"]) == (3e-5, 2, 32, 384)
    assert (p["doc_stride"], p["max_query_length"], p["n_best_size"], p["max_answer_length"]) == (128, 64, 20, 30)
    assert cfg["reports"] == ["table2", "fig5b", "fig6", "quality_gate"]
    assert bq.cost_params(cfg, "squad")["sequence_length"] == 384
    both = bq.validate(with_(tasks=["rte", "squad"], finetune={"per_task": {"squad": {"epochs": 1}}}))
    assert both["reports"] == ["table1", "fig2", "fig3", "fig5a", "table2", "fig5b", "fig6", "quality_gate"]
    assert bq.finetune_params(both, "m", "squad")["epochs"] == 1
    assert bq.cost_params(both, "rte")["sequence_length"] == 128


@pytest.mark.bad_input("config", "before_job")
def test_squad_config_errors(tmp_path):
    with pytest.raises(bq.ConfigError, match=r"config key reports\[0\]: table2 needs the task squad"):
        bq.validate(with_(tasks=["rte"], reports=["table2"]))
    with pytest.raises(bq.ConfigError, match=r"reports\[0\]: fig2 needs a GLUE"):
        bq.validate(with_(tasks=["squad"], reports=["fig2"]))
    with pytest.raises(bq.ConfigError, match="data.squad.dir: .* is not a directory"):
        bq.validate(with_(tasks=["squad"], data={"squad": {"dir": str(tmp_path / "nope")}}))
    (tmp_path / "dev-v1.1.json").write_text("{}")
    with pytest.raises(bq.ConfigError, match="no train-v1.1.json .*split: dev_articles"):
        bq.validate(with_(tasks=["squad"], data={"squad": {"dir": str(tmp_path)}}))
    ok = bq.validate(with_(tasks=["squad"], data={"squad": {"dir": str(tmp_path), "split": "dev_articles"}}))
    assert ok["data"]["squad"]["split"] == "dev_articles"
    with pytest.raises(bq.ConfigError, match="data.squad.split"):
        bq.validate(with_(tasks=["squad"], data={"squad": {"split": "random"}}))
    # The window must leave room for the question: 64-token windows with 64-token questions cannot.
    with pytest.raises(bq.ConfigError, match="model m.*doc_stride < max_length - max_query_length - 3"):
        bq.validate(with_(tasks=["squad"], finetune={"defaults": {"max_length": 64}}))


def test_method_variants_name_their_algorithm_and_bits():
    cfg = bq.validate(
        with_(
            quantization={
                "bits": [4, 2],
                "methods": {
                    "lq": {},
                    "kmeans": {"bits": [3, 1]},
                    "lc_g128": {"method": "linear_clustering", "granularity": 128},
                },
            }
        )
    )
    assert bq.method_variant(cfg, "lq") == {
        "method": "lq",
        "bits": [4, 2],
        "embedding_bits": None,
        "centroid_finetune": None,
        "qat": None,
        "adaround": None,
        "params": {"granularity": "tensor"},
        "scope": "encoder",
        "activations": None,
        "dynamic": None,
        "engine": False,
        "leave_one_out": None,
        "search": None,
    }
    assert bq.method_variant(cfg, "kmeans") == {
        "method": "kmeans",
        "bits": [3, 1],
        "embedding_bits": None,
        "centroid_finetune": None,
        "qat": None,
        "adaround": None,
        "params": {"granularity": "tensor", "iterations": 3, "seed": 0},
        "scope": "encoder",
        "activations": None,
        "dynamic": None,
        "engine": False,
        "leave_one_out": None,
        "search": None,
    }
    assert bq.method_variant(cfg, "lc_g128") == {
        "method": "linear_clustering",
        "bits": [4, 2],
        "embedding_bits": None,
        "centroid_finetune": None,
        "qat": None,
        "adaround": None,
        "params": {"granularity": 128},
        "scope": "encoder",
        "activations": None,
        "dynamic": None,
        "engine": False,
        "leave_one_out": None,
        "search": None,
    }


def test_seed_statistic_per_report():
    base = {"models": {"m": {"source": "random:tiny"}}, "tasks": ["rte"]}
    assert set(bq.seed_statistics(bq.validate(base)).values()) == {"mean"}
    stats = bq.seed_statistics(bq.validate({**base, "seed_statistic": {"default": "median", "fig2": "mean"}}))
    assert stats["fig2"] == "mean" and stats["table1"] == "median"
    assert set(stats) == set(bq.applicable_reports(["rte"], {"lq": {}}))
    with pytest.raises(bq.ConfigError, match="config key seed_statistic.table2: not a report"):
        bq.validate({**base, "seed_statistic": {"table2": "median"}})
    with pytest.raises(bq.ConfigError, match="config key seed_statistic.fig2: 'avg' is not one of"):
        bq.validate({**base, "seed_statistic": {"fig2": "avg"}})


def _methods(**methods):
    return with_(quantization={"bits": [8], "methods": methods})


def test_dynamic_variants_resolve_and_default_to_the_engine():
    cfg = bq.validate(
        _methods(i8={"method": "lq", "scope": "all", "dynamic": {}}, tm={"method": "lq", "dynamic": {"tm_iqr": {}}})
    )
    i8, tm = bq.method_variant(cfg, "i8"), bq.method_variant(cfg, "tm")
    assert i8["dynamic"] == {"bits": 8, "tm_iqr": None} and i8["engine"] is True
    assert tm["dynamic"]["tm_iqr"] == {"sites": ["*.ffn.intermediate"], "scale": 1.5}
    assert bq.activation_cost(cfg, "i8") == {"dynamic_bits": 8}
    assert bq.variant_record(cfg, "tm")["dynamic"] == tm["dynamic"]
    static = bq.validate(_methods(w8a8={"method": "lq", "activations": {}, "engine": True}))
    assert bq.method_variant(static, "w8a8")["engine"] is True
    assert bq.method_variant(bq.validate(_methods(lq={})), "lq")["engine"] is False


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"dynamic": {"bits": 9}}, r"quantization.methods.v.dynamic.bits"),
        ({"dynamic": {"tm_iqr": {"sites": ["*.nowhere"]}}}, r"quantization.methods.v.dynamic.tm_iqr.sites\[0\]"),
        ({"dynamic": {"tm_iqr": {"scale": -1}}}, r"quantization.methods.v.dynamic.tm_iqr.scale"),
        ({"dynamic": {}, "activations": {}}, r"quantization.methods.v: dynamic quantization cannot be combined"),
        ({"method": "float", "dynamic": {}}, r"quantization.methods.v: dynamic quantization runs on quantized"),
        ({"engine": True}, r"quantization.methods.v.engine: the engine quantizes every linear's input"),
        ({"method": "float", "activations": {}, "engine": True}, r"methods.v.engine: method float"),
    ],
)
@pytest.mark.bad_input("config", "before_job")
def test_dynamic_and_engine_settings_are_checked_by_key(entry, message):
    entry = {"method": "lq", **entry}
    with pytest.raises(bq.ConfigError, match=message):
        bq.validate(_methods(v=entry))


def test_training_steps_resolve_with_defaults_and_enter_the_record():
    cfg = bq.validate(
        _methods(
            w4a8_qat={"method": "mse", "bits": [4], "activations": {}, "qat": {"learning_rate": 1e-4}},
            w4_ada={"method": "mse", "bits": [4], "adaround": {"sequences": 8}},
            w4={"method": "mse", "bits": [4]},
        )
    )
    qat = bq.method_variant(cfg, "w4a8_qat")["qat"]
    assert qat["learning_rate"] == 1e-4 and qat["attention_dropout"] == 0.1 and qat["weight_decay"] == 0.0
    ada = bq.method_variant(cfg, "w4_ada")["adaround"]
    assert ada["sequences"] == 8 and ada["iterations"] == 10000 and ada["weight"] == 0.01 and ada["warmup"] == 0.2
    assert bq.variant_record(cfg, "w4a8_qat")["qat"] == qat and "adaround" not in bq.variant_record(cfg, "w4a8_qat")
    assert "qat" not in bq.variant_record(cfg, "w4") and "adaround" not in bq.variant_record(cfg, "w4")
    assert [bq.training_step(cfg, m) for m in ("w4a8_qat", "w4_ada", "w4")] == ["qat", "adaround", None]


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"method": "kmeans", "qat": {}}, r"methods.v.qat: kmeans gives a codebook; qat learns on a linear grid"),
        ({"method": "ocs", "adaround": {}}, r"methods.v.adaround: ocs gives split \(OCS\) channels"),
        ({"qat": {}, "adaround": {}}, r"methods.v: qat and adaround cannot both follow one quantization"),
        ({"qat": {"epochs": 0}}, r"config key quantization.methods.v.qat.epochs"),
        ({"qat": {"lr": 1e-4}}, r"config key quantization.methods.v.qat: Additional properties"),
        ({"adaround": {"warmup": 1.0}}, r"config key quantization.methods.v.adaround.warmup"),
        ({"adaround": {"sequences": 100000}}, r"methods.v.adaround.sequences: 100000 calibration sequences"),
        ({"dynamic": {}, "qat": {}}, r"methods.v: dynamic quantization cannot be combined with qat"),
        (
            {"method": "float", "bits": [32], "activations": {}, "qat": {}},
            r"method float quantizes no weights, so it takes no .qat.",
        ),
    ],
)
@pytest.mark.bad_input("config", "before_job")
def test_training_steps_are_checked_by_key(entry, message, tmp_path):
    glue = tmp_path / "RTE"
    glue.mkdir()
    (glue / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n" + "0\ta\tb\tentailment\n" * 20)
    (glue / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n")
    entry = {"method": "mse", "bits": [4], **entry}
    with pytest.raises(bq.ConfigError, match=message):
        bq.validate({**_methods(v=entry), "data": {"glue_dir": str(tmp_path)}})


@pytest.mark.bad_input("config", "before_job")
def test_training_steps_need_classification_tasks():
    with pytest.raises(bq.ConfigError, match=r"methods.v.qat: runs on classification tasks; tasks\[1\] is squad"):
        bq.validate({**_methods(v={"method": "mse", "bits": [4], "qat": {}}), "tasks": ["rte", "squad"]})
