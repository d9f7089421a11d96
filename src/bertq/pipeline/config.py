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

from ..data.qa_datasets import QA_DATASETS
from ..data.tasks import TASKS
from ..errors import InputError
from ..models.families import FAMILIES
from ..models.sites import KINDS, SITE_KINDS
from ..models.sources import ModelSourceError, known_config, parse_source
from ..quantization.activation import ActivationConfig
from ..quantization.adaround import AdaRoundConfig
from ..quantization.bit_search import MIB_BITS
from ..quantization.dynamic import DynamicConfig
from ..quantization.granularity import check_granularity
from ..quantization.methods import METHOD_BITS, METHOD_PARAMS, quantize_weight
from ..reports import registry as report_registry
from ..training.qat import QAT_DEFAULTS
from ..training.search_job import SEARCH_METHODS
from .layout import FP32
from .raw_config import RawConfigError, coerce, coerce_params, key_path, non_finite, read_yaml

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
    "group_by_length": False,
    "doc_stride": 128,
    "max_query_length": 64,
    "n_best_size": 20,
    "max_answer_length": 30,
}
"""Paper defaults (Hu et al., 2022, following Devlin et al., 2019): lr 2e-5, batch 32, 3 epochs
(MRPC 5, set per task in the paper preset), max length 128, linear decay after 10% warm-up. The
SQuAD window and decoding settings are those of BERT's ``run_squad.py`` and transformers'
``run_qa.py`` (stride 128, questions cut at 64 tokens, 20-best, answers up to 30 tokens)."""

SPAN_FINETUNE_DEFAULTS = {"learning_rate": 3e-5, "epochs": 2, "max_length": 384, "group_by_length": True}
"""SQuAD v1.1 as in Devlin et al. (2019, section 4.2), whom Hu et al. (2022) follow: 2 epochs at
3e-5 over 384-token windows, batch 32; its windows are batched by length (they range from ~100 to
384 tokens), which changes the order, not what is learnt from. Every span task starts from them."""

TASK_FINETUNE_DEFAULTS = {name: SPAN_FINETUNE_DEFAULTS for name, spec in TASKS.items() if spec.is_span}
"""Built-in per-task defaults: those of the span tasks (SQuAD, TyDi QA, NQ)."""

SPAN_ONLY_KEYS = ("doc_stride", "max_query_length", "n_best_size", "max_answer_length")
DECODING_KEYS = ("n_best_size", "max_answer_length")
"""Used when scoring, not when training: a fine-tune's own dev score decodes with the defaults."""


class ConfigError(InputError):
    """An invalid study configuration; the message names the key."""


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
    """The config schema, with ``data.<task>`` for each span task (:func:`_qa_data_schema`)."""
    raw = yaml.safe_load(SCHEMA_PATH.read_text())
    data = raw["properties"]["data"]["properties"]
    for task, dataset in QA_DATASETS.items():
        data[task] = _qa_data_schema(raw["$defs"]["qa_data"], dataset)
    return raw


def _qa_data_schema(template: dict, dataset) -> dict:
    """``$defs/qa_data`` for one span task: its hub dataset as the default, its file names in the
    descriptions (both from :data:`bertq.data.qa_datasets.QA_DATASETS`)."""
    entry = copy.deepcopy(template)
    entry["description"] = f"Where {dataset.title} comes from and how it is split."
    props = entry["properties"]
    names = " and ".join(dataset.file_names(s) for s in ("train", "dev"))
    props["dir"]["description"] = f"Directory with {names}; null loads from the hub ({dataset.hub_dataset})."
    props["hub_dataset"]["default"] = dataset.hub_dataset
    return entry


def validate(raw: dict) -> dict:
    """Return a validated copy of ``raw`` with defaults filled in, or raise :class:`ConfigError`."""
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping at the top level")
    config = _coerced(copy.deepcopy(raw))
    bad = non_finite(config)
    if bad:
        raise ConfigError(f"config key {bad[0]}: not a finite number (NaN and infinities are not settings)")
    validator = _with_defaults(Draft202012Validator)(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"config key {key_path(e.absolute_path)}: {e.message}" for e in errors[:10]]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    _add_leave_one_out(config)
    _check_semantics(config)
    if config["reports"] is None:
        config["reports"] = applicable_reports(config["tasks"], config["quantization"]["methods"])
    return config


def _coerced(config: dict) -> dict:
    """``config`` with the strings ``--config`` hands over turned into the types the schema (and, for
    a method entry's own parameters, the method's defaults) asks for (:mod:`.raw_config`)."""
    config = coerce(config, schema(), schema())
    methods = (config.get("quantization") or {}).get("methods")
    if isinstance(methods, dict):
        for name, entry in methods.items():
            if isinstance(entry, dict):
                defaults = METHOD_PARAMS.get(entry.get("method", name), {})
                methods[name] = coerce_params(entry, defaults)
    return config


def check_config_files(paths) -> None:
    """Read each config file strictly (a key given twice is an error naming the file and line):
    Snakemake's own loader keeps the last of two silently."""
    for path in paths:
        try:
            read_yaml(path)
        except RawConfigError as exc:
            raise ConfigError(str(exc)) from None


def applicable_reports(tasks, methods: dict | None = None) -> list[str]:
    """Every report the tasks and methods allow (:mod:`bertq.reports.registry`), in its default
    order: e.g. Table 1 and Figs. 2-5a need a classification task, Table 2 and Figs. 5b and 6 need
    SQuAD, the k-means paper's tables and figures also need the method entries they read."""
    return [r.name for r in report_registry.selectable() if r.applies(tasks, methods or {})]


def reserved_names() -> set[str]:
    """Names a method entry cannot take: fp32 (the unquantized model's method label) and the reports'."""
    return {FP32[0], *report_registry.reports()}


def _check_one_line(text: str, key: str) -> None:
    """A name shown in the reports is one line of printable text."""
    bad = next((c for c in text if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ConfigError(f"{key}: {text!r} holds the control character {bad!r}; give one line of text")


def _check_models(config: dict) -> None:
    """Every model's source parses and its ``config.json`` (where known) reads; labels are unique;
    a ``paper_name`` is one whose numbers the reports hold."""
    from ..reports.paper import paper_model_names

    labels: dict[str, str] = {}
    for name, model in config["models"].items():
        key = f"config key models.{name}"
        try:
            known_config(parse_source(model["source"], layers=model.get("layers")))
        except ModelSourceError as exc:
            raise ConfigError(f"{key}.source: {exc}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{key}.source: its config.json is not valid JSON ({exc})") from None
        label = model_label(config, name)
        _check_one_line(model.get("label") or "", f"{key}.label")
        if label in labels:
            raise ConfigError(
                f"{key}.label: {label!r} is also models.{labels[label]}'s label; the reports tell models apart by it"
            )
        labels[label] = name
        paper = model.get("paper_name")
        if paper is not None and paper not in paper_model_names():
            raise ConfigError(
                f"{key}.paper_name: no paper numbers for {paper!r}; known: {', '.join(paper_model_names())}"
            )


def _check_semantics(config: dict) -> None:
    _check_one_line(config["name"], "config key name")
    for i, task in enumerate(config["tasks"]):
        if task not in TASKS:
            raise ConfigError(f"config key tasks[{i}]: unknown task {task!r}; known tasks: {', '.join(sorted(TASKS))}")
    _check_models(config)
    for variant in config["quantization"]["methods"]:
        if variant in reserved_names():
            raise ConfigError(
                f"config key quantization.methods.{variant}: the name {variant!r} is reserved (the unquantized "
                "model's label and the reports' names); give the entry another name"
            )
        _check_method(config, variant)
    for i, variant in enumerate(config["throughput"]["methods"] or []):
        if variant not in config["quantization"]["methods"]:
            raise ConfigError(f"config key throughput.methods[{i}]: no quantization.methods entry named {variant!r}")
    for name in config["finetune"]["per_model"]:
        if name not in config["models"]:
            raise ConfigError(f"config key finetune.per_model.{name}: no model named {name!r}")
    for task in config["finetune"]["per_task"]:
        if task not in TASKS:
            raise ConfigError(f"config key finetune.per_task.{task}: unknown task {task!r}")
    for name, tasks in config["finetune"]["per_model_task"].items():
        if name not in config["models"]:
            raise ConfigError(f"config key finetune.per_model_task.{name}: no model named {name!r}")
        for task in tasks:
            if task not in TASKS:
                raise ConfigError(f"config key finetune.per_model_task.{name}.{task}: unknown task {task!r}")
    if config["reports"] is not None:
        known = report_registry.names()
        for i, report in enumerate(config["reports"]):
            if report not in known:
                raise ConfigError(
                    f"config key reports[{i}]: unknown report {report!r}; known reports: {', '.join(known)}"
                )
            record = report_registry.get(report)
            if not record.applies(config["tasks"], config["quantization"]["methods"]):
                raise ConfigError(f"config key reports[{i}]: {report} needs {record.requirement()}")
    rendered = config["reports"] or applicable_reports(config["tasks"], config["quantization"]["methods"])
    for report in config["seed_statistic"]:
        if report != "default" and report not in rendered:
            raise ConfigError(
                f"config key seed_statistic.{report}: not a report this study renders ({', '.join(rendered)})"
            )
    for task in config["tasks"]:
        if TASKS[task].is_span:
            _check_span(config, task)
    if "conll03" in config["tasks"]:
        _check_conll(config)
    glue_dir = config["data"]["glue_dir"]
    if glue_dir is not None:
        base = Path(glue_dir)
        if not base.is_dir():
            raise ConfigError(f"config key data.glue_dir: {glue_dir!r} is not a directory")
        for i, task in enumerate(config["tasks"]):
            spec = TASKS[task]
            if spec.glue_dir and not (base / spec.glue_dir).is_dir():
                raise ConfigError(
                    f"config key tasks[{i}]: {task} has no directory "
                    f"{base / spec.glue_dir} in data.glue_dir (official GLUE layout)"
                )


def _check_span(config: dict, task: str) -> None:
    """A span task's local files (``data.<task>.dir``, the names :data:`QA_DATASETS` declares)
    and window settings."""
    dataset, source = QA_DATASETS[task], config["data"][task]
    if source["dir"] is not None:
        if not Path(source["dir"]).is_dir():
            raise ConfigError(f"config key data.{task}.dir: {source['dir']!r} is not a directory")
        needed = ["dev"] if source["split"] == "dev_articles" else ["train", "dev"]
        for split in needed:
            if dataset.local_file(source["dir"], split) is None:
                hint = f" (with only the dev file, set data.{task}.split: dev_articles)" if split == "train" else ""
                raise ConfigError(
                    f"config key data.{task}.dir: no {dataset.file_names(split)} in {source['dir']!r}{hint}"
                )
    for model in config["models"]:
        p = finetune_params(config, model, task)
        if not 0 <= p["doc_stride"] < p["max_length"] - p["max_query_length"] - 3:
            raise ConfigError(
                f"config key finetune ({task}, model {model}): need doc_stride < max_length - "
                f"max_query_length - 3, got doc_stride={p['doc_stride']}, max_length="
                f"{p['max_length']}, max_query_length={p['max_query_length']}; set them under "
                f"finetune.per_task.{task}"
            )


def _check_conll(config: dict) -> None:
    from ..data.conll import CONLL_FILES, conll_file

    task = f"tasks[{config['tasks'].index('conll03')}]"
    _check_bert_models(config, task, "conll03's token classifier runs in bertq's encoder")
    conll = config["data"]["conll03"]
    if conll["dir"] is None:
        return
    if not Path(conll["dir"]).is_dir():
        raise ConfigError(f"config key data.conll03.dir: {conll['dir']!r} is not a directory")
    for split, names in CONLL_FILES.items():
        if conll_file(conll["dir"], split) is None:
            raise ConfigError(
                f"config key data.conll03.dir: no {' or '.join(names)} in {conll['dir']!r} (the {split} split)"
            )


VARIANT_KEYS = (
    "method",
    "bits",
    "embedding_bits",
    "centroid_finetune",
    "qat",
    "adaround",
    "scope",
    "activations",
    "dynamic",
    "engine",
    "leave_one_out",
    "search",
)
FLOAT = "float"
"""The ``method`` of a variant whose weights stay fp32 (W32A8 and the leave-one-out variants)."""
LEAVE_ONE_OUT = "loo"
"""Name prefix of the generated leave-one-out variants."""
CENTROID_LR_MULTIPLIER = 10.0
"""Quantized layers fine-tune at ten times the learning rate (Zhao et al., 2021, sec. 4.2)."""
"""Keys of a ``quantization.methods`` entry that are not parameters of the method itself."""


def method_variant(config: dict, variant: str) -> dict:
    """A ``quantization.methods`` entry resolved: ``{"method", "bits", "params"}``. The entry's
    key names the variant (the results and reports use it); ``method`` names the algorithm and
    defaults to the key, so ``kmeans: {}`` and ``kmeans_g128: {method: kmeans, granularity:
    128}`` can sit side by side; ``bits`` defaults to ``quantization.bits``."""
    entry = config["quantization"]["methods"][variant]
    method = entry.get("method", variant)
    params = {k: v for k, v in entry.items() if k not in VARIANT_KEYS}
    default_bits = [32] if method == FLOAT else config["quantization"]["bits"]
    activations = entry.get("activations")
    search = search_settings(config, variant)
    if search is not None:
        default_bits = [max(search["bits"])]
    return {
        "method": method,
        "bits": list(entry.get("bits", default_bits)),
        "embedding_bits": entry.get("embedding_bits"),
        "centroid_finetune": entry.get("centroid_finetune"),
        "qat": None if entry.get("qat") is None else {**QAT_DEFAULTS, **entry["qat"]},
        "adaround": None if entry.get("adaround") is None else AdaRoundConfig.from_dict(entry["adaround"]).to_dict(),
        "params": {**METHOD_PARAMS.get(method, {}), **params},
        "scope": entry.get("scope", "encoder"),
        "activations": None if activations is None else ActivationConfig.from_dict(activations).to_dict(),
        "dynamic": None if "dynamic" not in entry else DynamicConfig.from_dict(entry["dynamic"]).to_dict(),
        "engine": entry.get("engine", "dynamic" in entry),
        "leave_one_out": entry.get("leave_one_out"),
        "search": search,
    }


def search_settings(config: dict, variant: str) -> dict | None:
    """A mixed-precision entry's ``search`` settings over its method's defaults
    (:data:`~bertq.training.search_job.SEARCH_METHODS`), or None for any other entry. Its variant
    is labelled with the widest width it may choose (``w8``: up to 8 bits)."""
    entry = config["quantization"]["methods"][variant]
    method = entry.get("method", variant)
    if method not in SEARCH_METHODS:
        return None
    return {**SEARCH_METHODS[method][0], **(entry.get("search") or {})}


def variant_record(config: dict, variant: str) -> dict:
    """What the reports know of a variant: its resolved entry without the fine-tuning settings."""
    v = method_variant(config, variant)
    keys = ("method", "bits", "embedding_bits", "params", "scope", "activations", "dynamic", "engine", "leave_one_out")
    record = {k: v[k] for k in keys}
    for step in ("qat", "adaround", "search"):  # present only where set, so other variants' records stay as they were
        if v[step] is not None:
            record[step] = v[step]
    return record


TRAINING_STEPS = ("centroid_finetune", "qat", "adaround")
"""Keys of a method entry that train the variant after quantization (at most one each)."""


def training_step(config: dict, variant: str) -> str | None:
    """Which of :data:`TRAINING_STEPS` follows a variant's quantization, if any."""
    entry = config["quantization"]["methods"][variant]
    return next((k for k in TRAINING_STEPS if entry.get(k) is not None), None)


def activation_cost(config: dict, variant: str) -> dict | None:
    """The part of a variant's activation settings that its ACE depends on (which sites at what
    bits), so that changing the estimator reruns calibration and evaluation, not quantization. A
    dynamic variant quantizes the input of every quantized linear: ``{"dynamic_bits": bits}``."""
    v = method_variant(config, variant)
    if v["dynamic"] is not None:
        return {"dynamic_bits": v["dynamic"]["bits"]}
    acts = v["activations"]
    if acts is None:
        return None
    return {k: acts[k] for k in ("bits", "sites", "exclude", "site_bits")}


def _add_leave_one_out(config: dict) -> None:
    """Bondarenko et al. (2021), Table 2: the generated W32A8 variants (all weights fp32, current
    min-max over one sequence), one per site kind left fp32 in every layer, one per per-layer kind
    left fp32 in the last two layers, and one with every site quantized."""
    loo = config["quantization"]["leave_one_out"]
    if loo is None:
        return
    # by default the paper's (BERT's) kinds, not MobileBERT's own
    kinds = loo["kinds"] if loo["kinds"] is not None else [k.kind for k in SITE_KINDS]
    for i, kind in enumerate(kinds):
        if kind not in KINDS:
            raise ConfigError(
                f"config key quantization.leave_one_out.kinds[{i}]: unknown site kind {kind!r}; "
                f"known: {', '.join(KINDS)}"
            )
    base = {"estimator": "current_minmax", "batch_size": 1, "batches": 1, "bits": loo["bits"]}
    generated = {f"{LEAVE_ONE_OUT}-all": ({}, {"kind": None, "layers": "all"})}
    for kind in kinds:
        pattern = kind if not KINDS[kind].per_layer else f"*.{kind}"
        generated[f"{LEAVE_ONE_OUT}-{kind}"] = ({"exclude": [pattern]}, {"kind": kind, "layers": "all"})
        if KINDS[kind].per_layer and loo["last_layers"]:
            generated[f"{LEAVE_ONE_OUT}-{kind}-last2"] = (
                {"exclude": [f"layer-2.{kind}", f"layer-1.{kind}"]},
                {"kind": kind, "layers": "last2"},
            )
    methods = config["quantization"]["methods"]
    for name, (extra, marker) in generated.items():
        if name in methods:
            raise ConfigError(f"config key quantization.methods.{name}: the name is taken by leave_one_out's variants")
        methods[name] = {"method": FLOAT, "bits": [32], "activations": {**base, **extra}, "leave_one_out": marker}


def qat_params(config: dict, variant: str) -> dict:
    """A QAT entry's hyper-parameters (:data:`~bertq.training.qat.QAT_DEFAULTS` where it gives none)."""
    return method_variant(config, variant)["qat"]


def adaround_params(config: dict, variant: str) -> dict:
    """An AdaRound entry's settings (the paper's where it gives none)."""
    return method_variant(config, variant)["adaround"]


def centroid_finetune_params(config: dict, variant: str, model: str, task: str) -> dict:
    """The settings of a variant's centroid fine-tuning on (model, task): the task's fine-tuning
    settings, ``lr_multiplier`` 10, then the entry's ``centroid_finetune`` overrides."""
    overrides = config["quantization"]["methods"][variant].get("centroid_finetune") or {}
    params = {**finetune_params(config, model, task), "lr_multiplier": CENTROID_LR_MULTIPLIER, **overrides}
    return {k: v for k, v in params.items() if k not in DECODING_KEYS}


def _check_method(config: dict, variant: str) -> None:
    key = f"quantization.methods.{variant}"
    entry = config["quantization"]["methods"][variant]
    method = entry.get("method", variant)
    if entry.get("activations") is not None:
        _check_activations(config, variant)
    if "dynamic" in entry:
        _check_dynamic(config, variant)
    if "engine" in entry:
        _check_engine(config, variant)
    if method == FLOAT:
        _check_float(config, variant)
        return
    if method in SEARCH_METHODS:
        _check_search(config, variant)
        return
    if "search" in entry:
        raise ConfigError(
            f"config key {key}.search: {method} is not a mixed-precision method ({', '.join(SEARCH_METHODS)})"
        )
    if method not in METHOD_PARAMS:
        where = f"{key}.method" if "method" in entry else key
        raise ConfigError(
            f"config key {where}: unknown quantization method {method!r}; known: "
            f"{', '.join(sorted([*METHOD_PARAMS, *SEARCH_METHODS]))}"
        )
    bits = entry.get("bits", config["quantization"]["bits"])
    lo, hi = METHOD_BITS[method]
    if (
        not isinstance(bits, list)
        or not bits
        or len(set(map(str, bits))) != len(bits)
        or not all(isinstance(b, int) and not isinstance(b, bool) for b in bits)
    ):
        raise ConfigError(f"config key {key}.bits: expected a list of distinct integers, got {bits!r}")
    bad = [b for b in bits if not lo <= b <= hi]
    if bad:
        where = f"{key}.bits" if "bits" in entry else "quantization.bits"
        raise ConfigError(
            f"config key {where}: {method} quantizes to {lo} to {hi} bits, not {bad}"
            + ("" if "bits" in entry else f"; give {key} its own bits")
        )
    if entry.get("centroid_finetune") is not None and method == "ocs":
        raise ConfigError(
            f"config key {key}.centroid_finetune: OCS weights have split channels, which "
            "centroid fine-tuning cannot train"
        )
    emb = entry.get("embedding_bits")
    if emb is not None and (isinstance(emb, bool) or not isinstance(emb, int) or not lo <= emb <= hi):
        raise ConfigError(f"config key {key}.embedding_bits: {method} quantizes to {lo} to {hi} bits, not {emb!r}")
    for p, value in entry.items():
        if p in VARIANT_KEYS:
            continue
        if p not in METHOD_PARAMS[method]:
            raise ConfigError(
                f"config key {key}.{p}: {method} has no parameter {p!r}; it takes {sorted(METHOD_PARAMS[method])}"
            )
        default = METHOD_PARAMS[method][p]
        if p == "granularity":
            try:
                check_granularity(value)
            except ValueError as exc:
                raise ConfigError(f"config key {key}.{p}: {exc}") from None
            _check_groups(config, variant, value)
        elif type(value) is not type(default) and not (isinstance(default, float) and isinstance(value, int)):
            raise ConfigError(f"config key {key}.{p}: expected a {type(default).__name__}, got {value!r}")
    try:
        # A dry run on a tiny weight catches values the method itself rejects (an unknown prior).
        params = {k: v for k, v in method_variant(config, variant)["params"].items() if k != "granularity"}
        probe = quantize_weight(method, np.ones((4, 2)), bits[0], **params)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"config key {key}: {exc}") from None
    _check_training(config, variant, probe)


def _check_groups(config: dict, variant: str, granularity) -> None:
    """A number of groups must divide the output channels of every weight the entry quantizes, in
    every model whose shape is known: the hidden and FFN widths (and with ``scope: all`` each
    task's head)."""
    if not isinstance(granularity, int) or isinstance(granularity, bool):
        return
    entry = config["quantization"]["methods"][variant]
    for name, model in config["models"].items():
        known = known_config(parse_source(model["source"], model.get("layers")))
        if known is None:
            continue
        widths = {"the hidden size": known["hidden_size"], "the FFN width": known.get("intermediate_size")}
        if entry.get("scope", "encoder") == "all":
            for task in config["tasks"]:
                widths[f"{task}'s head ({TASKS[task].num_labels} outputs)"] = TASKS[task].num_labels
        for what, width in widths.items():
            if width and width % granularity:
                raise ConfigError(
                    f"config key quantization.methods.{variant}.granularity: {granularity} groups do not divide "
                    f"{what} of models.{name}, {width}"
                )


def _check_training(config: dict, variant: str, probe) -> None:
    """At most one training step after quantization; QAT and AdaRound learn on a linear grid (steps
    and rounding of codes, not codebooks or OCS splits), on classification tasks of BERT encoders,
    and AdaRound's calibration sequences must exist in every task's training split."""
    from ..data.loading import train_size
    from ..quantization.tensor import QuantizedTensor

    key = f"quantization.methods.{variant}"
    entry = config["quantization"]["methods"][variant]
    steps = [k for k in TRAINING_STEPS if entry.get(k) is not None]
    if len(steps) > 1:
        raise ConfigError(f"config key {key}: {' and '.join(steps)} cannot both follow one quantization")
    step = steps[0] if steps else None
    if step not in ("qat", "adaround"):
        return
    method = entry.get("method", variant)
    if not isinstance(probe, QuantizedTensor) or probe.n_split:
        raise ConfigError(
            f"config key {key}.{step}: {method} gives "
            + ("split (OCS) channels" if isinstance(probe, QuantizedTensor) else "a codebook")
            + f"; {step} learns on a linear grid (lq, mse or aciq)"
        )
    for i, task in enumerate(config["tasks"]):
        if TASKS[task].is_span:
            raise ConfigError(f"config key {key}.{step}: runs on classification tasks; tasks[{i}] is {task}")
    _check_bert_models(config, f"{key}.{step}", f"{step} trains bertq's encoder")
    if step == "adaround":
        need = entry["adaround"].get("sequences", AdaRoundConfig().sequences)
        data = config["data"]
        for i, task in enumerate(config["tasks"]):
            have = train_size(TASKS[task], data["glue_dir"], data["dev_fraction"], data["split_seed"])
            if have is not None and need > have:
                raise ConfigError(
                    f"config key {key}.adaround.sequences: {need} calibration sequences, but tasks[{i}] "
                    f"({task}) has {have} training examples"
                )


SEARCH_KEYS = ("method", "search", "embedding_bits", "activations", "engine")
QBERT_SLACK = 0.05
"""A Q-BERT target may exceed the largest size by this share (a single width's size need not be
written to the last digit); below the smallest, no assignment fits its budget."""
"""The keys a mixed-precision entry takes: the search assigns the weights' bits itself."""


def _check_search(config: dict, variant: str) -> None:
    """A mixed-precision entry, before any job runs: its settings (known to its method, a target),
    a bit set with a usable width, subgroups that divide every searched linear of every model, and
    a target within the sizes the models' encoders can take; BERT encoders, fake-quantized scoring."""
    from ..quantization.bit_search import SearchSpace
    from ..training.bit_search import encoder_size_range, searched_widths

    key = f"quantization.methods.{variant}"
    entry = config["quantization"]["methods"][variant]
    method = entry.get("method", variant)
    for k in entry:
        if k == "bits":
            raise ConfigError(
                f"config key {key}.bits: {method} assigns the bits itself; give the widths it chooses "
                f"from as {key}.search.bits"
            )
        if k not in SEARCH_KEYS:
            raise ConfigError(f"config key {key}.{k}: {method} takes no {k!r} (its settings go under search)")
    if entry.get("engine"):
        raise ConfigError(f"config key {key}.engine: mixed-precision weights are scored in fake quantization")
    defaults = SEARCH_METHODS[method][0]
    given = entry.get("search") or {}
    for k in given:
        if k not in defaults:
            raise ConfigError(
                f"config key {key}.search.{k}: {method} has no setting {k!r}; it takes {sorted(defaults)}"
            )
    settings = {**defaults, **given}
    if settings["target_mb"] is None:
        raise ConfigError(
            f"config key {key}.search.target_mb: {method} needs a size target (MiB of the encoder "
            "layers, embeddings excluded, as Zhao et al. count it)"
        )
    space = SearchSpace(tuple(settings["bits"]), settings["groups"])
    try:
        space.check(f"config key {key}.search")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    _check_bert_models(config, key, f"{method} searches the bits of bertq's encoder")
    tolerance = settings.get("tolerance")
    target = settings["target_mb"] * MIB_BITS
    for name, model in config["models"].items():
        source = parse_source(model["source"], model.get("layers"))
        known = known_config(source)
        if known is None:
            continue
        hidden, intermediate = known["hidden_size"], known["intermediate_size"]
        layers = source.layers or known["num_hidden_layers"]
        model_type = known.get("model_type", "bert")
        for linear, width in searched_widths(hidden, intermediate, model_type, known).items():
            if width % space.groups:
                raise ConfigError(
                    f"config key {key}.search.groups: {space.groups} subgroups do not divide the {width} "
                    f"output neurons of models.{name}'s {linear}"
                )
        lo, hi = encoder_size_range(hidden, intermediate, layers, space.bits, model_type, known)
        if method == "q_bert":  # within the budget, never above it; up to 5% above the largest size
            out_of_reach = target < lo or target > (1 + QBERT_SLACK) * hi
        else:  # the size loss is zero within the tolerance band of the target
            out_of_reach = (1 + tolerance) * target < lo or (1 - tolerance) * target > hi
        if out_of_reach:
            raise ConfigError(
                f"config key {key}.search.target_mb: {settings['target_mb']} MiB is out of reach for "
                f"models.{name}: its encoder takes {lo / MIB_BITS:.3g} MiB (every subgroup at "
                f"{min(space.bits)} bits) to {hi / MIB_BITS:.3g} MiB (at {max(space.bits)} bits)"
            )


def _check_float(config: dict, variant: str) -> None:
    key = f"quantization.methods.{variant}"
    entry = config["quantization"]["methods"][variant]
    if entry.get("activations") is None:
        raise ConfigError(
            f"config key {key}: method float keeps the weights fp32, so it needs activations "
            "(without them it is the fp32 model)"
        )
    if entry.get("bits", [32]) != [32]:
        raise ConfigError(f"config key {key}.bits: method float keeps the weights at 32 bits; give [32] or nothing")
    extra = [k for k in entry if k not in ("method", "bits", "activations", "leave_one_out")]
    if extra:
        raise ConfigError(
            f"config key {key}.{extra[0]}: method float quantizes no weights, so it takes no {extra[0]!r}"
        )


def _check_activations(config: dict, variant: str) -> None:
    """What the calibrate jobs would reject, before any job runs: the settings themselves, the
    tasks (classification only), the models (BERT encoders whose hidden size PEG groups divide)
    and the training data (enough sequences for the calibration batches)."""
    from ..data.loading import train_size

    key = f"quantization.methods.{variant}.activations"
    try:
        acts = ActivationConfig.from_dict(config["quantization"]["methods"][variant]["activations"])
        acts.check(f"config key {key}")
    except (TypeError, ValueError) as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith("config key") else f"config key {key}: {message}") from None
    for i, task in enumerate(config["tasks"]):
        if TASKS[task].is_span:
            raise ConfigError(
                f"config key {key}: activation quantization runs on classification tasks; "
                f"tasks[{i}] is {task} (SQuAD calibration is not supported yet)"
            )
    for name, model in config["models"].items():
        known = known_config(parse_source(model["source"], model.get("layers")))
        if known is None:
            continue
        if known.get("model_type", "bert") not in FAMILIES:
            raise ConfigError(
                f"config key {key}: models.{name} is {known.get('model_type')}; activation sites "
                f"exist in bertq's encoder (bertq.models.encoder: {', '.join(FAMILIES)}) only"
            )
        if acts.peg is not None:
            hidden = known["hidden_size"]
            if hidden % acts.peg.groups:
                divisors = [d for d in range(1, hidden + 1) if hidden % d == 0]
                raise ConfigError(
                    f"config key {key}.peg.groups: {acts.peg.groups} groups do not divide the hidden size "
                    f"{hidden} of models.{name}; groups must be a divisor (e.g. {', '.join(map(str, divisors[:10]))})"
                )
    need = acts.batch_size * acts.batches
    data = config["data"]
    for i, task in enumerate(config["tasks"]):
        have = train_size(TASKS[task], data["glue_dir"], data["dev_fraction"], data["split_seed"])
        if have is not None and need > have:
            raise ConfigError(
                f"config key {key}: calibration needs batch_size x batches = {acts.batch_size} x {acts.batches} "
                f"= {need} sequences, but tasks[{i}] ({task}) has {have} training examples"
            )


def _check_dynamic(config: dict, variant: str) -> None:
    """A dynamic variant: valid settings, quantized weights (not float), neither static ranges
    nor centroid fine-tuning beside it, and BERT encoders (whose forward publishes its real
    tokens, :mod:`bertq.models.tokens`)."""
    key = f"quantization.methods.{variant}"
    entry = config["quantization"]["methods"][variant]
    try:
        DynamicConfig.from_dict(entry["dynamic"]).check(f"config key {key}.dynamic")
    except (TypeError, ValueError) as exc:
        message = str(exc)
        raise ConfigError(
            message if message.startswith("config key") else f"config key {key}.dynamic: {message}"
        ) from None
    for other in ("activations", "centroid_finetune", "qat", "adaround"):
        if entry.get(other) is not None:
            raise ConfigError(f"config key {key}: dynamic quantization cannot be combined with {other}")
    if entry.get("method", variant) == FLOAT:
        raise ConfigError(f"config key {key}: dynamic quantization runs on quantized linears; method float has none")
    _check_bert_models(config, f"{key}.dynamic", "dynamic per-sequence scales need bertq's encoder")


def _check_bert_models(config: dict, key: str, why: str) -> None:
    """Every model whose type is known must be one bertq's encoder runs
    (:data:`~bertq.models.families.FAMILIES`: BERT, RoBERTa, XLM-R): ``why`` says what of the
    config key ``key`` needs it."""
    for name, model in config["models"].items():
        known = known_config(parse_source(model["source"], model.get("layers")))
        if known is not None and known.get("model_type", "bert") not in FAMILIES:
            raise ConfigError(
                f"config key {key}: models.{name} is {known.get('model_type')}; {why} "
                f"(bertq.models.encoder: {', '.join(FAMILIES)})"
            )


def _check_engine(config: dict, variant: str) -> None:
    """``engine: true`` needs quantized weights and quantized activations (dynamic or static): the
    engine quantizes every linear's input, so a weight-only variant would change meaning."""
    key = f"quantization.methods.{variant}.engine"
    entry = config["quantization"]["methods"][variant]
    if not isinstance(entry["engine"], bool):
        raise ConfigError(f"config key {key}: expected true or false, got {entry['engine']!r}")
    if not entry["engine"]:
        return
    if entry.get("method", variant) == FLOAT:
        raise ConfigError(f"config key {key}: method float keeps every weight fp32; nothing runs on the int8 kernels")
    if "dynamic" not in entry and entry.get("activations") is None:
        raise ConfigError(
            f"config key {key}: the engine quantizes every linear's input; give the variant dynamic or "
            "activations settings (a weight-only variant is scored in fake quantization)"
        )
    if entry.get("centroid_finetune") is not None:
        raise ConfigError(f"config key {key}: centroid fine-tuned codebooks are scored in fake quantization")


def seed_statistics(config: dict) -> dict[str, str]:
    """The seed statistic (mean or median) of every report the study renders."""
    stats = config["seed_statistic"]
    return {r: stats.get(r, stats.get("default", "mean")) for r in config["reports"]}


def timing_params(config: dict) -> dict:
    """What a throughput job depends on: the timing settings, not which methods are timed."""
    return {k: v for k, v in config["throughput"].items() if k != "methods"}


def load(path: str | Path, overrides: dict | None = None) -> dict:
    try:
        raw = read_yaml(path)
    except RawConfigError as exc:
        raise ConfigError(str(exc)) from None
    if overrides:
        raw = {**(raw or {}), **overrides}
    return validate(raw or {})


def finetune_params(config: dict, model: str, task: str) -> dict:
    """Built-in defaults < built-in task defaults (:data:`TASK_FINETUNE_DEFAULTS`) <
    ``finetune.defaults`` < ``finetune.per_task`` < ``finetune.per_model`` <
    ``finetune.per_model_task``. The SQuAD-only keys
    (:data:`SPAN_ONLY_KEYS`) are left out for other tasks, so changing them reruns SQuAD alone."""
    ft = config["finetune"]
    params = {
        **FINETUNE_DEFAULTS,
        **TASK_FINETUNE_DEFAULTS.get(task, {}),
        **ft["defaults"],
        **ft["per_task"].get(task, {}),
        **ft["per_model"].get(model, {}),
        **ft["per_model_task"].get(model, {}).get(task, {}),
    }
    if not TASKS[task].is_span:
        params = {k: v for k, v in params.items() if k not in SPAN_ONLY_KEYS}
    return params


def cost_params(config: dict, task: str) -> dict:
    """``sequence_length`` and ``activation_bits`` at which a task's models are costed: SQuAD
    models at ``cost.qa_sequence_length`` (their windows are longer), the others at
    ``cost.sequence_length``."""
    cost = config["cost"]
    length = cost["qa_sequence_length"] if TASKS[task].is_span else cost["sequence_length"]
    return {"sequence_length": length, "activation_bits": cost["activation_bits"]}


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
