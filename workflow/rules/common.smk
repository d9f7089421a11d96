import re

from snakemake.exceptions import WorkflowError

import bertq.config as bq
from bertq.data.squad import SQUAD_FILES
from bertq.data.tasks import get_task
from bertq.models.sources import parse_source, tokenizer_location
from bertq.pipeline.jobs import job_code
from bertq.pipeline.layout import (BASELINE, BEFORE_TUNING, EVALUATED, FINETUNED, FP32, MANIFEST, QUANTIZED,
                                   SUMMARY, THROUGHPUT, THROUGHPUT_TABLE, TIDY, TOKENIZED, TOKENIZED_SQUAD)
from bertq.pipeline.resources import job_resources

try:
    _validated = bq.validate(dict(config))
except bq.ConfigError as _exc:
    raise WorkflowError(f"bertq: {_exc}") from None
config.clear()
config.update(_validated)

MODELS = list(config["models"])
TASKS = list(config["tasks"])
SPAN_TASKS = [t for t in TASKS if get_task(t).is_span]
SEQUENCE_TASKS = [t for t in TASKS if t not in SPAN_TASKS]
SEEDS = list(config["seeds"])
METHODS = list(config["quantization"]["methods"])
VARIANTS = {m: bq.method_variant(config, m) for m in METHODS}
TUNED_METHODS = [m for m in METHODS if VARIANTS[m]["centroid_finetune"] is not None]
PTQ_METHODS = [m for m in METHODS if m not in TUNED_METHODS]
SOURCES = {m: parse_source(s["source"], s.get("layers")) for m, s in config["models"].items()}
TOKENIZERS = {bq.tokenizer_id(config["models"][m]["source"]): tokenizer_location(SOURCES[m]) for m in MODELS}


def _alternatives(values):
    """A regex matching exactly ``values`` (one that matches nothing when there are none)."""
    return "|".join(re.escape(str(v)) for v in values) if values else "(?!)"


wildcard_constraints:
    model=_alternatives(MODELS),
    task=_alternatives(TASKS),
    seed=r"\d+",
    method=_alternatives(METHODS),
    bits=r"\d+",
    max_length=r"\d+",
    doc_stride=r"\d+",
    max_query_length=r"\d+",
    tokenizer=_alternatives(TOKENIZERS),


def finetune_params(wc):
    return bq.finetune_params(config, wc.model, wc.task)


def tokenized_for(wc):
    """The tokenised data a (model, task) trains and evaluates on."""
    p = finetune_params(wc)
    tokenizer = bq.tokenizer_id(config["models"][wc.model]["source"])
    if get_task(wc.task).is_span:
        return TOKENIZED_SQUAD.format(tokenizer=tokenizer, max_length=p["max_length"],
                                      doc_stride=p["doc_stride"], max_query_length=p["max_query_length"])
    return TOKENIZED.format(tokenizer=tokenizer, task=wc.task, max_length=p["max_length"])


def cost_params(wc):
    return bq.canonical(bq.cost_params(config, wc.task))


def qa_decoding(wc):
    """SQuAD's n-best and answer-length settings ('' for other tasks, so they never rerun)."""
    if not get_task(wc.task).is_span:
        return ""
    p = finetune_params(wc)
    return bq.canonical({k: p[k] for k in ("n_best_size", "max_answer_length")})


def variants():
    """``(method, bits)`` of fp32 and of every method variant the config asks for."""
    return [FP32] + [(m, b) for m in METHODS for b in VARIANTS[m]["bits"]]


def timed_variants():
    """fp32 and the variants of the methods named in ``throughput.methods`` (all by default)."""
    timed = config["throughput"]["methods"]
    return [v for v in variants() if v == FP32 or timed is None or v[0] in timed]


def every(template, variant_list):
    """``template`` for every model, task, seed and (method, bits) of ``variant_list``."""
    return [template.format(model=m, task=t, seed=s, method=method, bits=bits)
            for m in MODELS for t in TASKS for s in SEEDS for method, bits in variant_list]


def method_spec(wc):
    """The algorithm and parameters of a method variant (what its quantize jobs depend on)."""
    v = VARIANTS[wc.method]
    return bq.canonical({"method": v["method"], "params": v["params"], "embedding_bits": v["embedding_bits"]})


def model_meta():
    meta = {}
    for m, spec in config["models"].items():
        meta[m] = {"model_label": bq.model_label(config, m), "paper_name": spec.get("paper_name") or "",
                   "size_class": spec.get("size_class") or "", "random_init": SOURCES[m].is_random}
    return meta


def resources_of(rule, key):
    """A job's ``mem_mb``, ``runtime`` or ``gpu``, scaled by its model's size (bertq.pipeline.resources).

    Memory doubles on each retry, so a job killed for memory gets more on its next attempt; a
    profile's ``set-resources`` overrides any of them.
    """

    def value(wildcards, attempt):
        task = getattr(wildcards, "task", None)
        span = task is not None and get_task(task).is_span
        gpu = config["finetune"]["device"] == "cuda"
        r = job_resources(rule, SOURCES[wildcards.model], span=span, gpu=gpu)
        return r[key] * (2 ** (attempt - 1) if key == "mem_mb" else 1)

    return value
