"""The encoder families bertq's own encoder (:mod:`bertq.models.encoder`) runs, by the
``model_type`` of their ``config.json``: their module names and what each changes around the
BERT layer. Declared here, without torch, so that the config check, the weight selection and the
activation sites derive from one place.

- BERT (Devlin et al., 2019): ``bert.`` body, positions ``0..T-1``, token types, a pooler
  (``bert.pooler.dense`` -> tanh) and a ``classifier``.
- RoBERTa (Liu et al., 2019) and XLM-R (Conneau et al., 2020): BERT's layers under ``roberta.``,
  positions counted from the padding index + 1 over the sequence's own tokens
  (``create_position_ids_from_input_ids``), one token type, no pooler, and the dense head
  ``classifier.dense`` -> tanh -> ``classifier.out_proj`` on the first token.
- DistilBERT (Sanh et al., 2019): ``distilbert.transformer.layer.<i>`` with ``attention.q_lin``
  ... ``out_lin``, ``sa_layer_norm``, ``ffn.lin1``/``lin2`` and ``output_layer_norm``; no token
  types; ``pre_classifier`` -> ReLU -> ``classifier``; its config names sizes ``dim``,
  ``n_layers``, ``n_heads``, ``hidden_dim`` (:func:`bert_keys` reads them as BERT's).

Whatever the family, a layer's six linears play the same roles (:data:`LINEAR_ROLES`), and the
head's pooling output (tanh or ReLU) is the ``pooler.output`` site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LINEAR_ROLES = ("query", "key", "value", "attention_output", "ffn_in", "ffn_out")
"""What each of a layer's linears does, in forward order (``Family.linears`` lists them)."""


@dataclass(frozen=True)
class Family:
    """``body``: the state dict's prefix; ``layers``: the layer list's path in the body;
    ``linears``: a layer's linears by :data:`LINEAR_ROLES`; ``attention``: the module holding the
    attention dropout; ``padded_positions``: RoBERTa's position ids; ``token_types``: whether the
    embeddings add a token type; ``head_linears``: the sequence head's two linears (``{body}``
    stands for the body), the first followed by ``head_act``; ``config_keys``: the family's names
    for BERT's config keys."""

    body: str
    layers: str
    linears: tuple[str, ...]
    attention: str
    padded_positions: bool
    token_types: bool
    head_linears: tuple[str, str]
    head_act: str
    config_keys: dict = field(default_factory=dict)

    def head(self) -> tuple[str, str]:
        return tuple(name.format(body=self.body) for name in self.head_linears)


_BERT_LINEARS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
_ROBERTA = dict(
    body="roberta",
    layers="encoder.layer",
    linears=_BERT_LINEARS,
    attention="attention.self",
    padded_positions=True,
    token_types=True,  # one type (type_vocab_size 1), added as BERT does
    head_linears=("classifier.dense", "classifier.out_proj"),
    head_act="tanh",
)
FAMILIES = {
    "bert": Family(
        "bert",
        "encoder.layer",
        _BERT_LINEARS,
        "attention.self",
        False,
        True,
        ("{body}.pooler.dense", "classifier"),
        "tanh",
    ),
    "roberta": Family(**_ROBERTA),
    "xlm-roberta": Family(**_ROBERTA),
    "distilbert": Family(
        "distilbert",
        "transformer.layer",
        ("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "ffn.lin1", "ffn.lin2"),
        "attention",
        False,
        False,
        ("pre_classifier", "classifier"),
        "relu",
        {
            "dim": "hidden_size",
            "n_layers": "num_hidden_layers",
            "n_heads": "num_attention_heads",
            "hidden_dim": "intermediate_size",
            "activation": "hidden_act",
            "dropout": "hidden_dropout_prob",
            "attention_dropout": "attention_probs_dropout_prob",
        },
    ),
}
"""The model types bertq's encoder runs (``config.json``'s ``model_type``)."""


def bert_keys(config: dict) -> dict:
    """A ``config.json`` with its family's size keys also under BERT's names (``dim`` as
    ``hidden_size`` ...), so every reader asks for ``hidden_size``."""
    family = FAMILIES.get(config.get("model_type", "bert"))
    if family is None:
        return dict(config)
    return {**config, **{bert: config[own] for own, bert in family.config_keys.items() if own in config}}


def head_linear_names() -> tuple[set[str], set[str]]:
    """Every family's sequence-head linears without the body's prefix (``pooler.dense``): the
    pooling ones (whose tanh or ReLU is ``pooler.output``) and the ones giving the logits."""
    pooling = {f.head_linears[0].removeprefix("{body}.") for f in FAMILIES.values()}
    return pooling, {f.head_linears[1] for f in FAMILIES.values()}


def layer_linear_names() -> dict[str, str]:
    """``{"<layers>.<i>.<linear>" pattern: role}`` over every family, as regular expressions on a
    weight's name (the layer index in group 1)."""
    out = {}
    for family in FAMILIES.values():
        for role, linear in zip(LINEAR_ROLES, family.linears):
            layers, name = re.escape(family.layers), re.escape(linear)
            out[rf"(?:^|\.){layers}\.(\d+)\.{name}\.weight$"] = role
    return out
