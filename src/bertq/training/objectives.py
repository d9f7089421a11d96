"""What fine-tuning trains on and how it scores the result, per kind of task head.

:class:`SequenceObjective`: a classifier (cross-entropy) or regressor (MSE) on ``[CLS]``, scored
with the task's GLUE metric, or a token classifier (cross-entropy over each word's first
sub-token, labels :data:`~bertq.data.tokenized.IGNORED` elsewhere) scored by entity F1.
:class:`SpanObjective`: start/end logits per token trained with the mean of the start and end
cross-entropies (Devlin et al., 2019, section 4.2; transformers'
``BertForQuestionAnswering`` loss), scored with SQuAD v1.1's EM and F1. Both give the training
loop batches as dicts of numpy arrays and know which of their keys are targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.squad import QAFeatures, SquadExample
from ..data.tasks import TaskSpec
from ..data.tokenized import INPUT_KEYS, TokenizedSplit, load_tokenized


def input_keys(model) -> tuple[str, ...]:
    """The :data:`INPUT_KEYS` ``model``'s forward takes: a transformers DistilBERT has no token
    types (its tokenizer's ``token_type_ids`` are not passed)."""
    import inspect

    params = inspect.signature(model.forward).parameters
    if "token_type_ids" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return INPUT_KEYS
    return INPUT_KEYS[:2]


def _typed(model, types) -> dict:
    return {"token_type_ids": types} if "token_type_ids" in input_keys(model) else {}


@dataclass
class SequenceObjective:
    spec: TaskSpec
    splits: dict[str, TokenizedSplit]
    train: TokenizedSplit = field(init=False)

    def __post_init__(self):
        self.train = self.splits["train"]

    def subsample(self, rng: np.random.Generator, n: int) -> None:
        """Keep ``n`` training examples drawn without replacement (in their original order)."""
        if n < len(self.train):
            self.train = self.train.subset(np.sort(rng.choice(len(self.train), n, replace=False)))

    @property
    def train_examples(self) -> int:
        return len(self.train)

    @property
    def regression(self) -> bool:
        return self.spec.is_regression

    def lengths(self) -> np.ndarray:
        return self.train.lengths()

    def targets(self, batch: dict, device) -> dict[str, torch.Tensor]:
        dtype = torch.float32 if self.regression else torch.long
        return {"labels": torch.as_tensor(batch["labels"], device=device, dtype=dtype)}

    @property
    def supervision(self):
        """How bertq's encoder learns this task (:class:`~bertq.training.supervision.Supervision`)."""
        from .supervision import Supervision

        return Supervision.of(self.spec)

    def evaluate(self, model, batch_size: int, device) -> dict:
        from ..evaluation.classify import score

        def forward(ids, mask, types):
            return model(input_ids=ids, attention_mask=mask, **_typed(model, types)).logits

        return score(forward, self.spec, self.splits, batch_size, device)


@dataclass
class SpanObjective:
    spec: TaskSpec
    features: dict[str, QAFeatures]
    dev_examples: list[SquadExample]
    meta: dict
    n_best_size: int = 20
    max_answer_length: int = 30
    train: QAFeatures = field(init=False)

    def __post_init__(self):
        self.train = self.features["train"]

    def subsample(self, rng: np.random.Generator, n: int) -> None:
        """Keep every window of ``n`` training questions drawn without replacement."""
        questions = np.unique(self.train.example_index)
        if n < len(questions):
            keep = np.sort(rng.choice(questions, n, replace=False))
            self.train = self.train.subset(np.flatnonzero(np.isin(self.train.example_index, keep)))

    @property
    def train_examples(self) -> int:
        return int(np.unique(self.train.example_index).size)

    def lengths(self) -> np.ndarray:
        return self.train.lengths

    def targets(self, batch: dict, device) -> dict[str, torch.Tensor]:
        return {
            k: torch.as_tensor(batch[k], device=device, dtype=torch.long) for k in ("start_positions", "end_positions")
        }

    def evaluate(self, model, batch_size: int, device) -> dict:
        from ..evaluation.qa import score_squad

        def forward(ids, mask, types):
            out = model(input_ids=ids, attention_mask=mask, **_typed(model, types))
            return torch.stack([out.start_logits, out.end_logits], dim=-1)

        metrics, _ = score_squad(
            forward,
            self.features["dev"],
            self.dev_examples,
            batch_size=batch_size,
            n_best=self.n_best_size,
            max_answer_length=self.max_answer_length,
            device=device,
            metric=self.spec.metric,
        )
        return {
            **metrics,
            "split": self.meta["split"],
            "train_windows": len(self.train),
            "decoding": {"n_best_size": self.n_best_size, "max_answer_length": self.max_answer_length},
        }


def load_objective(spec: TaskSpec, tokenized_path: str | Path, params: dict):
    """The objective of ``spec`` over its tokenised data (``params``: the fine-tune settings)."""
    if spec.is_span:
        from ..data.tokenized_squad import load_squad_features

        features, examples, meta = load_squad_features(tokenized_path)
        return SpanObjective(
            spec,
            features,
            examples,
            meta,
            n_best_size=params.get("n_best_size", 20),
            max_answer_length=params.get("max_answer_length", 30),
        )
    splits, _ = load_tokenized(tokenized_path)
    return SequenceObjective(spec, splits)
