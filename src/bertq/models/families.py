"""The encoder families bertq's own encoder (:mod:`bertq.models.encoder`) runs, by the
``model_type`` of their ``config.json``: what each changes outside the BERT layers. Declared
here, without torch, so that the config check can name them before any job."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """What a model type of ``config.json`` changes in the encoder: the body's name (the state
    dict's prefix), whether positions are offset by the padding index (RoBERTa's
    ``create_position_ids_from_input_ids``), and the classification head: ``pooler`` (BERT:
    ``bert.pooler.dense`` -> tanh -> ``classifier``) or ``dense`` (RoBERTa: ``classifier.dense``
    -> tanh -> ``classifier.out_proj``)."""

    body: str
    padded_positions: bool
    head: str


FAMILIES = {
    "bert": Family("bert", False, "pooler"),
    "roberta": Family("roberta", True, "dense"),
    "xlm-roberta": Family("roberta", True, "dense"),
}
"""The model types bertq's encoder runs (``config.json``'s ``model_type``)."""
