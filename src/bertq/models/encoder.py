"""A BERT encoder for inference, written out so its matmuls can be counted and swapped.

Parameter names match Hugging Face's ``BertForSequenceClassification`` state dict, so a fine-tuned
checkpoint loads as is. It is the forward of Devlin et al. (2019), with HF BERT's dropout in
training mode (quantization-aware training runs it); in eval mode (no dropout)
``tests/test_encoder.py`` checks it against transformers to float precision.

The same layers make RoBERTa (Liu et al., 2019) and XLM-R (Conneau et al., 2020), which differ
from BERT only outside the layers, and DistilBERT (Sanh et al., 2019) has them under its own
module names (:mod:`bertq.models.families` declares each family's differences): a family's head
output (tanh, or DistilBERT's ReLU) is the ``pooler.output`` site and its layers have BERT's
sites, so site names are BERT's wherever the operation exists.

MobileBERT (Sun et al., 2020; :class:`_MobileLayer`, :class:`_MobileEmbeddings`) has its
transformers state-dict names under ``mobilebert.``: bottlenecks around BERT's attention and FFN,
stacked FFNs, NoNorm, the 3-gram embedding transformation. Its token embeddings are zeroed at
padding before the 3-gram (transformers reads the padding token's row there, zero in a
checkpoint trained with ``padding_idx``), so that a sequence's output never depends on padding.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .families import FAMILIES, Family, bert_keys, head_linear_names
from .sites import Site
from .tokens import real_tokens


@dataclass(frozen=True)
class EncoderConfig:
    model_type: str = "bert"
    pad_token_id: int = 0
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    num_labels: int = 2
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    # MobileBERT's (transformers' MobileBertConfig defaults)
    embedding_size: int = 128
    intra_bottleneck_size: int = 128
    trigram_input: bool = True
    use_bottleneck: bool = True
    use_bottleneck_attention: bool = False
    key_query_shared_bottleneck: bool = True
    num_feedforward_networks: int = 4
    normalization_type: str = "no_norm"
    classifier_activation: bool = True
    architectures: tuple[str, ...] = ()
    """The transformers classes the checkpoint was saved from (which head it has, :func:`head_of`)."""

    @property
    def family(self) -> Family:
        try:
            return FAMILIES[self.model_type]
        except KeyError:
            raise ValueError(
                f"model_type {self.model_type!r} is not one bertq's encoder runs; known: {', '.join(FAMILIES)}"
            ) from None

    @classmethod
    def from_dict(cls, d: dict) -> EncoderConfig:
        names = {f.name for f in fields(cls)}
        d = bert_keys(d)
        values = {k: v for k, v in d.items() if k in names and v is not None}
        if "num_labels" not in d and "id2label" in d:
            values["num_labels"] = len(d["id2label"])
        if "architectures" in values:
            values["architectures"] = tuple(values["architectures"])
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | Path) -> EncoderConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


_ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}


class _Embeddings(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        if c.family.token_types:
            self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.sum_site = Site("embeddings.sum")
        self.output_site = Site("embeddings.output")
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.padding_idx = c.pad_token_id if c.family.padded_positions else None

    def positions(self, input_ids):
        """``0 .. T-1`` (BERT); RoBERTa's ``padding_idx + 1, 2, ...`` over the tokens that are not
        padding and ``padding_idx`` at padding, so a sequence's positions are its own."""
        if self.padding_idx is None:
            return torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        real = input_ids.ne(self.padding_idx).long()
        return torch.cumsum(real, dim=1) * real + self.padding_idx

    def forward(self, input_ids, token_type_ids):
        x = self.word_embeddings(input_ids) + self.position_embeddings(self.positions(input_ids))
        if hasattr(self, "token_type_embeddings"):
            x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.output_site(self.LayerNorm(self.sum_site(x))))


class NoNorm(nn.Module):
    """MobileBERT's normalization: ``x * weight + bias``, elementwise (no statistics)."""

    def __init__(self, width: int, eps=None):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(width))
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x):
        return x * self.weight + self.bias


def _norm(c: EncoderConfig, width: int, eps: float | None = None) -> nn.Module:
    """The config's normalization (MobileBERT's ``no_norm`` or ``layer_norm``; LayerNorm for
    every other family) at ``width``; ``eps`` where transformers does not pass the config's."""
    eps = c.layer_norm_eps if eps is None else eps
    if c.model_type == "mobilebert" and c.normalization_type == "no_norm":
        return NoNorm(width)
    if c.model_type == "mobilebert" and c.normalization_type != "layer_norm":
        raise ValueError(f"unknown normalization_type {c.normalization_type!r}")
    return nn.LayerNorm(width, eps=eps)


_TORCH_LAYER_NORM_EPS = 1e-5
"""transformers builds some of MobileBERT's norms without the config's eps (torch's default)."""


class _MobileEmbeddings(nn.Module):
    """MobileBERT's embeddings: ``embedding_size``-wide token embeddings (zero at padding), their
    3-gram ``[x_{t+1}, x_t, x_{t-1}]`` (``trigram_input``), ``embedding_transformation`` to the
    hidden size, plus positions ``0..T-1`` and token types, then the norm."""

    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.embedding_size)
        self.tokens_site = Site("embeddings.tokens")
        self.trigram = c.trigram_input
        self.transform = c.trigram_input or c.embedding_size != c.hidden_size
        width = c.embedding_size * (3 if c.trigram_input else 1)
        self.embedding_transformation = nn.Linear(width, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.sum_site = Site("embeddings.sum")
        self.LayerNorm = _norm(c, c.hidden_size, _TORCH_LAYER_NORM_EPS)
        self.output_site = Site("embeddings.output")
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.pad_token_id = c.pad_token_id

    def forward(self, input_ids, token_type_ids):
        from .tokens import current_mask

        real = current_mask()
        if real is None:
            real = input_ids.ne(self.pad_token_id)
        x = self.word_embeddings(input_ids) * real[..., None].to(self.word_embeddings.weight.dtype)
        if self.trigram:
            x = torch.cat([F.pad(x[:, 1:], (0, 0, 0, 1)), x, F.pad(x[:, :-1], (0, 0, 1, 0))], dim=2)
        x = self.tokens_site(x)
        if self.transform:
            x = self.embedding_transformation(x)
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        x = x + self.position_embeddings(positions) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.output_site(self.LayerNorm(self.sum_site(x))))


class MatMul(nn.Module):
    """``a @ b`` of two activations (attention scores ``Q K^T``, context ``P V``): a module, so that
    the integer engine can swap it for its integer product (:mod:`bertq.engine.static`)."""

    def __init__(self, product: str):
        super().__init__()
        self.product = product

    def forward(self, a, b):
        return torch.matmul(a, b)

    def extra_repr(self) -> str:
        return self.product


class _SelfAttention(nn.Module):
    """Multi-head self-attention up to the context (heads concatenated); ``projections`` names
    the Q, K and V linears (BERT's ``query``/``key``/``value``, DistilBERT's ``q_lin``...)."""

    def __init__(self, c: EncoderConfig, projections: tuple[str, str, str] = ("query", "key", "value"), widths=None):
        super().__init__()
        self.heads = c.num_attention_heads
        self.projections = projections
        # (query/key input, value input, output) widths: the hidden size but in MobileBERT
        qk_in, v_in, out = widths or (c.hidden_size, c.hidden_size, c.hidden_size)
        for name, width in zip(projections, (qk_in, qk_in, v_in)):
            setattr(self, name, nn.Linear(width, out))
        self.query_site, self.key_site, self.value_site = (Site(f"attention.{n}") for n in ("query", "key", "value"))
        self.scores_site = Site("attention.scores")
        self.probs_site = Site("attention.probs")
        self.context_site = Site("attention.context")
        self.scores_product, self.context_product = MatMul("scores"), MatMul("context")
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def split(self, x):
        b, t, h = x.shape
        return x.contiguous().view(b, t, self.heads, h // self.heads).transpose(1, 2)

    def forward(self, x, additive_mask, value_input=None):
        """``value_input``: what V reads where it is not ``x`` (MobileBERT: the layer's input,
        while Q and K read the shared bottleneck)."""
        query, key, value = (getattr(self, name) for name in self.projections)
        q = self.split(self.query_site(query(x)))
        k = self.split(self.key_site(key(x)))
        v = self.split(self.value_site(value(x if value_input is None else value_input)))
        if self.fused():
            p = self.dropout.p if self.training else 0.0
            context = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=additive_mask, dropout_p=p)
        else:
            # The scores are quantized before the padding mask is added, so that a padded key keeps
            # its -inf-like score (and zero probability) whatever the scores' quantization range.
            scores = self.scores_site(self.scores_product(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1]))
            probs = self.probs_site((scores + additive_mask).softmax(dim=-1))
            context = self.context_product(self.dropout(probs), v)
        b, _, t, _ = context.shape
        return self.context_site(context.transpose(1, 2).reshape(b, t, -1))

    def fused(self) -> bool:
        """Whether nothing replaces or observes the scores, the probabilities and their products
        (no quantizer, no hook): then one fused kernel, ``scaled_dot_product_attention``, computes
        ``softmax(Q K^T / sqrt(d) + mask) V`` block by block without materialising the scores,
        faster on CPU than the three steps. The two orders of summation may differ in the last
        bit, so a pass that observes the scores or probabilities can see other values downstream,
        in that bit, than one that does not."""
        parts = (self.scores_site, self.probs_site, self.scores_product, self.context_product)
        return all(
            type(m) in (Site, MatMul) and not (m._forward_hooks or m._forward_pre_hooks) for m in parts
        ) and not (nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks)


class _Output(nn.Module):
    """``LayerNorm(dense(x) + residual)``, with a site at each of the three (``block`` is
    ``attention`` or ``ffn``). In training, dropout acts on the output after its site (and the
    embeddings' after theirs): a site's quantizer sees the values inference sees."""

    def __init__(
        self,
        c: EncoderConfig,
        width: int,
        block: str,
        out: int | None = None,
        eps=None,
        norm: str = "norm",
        dropout: bool = True,
    ):
        super().__init__()
        out = c.hidden_size if out is None else out
        self.dense = nn.Linear(width, out)
        self.output_site = Site(f"{block}.output")
        self.residual_site = Site(f"{block}.residual_sum")
        self.LayerNorm = _norm(c, out, eps)
        self.norm_site = Site(f"{block}.{norm}" if "." not in norm else norm)
        self.dropout = nn.Dropout(c.hidden_dropout_prob if dropout else 0.0)

    def forward(self, x, residual):
        y = self.dropout(self.output_site(self.dense(x)))
        return self.norm_site(self.LayerNorm(self.residual_site(y + residual)))


class _Attention(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.self = _SelfAttention(c)
        self.output = _Output(c, c.hidden_size, "attention")

    def forward(self, x, additive_mask):
        return self.output(self.self(x, additive_mask), x)


class _Intermediate(nn.Module):
    def __init__(self, c: EncoderConfig, width: int | None = None, kind: str = "ffn.intermediate"):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size if width is None else width, c.intermediate_size)
        self.act = _ACTIVATIONS[c.hidden_act]
        self.output_site = Site(kind)

    def forward(self, x):
        return self.output_site(self.act(self.dense(x)))


class _Layer(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _Output(c, c.intermediate_size, "ffn")

    def forward(self, x, additive_mask):
        a = self.attention(x, additive_mask)
        return self.output(self.intermediate(a), a)

    @property
    def ffn_act(self):
        """The activation after the FFN's first linear."""
        return self.intermediate.act


class _Encoder(nn.Module):
    def __init__(self, c: EncoderConfig, layer=None):
        super().__init__()
        self.layer = nn.ModuleList((layer or _Layer)(c) for _ in range(c.num_hidden_layers))


class _DistilAttention(_SelfAttention):
    """DistilBERT's ``MultiHeadSelfAttention``: ``q_lin``, ``k_lin``, ``v_lin`` and the output
    projection ``out_lin`` in one module (the scaling by ``1/sqrt(d)`` moved from Q to the scores,
    as BERT does it: equal up to float rounding)."""

    def __init__(self, c: EncoderConfig):
        super().__init__(c, ("q_lin", "k_lin", "v_lin"))
        self.out_lin = nn.Linear(c.hidden_size, c.hidden_size)
        self.output_site = Site("attention.output")

    def forward(self, x, additive_mask):
        return self.output_site(self.out_lin(super().forward(x, additive_mask)))


class _DistilFFN(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.lin1 = nn.Linear(c.hidden_size, c.intermediate_size)
        self.lin2 = nn.Linear(c.intermediate_size, c.hidden_size)
        self.act = _ACTIVATIONS[c.hidden_act]
        self.intermediate_site, self.output_site = Site("ffn.intermediate"), Site("ffn.output")
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, x):
        return self.dropout(self.output_site(self.lin2(self.intermediate_site(self.act(self.lin1(x))))))


class _DistilLayer(nn.Module):
    """DistilBERT's ``TransformerBlock``: ``sa_layer_norm(attention(x) + x)``, then
    ``output_layer_norm(ffn(a) + a)``, with BERT's sites at the same points."""

    def __init__(self, c: EncoderConfig):
        super().__init__()
        # registered in forward order, so that the sites list in it
        self.attention = _DistilAttention(c)
        self.attention_sum_site = Site("attention.residual_sum")
        self.sa_layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.attention_norm_site = Site("attention.norm")
        self.ffn = _DistilFFN(c)
        self.ffn_sum_site = Site("ffn.residual_sum")
        self.output_layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.ffn_norm_site = Site("ffn.norm")

    def forward(self, x, additive_mask):
        a = self.attention_norm_site(self.sa_layer_norm(self.attention_sum_site(self.attention(x, additive_mask) + x)))
        return self.ffn_norm_site(self.output_layer_norm(self.ffn_sum_site(self.ffn(a) + a)))

    @property
    def ffn_act(self):
        """The activation after the FFN's first linear."""
        return self.ffn.act


class _DistilBody(nn.Module):
    """``distilbert.``: embeddings (token and position, no token type) and ``transformer.layer``."""

    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.embeddings = _Embeddings(c)
        self.transformer = _Encoder(c, _DistilLayer)


class _BottleneckLayer(nn.Module):
    """``norm(dense(x))``, hidden -> ``intra_bottleneck_size``, with a site at its output."""

    def __init__(self, c: EncoderConfig, kind: str):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intra_bottleneck_size)
        self.LayerNorm = _norm(c, c.intra_bottleneck_size)
        self.output_site = Site(kind)

    def forward(self, x):
        return self.output_site(self.LayerNorm(self.dense(x)))


class _Bottleneck(nn.Module):
    """MobileBERT's ``Bottleneck`` with ``key_query_shared_bottleneck``: ``input`` (the attention's
    residual) and ``attention`` (what Q and K read)."""

    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.input = _BottleneckLayer(c, "bottleneck.input")
        self.attention = _BottleneckLayer(c, "bottleneck.attention")


class _MobileAttention(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        b = c.intra_bottleneck_size
        self.self = _SelfAttention(c, widths=(b, c.hidden_size, b))
        self.output = _Output(c, b, "attention", out=b, dropout=False)  # none with use_bottleneck

    def forward(self, shared, x, layer_input, additive_mask):
        return self.output(self.self(shared, additive_mask, value_input=x), layer_input)


class _StackedFFN(nn.Module):
    """MobileBERT's ``FFNLayer`` ``j``: ``norm(output.dense(act(intermediate.dense(x))) + x)``."""

    def __init__(self, c: EncoderConfig, j: int):
        super().__init__()
        b = c.intra_bottleneck_size
        self.intermediate = _Intermediate(c, b, f"ffn{j}.intermediate")
        self.output = _Output(c, c.intermediate_size, f"ffn{j}", out=b, dropout=False)

    def forward(self, x):
        return self.output(self.intermediate(x), x)


class _MobileOutput(nn.Module):
    """MobileBERT's ``MobileBertOutput``: the last FFN's ``norm(dense(x) + residual)`` at the
    bottleneck's width (torch's eps, as transformers builds it), then the output bottleneck
    ``bottleneck``: ``norm(dense(.) + layer input)`` at the hidden size, the layer's output."""

    def __init__(self, c: EncoderConfig):
        super().__init__()
        b = c.intra_bottleneck_size
        self.dense = nn.Linear(c.intermediate_size, b)
        self.output_site = Site("ffn.output")
        self.residual_site = Site("ffn.residual_sum")
        self.LayerNorm = _norm(c, b, _TORCH_LAYER_NORM_EPS)
        self.norm_site = Site("ffn.inner_norm")
        self.bottleneck = _Output(c, b, "bottleneck", norm="ffn.norm")

    def forward(self, x, residual, layer_input):
        y = self.norm_site(self.LayerNorm(self.residual_site(self.output_site(self.dense(x)) + residual)))
        return self.bottleneck(y, layer_input)


class _MobileLayer(nn.Module):
    """MobileBERT's ``MobileBertLayer`` (``use_bottleneck``, ``key_query_shared_bottleneck``):
    the bottlenecks, attention at the bottleneck's width (Q and K on the shared bottleneck, V on
    the layer input, the residual the input bottleneck), ``num_feedforward_networks - 1`` stacked
    FFNs, the last FFN and the output bottleneck. Modules registered in forward order, so that the
    sites list in it."""

    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.bottleneck = _Bottleneck(c)
        self.attention = _MobileAttention(c)
        if c.num_feedforward_networks > 1:
            self.ffn = nn.ModuleList(_StackedFFN(c, j) for j in range(c.num_feedforward_networks - 1))
        self.intermediate = _Intermediate(c, c.intra_bottleneck_size)
        self.output = _MobileOutput(c)

    def forward(self, x, additive_mask):
        layer_input = self.bottleneck.input(x)
        a = self.attention(self.bottleneck.attention(x), x, layer_input, additive_mask)
        for ffn in getattr(self, "ffn", ()):
            a = ffn(a)
        return self.output(self.intermediate(a), a, x)

    @property
    def ffn_act(self):
        """The activation after every FFN's first linear."""
        return self.intermediate.act


class _Pooler(nn.Module):
    """BERT's pooler ``tanh(dense(x[:, 0]))``; MobileBERT's without ``classifier_activation`` is
    the first token's hidden state, no linear (its ``pooler.output`` site is there still)."""

    def __init__(self, c: EncoderConfig, dense: bool = True):
        super().__init__()
        if dense:
            self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.output_site = Site("pooler.output")

    def forward(self, x):
        if not hasattr(self, "dense"):
            return self.output_site(x[:, 0])
        return self.output_site(torch.tanh(self.dense(x[:, 0])))


class _MobileBody(nn.Module):
    """``mobilebert.``: embeddings, ``encoder.layer`` and, for a sequence head, the pooler."""

    def __init__(self, c: EncoderConfig, pooler: bool = True):
        super().__init__()
        if not c.use_bottleneck or c.use_bottleneck_attention or not c.key_query_shared_bottleneck:
            raise ValueError(
                "bertq's MobileBERT runs use_bottleneck, key_query_shared_bottleneck and not "
                "use_bottleneck_attention (google/mobilebert-uncased's structure)"
            )
        self.embeddings = _MobileEmbeddings(c)
        self.encoder = _Encoder(c, _MobileLayer)
        if pooler:
            self.pooler = _Pooler(c, dense=c.classifier_activation)


class _Bert(nn.Module):
    def __init__(self, c: EncoderConfig, pooler: bool = True):
        super().__init__()
        self.embeddings = _Embeddings(c)
        self.encoder = _Encoder(c)
        if pooler:
            self.pooler = _Pooler(c)


class _BertModel(nn.Module):
    """The shared body: embeddings and ``L`` encoder layers (``bert`` or ``roberta``, as the
    family names it; :attr:`body` either way); subclasses add a task head."""

    pooler = True
    head = "sequence"
    """The head's kind (:data:`HEADS`): which sites it has, what its logits' linear reads."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        if config.hidden_act not in _ACTIVATIONS:
            raise ValueError(f"unsupported hidden_act {config.hidden_act!r}")
        self.config = config
        family = config.family
        if family.layers == "transformer.layer":
            body = _DistilBody(config)
        elif family.body == "mobilebert":
            body = _MobileBody(config, pooler=self.pooler)
        else:
            body = _Bert(config, pooler=self.pooler and family.head_linears[0].endswith("pooler.dense"))
        setattr(self, family.body, body)

    @property
    def body(self) -> nn.Module:
        """The embeddings and layers (``self.bert`` of a BERT, ``self.roberta`` of a RoBERTa,
        ``self.distilbert`` of a DistilBERT)."""
        return getattr(self, self.config.family.body)

    @property
    def layers(self) -> nn.ModuleList:
        """The encoder layers, in order."""
        return self.body.get_submodule(self.config.family.layers)

    def encode(self, input_ids, attention_mask=None, token_type_ids=None):
        """Hidden states ``(batch, tokens, hidden)`` of the last layer."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        body = self.body
        dtype = body.embeddings.LayerNorm.weight.dtype  # not the table: it may be parametrized (QAT)
        additive = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        with real_tokens(attention_mask):
            x = body.embeddings(input_ids, token_type_ids)
            for layer in self.layers:
                x = layer(x, additive)
        return x

    @classmethod
    def from_state(cls, config: EncoderConfig, state: dict):
        """Build and load a state dict of numpy arrays or tensors (strict: names must match)."""
        model = cls(config)
        tensors = {k: torch.as_tensor(v) for k, v in state.items()}
        missing, unexpected = model.load_state_dict(tensors, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"checkpoint does not match a {cls.__name__}: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        return model.eval()


class _DenseHead(nn.Module):
    """RoBERTa's classification head (``RobertaClassificationHead``): dense -> tanh -> out_proj on
    the first token, dropout before each linear."""

    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.out_proj = nn.Linear(c.hidden_size, c.num_labels)
        self.output_site = Site("pooler.output")
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, x):
        return self.out_proj(self.dropout(self.output_site(torch.tanh(self.dense(self.dropout(x[:, 0]))))))


class BertClassifier(_BertModel):
    """Embeddings, ``L`` encoder layers and the family's sequence head, parameter names of its
    transformers class: BERT's pooler (``bert.pooler.dense`` -> tanh) and ``classifier``
    (``BertForSequenceClassification``), RoBERTa's dense head (``RobertaForSequenceClassification``),
    DistilBERT's ``pre_classifier`` -> ReLU -> ``classifier`` (``DistilBertForSequenceClassification``)."""

    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        self.kind = config.family.head_linears[0]
        if self.kind == "classifier.dense":
            self.classifier = _DenseHead(config)
        else:
            if self.kind == "pre_classifier":
                self.pre_classifier = nn.Linear(config.hidden_size, config.hidden_size)
                self.pooler_site = Site("pooler.output")
            self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.head_site = Site("head.output")
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        hidden = self.encode(input_ids, attention_mask, token_type_ids)
        if isinstance(self.classifier, _DenseHead):
            return self.head_site(self.classifier(hidden))
        return self.head_site(self.classifier(self.dropout(self.pooled(hidden))))

    @property
    def head_linears(self) -> tuple[str | None, str]:
        """The module names of the head's two linears in order: the one whose tanh (ReLU) output
        is the ``pooler.output`` site (None where there is none: MobileBERT without
        ``classifier_activation``), and the one giving the logits."""
        pooling, logits = self.config.family.head()
        if self.config.family.body == "mobilebert" and not self.config.classifier_activation:
            return None, logits
        return pooling, logits

    def pooled(self, hidden):
        """The ``pooler.output`` site's value of the last layer's ``hidden`` states (eval mode)."""
        if isinstance(self.classifier, _DenseHead):
            return self.classifier.output_site(torch.tanh(self.classifier.dense(hidden[:, 0])))
        if self.kind == "pre_classifier":
            return self.pooler_site(torch.relu(self.pre_classifier(hidden[:, 0])))
        return self.body.pooler(hidden)


class BertSpanExtractor(_BertModel):
    """Embeddings, ``L`` encoder layers and a linear span head giving a start and an end logit
    per token (Devlin et al., 2019, section 4.2); parameter names of
    ``BertForQuestionAnswering``, which has no pooler. ``forward`` returns ``(batch, tokens, 2)``:
    ``[..., 0]`` start logits, ``[..., 1]`` end logits."""

    pooler = False
    head = "span"

    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.head_site = Site("head.output")

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        hidden = self.encode(input_ids, attention_mask, token_type_ids)
        with real_tokens(attention_mask):
            return self.head_site(self.qa_outputs(hidden))


class BertTokenClassifier(_BertModel):
    """Embeddings, ``L`` encoder layers and a linear ``classifier`` on every token's last hidden
    state, no pooler: the parameter names of ``BertForTokenClassification`` (and of RoBERTa's,
    XLM-R's and DistilBERT's token classifiers). ``forward`` returns ``(batch, tokens, labels)``."""

    pooler = False
    head = "token"

    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.head_site = Site("head.output")
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        hidden = self.encode(input_ids, attention_mask, token_type_ids)
        with real_tokens(attention_mask):
            return self.head_site(self.classifier(self.dropout(hidden)))


SPAN_HEAD = "qa_outputs.weight"
TOKEN_HEAD = "classifier.weight"
HEADS = {"sequence": BertClassifier, "span": BertSpanExtractor, "token": BertTokenClassifier}
"""The inference model of each head kind (:attr:`bertq.data.tasks.TaskSpec.head`)."""


ARCHITECTURE_HEADS = {"ForSequenceClassification": "sequence", "ForQuestionAnswering": "span",
                      "ForTokenClassification": "token"}  # fmt: skip
"""The head of a checkpoint saved from a transformers class, by the class name's ending."""


def head_of(state, config=None) -> str:
    """The head of a checkpoint: as its ``config``'s ``architectures`` name it where they do;
    else from its weights: ``span`` for a question-answering checkpoint (it has ``qa_outputs``),
    ``token`` for a token classifier (a ``classifier`` on the last layer: no pooling linear before
    it), else ``sequence``. (A MobileBERT without ``classifier_activation`` has no pooling linear
    in either head: only its config tells them apart.)"""
    for name in getattr(config, "architectures", None) or ():
        for ending, head in ARCHITECTURE_HEADS.items():
            if name.endswith(ending):
                return head
    if SPAN_HEAD in state:
        return "span"
    pooling = head_linear_names()[0]
    if TOKEN_HEAD in state and not any(k.removesuffix(".weight").endswith(tuple(pooling)) for k in state):
        return "token"
    return "sequence"


def model_class(head: str) -> type[_BertModel]:
    try:
        return HEADS[head]
    except KeyError:
        raise ValueError(f"unknown head {head!r}; expected one of {', '.join(HEADS)}") from None


def build_inference_model(config: EncoderConfig, state: dict) -> _BertModel:
    """The encoder with the head the checkpoint's weights belong to, in eval mode."""
    return model_class(head_of(state, config)).from_state(config, state)
