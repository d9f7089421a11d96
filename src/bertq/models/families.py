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

- MobileBERT (Sun et al., 2020): ``mobilebert.encoder.layer.<i>``, BERT's module names where the
  operation exists and, around them, the bottlenecks (``bottleneck.input.dense`` hidden -> 128 and
  the shared query/key ``bottleneck.attention.dense``), ``num_feedforward_networks - 1`` stacked
  FFNs ``ffn.<j>.intermediate.dense``/``ffn.<j>.output.dense`` (each with a residual and a norm)
  before the layer's own ``intermediate.dense``/``output.dense``, and the output bottleneck
  ``output.bottleneck.dense`` (128 -> hidden) with the layer's residual; norms are NoNorm
  (``x * weight + bias``) or LayerNorm (``normalization_type``); the embeddings are 128-wide token
  embeddings whose 3-gram (the tokens shifted left, unshifted, shifted right, concatenated) the
  linear ``embeddings.embedding_transformation`` maps to the hidden size, plus positions and token
  types. Head: ``mobilebert.pooler.dense`` -> tanh when ``classifier_activation`` (else the first
  token's hidden state, as ``google/mobilebert-uncased`` does), then ``classifier``; span head
  ``qa_outputs``.

  Quantized weights: every ``nn.Linear`` of the encoder (bottlenecks, attention, every stacked FFN,
  the output bottleneck and the embedding transformation) and, as in the other families, the
  embedding tables; the head only with scope ``all``. That is the field's convention for
  MobileBERT as for BERT (Bondarenko et al., 2021, section 5 and Fig. 13 quantize all of a
  layer's weights; optimum/ONNX Runtime quantize every ``MatMul`` of the graph): the bottleneck and
  FFN linears are where MobileBERT's parameters and MACs are, so leaving any out would measure a
  different model. The only non-linear weights, the norms' (NoNorm's) scale and bias, stay float
  as LayerNorm does.

Whatever the family, a layer's linears play declared roles (:data:`LINEAR_ROLES` for BERT's six,
:attr:`Family.roles` for a family with more), each reading a declared input site
(:func:`Family.input_kind`), and the head's pooling output (tanh or ReLU) is the ``pooler.output``
site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LINEAR_ROLES = ("query", "key", "value", "attention_output", "ffn_in", "ffn_out")
"""What each of a BERT layer's linears does, in forward order (``Family.linears`` lists them)."""
ROLE_INPUTS = {
    "query": "previous",
    "key": "previous",
    "value": "previous",
    "attention_output": "attention.context",
    "ffn_in": "attention.norm",
    "ffn_out": "ffn.intermediate",
}
"""The site kind each BERT role's linear reads (``previous``: the previous layer's output, the
embeddings' for layer 0); a family overrides or adds roles in :attr:`Family.inputs`."""
ACTIVATED_ROLES = ("ffn_in", "stacked_ffn_in")
"""The roles whose linear the FFN's activation (GELU, ReLU) follows."""
STACKED = "{j}"
"""In a linear's path, the index of a stacked FFN (MobileBERT's ``ffn.<j>``)."""


@dataclass(frozen=True)
class Family:
    """``body``: the state dict's prefix; ``layers``: the layer list's path in the body;
    ``linears``: a layer's linears by :data:`LINEAR_ROLES`; ``attention``: the module holding the
    attention dropout; ``padded_positions``: RoBERTa's position ids; ``token_types``: whether the
    embeddings add a token type; ``head_linears``: the sequence head's two linears (``{body}``
    stands for the body), the first followed by ``head_act``; ``config_keys``: the family's names
    for BERT's config keys. ``roles``: what each of ``linears`` does (:data:`LINEAR_ROLES` unless
    the family has more linears); ``inputs``: ``{role: input site kind}`` where a role's input is
    not BERT's (:data:`ROLE_INPUTS`); ``defaults``: config values the family's transformers config
    has by default. A linear path with ``{j}`` stands for each stacked FFN ``j``."""

    body: str
    layers: str
    linears: tuple[str, ...]
    attention: str
    padded_positions: bool
    token_types: bool
    head_linears: tuple[str, str]
    head_act: str
    config_keys: dict = field(default_factory=dict)
    roles: tuple[str, ...] = LINEAR_ROLES
    inputs: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)

    def head(self) -> tuple[str, str]:
        return tuple(name.format(body=self.body) for name in self.head_linears)

    def layer_linears(self, feedforward_networks: int = 1) -> list[tuple[str, str]]:
        """``[(role, path in the layer)]`` of one layer's linears in forward order, each stacked
        FFN's (``{j}``, ``feedforward_networks - 1`` of them) expanded in turn."""
        out, stacked = [], []
        for role, linear in zip(self.roles, self.linears):
            if STACKED in linear:
                stacked.append((role, linear))
                continue
            if stacked:
                out += [(r, p.replace(STACKED, str(j))) for j in range(feedforward_networks - 1) for r, p in stacked]
                stacked = []
            out.append((role, linear))
        return out

    def input_kind(self, role: str, j: int | None = None, feedforward_networks: int | None = None) -> str:
        """The site kind the linear of ``role`` reads (``previous``: the previous layer's output):
        for a stacked FFN ``j``, the previous stacked FFN's norm (the attention's for ``j = 0``);
        MobileBERT's last FFN reads the last stacked FFN's norm (``feedforward_networks`` needed)."""
        kind = self.inputs.get(role, ROLE_INPUTS.get(role))
        if kind is None:
            raise ValueError(f"linear role {role!r} has no input site in family {self.body!r}")
        if "{j-1}" in kind:
            return "attention.norm" if j == 0 else kind.replace("{j-1}", str(j - 1))
        if "{j}" in kind:
            return kind.replace("{j}", str(j))
        if "{last}" in kind:
            if feedforward_networks is None:
                raise ValueError(f"the input of {role!r} depends on the number of feed-forward networks")
            return (
                "attention.norm" if feedforward_networks == 1 else kind.replace("{last}", str(feedforward_networks - 2))
            )
        return kind


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
    "mobilebert": Family(
        "mobilebert",
        "encoder.layer",
        (
            "bottleneck.input.dense",
            "bottleneck.attention.dense",
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "ffn.{j}.intermediate.dense",
            "ffn.{j}.output.dense",
            "intermediate.dense",
            "output.dense",
            "output.bottleneck.dense",
        ),
        "attention.self",
        False,
        True,
        ("{body}.pooler.dense", "classifier"),
        "tanh",
        roles=(
            "bottleneck_input",
            "bottleneck_attention",
            "query",
            "key",
            "value",
            "attention_output",
            "stacked_ffn_in",
            "stacked_ffn_out",
            "ffn_in",
            "ffn_out",
            "bottleneck_output",
        ),
        inputs={
            "bottleneck_input": "previous",
            "bottleneck_attention": "previous",
            "query": "bottleneck.attention",
            "key": "bottleneck.attention",
            "stacked_ffn_in": "ffn{j-1}.norm",
            "stacked_ffn_out": "ffn{j}.intermediate",
            "ffn_in": "ffn{last}.norm",
            "bottleneck_output": "ffn.inner_norm",
        },
        defaults={  # MobileBertConfig's defaults
            "hidden_size": 512,
            "intermediate_size": 512,
            "num_hidden_layers": 24,
            "num_attention_heads": 4,
            "hidden_act": "relu",
            "embedding_size": 128,
            "intra_bottleneck_size": 128,
            "trigram_input": True,
            "use_bottleneck": True,
            "use_bottleneck_attention": False,
            "key_query_shared_bottleneck": True,
            "num_feedforward_networks": 4,
            "normalization_type": "no_norm",
            "classifier_activation": True,
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
    config = {**family.defaults, **config}
    return {**config, **{bert: config[own] for own, bert in family.config_keys.items() if own in config}}


def head_linear_names() -> tuple[set[str], set[str]]:
    """Every family's sequence-head linears without the body's prefix (``pooler.dense``): the
    pooling ones (whose tanh or ReLU is ``pooler.output``) and the ones giving the logits."""
    pooling = {f.head_linears[0].removeprefix("{body}.") for f in FAMILIES.values()}
    return pooling, {f.head_linears[1] for f in FAMILIES.values()}


def layer_linear_names() -> dict[str, tuple[str, str]]:
    """``{"<layers>.<i>.<linear>" pattern: (model type, role)}`` over every family, as regular
    expressions on a weight's name (the layer index in group 1, a stacked FFN's in group 2). A
    family whose layers share BERT's path but whose roles differ (MobileBERT) is matched with its
    body's prefix, and first."""
    out = {}
    for model_type, family in sorted(FAMILIES.items(), key=lambda kv: kv[1].roles == LINEAR_ROLES):
        prefix = rf"(?:^|\.){re.escape(family.body)}\." if family.roles != LINEAR_ROLES else r"(?:^|\.)"
        for role, linear in zip(family.roles, family.linears):
            layers, name = re.escape(family.layers), re.escape(linear).replace(re.escape(STACKED), r"(\d+)")
            out.setdefault(rf"{prefix}{layers}\.(\d+)\.{name}\.weight$", (model_type, role))
    return out
