"""How bertq's own encoder (:mod:`bertq.models.encoder`, not a transformers class) learns from a
task's batches: the loss of the transformers head it mirrors, and the targets a batch carries.
Shared by QAT, AQ-BERT's search, Q-BERT's Hessian and the retraining after them.

- a sequence classifier: ``BertForSequenceClassification``'s loss, cross-entropy over the classes
  or, for one regression output, the mean squared error;
- a span extractor (SQuAD): ``BertForQuestionAnswering``'s loss, the mean of the start and end
  positions' cross-entropies, a position beyond the window clamped to its length and ignored;
- a token classifier (tagging): ``BertForTokenClassification``'s loss, the cross-entropy over the
  tokens that carry a label (a word's first sub-token; :data:`~bertq.data.tokenized.IGNORED` elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data.tokenized import IGNORED, INPUT_KEYS

SPAN_TARGETS = ("start_positions", "end_positions")


class Supervised(nn.Module):
    """A bertq classifier with the loss of ``BertForSequenceClassification`` (cross-entropy, or the
    mean squared error for one regression output), called as the training loop calls a model."""

    def __init__(self, model: nn.Module, regression: bool):
        super().__init__()
        self.model, self.regression = model, regression

    def forward(self, input_ids, attention_mask, token_type_ids, labels):
        logits = self.model(input_ids, attention_mask, token_type_ids)
        if self.regression:
            loss = F.mse_loss(logits.squeeze(-1), labels.float())
        else:
            loss = F.cross_entropy(logits, labels)
        return SimpleNamespace(loss=loss, logits=logits)


class SpanSupervised(nn.Module):
    """A bertq span extractor with the loss of ``BertForQuestionAnswering``: ``(CE(start) + CE(end))
    / 2`` over the window's tokens, positions clamped to ``[0, tokens]`` and ``tokens`` ignored."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids, start_positions, end_positions):
        logits = self.model(input_ids, attention_mask, token_type_ids)
        start, end = logits[..., 0], logits[..., 1]
        ignored = start.size(1)
        loss = (
            F.cross_entropy(start, start_positions.clamp(0, ignored), ignore_index=ignored)
            + F.cross_entropy(end, end_positions.clamp(0, ignored), ignore_index=ignored)
        ) / 2
        return SimpleNamespace(loss=loss, logits=logits)


class TokenSupervised(nn.Module):
    """A bertq token classifier with the loss of ``BertForTokenClassification``: cross-entropy over
    every token whose label is not :data:`~bertq.data.tokenized.IGNORED`."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids, labels):
        logits = self.model(input_ids, attention_mask, token_type_ids)
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORED)
        return SimpleNamespace(loss=loss, logits=logits)


@dataclass(frozen=True)
class Supervision:
    """What a task's training needs of its head: span extraction, a class per token, or
    classification (regression for one output)."""

    span: bool = False
    regression: bool = False
    token: bool = False

    @classmethod
    def of(cls, spec) -> Supervision:
        """The supervision of a :class:`~bertq.data.tasks.TaskSpec`."""
        return cls(span=spec.is_span, regression=spec.is_regression, token=spec.is_token)

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` with its loss: called with a batch's inputs and targets, it returns ``.loss``."""
        if self.span:
            return SpanSupervised(model)
        return TokenSupervised(model) if self.token else Supervised(model, self.regression)

    def targets(self, batch: dict, device) -> dict[str, torch.Tensor]:
        if self.span:
            return {k: torch.as_tensor(batch[k], device=device, dtype=torch.long) for k in SPAN_TARGETS}
        dtype = torch.float32 if self.regression else torch.long
        return {"labels": torch.as_tensor(batch["labels"], device=device, dtype=dtype)}

    def inputs(self, batch: dict, device) -> dict[str, torch.Tensor]:
        """A padded batch as the keyword arguments of :meth:`wrap`'s module."""
        return {**{k: torch.as_tensor(batch[k], device=device) for k in INPUT_KEYS}, **self.targets(batch, device)}

    def labelled(self, split) -> Labelled:
        """``split`` (tokenised sequences, or SQuAD windows) as the training loop's objective."""
        return Labelled(split, self)


@dataclass
class Labelled:
    """Training sequences (or windows) with their targets: what the training loop needs of an
    objective (:func:`bertq.training.finetune.train`)."""

    train: object
    supervision: Supervision

    @property
    def train_examples(self) -> int:
        return len(self.train)

    @property
    def regression(self) -> bool:
        return self.supervision.regression

    def lengths(self) -> np.ndarray:
        lengths = self.train.lengths
        return lengths() if callable(lengths) else lengths

    def targets(self, batch: dict, device) -> dict[str, torch.Tensor]:
        return self.supervision.targets(batch, device)


def LabelledSequences(train, regression: bool) -> Labelled:
    """Classification sequences with their labels (class ids, or one score each for a regressor)."""
    return Labelled(train, Supervision(regression=regression))
