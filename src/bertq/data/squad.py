"""SQuAD v1.1 data: the official JSON files, an article-level split and sliding-window features.

:func:`read_squad` reads the official format of SQuAD v1.1 (Rajpurkar et al., 2016)::

    {"version": ..., "data": [{"title": ..., "paragraphs": [{"context": ...,
        "qas": [{"id": ..., "question": ..., "answers": [{"text": ..., "answer_start": ...}]}]}]}]}

Every bad input raises :class:`bertq.data.loading.DataError` naming the file and, where there is
one, the question id. :func:`make_features` is the standard Hugging Face ``run_qa`` recipe: the
question first, the context split into overlapping windows (``truncation="only_second"``,
``stride``), offsets kept for the context tokens only, and for training the token positions of
the first gold answer, or ``(0, 0)`` (the ``[CLS]`` index) when a window does not hold all of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .loading import DataError, hub_load

__all__ = [
    "QAFeatures",
    "SquadExample",
    "examples_from_rows",
    "load_split",
    "load_squad",
    "load_squad_hub",
    "make_features",
    "read_squad",
    "split_by_article",
]

CLS_INDEX = 0
"""Position of ``[CLS]``: the label of a window that does not hold the whole answer."""


@dataclass
class SquadExample:
    """One question about one context paragraph, with its gold answers."""

    qid: str
    title: str
    question: str
    context: str
    answers: list[str]
    answer_starts: list[int]
    """Character offsets of ``answers`` in ``context``."""
    gold_answers: list[str] | None = None
    """The answer strings a prediction is scored against where they differ from the located
    ``answers`` (MRQA's ``answers`` field, :mod:`bertq.data.mrqa`); ``None``: ``answers``."""

    @property
    def scored_answers(self) -> list[str]:
        """What the official evaluation scores a prediction against."""
        return self.answers if self.gold_answers is None else self.gold_answers


def _field(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(f"{where}: missing key {key!r}")
    value = obj[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise DataError(f"{where}: {key!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def read_squad(path: str | Path) -> list[SquadExample]:
    """Read an official SQuAD v1.1 JSON file; every question needs at least one gold answer
    whose ``answer_start`` points at its text in the context, and ids must be unique."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: invalid JSON: {exc}") from None
    examples: list[SquadExample] = []
    seen: set[str] = set()
    for a, article in enumerate(_field(raw, "data", list, str(path))):
        where_a = f"{path}: article {a}"
        title = _field(article, "title", str, where_a)
        for p, para in enumerate(_field(article, "paragraphs", list, where_a)):
            where_p = f"{where_a} ({title!r}), paragraph {p}"
            context = _field(para, "context", str, where_p)
            for i, qa in enumerate(_field(para, "qas", list, where_p)):
                qid, where = _question_id(qa, seen, f"{where_p}, question {i}", str(path))
                question = _field(qa, "question", str, where)
                answers = _field(qa, "answers", list, where)
                texts = [_field(ans, "text", str, f"{where}, answer {j}") for j, ans in enumerate(answers)]
                starts = [_field(ans, "answer_start", int, f"{where}, answer {j}") for j, ans in enumerate(answers)]
                examples.append(_example(qid, title, question, context, texts, starts, where))
    return examples


def _question_id(qa: Any, seen: set[str], where: str, origin: str) -> tuple[str, str]:
    """The question's id, unique within ``seen`` (which it joins), and how errors name it."""
    qid = _field(qa, "id", str, where)
    named = f"{origin}: question {qid!r}"
    if qid in seen:
        raise DataError(f"{named}: duplicate question id")
    seen.add(qid)
    return qid, named


def _example(
    qid: str, title: str, question: str, context: str, texts: list[str], starts: list[int], where: str
) -> SquadExample:
    """A checked example: at least one non-empty gold answer, each found at its ``answer_start``."""
    if not texts:
        raise DataError(f"{where}: no gold answer")
    for j, (text, start) in enumerate(zip(texts, starts, strict=True)):
        if not text.strip():
            raise DataError(f"{where}, answer {j}: empty answer text")
        if start < 0 or context[start : start + len(text)] != text:
            raise DataError(f"{where}, answer {j}: answer_start {start} does not point at {text!r} in the context")
    return SquadExample(qid, title, question, context, list(texts), list(starts))


SQUAD_FILES = {"train": "train-v1.1.json", "dev": "dev-v1.1.json"}
"""The official file names of SQuAD v1.1 in a local ``data.squad.dir``."""

SPLIT_MODES = ("official", "dev_articles")
"""``official``: train on the training set, evaluate on the dev set. ``dev_articles``: only the
dev set, split by whole articles (seeded) into a training and a held-out part, for machines that
have the dev file alone; no context is shared across the two parts."""

_HUB_SPLITS = {"train": "train", "dev": "validation"}


def _hub_load_squad(dataset_id: str, split: str) -> Any:
    """Seam over :func:`~bertq.data.loading.hub_load` (tests replace it)."""
    return hub_load(
        dataset_id,
        split,
        what="SQuAD",
        instead="set data.squad.dir to a directory with the official train-v1.1.json / dev-v1.1.json",
    )


def load_squad_hub(split: str, dataset_id: str = "rajpurkar/squad") -> list[SquadExample]:
    """A split of SQuAD v1.1 from the hub (rows with ``id``, ``title``, ``context``, ``question``
    and ``answers: {text: [...], answer_start: [...]}``), checked like :func:`read_squad`."""
    hub_split = _HUB_SPLITS[split]
    rows = _hub_load_squad(dataset_id, hub_split)
    return examples_from_rows(rows, f"hub dataset {dataset_id!r} split {hub_split!r}")


def examples_from_rows(rows, origin: str) -> list[SquadExample]:
    """Checked examples from SQuAD-layout hub rows (``id``, ``title``, ``context``, ``question``,
    ``answers: {text: [...], answer_start: [...]}``); errors name ``origin``, the row and the id."""
    examples, seen = [], set()
    for i, row in enumerate(rows):
        qid, where = _question_id(row, seen, f"{origin}, row {i}", f"{origin}, row {i}")
        answers = _field(row, "answers", dict, where)
        texts = list(_field(answers, "text", list, where))
        starts = list(_field(answers, "answer_start", list, where))
        if len(texts) != len(starts):
            raise DataError(f"{where}: {len(texts)} answer texts but {len(starts)} answer_start")
        if any(not isinstance(t, str) for t in texts) or any(
            isinstance(s, bool) or not isinstance(s, int) for s in starts
        ):
            raise DataError(f"{where}: answers must be strings with integer answer_start")
        examples.append(
            _example(
                qid,
                _field(row, "title", str, where),
                _field(row, "question", str, where),
                _field(row, "context", str, where),
                texts,
                starts,
                where,
            )
        )
    if not examples:
        raise DataError(f"{origin}: no rows")
    return examples


def load_squad(
    split: str,
    *,
    squad_dir: str | Path | None = None,
    hub_dataset: str = "rajpurkar/squad",
    split_mode: str = "official",
    dev_fraction: float = 0.2,
    split_seed: int = 0,
) -> list[SquadExample]:
    """The ``train`` or ``dev`` examples of SQuAD v1.1 from ``squad_dir`` (official file names,
    :data:`SQUAD_FILES`) or, when it is ``None``, from the hub; see :data:`SPLIT_MODES`."""

    def read(which: str) -> list[SquadExample]:
        if squad_dir is None:
            return load_squad_hub(which, hub_dataset)
        return read_squad(Path(squad_dir) / SQUAD_FILES[which])

    return load_split(read, split, "squad", split_mode, dev_fraction, split_seed)


def load_split(
    read: Callable[[str], list[SquadExample]],
    split: str,
    task: str,
    split_mode: str = "official",
    dev_fraction: float = 0.2,
    split_seed: int = 0,
) -> list[SquadExample]:
    """The ``train`` or ``dev`` examples of an extractive QA task whose official splits
    ``read(split)`` returns: that split, or with ``dev_articles`` a part of the dev split, divided
    by whole articles (:func:`split_by_article`); see :data:`SPLIT_MODES`."""
    if split not in _HUB_SPLITS:
        raise DataError(f"unknown split {split!r} for task {task!r}; allowed: train, dev")
    if split_mode not in SPLIT_MODES:
        raise DataError(f"unknown {task} split mode {split_mode!r}; allowed: {', '.join(SPLIT_MODES)}")
    if split_mode == "official":
        return read(split)
    train, dev = split_by_article(read("dev"), dev_fraction, split_seed)
    return train if split == "train" else dev


def split_by_article(
    examples: list[SquadExample], dev_fraction: float, seed: int
) -> tuple[list[SquadExample], list[SquadExample]]:
    """Split whole articles (by title) into train and dev, seeded and order-independent.

    The dev part gets ``round(dev_fraction * n_articles)`` articles, at least one and at most
    ``n_articles - 1``, so both parts are non-empty; examples keep their order. Raises
    :class:`DataError` with fewer than two articles, ``ValueError`` for a fraction outside (0, 1).
    """
    if not 0.0 < dev_fraction < 1.0:
        raise ValueError(f"dev_fraction must be in (0, 1), got {dev_fraction}")
    titles = sorted({ex.title for ex in examples})
    if len(titles) < 2:
        raise DataError(f"split_by_article: need at least two articles, got {len(titles)}")
    n_dev = min(max(1, round(dev_fraction * len(titles))), len(titles) - 1)
    order = np.random.default_rng(seed).permutation(len(titles))
    dev_titles = {titles[k] for k in order[:n_dev]}
    train = [ex for ex in examples if ex.title not in dev_titles]
    dev = [ex for ex in examples if ex.title in dev_titles]
    return train, dev


@dataclass
class QAFeatures:
    """Tokenized windows, padded to ``max_length``; one row per window."""

    input_ids: np.ndarray
    """``(n, max_length)`` int64."""
    token_type_ids: np.ndarray
    """``(n, max_length)`` int64: 0 for ``[CLS]`` question ``[SEP]``, 1 for context ``[SEP]``."""
    lengths: np.ndarray
    """``(n,)`` int64: unpadded lengths (the attention mask is ``arange < length``)."""
    example_index: np.ndarray
    """``(n,)`` int64: index of each window's example in the list given to make_features."""
    offsets: np.ndarray
    """``(n, max_length, 2)`` int64: character span of each context token in its context;
    ``(-1, -1)`` for special, question and padding tokens."""
    start_positions: np.ndarray | None = None
    """``(n,)`` int64 training labels (``CLS_INDEX`` when the answer is not fully inside)."""
    end_positions: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def attention_mask(self) -> np.ndarray:
        """``(n, max_length)`` int64 mask of the real tokens."""
        width = self.input_ids.shape[1]
        return (np.arange(width)[None, :] < self.lengths[:, None]).astype(np.int64)

    @property
    def has_labels(self) -> bool:
        return self.start_positions is not None and self.end_positions is not None

    def subset(self, index) -> QAFeatures:
        """The windows at ``index``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        pick = lambda a: None if a is None else a[index]
        return QAFeatures(
            self.input_ids[index],
            self.token_type_ids[index],
            self.lengths[index],
            self.example_index[index],
            self.offsets[index],
            pick(self.start_positions),
            pick(self.end_positions),
        )

    def batch(self, index) -> dict[str, np.ndarray]:
        """int64 ``input_ids``, ``attention_mask``, ``token_type_ids`` (and the span labels when
        present) of the windows at ``index``, cut to the longest of them (dynamic padding)."""
        index = np.asarray(index, dtype=np.int64)
        width = int(self.lengths[index].max())
        out = {
            "input_ids": self.input_ids[index, :width].astype(np.int64),
            "attention_mask": (np.arange(width)[None, :] < self.lengths[index, None]).astype(np.int64),
            "token_type_ids": self.token_type_ids[index, :width].astype(np.int64),
        }
        if self.has_labels:
            out["start_positions"] = self.start_positions[index].astype(np.int64)
            out["end_positions"] = self.end_positions[index].astype(np.int64)
        return out

    def batches(self, batch_size: int, order=None):
        order = np.arange(len(self)) if order is None else np.asarray(order)
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start : start + batch_size])


def _truncate_questions(tokenizer, questions: list[str], max_query_length: int) -> list[str]:
    """Cut each question after its first ``max_query_length`` tokens (as the BERT recipe)."""
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for q, offs in zip(questions, enc["offset_mapping"]):
        out.append(q[: offs[max_query_length - 1][1]] if len(offs) > max_query_length else q)
    return out


def make_features(
    tokenizer,
    examples: list[SquadExample],
    max_length: int = 384,
    stride: int = 128,
    max_query_length: int = 64,
    training: bool = False,
) -> QAFeatures:
    """Sliding-window features of ``examples`` with a fast (offset-mapping) tokenizer.

    Questions are left-stripped and cut to ``max_query_length`` tokens; contexts are split into
    windows of ``max_length`` tokens overlapping by ``stride`` tokens. With ``training`` the
    labels are the token positions of the first gold answer in each window, ``(0, 0)`` where the
    window does not hold all of it.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("make_features needs a fast tokenizer (offset mappings)")
    if max_query_length < 1 or stride < 0 or stride >= max_length - max_query_length - 3:
        raise ValueError(
            f"need 0 <= stride < max_length - max_query_length - 3, got "
            f"max_length={max_length}, stride={stride}, "
            f"max_query_length={max_query_length}"
        )
    if not examples:
        raise ValueError("make_features: no examples given")
    questions = _truncate_questions(tokenizer, [ex.question.lstrip() for ex in examples], max_query_length)
    enc = tokenizer(
        questions,
        [ex.context for ex in examples],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    n = len(enc["input_ids"])
    offsets = np.full((n, max_length, 2), -1, dtype=np.int64)
    starts = np.zeros(n, dtype=np.int64)
    ends = np.zeros(n, dtype=np.int64)
    example_index = np.asarray(enc["overflow_to_sample_mapping"], dtype=np.int64)
    for f in range(n):
        seq = np.array([s == 1 for s in enc.sequence_ids(f)])
        offsets[f, seq] = np.asarray(enc["offset_mapping"][f], dtype=np.int64)[seq]
        if training:
            ex = examples[example_index[f]]
            start_char = ex.answer_starts[0]
            end_char = start_char + len(ex.answers[0])
            ctx = np.flatnonzero(seq)
            inside = ctx.size > 0 and offsets[f, ctx[0], 0] <= start_char
            if inside and offsets[f, ctx[-1], 1] >= end_char:
                # Last token starting at or before the answer; first ending at or after it.
                starts[f] = ctx[offsets[f, ctx, 0] <= start_char][-1]
                ends[f] = ctx[offsets[f, ctx, 1] >= end_char][0]
            else:
                starts[f] = ends[f] = CLS_INDEX
    return QAFeatures(
        input_ids=np.asarray(enc["input_ids"], dtype=np.int64),
        token_type_ids=np.asarray(enc["token_type_ids"], dtype=np.int64),
        lengths=np.asarray(enc["attention_mask"], dtype=np.int64).sum(axis=1),
        example_index=example_index,
        offsets=offsets,
        start_positions=starts if training else None,
        end_positions=ends if training else None,
    )
