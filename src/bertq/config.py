"""The study configuration: one YAML, validated against ``schemas/config.schema.yaml`` with its
defaults filled in, then checked for what a schema cannot see (known tasks and methods, method
parameters, model paths). Every error names the config key at fault.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from jsonschema import Draft202012Validator, validators

from .data.tasks import TASKS
from .models.sources import ModelSourceError, parse_source
from .quantization.methods import METHOD_PARAMS, quantize_weight

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"

FINETUNE_DEFAULTS = {
    "learning_rate": 2e-5,
    "batch_size": 32,
    "epochs": 3,
    "max_length": 128,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "max_train_examples": None,
    "eval_batch_size": 64,
}
"""Paper defaults (Hu et al., 2022, following Devlin et al., 2019): lr 2e-5, batch 32, 3 epochs
(MRPC 5, set per task in the paper preset), max length 128, linear decay after 10% warm-up."""


class ConfigError(ValueError):
    """An invalid study configuration; the message names the key."""


def _key(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<root>"


def _with_defaults(cls):
    validate_properties = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(cls, {"properties": set_defaults})


@lru_cache(maxsize=1)
def schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def validate(raw: dict) -> dict:
    """Return a validated copy of ``raw`` with defaults filled in, or raise :class:`ConfigError`."""
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping at the top level")
    config = copy.deepcopy(raw)
    validator = _with_defaults(Draft202012Validator)(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"config key {_key(e.absolute_path)}: {e.message}" for e in errors[:10]]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    _check_semantics(config)
    return config


def _check_semantics(config: dict) -> None:
    for i, task in enumerate(config["tasks"]):
        if task not in TASKS:
            raise ConfigError(f"config key tasks[{i}]: unknown task {task!r}; known tasks: "
                              f"{', '.join(sorted(TASKS))}")
    for method, params in config["quantization"]["methods"].items():
        key = f"quantization.methods.{method}"
        if method not in METHOD_PARAMS:
            raise ConfigError(f"config key {key}: unknown quantization method {method!r}; known: "
                              f"{', '.join(sorted(METHOD_PARAMS))}")
        for p, value in params.items():
            if p not in METHOD_PARAMS[method]:
                raise ConfigError(f"config key {key}.{p}: {method} has no parameter {p!r}; it takes "
                                  f"{sorted(METHOD_PARAMS[method]) or 'none'}")
            default = METHOD_PARAMS[method][p]
            if type(value) is not type(default) and not (isinstance(default, float)
                                                          and isinstance(value, int)):
                raise ConfigError(f"config key {key}.{p}: expected a {type(default).__name__}, "
                                  f"got {value!r}")
        try:
            # A dry run on a tiny weight catches values the method itself rejects (an unknown prior).
            quantize_weight(method, np.ones((4, 2)), 8, **params)
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"config key {key}: {exc}") from None
    for name, model in config["models"].items():
        try:
            parse_source(model["source"], layers=model.get("layers"))
        except ModelSourceError as exc:
            raise ConfigError(f"config key models.{name}.source: {exc}") from None
    for name in config["finetune"]["per_model"]:
        if name not in config["models"]:
            raise ConfigError(f"config key finetune.per_model.{name}: no model named {name!r}")
    for task in config["finetune"]["per_task"]:
        if task not in TASKS:
            raise ConfigError(f"config key finetune.per_task.{task}: unknown task {task!r}")
    glue_dir = config["data"]["glue_dir"]
    if glue_dir is not None:
        base = Path(glue_dir)
        if not base.is_dir():
            raise ConfigError(f"config key data.glue_dir: {glue_dir!r} is not a directory")
        for i, task in enumerate(config["tasks"]):
            spec = TASKS[task]
            if spec.glue_dir and not (base / spec.glue_dir).is_dir():
                raise ConfigError(f"config key tasks[{i}]: {task} has no directory "
                                  f"{base / spec.glue_dir} in data.glue_dir (official GLUE layout)")


def load(path: str | Path, overrides: dict | None = None) -> dict:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if overrides:
        raw = {**(raw or {}), **overrides}
    return validate(raw or {})


def finetune_params(config: dict, model: str, task: str) -> dict:
    """Built-in defaults < ``finetune.defaults`` < ``finetune.per_task`` < ``finetune.per_model``."""
    ft = config["finetune"]
    return {**FINETUNE_DEFAULTS, **ft["defaults"], **ft["per_task"].get(task, {}),
            **ft["per_model"].get(model, {})}


def model_label(config: dict, model: str) -> str:
    spec = config["models"][model]
    label = spec.get("label") or model
    if spec["source"].startswith("random:"):
        label += " (random init: cost/speed only)"
    return label


def tokenizer_id(source: str) -> str:
    """A path-safe name for the tokenizer a model source uses (shared by its truncations)."""
    kind, _, value = source.partition(":")
    if kind in ("packaged", "random"):
        return "all-MiniLM-L6-v2"
    if kind == "hub":
        return re.sub(r"[^A-Za-z0-9_.-]", "--", value)
    digest = hashlib.sha256(str(Path(value).resolve()).encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', Path(value).name)}-{digest}"


def canonical(value) -> str:
    """A stable string for a params value (so Snakemake sees a change exactly when it changes)."""
    return json.dumps(value, sort_keys=True)
