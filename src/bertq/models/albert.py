"""ALBERT (Lan et al., 2019), as Zhao et al. (2021) quantize it: albert-base-v2, whose 12 layers
share one set of weights and whose token embeddings are factorised (a 128-wide table projected
to the hidden size by ``encoder.embedding_hidden_mapping_in``).

Inference uses Hugging Face's modules with the interface of :mod:`bertq.models.encoder`
(``forward`` returns the logits tensor; a span head returns ``(batch, tokens, 2)``), so that
evaluation, the cost count and the integer engine treat BERT and ALBERT alike. The shared layer
is one set of modules executed ``num_hidden_layers`` times: its weights are stored (and
quantized) once, and its MACs are counted at every execution.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

SPAN_HEAD = "qa_outputs.weight"


def _classes():
    import transformers

    class AlbertClassifier(transformers.AlbertForSequenceClassification):
        def forward(self, input_ids, attention_mask=None, token_type_ids=None):
            return (
                super()
                .forward(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
                .logits
            )

    class AlbertSpanExtractor(transformers.AlbertForQuestionAnswering):
        def forward(self, input_ids, attention_mask=None, token_type_ids=None):
            out = super().forward(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return torch.stack([out.start_logits, out.end_logits], dim=-1)

    return {"sequence": AlbertClassifier, "span": AlbertSpanExtractor}


def albert_config(config_json: str | Path):
    import transformers

    return transformers.AlbertConfig.from_json_file(str(config_json))


def albert_model(config, head: str) -> nn.Module:
    """An ALBERT with ``head`` (``sequence`` or ``span``) and its parameters uninitialised (under
    a meta device they take no memory)."""
    model = _classes()[head](config)
    model.config.use_cache = False
    return model.eval()


def build_albert_inference_model(config, state: dict) -> nn.Module:
    """The fine-tuned ALBERT of ``config`` (an ``AlbertConfig`` or the path of its JSON) with
    ``state`` (its own weights or dequantized ones), in eval mode; every parameter must fit."""
    head = "span" if SPAN_HEAD in state else "sequence"
    if isinstance(config, (str, Path)):
        config = albert_config(config)
    model = albert_model(config, head)
    tensors = {k: torch.as_tensor(v) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    # HF ties the MLM decoder and keeps position_ids buffers; a classifier has neither to fill
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"ALBERT checkpoint does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()
