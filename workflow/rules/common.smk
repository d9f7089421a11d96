# The shared part of the workflow (the validated config, path templates, wildcard constraints and
# every helper function the rules call), so that each rule file holds rules only.
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

import bertq.pipeline.config as bq
from bertq.data.conll import CONLL_FILES, conll_file
from bertq.data.qa_datasets import QA_DATASETS
from bertq.data.tasks import get_task
from bertq.models.sources import parse_source, tokenizer_location
from bertq.pipeline.integrity import prune_stale_seals
from bertq.pipeline.jobs import job_code
from bertq.pipeline.layout import (
    BASELINE,
    BEFORE_TUNING,
    CAPTURE,
    EVALUATED,
    FINETUNED,
    FP32,
    MANIFEST,
    QUANTIZED,
    RANGES,
    RANGES_BEFORE_TUNING,
    REPORTS,
    SUMMARY,
    THROUGHPUT,
    THROUGHPUT_TABLE,
    TIDY,
    TIMED_CHECKPOINT,
    TOKENIZED,
    TOKENIZED_SPAN,
)
from bertq.pipeline.resources import THROUGHPUT_MODELS, job_resources
from bertq.reports import registry as report_registry

try:
    bq.check_config_files(workflow.configfiles)
    _validated = bq.validate(dict(config))
except bq.ConfigError as _exc:
    raise WorkflowError(f"bertq: {_exc}") from None
config.clear()
config.update(_validated)

MODELS = list(config["models"])
TASKS = list(config["tasks"])
SPAN_TASKS = [t for t in TASKS if get_task(t).is_span]
TOKEN_TASKS = [t for t in TASKS if get_task(t).is_token]
SEQUENCE_TASKS = [t for t in TASKS if t not in SPAN_TASKS + TOKEN_TASKS]
SEEDS = list(config["seeds"])
METHODS = list(config["quantization"]["methods"])
VARIANTS = {m: bq.method_variant(config, m) for m in METHODS}
FLOAT_METHODS = [m for m in METHODS if VARIANTS[m]["method"] == bq.FLOAT]
STEPS = {m: bq.training_step(config, m) for m in METHODS}
TUNED_METHODS = [m for m in METHODS if STEPS[m] is not None]
"""Variants trained after quantization: their quantize job writes BEFORE_TUNING."""
CENTROID_METHODS = [m for m in METHODS if STEPS[m] == "centroid_finetune"]
QAT_METHODS = [m for m in METHODS if STEPS[m] == "qat"]
ADAROUND_METHODS = [m for m in METHODS if STEPS[m] == "adaround"]
SEARCHED_METHODS = [m for m in METHODS if VARIANTS[m]["search"] is not None]
"""Mixed-precision variants (AQ-BERT, Q-BERT): their search job writes the quantized checkpoint."""
PTQ_METHODS = [m for m in METHODS if m not in TUNED_METHODS + FLOAT_METHODS + SEARCHED_METHODS]
ACTIVATION_METHODS = [m for m in METHODS if VARIANTS[m]["activations"] is not None]
KEPT_METHODS = [m for m in PTQ_METHODS if m in ACTIVATION_METHODS]
"""Weight-quantized variants with activation ranges: their checkpoints are kept (quantize_kept)."""
CALIBRATED_METHODS = [m for m in ACTIVATION_METHODS if m not in QAT_METHODS]
"""Variants whose evaluated ranges are calibrated (a QAT variant's are trained from calibrated ones)."""
SOURCES = {m: parse_source(s["source"], s.get("layers")) for m, s in config["models"].items()}
TOKENIZERS = {bq.tokenizer_id(config["models"][m]["source"]): tokenizer_location(SOURCES[m]) for m in MODELS}

# Files inside a fine-tuned model's directory and beside a quantized variant (bertq.pipeline.layout).
FINETUNED_MODEL = f"{FINETUNED}/model.safetensors"
FINETUNED_CONFIG = f"{FINETUNED}/config.json"
FINETUNED_METRICS = f"{FINETUNED}/dev_metrics.json"
QUANTIZED_CHECKPOINT = f"{QUANTIZED}.safetensors"
QUANTIZED_SUMMARY = f"{QUANTIZED}.json"
CAPTURE_FILE = f"{CAPTURE}.safetensors"
CAPTURE_SUMMARY = f"{CAPTURE}.json"
BEFORE_TUNING_CHECKPOINT = f"{BEFORE_TUNING}.safetensors"
BEFORE_TUNING_SUMMARY = f"{BEFORE_TUNING}.json"
BASELINE_SUMMARY = f"{BASELINE}.json"


onsuccess:
    prune_stale_seals("results")


onerror:
    prune_stale_seals("results")


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
        return TOKENIZED_SPAN.format(
            tokenizer=tokenizer,
            task=wc.task,
            max_length=p["max_length"],
            doc_stride=p["doc_stride"],
            max_query_length=p["max_query_length"],
        )
    return TOKENIZED.format(tokenizer=tokenizer, task=wc.task, max_length=p["max_length"])


def cost_params(wc):
    return bq.canonical(bq.cost_params(config, wc.task))


def qa_decoding(wc):
    """A span task's n-best and answer-length settings ('' for other tasks, so they never rerun)."""
    if not get_task(wc.task).is_span:
        return ""
    p = finetune_params(wc)
    return bq.canonical({k: p[k] for k in ("n_best_size", "max_answer_length")})


def variants():
    """``(method, bits)`` of fp32 and of every method variant the config asks for."""
    return [FP32] + [(m, b) for m in METHODS for b in VARIANTS[m]["bits"]]


def timed_variants():
    """fp32 and the variants of the methods named in ``throughput.methods`` (all by default but
    those whose weights stay fp32: they time as fp32 does)."""
    timed = config["throughput"]["methods"]
    return [v for v in variants() if v == FP32 or (v[0] not in FLOAT_METHODS and (timed is None or v[0] in timed))]


def every(template, variant_list):
    """``template`` for every model, task, seed and (method, bits) of ``variant_list``."""
    return [
        template.format(model=m, task=t, seed=s, method=method, bits=bits)
        for m in MODELS
        for t in TASKS
        for s in SEEDS
        for method, bits in variant_list
    ]


def method_spec(wc):
    """The algorithm and parameters of a method variant (what its quantize jobs depend on)."""
    v = VARIANTS[wc.method]
    keys = ("method", "params", "embedding_bits", "scope")
    return bq.canonical({k: v[k] for k in keys})


def activation_cost(wc):
    """Which activation sites a variant quantizes at what bits ('' for none): its ACE depends on it."""
    spec = bq.activation_cost(config, wc.method)
    return "" if spec is None else bq.canonical(spec)


def dynamic_spec(wc):
    """A variant's dynamic quantization settings ('' for none): its evaluate jobs depend on them."""
    spec = VARIANTS[wc.method]["dynamic"] if wc.method in VARIANTS else None
    return "" if spec is None else bq.canonical(spec)


def on_engine(wc):
    """Whether a variant is scored on the integer engine (its method entry's ``engine``)."""
    return wc.method in VARIANTS and VARIANTS[wc.method]["engine"]


def activation_spec(wc):
    """A variant's whole activation settings: what its calibrate jobs depend on."""
    return bq.canonical(VARIANTS[wc.method]["activations"])


def model_meta():
    meta = {}
    for m, spec in config["models"].items():
        meta[m] = {
            "model_label": bq.model_label(config, m),
            "paper_name": spec.get("paper_name") or "",
            "size_class": spec.get("size_class") or "",
            "random_init": SOURCES[m].is_random,
        }
    return meta


def attempt_number(wildcards, attempt):
    """A job's attempt, as a resource: a retry reads it to skip what failed on bad input
    (bertq.pipeline.jobs.run)."""
    return attempt


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


# Data (data.smk).


def glue_inputs(wc):
    """Local GLUE files are inputs, so editing them reruns tokenisation (hub data is not tracked)."""
    spec = get_task(wc.task)
    glue_dir = config["data"]["glue_dir"]
    if glue_dir is None or spec.glue_dir is None:
        return []
    return [f"{glue_dir}/{spec.glue_dir}/{split}.tsv" for split in ("train", *spec.dev_splits)]


def conll_inputs(wc):
    """Local CoNLL files are inputs, so editing them reruns tokenisation (hub data is not tracked)."""
    directory = config["data"]["conll03"]["dir"]
    if directory is None:
        return []
    return [str(conll_file(directory, split)) for split in CONLL_FILES]


def span_inputs(wc):
    """A span task's local files are inputs, so editing them reruns tokenisation (hub data is not
    tracked); which files, bertq.data.qa_datasets declares (the config checks they exist)."""
    source = config["data"][wc.task]
    if source["dir"] is None:
        return []
    splits = ["dev"] if source["split"] == "dev_articles" else ["train", "dev"]
    return [str(QA_DATASETS[wc.task].local_file(source["dir"], s)) for s in splits]


def span_source(wc):
    """The data.<task> settings of a span task that matter: the article split's share and seed
    only for that split."""
    source = dict(config["data"][wc.task])
    if source["split"] == "official":
        source["dev_fraction"] = source["split_seed"] = None
    return bq.canonical(source)


# Quantization (quantize.smk).


def temp_unless_kept(path):
    """A quantized checkpoint is temporary unless quantization.keep_checkpoints asks to keep it."""
    return path if config["quantization"]["keep_checkpoints"] else temp(path)


def centroid_params(wc):
    return bq.canonical(bq.centroid_finetune_params(config, wc.method, wc.model, wc.task))


def qat_params(wc):
    return bq.canonical(bq.qat_params(config, wc.method))


def adaround_params(wc):
    return bq.canonical(bq.adaround_params(config, wc.method))


def search_params(wc):
    """A mixed-precision variant's method, search settings and token-embedding bits."""
    v = VARIANTS[wc.method]
    return bq.canonical({k: v[k] for k in ("method", "search", "embedding_bits")})


def tuning_inputs(wc):
    """What a training step after quantization reads: the PTQ checkpoint and its summary, the
    fine-tuned model, the task's data, and for a QAT variant with activations its calibrated ranges."""
    fields = dict(wc.items())
    files = {
        "quantized": BEFORE_TUNING_CHECKPOINT.format(**fields),
        "summary": BEFORE_TUNING_SUMMARY.format(**fields),
        "model": FINETUNED_MODEL.format(**fields),
        "config": FINETUNED_CONFIG.format(**fields),
        "tokenized": tokenized_for(wc),
    }
    if wc.method in QAT_METHODS and wc.method in ACTIVATION_METHODS:
        files["ranges"] = RANGES_BEFORE_TUNING.format(**fields)
    return files


# Evaluation (evaluate.smk) and throughput (throughput.smk).


def model_files(fields):
    """The fine-tuned model a variant comes from and, unless its weights stay fp32, its quantized
    checkpoint."""
    files = {"model": FINETUNED_MODEL.format(**fields), "config": FINETUNED_CONFIG.format(**fields)}
    if fields["method"] != FP32[0] and fields["method"] not in FLOAT_METHODS:
        files["quantized"] = QUANTIZED_CHECKPOINT.format(**fields)
    return files


def calibrate_inputs(wc):
    return {**model_files(dict(wc.items())), "tokenized": tokenized_for(wc)}


def calibrate_before_tuning_inputs(wc):
    """A QAT variant calibrates its PTQ model (the checkpoint before training)."""
    files = {**model_files(dict(wc.items())), "tokenized": tokenized_for(wc)}
    files["quantized"] = BEFORE_TUNING_CHECKPOINT.format(**dict(wc.items()))
    return files


def evaluate_inputs(wc):
    files = {**model_files(dict(wc.items())), "tokenized": tokenized_for(wc)}
    if wc.method in ACTIVATION_METHODS:
        files["ranges"] = RANGES.format(**dict(wc.items()))
    return files


def capture_pairs():
    """``(model, task)`` of every activation capture the chosen reports read (the first seed's
    fp32 model), or none."""
    records = [r for r, _ in report_registry.planned(config["reports"], MODELS)]
    if not any(r.captures for r in records):
        return []
    return [(m, t) for m in MODELS for t in SEQUENCE_TASKS]


def capture_files():
    return [CAPTURE_FILE.format(model=m, task=t, seed=SEEDS[0]) for m, t in capture_pairs()]


def quantized_timed_variants():
    """The timed ``(method, bits)`` with quantized weights: each has engine backends to time."""
    return [v for v in timed_variants() if v != FP32]


def timed_checkpoint_source(wc):
    """The quantized checkpoint a timed variant's kept copy (TIMED_CHECKPOINT) is made from: the
    first task and seed's."""
    return QUANTIZED_CHECKPOINT.format(model=wc.model, task=TASKS[0], seed=SEEDS[0], method=wc.method, bits=wc.bits)


def throughput_inputs(wc):
    """A model's timing job reads the first task and seed's fine-tuned model and the kept quantized
    checkpoint of every timed variant (in the order of ``throughput_variants``)."""
    fields = dict(model=wc.model, task=TASKS[0], seed=SEEDS[0])
    files = {"model": FINETUNED_MODEL.format(**fields), "config": FINETUNED_CONFIG.format(**fields)}
    quantized = [TIMED_CHECKPOINT.format(model=wc.model, method=m, bits=b) for m, b in quantized_timed_variants()]
    if quantized:
        files["quantized"] = quantized
    return files


SCORING_ONLY = ("engine", "leave_one_out")
"""Keys of a variant's record that only its scoring reads (where it is scored), never its timing."""


def timed_record(method):
    """What a timing job knows of a timed method: its record (bq.variant_record) less what only
    scoring reads; of its activation settings, only which sites are quantized at what bits (what
    its ACE and checkpoint depend on), not how their ranges are estimated."""
    record = {k: v for k, v in bq.variant_record(config, method).items() if k not in SCORING_ONLY}
    if record["activations"] is not None:
        record["activations"] = {k: record["activations"][k] for k in ("bits", "sites", "exclude", "site_bits")}
    return record


def throughput_variants():
    """The throughput job's ``variants`` param: each timed (method, bits) with its timed_record,
    so that adding or changing a timed method reruns the timing and nothing else does."""
    return bq.canonical([{"method": m, "bits": b, "record": timed_record(m)} for m, b in quantized_timed_variants()])


def throughput_resources(key):
    """A model's timing job's ``mem_mb`` or ``runtime``: it holds three torch models and two engine
    models per timed variant at once, where the rule's scale is set for THROUGHPUT_MODELS of them
    (bertq.pipeline.resources); memory doubles on a retry."""

    def value(wildcards, attempt):
        models = 3 + 2 * len(quantized_timed_variants())
        copies = max(1.0, models / THROUGHPUT_MODELS)
        r = job_resources("throughput", SOURCES[wildcards.model], copies=copies)
        return r[key] * (2 ** (attempt - 1) if key == "mem_mb" else 1)

    return value


def timing_job_threads(wildcards):
    """Timing jobs take every core so that nothing else runs beside them on one machine; on a
    cluster (or with no --cores, as for --report) they ask for the threads they time, and a
    profile can add --exclusive through slurm_extra. Evaluated per job, once the executor is
    known (at parse time a cluster run still looks local)."""
    if workflow.local_exec and not workflow.remote_exec:
        try:
            return workflow.cores
        except WorkflowError:
            pass
    return config["throughput"]["threads"]


def timed_outputs():
    """The throughput file of every model."""
    return [THROUGHPUT.format(model=m) for m in MODELS]


# Reports (reports.smk).

OURS = report_registry.reports()["results"].paper  # the tidy table sits beside bertq's own reports
CAPTIONS = report_registry.write_captions(Path(".snakemake/bertq/report-captions").resolve())
"""Each report's caption file (its registry caption and the study line), written where Snakemake runs."""


def study_line():
    """What every caption ends with: the study and the config values behind the item."""
    methods = ", ".join(f"{m} ({VARIANTS[m]['method']}, {bit_widths(m)} bits)" for m in METHODS)
    return (
        f"Study *{config['name']}*: models {', '.join(MODELS)}; tasks {', '.join(TASKS)}; seeds "
        f"{', '.join(map(str, SEEDS))}; methods {methods or 'none'}. Every result file records the "
        "config values, code and machine that produced it (``provenance``)."
    )


def bit_widths(method):
    """A method's bit-widths as the captions write them: ``2/3/4``."""
    bits = map(str, VARIANTS[method]["bits"])
    return "/".join(bits)


def report_outputs():
    """Every file of the chosen reports and of those every study gets (bertq.reports.registry); the
    PNG figures and CSV tables go into the HTML report under their paper, with their report's caption."""
    outputs = []
    for record, name in report_registry.planned(config["reports"], MODELS):
        item = report_registry.html_item(record, name)
        if item is None:
            outputs.append(f"{REPORTS}/{name}")
            continue
        caption = str(CAPTIONS[record.name])
        outputs.append(report(f"{REPORTS}/{name}", caption=caption, category=item[0], subcategory=item[1]))
    outputs.append(f"{REPORTS}/index.md")
    return outputs
