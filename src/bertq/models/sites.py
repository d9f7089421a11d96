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
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from torch import nn

from .families import head_linear_names, layer_linear_names

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
KINDS = {k.kind: k for k in SITE_KINDS}
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


def site_names(num_layers: int, head: str = "sequence") -> list[str]:
    """Every site of an encoder of ``num_layers`` layers with ``head`` (``sequence`` has a pooler,
    ``span`` and ``token`` have none), in forward order."""
    names = [k.kind for k in SITE_KINDS if k.kind.startswith("embeddings.")]
    names += [f"layer{i}.{k.kind}" for i in range(num_layers) for k in SITE_KINDS if k.per_layer]
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
    probe = site_names(24, "sequence") + ["pooler.output"]
    try:
        select([pattern], probe, 24)
    except ValueError:
        raise ValueError(f"activation site pattern {pattern!r} matches no site; {describe_sites()}") from None


def describe_sites() -> str:
    per_layer = ", ".join(k.kind for k in SITE_KINDS if k.per_layer)
    other = ", ".join(k.kind for k in SITE_KINDS if not k.per_layer)
    return (
        f"valid sites are {other}, and layer<i>.<kind> for kind in {per_layer} (layers count from 0; "
        "layer-1 is the last); globs such as '*.ffn.residual_sum' select several"
    )


_ROLE_INPUTS = {
    "query": "previous",
    "key": "previous",
    "value": "previous",
    "attention_output": "attention.context",
    "ffn_in": "attention.norm",
    "ffn_out": "ffn.intermediate",
}
_LINEAR_INPUTS = tuple((re.compile(pattern), _ROLE_INPUTS[role]) for pattern, role in layer_linear_names().items())
_POOLING, _LOGITS = head_linear_names()
_POOLING = _POOLING | {"qa_outputs"}


def _is(module: str, names: set[str]) -> bool:
    return any(module == n or module.endswith("." + n) for n in names)


def linear_input_site(weight_name: str, num_layers: int, head: str = "sequence") -> str | None:
    """The site whose values a linear multiplies (what its activation bits are), in any family
    (:mod:`bertq.models.families`): Q, K and V read the previous layer's output (the embeddings'
    for layer 0), the attention output projection reads the context, the FFN's linears read the
    FFN input and the GELU output, the pooling linear of a head (BERT's pooler, RoBERTa's
    ``classifier.dense``, DistilBERT's ``pre_classifier``) and a span head read the last layer's
    output, the logits' linear reads the pooling output (the last layer's output in a ``token``
    head, which has no pooling)."""
    for pattern, kind in _LINEAR_INPUTS:
        m = pattern.search(weight_name)
        if m:
            i = int(m.group(1))
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
