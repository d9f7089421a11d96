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

    def __init__(self, c: EncoderConfig, projections: tuple[str, str, str] = ("query", "key", "value")):
        super().__init__()
        self.heads = c.num_attention_heads
        self.projections = projections
        for name in projections:
            setattr(self, name, nn.Linear(c.hidden_size, c.hidden_size))
        self.query_site, self.key_site, self.value_site = (Site(f"attention.{n}") for n in ("query", "key", "value"))
        self.scores_site = Site("attention.scores")
        self.probs_site = Site("attention.probs")
        self.context_site = Site("attention.context")
        self.scores_product, self.context_product = MatMul("scores"), MatMul("context")
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def split(self, x):
        b, t, h = x.shape
        return x.contiguous().view(b, t, self.heads, h // self.heads).transpose(1, 2)

    def forward(self, x, additive_mask):
        query, key, value = (getattr(self, name) for name in self.projections)
        q = self.split(self.query_site(query(x)))
        k = self.split(self.key_site(key(x)))
        v = self.split(self.value_site(value(x)))
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

    def __init__(self, c: EncoderConfig, width: int, block: str):
        super().__init__()
        self.dense = nn.Linear(width, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.output_site = Site(f"{block}.output")
        self.residual_site = Site(f"{block}.residual_sum")
        self.norm_site = Site(f"{block}.norm")
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

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
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = _ACTIVATIONS[c.hidden_act]
        self.output_site = Site("ffn.intermediate")

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


class _Pooler(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.output_site = Site("pooler.output")

    def forward(self, x):
        return self.output_site(torch.tanh(self.dense(x[:, 0])))


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
    def head_linears(self) -> tuple[str, str]:
        """The module names of the head's two linears in order: the one whose tanh (ReLU) output
        is the ``pooler.output`` site, and the one giving the logits."""
        return self.config.family.head()

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


def head_of(state) -> str:
    """``span`` for a question-answering checkpoint (it has ``qa_outputs``), ``token`` for a token
    classifier (a ``classifier`` on the last layer: no pooling linear before it), else ``sequence``."""
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
    return model_class(head_of(state)).from_state(config, state)
