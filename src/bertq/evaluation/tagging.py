"""Scoring a token classifier on a tagging task's dev split (CoNLL-2003 NER, AQ-BERT's Table 1):
each word takes the tag predicted on its first sub-token, a word cut off by the sequence length
takes ``O``, and the words' tags are scored by entity-level precision, recall and F1 in IOB2
(:func:`bertq.metrics.ner.entity_scores`, seqeval's strict mode)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data.tasks import TaskSpec
from ..data.tokenized import TaggedSplit
from ..metrics.ner import entity_scores

Forward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
SCHEME = "iob2"
"""The scheme bertq trains and predicts in (:func:`bertq.data.conll.to_iob2`)."""


@torch.no_grad()
def predict_tags(
    forward: Forward, split: TaggedSplit, label_names: tuple[str, ...], batch_size: int, device="cpu"
) -> list[list[str]]:
    """Each sentence's predicted tag per word, batched by length and returned in input order."""
    order = np.argsort(split.lengths(), kind="stable")
    predicted: list[list[str]] = [[] for _ in range(len(split))]
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        batch = split.batch(index)
        logits = forward(
            *(torch.as_tensor(batch[k], device=device) for k in ("input_ids", "attention_mask", "token_type_ids"))
        )
        classes = logits.argmax(-1).cpu().numpy()
        for row, i in enumerate(index):
            a, b = split.offsets[i], split.offsets[i + 1]
            tags = ["O"] * int(split.word_offsets[i + 1] - split.word_offsets[i])
            for word, c in zip(split.token_words[a:b], classes[row, : b - a]):
                if word >= 0:
                    tags[word] = label_names[c]
            predicted[i] = tags
    return predicted


def score_tags(forward: Forward, spec: TaskSpec, splits: dict[str, TaggedSplit], batch_size: int, device="cpu") -> dict:
    """Entity precision, recall and F1 in percent (``score`` is F1), the counts, the share of words
    tagged right, and how many words the sequence length cut off (scored as ``O``)."""
    split = splits["dev"]
    predicted = predict_tags(forward, split, spec.label_names, batch_size, device)
    gold = [[spec.label_names[t] for t in split.word_tags(i)] for i in range(len(split))]
    out = entity_scores(gold, predicted, SCHEME)
    right = sum(g == p for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps))
    words = int(split.word_offsets[-1])
    out.update(
        score=out["f1"],
        word_accuracy=100.0 * right / words if words else float("nan"),
        words=words,
        words_cut_off=words - int((split.token_words >= 0).sum()),
    )
    return out
