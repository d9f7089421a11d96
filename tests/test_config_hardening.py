"""Config input as a careless user gives it: ``--config`` values (strings where the schema wants
numbers), NaN and infinities, a key given twice in a YAML file, reserved and duplicate names, an
unknown paper model, a granularity the model's widths do not admit and a damaged model config.json,
each either read as meant or refused before any job runs with a message naming the key or file."""

import re
import subprocess

import pytest
import yaml
from snakemake_cli import offline_env, snakemake_argv

import bertq.pipeline.config as bq

BASE = {"models": {"m": {"source": "packaged:all-MiniLM-L6-v2"}}, "tasks": ["rotten_tomatoes"]}


def test_strings_from_the_command_line_take_the_schemas_types():
    cfg = bq.validate(
        {
            **BASE,
            "seeds": ["7", "8"],
            "finetune": {"defaults": {"epochs": "1", "learning_rate": "1e-4", "max_train_examples": "null"}},
            "quantization": {
                "keep_checkpoints": "true",
                "bits": ["4"],
                "methods": {"km": {"method": "kmeans", "iterations": "5", "granularity": "128"}},
            },
        }
    )
    assert cfg["seeds"] == [7, 8] and cfg["quantization"]["keep_checkpoints"] is True
    assert bq.finetune_params(cfg, "m", "rotten_tomatoes")["epochs"] == 1
    assert bq.finetune_params(cfg, "m", "rotten_tomatoes")["learning_rate"] == 1e-4
    assert bq.finetune_params(cfg, "m", "rotten_tomatoes")["max_train_examples"] is None
    assert bq.method_variant(cfg, "km")["params"] == {"granularity": 128, "iterations": 5, "seed": 0}
    assert bq.method_variant(cfg, "km")["bits"] == [4]
    assert bq.validate({**BASE, "name": "123"})["name"] == "123"  # a string stays a string
    with pytest.raises(bq.ConfigError, match=r"config key seeds\[0\]: 'seven' is not of type 'integer'"):
        bq.validate({**BASE, "seeds": ["seven"]})
    with pytest.raises(bq.ConfigError, match=r"config key finetune.defaults.epochs: '1.5.2' is not of type"):
        bq.validate({**BASE, "finetune": {"defaults": {"epochs": "1.5.2"}}})


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"finetune": {"defaults": {"learning_rate": float("nan")}}}, "finetune.defaults.learning_rate"),
        ({"finetune": {"defaults": {"epochs": float("inf")}}}, "finetune.defaults.epochs"),
        ({"finetune": {"per_task": {"rte": {"warmup_ratio": float("nan")}}}}, "finetune.per_task.rte.warmup_ratio"),
        ({"data": {"dev_fraction": float("nan")}}, "data.dev_fraction"),
        ({"data": {"dev_fraction": "nan"}}, "data.dev_fraction"),
        ({"finetune": {"defaults": {"learning_rate": "-inf"}}}, "finetune.defaults.learning_rate"),
        ({"quantization": {"methods": {"a": {"method": "aciq", "bits": [4], "candidates": 1}}}}, None),
    ],
)
@pytest.mark.bad_input("config", "before_job")
def test_non_finite_numbers_are_refused_with_their_key(changes, key):
    if key is None:  # an unknown parameter is still named as before
        with pytest.raises(bq.ConfigError, match="aciq has no parameter 'candidates'"):
            bq.validate({**BASE, **changes})
        return
    with pytest.raises(bq.ConfigError, match=re.escape(f"config key {key}: not a finite number")):
        bq.validate({**BASE, **changes})


@pytest.mark.bad_input("config", "before_job")
def test_a_key_given_twice_in_a_config_file_is_named_with_its_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "models: {m: {source: 'packaged:all-MiniLM-L6-v2'}}\n"
        "tasks: [rotten_tomatoes]\n"
        "quantization:\n  methods: {lq: {}}\n"
        "seeds: [1]\n"
        "quantization:\n  methods: {kmeans: {}}\n"
    )
    with pytest.raises(bq.ConfigError, match=rf"config file {path} is not valid YAML: .*'quantization' is given twice"):
        bq.load(path)
    with pytest.raises(bq.ConfigError, match=r"is given twice \(first on line 3\)"):
        bq.check_config_files([path])
    nested = tmp_path / "nested.yaml"
    nested.write_text("models: {m: {source: 'packaged:all-MiniLM-L6-v2', label: a, label: b}}\ntasks: [rte]\n")
    with pytest.raises(bq.ConfigError, match="'label' is given twice"):
        bq.load(nested)
    merged = tmp_path / "merged.yaml"  # YAML merge keys are not duplicates
    merged.write_text(
        "models: {m: {source: 'packaged:all-MiniLM-L6-v2'}}\ntasks: [rotten_tomatoes]\n"
        "quantization:\n  methods:\n    a: &a {method: lq, bits: [4]}\n    b: {<<: *a, bits: [3]}\n"
    )
    assert bq.method_variant(bq.load(merged), "b")["bits"] == [3]


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"quantization": {"methods": {"fp32": {"method": "lq"}}}},
            r"config key quantization.methods.fp32: the name 'fp32' is reserved",
        ),
        (
            {"quantization": {"methods": {"table1": {"method": "lq"}}}},
            r"config key quantization.methods.table1: the name 'table1' is reserved",
        ),
        (
            {"models": {"a": {"source": "random:tiny"}, "b": {"source": "random:mini", "label": "a"}}},
            r"config key models.b.label: 'a \(random init: cost/speed only\)' is also models.a's label",
        ),
        (
            {"models": {"m": {"source": "random:tiny", "label": "two\nlines"}}},
            r"config key models.m.label: 'two\\nlines' holds the control character '\\n'; give one line of text",
        ),
        ({"name": "study\r"}, r"config key name: 'study\\r' holds the control character"),
        (
            {"models": {"m": {"source": "random:tiny", "paper_name": "BERT-Huge"}}},
            r"config key models.m.paper_name: no paper numbers for 'BERT-Huge'; known: ALBERT-Base, BERT-Base, "
            r"BERT-Large",
        ),
        (
            {"quantization": {"methods": {"lq": {"granularity": 5}}}},
            r"config key quantization.methods.lq.granularity: 5 groups do not divide the hidden size of models.m, 384",
        ),
        (
            {"quantization": {"methods": {"lq": {"granularity": 256}}}},
            r"256 groups do not divide the hidden size of models.m, 384",
        ),
        (
            {"quantization": {"methods": {"lq": {"granularity": 4, "scope": "all"}}}},
            r"lq.granularity: 4 groups do not divide rotten_tomatoes's head \(2 outputs\) of models.m, 2",
        ),
    ],
)
@pytest.mark.bad_input("config", "before_job")
def test_names_and_shapes_are_checked_before_any_job(changes, message):
    with pytest.raises(bq.ConfigError, match=message):
        bq.validate({**BASE, **changes})


@pytest.mark.bad_input("config", "before_job")
def test_a_damaged_model_config_is_named(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert", "hidden_size": 38')
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(bq.ConfigError, match=r"config key models.m.source: its config.json is not valid JSON"):
        bq.validate({**BASE, "models": {"m": {"source": f"path:{tmp_path}"}}})


def _dry_run(workdir, *args):
    return subprocess.run(
        snakemake_argv(workdir, "-n", "--cores", "1", *args), capture_output=True, text=True, env=offline_env(),
        timeout=300,
    )  # fmt: skip


@pytest.mark.bad_input("config", "before_job")
def test_snakemake_takes_nested_config_overrides_and_refuses_a_doubled_key(tmp_path):
    study = {**BASE, "quantization": {"bits": [8], "methods": {"lq": {}}}, "reports": ["table1"]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(study))
    run = _dry_run(
        tmp_path, "--config", "seeds=[7]", 'finetune={"defaults": {"epochs": 1, "learning_rate": 1.0e-4}}'
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "results/finetuned/m/rotten_tomatoes/seed7/model.safetensors" in run.stdout
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(study) + "seeds: [1]\nseeds: [2]\n")
    run = _dry_run(tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode != 0 and f"bertq: config file {tmp_path / 'config.yaml'}" in out, out[-3000:]
    assert "'seeds' is given twice (first on line" in out
    assert "rule finetune" not in run.stdout
