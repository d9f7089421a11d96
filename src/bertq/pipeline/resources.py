"""Cluster resources of each job, scaled by the size of the model it runs.

A scheduler needs memory and a wall-time limit before a job starts. Both grow with the model:
BERT-Large (335 M parameters) is not BERT-Tiny (4.4 M). Each rule has a fixed part and a part per
million parameters, set from runs of this pipeline with headroom (CPU fine-tuning of BERT-Base at
length 128: about 6 GB resident; quantizing it: about 2 GB; SQuAD's 384-token windows about
three times the memory and time of a GLUE task). Sites override any of them per rule with
Snakemake's ``set-resources`` in their profile (see ``profiles/``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..models.sources import PAPER_HUB_IDS, PAPER_SIZES, ModelSource, known_config

VOCAB = 30522
PACKAGED_SHAPE = (6, 384, 1536)  # all-MiniLM-L6-v2
# Hub models outside Google's BERT sizes; anything else unknown is taken to be BERT-Base.
HUB_SHAPES = {
    "albert/albert-base-v2": (12, 768, 3072),
    "distilbert/distilbert-base-uncased": (6, 768, 3072),
    "FacebookAI/roberta-base": (12, 768, 3072),
    "FacebookAI/roberta-large": (24, 1024, 4096),
    "FacebookAI/xlm-roberta-base": (12, 768, 3072),
    "FacebookAI/xlm-roberta-large": (24, 1024, 4096),
    "distilbert/distilroberta-base": (6, 768, 3072),
    "google-bert/bert-base-cased": (12, 768, 3072),
    "google-bert/bert-large-cased": (24, 1024, 4096),
    "google/mobilebert-uncased": (24, 512, 512),  # the FFNs' width; the layers' inner width is 128
}
HUB_MILLION_PARAMETERS = {
    "google/mobilebert-uncased": (20.21376 / 24, 4.368128),
}
"""Hub models whose layers are not BERT's (``4 H^2 + 2 H I`` per layer): millions of parameters
per encoder layer and in the embeddings, counted on transformers' model (MobileBERT: 20.21 M in its 24 bottlenecked
layers, 4.37 M in its 128-wide token table, positions, types and 3-gram transformation; Sun et
al. report 25.3 M with the pre-training heads)."""


@dataclass(frozen=True)
class Scale:
    """``fixed + per_million * parameters`` (MB of memory or minutes of wall time)."""

    fixed: float
    per_million: float

    def at(self, million_parameters: float) -> int:
        return int(math.ceil(self.fixed + self.per_million * million_parameters))


# rule: (memory in MB, runtime in minutes on CPU, runtime in minutes on a GPU or None if it never uses one)
RULES: dict[str, tuple[Scale, Scale, Scale | None]] = {
    "finetune": (Scale(3000, 60), Scale(60, 10), Scale(20, 1)),
    "centroid_finetune": (Scale(3000, 60), Scale(30, 5), Scale(15, 0.5)),
    "qat": (Scale(3000, 60), Scale(60, 15), Scale(20, 1)),
    "adaround": (Scale(4000, 60), Scale(60, 10), Scale(20, 1)),
    "search": (Scale(4000, 80), Scale(120, 40), Scale(30, 2)),  # a weight per width in every linear
    "quantize": (Scale(2000, 30), Scale(10, 0.5), None),
    "baseline_cost": (Scale(1000, 10), Scale(5, 0.05), None),
    "evaluate": (Scale(2000, 20), Scale(10, 0.5), None),
    "throughput": (Scale(2000, 20), Scale(10, 0.2), None),  # four models: see THROUGHPUT_MODELS
}
THROUGHPUT_MODELS = 4
"""The models a throughput job's scale is set for: torch fp32 and dynamic int8, two engine models."""
SPAN_FACTOR = 3  # SQuAD: 384-token windows instead of 128-token sentences


def model_shape(src: ModelSource) -> tuple[int, int, int]:
    """(layers, hidden, intermediate) of a model source, without loading its weights."""
    if src.kind == "random":
        layers, hidden, _, inter = PAPER_SIZES[src.value]
    elif src.kind == "packaged":
        layers, hidden, inter = PACKAGED_SHAPE
    elif src.kind == "path":
        cfg = known_config(src)  # under BERT's key names whatever the family
        layers, hidden = cfg.get("num_hidden_layers", 12), cfg.get("hidden_size", 768)
        inter = cfg.get("intermediate_size", 4 * hidden)
    else:
        by_id = {hub: PAPER_SIZES[size][:2] + PAPER_SIZES[size][3:] for size, hub in PAPER_HUB_IDS.items()}
        layers, hidden, inter = {**by_id, **HUB_SHAPES}.get(src.value, (12, 768, 3072))
    return (src.layers or layers), hidden, inter


HUB_VOCABS = {
    "FacebookAI/roberta-base": 50265,
    "FacebookAI/roberta-large": 50265,
    "distilbert/distilroberta-base": 50265,
    "FacebookAI/xlm-roberta-base": 250002,
    "FacebookAI/xlm-roberta-large": 250002,
    "google-bert/bert-base-cased": 28996,
    "google-bert/bert-large-cased": 28996,
    "google/mobilebert-uncased": 30522,
}
"""Vocabularies other than BERT uncased's (XLM-R's table is two thirds of its parameters)."""


def vocab_size(src: ModelSource) -> int:
    if src.kind == "path":
        return int(known_config(src).get("vocab_size", VOCAB))
    return HUB_VOCABS.get(src.value, VOCAB) if src.kind == "hub" else VOCAB


def million_parameters(src: ModelSource) -> float:
    """Encoder and embedding parameters: per layer 4 H^2 (attention) + 2 H I (feed-forward), and
    the token embedding table; a hub model of another shape (:data:`HUB_MILLION_PARAMETERS`), its
    own counts."""
    if src.kind == "hub" and src.value in HUB_MILLION_PARAMETERS:
        per_layer, embeddings = HUB_MILLION_PARAMETERS[src.value]
        return model_shape(src)[0] * per_layer + embeddings
    layers, hidden, inter = model_shape(src)
    return (layers * (4 * hidden * hidden + 2 * hidden * inter) + vocab_size(src) * hidden) / 1e6


def job_resources(
    rule: str, src: ModelSource, *, span: bool = False, gpu: bool = False, copies: float = 1.0
) -> dict[str, int]:
    """``mem_mb``, ``runtime`` (minutes) and ``gpu`` (0 or 1) of one job of ``rule`` on ``src``;
    ``copies``: how many times the models the rule's scale is set for the job holds (a timing job
    builds every backend of every timed variant), multiplying the per-parameter part."""
    memory, cpu_time, gpu_time = RULES[rule]
    p = million_parameters(src) * copies
    factor = SPAN_FACTOR if span else 1
    on_gpu = gpu and gpu_time is not None
    runtime = (gpu_time if on_gpu else cpu_time).at(p) * factor
    return {"mem_mb": memory.at(p) * (2 if span else 1), "runtime": runtime, "gpu": int(on_gpu)}
