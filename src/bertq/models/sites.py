"""The activation sites of the BERT encoder: the points of Bondarenko et al. (2021), Fig. 1, where
an activation quantizer can sit, declared once here.

A site is an identity module (:class:`Site`) that :mod:`bertq.models.encoder` calls on a tensor
as it flows; quantization swaps it for a quantizer or an observer
(:mod:`bertq.quantization.activation`), capture hooks it. Each site has a *kind* (what it is,
``ffn.residual_sum``) and a *name* (where it is, ``layer3.ffn.residual_sum``; layers count from
0 as in the paper's "layers 10, 11" of BERT-Base). A config selects sites by glob over names;
``layer-1`` and ``layer-2`` in a pattern stand for the last two layers of whichever model it is
applied to.

The paper's "FFN input" (Figs. 2, 6-9; PEG, eq. 5) is the attention block's LayerNorm output
``attention.norm``, which the FFN reads and its residual sum adds; ``ffn.intermediate`` is the
GELU output, which the FFN's second linear reads.

MobileBERT (Sun et al., 2020) has BERT's sites where the operation exists (attention at the
bottleneck's width, its last FFN's ``ffn.intermediate``/``ffn.output``/``ffn.residual_sum``, the
layer's output ``ffn.norm``) and its own (:data:`MOBILEBERT_KINDS`): the token embeddings its
embedding transformation reads (``embeddings.tokens``), the two bottlenecks' outputs
(``bottleneck.input``, the attention's residual; ``bottleneck.attention``, what Q and K read),
each stacked FFN ``j``'s ``ffn<j>.intermediate``/``output``/``residual_sum``/``norm``, the last
FFN's norm ``ffn.inner_norm`` and the output bottleneck's ``bottleneck.output`` and
``bottleneck.residual_sum`` (whose norm is the layer's output, ``ffn.norm``).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from torch import nn

from .families import FAMILIES, head_linear_names, layer_linear_names

TOKENS = "tokens"
"""Layout ``(batch, tokens, channels)``: a sequence's real tokens are its rows."""
ATTENTION = "attention"
"""Layout ``(batch, heads, query tokens, key tokens)``: real where both tokens are."""
SEQUENCE = "sequence"
"""Layout ``(batch, channels)``: one row per sequence (pooler, task head)."""


@dataclass(frozen=True)
class SiteKind:
    kind: str
    layout: str
    description: str
    per_layer: bool = True


SITE_KINDS: tuple[SiteKind, ...] = (
    SiteKind("embeddings.sum", TOKENS, "sum of token, position and segment embeddings", per_layer=False),
    SiteKind("embeddings.output", TOKENS, "embedding LayerNorm output", per_layer=False),
    SiteKind("attention.query", TOKENS, "query projection Q"),
    SiteKind("attention.key", TOKENS, "key projection K"),
    SiteKind("attention.value", TOKENS, "value projection V"),
    SiteKind("attention.scores", ATTENTION, "attention scores QK^T/sqrt(d), the softmax input"),
    SiteKind("attention.probs", ATTENTION, "softmax output"),
    SiteKind("attention.context", TOKENS, "attention context (probs x V, heads concatenated)"),
    SiteKind("attention.output", TOKENS, "self-attention output projection"),
    SiteKind("attention.residual_sum", TOKENS, "residual sum after attention"),
    SiteKind("attention.norm", TOKENS, "attention LayerNorm output (the paper's FFN input)"),
    SiteKind("ffn.intermediate", TOKENS, "GELU output (the FFN's second linear reads it)"),
    SiteKind("ffn.output", TOKENS, "FFN output"),
    SiteKind("ffn.residual_sum", TOKENS, "residual sum after the FFN"),
    SiteKind("ffn.norm", TOKENS, "final LayerNorm output (the layer's output)"),
    SiteKind("pooler.output", SEQUENCE, "pooler output (tanh; DistilBERT's pre-classifier ReLU)", per_layer=False),
    SiteKind("head.output", SEQUENCE, "the task head's output (logits or span logits)", per_layer=False),
)
MAX_STACKED_FFNS = 8
"""Stacked FFNs a MobileBERT layer may have before its last one (``num_feedforward_networks - 1``)."""
MOBILEBERT_KINDS: tuple[SiteKind, ...] = (
    SiteKind("embeddings.tokens", TOKENS, "token embeddings the embedding transformation reads (3-gram)", False),
    SiteKind("bottleneck.input", TOKENS, "input bottleneck norm output (the attention's residual)"),
    SiteKind("bottleneck.attention", TOKENS, "shared query/key bottleneck norm output (Q and K read it)"),
    *(
        SiteKind(f"ffn{j}.{part}", TOKENS, f"stacked FFN {j}: {what}")
        for j in range(MAX_STACKED_FFNS)
        for part, what in (
            ("intermediate", "activation output"),
            ("output", "second linear's output"),
            ("residual_sum", "residual sum"),
            ("norm", "norm output (the next FFN's input)"),
        )
    ),
    SiteKind("ffn.inner_norm", TOKENS, "last FFN's norm output (the output bottleneck reads it)"),
    SiteKind("bottleneck.output", TOKENS, "output bottleneck's linear output"),
    SiteKind("bottleneck.residual_sum", TOKENS, "output bottleneck's residual sum with the layer input"),
)
"""MobileBERT's sites beyond BERT's (:func:`layer_kinds` orders them)."""
KINDS = {k.kind: k for k in SITE_KINDS + MOBILEBERT_KINDS}
LAYER_PREFIX = re.compile(r"^layer(\d+)\.")


class Site(nn.Module):
    """An identity at one activation site; ``kind`` names what it is (:data:`KINDS`)."""

    def __init__(self, kind: str):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown activation site kind {kind!r}; known: {', '.join(KINDS)}")
        self.kind = kind

    def forward(self, x):
        return x

    def extra_repr(self) -> str:
        return self.kind


def site_name(module_path: str, kind: str) -> str:
    """``layer{i}.{kind}`` for a site inside encoder layer ``i`` (module path ``...layer.{i}...``),
    else the kind itself."""
    m = re.search(r"(?:^|\.)layer\.(\d+)\.", module_path)
    return f"layer{m.group(1)}.{kind}" if m and KINDS[kind].per_layer else kind


def site_modules(model: nn.Module) -> dict[str, tuple[str, nn.Module]]:
    """``{site name: (module path, module)}`` of every site module of ``model`` (a :class:`Site` or
    whatever replaced one: anything with a ``kind`` attribute naming a site kind), in forward order."""
    out = {}
    for path, module in model.named_modules():
        kind = getattr(module, "kind", None)
        if isinstance(kind, str) and kind in KINDS:
            out[site_name(path, kind)] = (path, module)
    return out


def _is_mobilebert(config) -> bool:
    return getattr(config, "model_type", None) == "mobilebert"


def layer_kinds(config=None) -> list[str]:
    """The site kinds of one encoder layer in forward order: BERT's, or those of ``config``'s
    family (MobileBERT's with its ``num_feedforward_networks``)."""
    bert = [k.kind for k in SITE_KINDS if k.per_layer]
    if not _is_mobilebert(config):
        return bert
    stacked = config.num_feedforward_networks - 1
    if stacked > MAX_STACKED_FFNS:
        raise ValueError(f"at most {MAX_STACKED_FFNS + 1} feed-forward networks per layer, not {stacked + 1}")
    attention = bert[: bert.index("attention.norm") + 1]
    ffns = [f"ffn{j}.{part}" for j in range(stacked) for part in ("intermediate", "output", "residual_sum", "norm")]
    last = ["ffn.intermediate", "ffn.output", "ffn.residual_sum", "ffn.inner_norm"]
    return ["bottleneck.input", "bottleneck.attention", *attention, *ffns, *last, "bottleneck.output",
            "bottleneck.residual_sum", "ffn.norm"]  # fmt: skip


def site_names(num_layers: int, head: str = "sequence", config=None) -> list[str]:
    """Every site of an encoder of ``num_layers`` layers with ``head`` (``sequence`` has a pooler,
    ``span`` and ``token`` have none), in forward order; ``config`` (an encoder config) for a family
    whose sites are not BERT's (MobileBERT)."""
    names = [k.kind for k in SITE_KINDS if k.kind.startswith("embeddings.")]
    if _is_mobilebert(config):
        names.insert(0, "embeddings.tokens")
    names += [f"layer{i}.{kind}" for i in range(num_layers) for kind in layer_kinds(config)]
    if head == "sequence":
        names.append("pooler.output")
    names.append("head.output")
    return names


def kind_of(name: str) -> str:
    return LAYER_PREFIX.sub("", name)


def _resolve_layers(pattern: str, num_layers: int) -> str:
    """``layer-1.x`` -> ``layer{L-1}.x``: negative layer indices count from the last layer."""

    def sub(m):
        i = num_layers + int(m.group(1))
        if i < 0:
            raise ValueError(f"pattern {pattern!r}: the model has only {num_layers} layers")
        return f"layer{i}."

    return re.sub(r"layer(-\d+)\.", sub, pattern)


def select(patterns, names: list[str], num_layers: int) -> list[str]:
    """The names matching any glob of ``patterns`` (in ``names``' order). A pattern matching no
    site is an error that lists the site kinds."""
    chosen = set()
    for pattern in patterns:
        resolved = _resolve_layers(pattern, num_layers)
        hits = fnmatch.filter(names, resolved)
        if not hits:
            raise ValueError(f"activation site pattern {pattern!r} matches no site; {describe_sites()}")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def check_pattern(pattern: str) -> None:
    """Raise if ``pattern`` can match no site of any encoder (checked before any model is built)."""
    try:
        select([pattern], any_site_names(24), 24)
    except ValueError:
        raise ValueError(f"activation site pattern {pattern!r} matches no site; {describe_sites()}") from None


def any_site_names(num_layers: int) -> list[str]:
    """The sites of any family's encoder of ``num_layers`` layers (BERT's, then MobileBERT's own
    with the most stacked FFNs), for checking a pattern before a model is built."""
    names = site_names(num_layers, "sequence")
    return names + [n for n in site_names(num_layers, "sequence", _MOBILEBERT_PROBE) if n not in names]


class _MobileBertProbe:
    model_type = "mobilebert"
    num_feedforward_networks = MAX_STACKED_FFNS + 1


_MOBILEBERT_PROBE = _MobileBertProbe()


def describe_sites() -> str:
    per_layer = ", ".join(k.kind for k in SITE_KINDS if k.per_layer)
    other = ", ".join(k.kind for k in SITE_KINDS if not k.per_layer)
    mobile = ", ".join(k.kind for k in MOBILEBERT_KINDS if not k.kind.startswith("ffn") or k.kind[3] in ".0")
    return (
        f"valid sites are {other}, and layer<i>.<kind> for kind in {per_layer} (layers count from 0; "
        "layer-1 is the last); globs such as '*.ffn.residual_sum' select several. MobileBERT adds "
        f"{mobile} (ffn<j>.* for each stacked FFN j)"
    )


_LINEAR_INPUTS = tuple((re.compile(pattern), family_role) for pattern, family_role in layer_linear_names().items())
_EMBEDDING_TRANSFORMATION = re.compile(r"(?:^|\.)embeddings\.embedding_transformation\.weight$")
_STACKED_FFN = re.compile(r"(?:^|\.)layer\.\d+\.ffn\.(\d+)\.intermediate\.dense\.weight$")


def feedforward_networks(weight_names) -> int:
    """A MobileBERT layer's ``num_feedforward_networks``, from its linears' weight names (1 for a
    family without stacked FFNs)."""
    stacked = [int(m.group(1)) for m in map(_STACKED_FFN.search, weight_names) if m]
    return max(stacked, default=-1) + 2


_POOLING, _LOGITS = head_linear_names()
_POOLING = _POOLING | {"qa_outputs"}


def _is(module: str, names: set[str]) -> bool:
    return any(module == n or module.endswith("." + n) for n in names)


def linear_input_site(
    weight_name: str, num_layers: int, feedforward_networks: int | None = None, head: str = "sequence"
) -> str | None:
    """The site whose values a linear multiplies (what its activation bits are), in any family
    (:mod:`bertq.models.families`): Q, K and V read the previous layer's output (the embeddings'
    for layer 0), the attention output projection reads the context, the FFN's linears read the
    FFN input and the GELU output, the pooling linear of a head (BERT's pooler, RoBERTa's
    ``classifier.dense``, DistilBERT's ``pre_classifier``) and a span head read the last layer's
    output, the logits' linear reads the pooling output (the last layer's output in a ``token``
    head, which has no pooling). MobileBERT's linears read what
    :attr:`~bertq.models.families.Family.inputs` declares (its last FFN's first linear, the last
    stacked FFN's norm: ``feedforward_networks`` says which), its embedding transformation the
    token embeddings."""
    if _EMBEDDING_TRANSFORMATION.search(weight_name):
        return "embeddings.tokens"
    for pattern, (model_type, role) in _LINEAR_INPUTS:
        m = pattern.search(weight_name)
        if m:
            i = int(m.group(1))
            j = int(m.group(2)) if pattern.groups > 1 else None
            kind = FAMILIES[model_type].input_kind(role, j, feedforward_networks)
            if kind == "previous":
                return "embeddings.output" if i == 0 else f"layer{i - 1}.ffn.norm"
            return f"layer{i}.{kind}"
    module = weight_name.removesuffix(".weight")
    if _is(module, _POOLING) or (head == "token" and _is(module, _LOGITS)):
        return f"layer{num_layers - 1}.ffn.norm"
    if _is(module, _LOGITS):
        return "pooler.output"
    return None


ATTENTION_OPERANDS = (("attention.query", "attention.key"), ("attention.probs", "attention.value"))
"""The activation x activation matmuls of a layer: scores ``Q K^T`` and context ``P V``."""
PRODUCT_OPERANDS = dict(zip(("scores", "context"), ATTENTION_OPERANDS))
"""The operand sites of each attention product (:class:`bertq.models.encoder.MatMul`), by name."""
