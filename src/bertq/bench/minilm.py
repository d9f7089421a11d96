"""The packaged MiniLM-L6 (all-MiniLM-L6-v2) as a sequence classifier, for benchmarks and tests
that need real pretrained weights offline."""

from __future__ import annotations

import json

import numpy as np

from ..models.encoder import EncoderConfig
from ..models.sources import packaged_path


def packaged_classifier(num_labels: int = 2, seed: int = 0) -> tuple[EncoderConfig, dict]:
    """The packaged MiniLM's weights under ``BertForSequenceClassification``'s names (numpy), with a
    ``num_labels`` classifier initialised from ``seed`` (normal, std 0.02, as BERT's)."""
    from safetensors.numpy import load_file

    path = packaged_path()
    raw = load_file(str(path / "model.safetensors"))
    state = {f"bert.{k}": v for k, v in raw.items() if k != "embeddings.position_ids"}
    config = EncoderConfig.from_dict({**json.loads((path / "config.json").read_text()), "num_labels": num_labels})
    rng = np.random.default_rng(seed)
    state["classifier.weight"] = (rng.standard_normal((num_labels, config.hidden_size)) * 0.02).astype(np.float32)
    state["classifier.bias"] = np.zeros(num_labels, np.float32)
    return config, state
