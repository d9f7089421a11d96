"""CoNLL-format named-entity data (CoNLL-2003, Tjong Kim Sang and De Meulder, 2003) from a local
file: one token per line, whitespace-separated columns with the word first and the entity tag
last (CoNLL-2003: word, part of speech, chunk, entity), a blank line between sentences,
``-DOCSTART-`` lines between documents. Tags are read in the file's scheme
(:mod:`bertq.metrics.ner`): ``iob1`` for the original release, ``iob2`` for the hub's copy. A line
without a tag, a tag outside the task's types, or a transition the scheme forbids is an error
naming the file and line.

:func:`load_conll` gives a split of CoNLL-2003 from a local directory or the hub, tagged in IOB2
(:func:`to_iob2`), the scheme bertq trains and predicts in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..metrics.ner import SCHEMES, entities, split_tag
from .loading import DataError, hub_load

CONLL03_TYPES = ("PER", "LOC", "ORG", "MISC")


@dataclass(frozen=True)
class Sentence:
    words: tuple[str, ...]
    tags: tuple[str, ...]
    line: int
    """The line of its first token (1-based)."""


def _check_transition(prev: str, tag: str, scheme: str, where: str) -> None:
    """IOB2: ``I-X`` only after ``B-X`` or ``I-X``; IOB1: ``B-X`` only after ``I-X`` or ``B-X``."""
    (p, pk), (c, ck) = split_tag(prev), split_tag(tag)
    if scheme == "iob2" and c == "I" and not (p in ("B", "I") and pk == ck):
        raise DataError(
            f"{where}: {tag} follows {prev}, which IOB2 does not allow (an entity begins with B-{ck}); "
            "the original CoNLL-2003 files are IOB1"
        )
    if scheme == "iob1" and c == "B" and not (p in ("B", "I") and pk == ck):
        raise DataError(
            f"{where}: {tag} follows {prev}, which IOB1 does not allow (B- only begins an entity right "
            f"after another {ck})"
        )


def read_conll(path: str | Path, scheme: str = "iob1", types: tuple[str, ...] = CONLL03_TYPES) -> list[Sentence]:
    """The sentences of a CoNLL file, tags checked against ``types`` and ``scheme``."""
    if scheme not in SCHEMES:
        raise DataError(f"unknown tagging scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from None
    allowed = {"O"} | {f"{p}-{t}" for p in ("B", "I") for t in types}
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    start = 0

    def close() -> None:
        if words:
            sentences.append(Sentence(tuple(words), tuple(tags), start))
            words.clear()
            tags.clear()

    for n, line in enumerate(text.splitlines(), 1):
        columns = line.split()
        if not columns:
            close()
            continue
        if columns[0] == "-DOCSTART-":
            close()
            continue
        where = f"{path}, line {n}"
        if len(columns) < 2:
            raise DataError(f"{where}: {line.strip()!r} has no tag column (the word first, the entity tag last)")
        tag = columns[-1]
        if tag not in allowed:
            raise DataError(f"{where}: unknown tag {tag!r}; allowed: O, and B- or I- with {', '.join(types)}")
        _check_transition(tags[-1] if tags else "O", tag, scheme, where)
        if not words:
            start = n
        words.append(columns[0])
        tags.append(tag)
    close()
    if not sentences:
        raise DataError(f"{path}: no sentences")
    return sentences


def to_iob2(tags: tuple[str, ...] | list[str], scheme: str) -> tuple[str, ...]:
    """The same entities (:func:`bertq.metrics.ner.entities`, read in ``scheme``) tagged in IOB2,
    the scheme bertq trains and predicts in (the hub's copy of CoNLL-2003 is IOB2)."""
    if scheme == "iob2":
        return tuple(tags)
    out = ["O"] * len(tags)
    for kind, start, end in entities(tags, scheme):
        out[start] = f"B-{kind}"
        out[start + 1 : end] = [f"I-{kind}"] * (end - start - 1)
    return tuple(out)


CONLL_FILES = {"train": ("train.txt", "eng.train"), "dev": ("valid.txt", "eng.testa")}
"""A split's file in a local ``data.conll03.dir``: the hub's export names (``train.txt``,
``valid.txt``) or the original release's (``eng.train``, ``eng.testa``), the first that exists."""


def conll_file(directory: str | Path, split: str) -> Path | None:
    """The file of ``split`` in ``directory`` (:data:`CONLL_FILES`), or None if it has none."""
    for name in CONLL_FILES[split]:
        if (Path(directory) / name).is_file():
            return Path(directory) / name
    return None


def _hub_load_conll(dataset_id: str, split: str) -> Any:
    """Seam over :func:`~bertq.data.loading.hub_load` (tests replace it)."""
    return hub_load(
        dataset_id,
        split,
        what="CoNLL-2003",
        instead="set data.conll03.dir to a directory with the CoNLL files (train.txt/valid.txt or eng.train/eng.testa)",
    )


def _tag_names(rows: Any) -> list[str] | None:
    """The class names of the hub's ``ner_tags`` (a sequence of ClassLabel), if it has them."""
    feature = getattr(getattr(rows, "features", {}), "get", lambda k: None)("ner_tags")
    inner = getattr(feature, "feature", None)
    return list(getattr(inner, "names", None) or []) or None


def load_conll_hub(split: str, dataset_id: str, types: tuple[str, ...] = CONLL03_TYPES) -> list[Sentence]:
    """A split of CoNLL-2003 from the hub (rows with ``tokens`` and ``ner_tags``: class ids of its
    ClassLabel feature, or tag strings), IOB2 as the hub stores it, checked as a file is."""
    hub_split = {"train": "train", "dev": "validation"}[split]
    rows = _hub_load_conll(dataset_id, hub_split)
    names = _tag_names(rows)
    origin = f"hub dataset {dataset_id!r} split {hub_split!r}"
    allowed = {"O"} | {f"{p}-{t}" for p in ("B", "I") for t in types}
    sentences = []
    for i, row in enumerate(rows):
        where = f"{origin}, row {i}"
        if not isinstance(row, dict) or "tokens" not in row or "ner_tags" not in row:
            raise DataError(f"{where}: expected the columns tokens and ner_tags")
        words, raw = list(row["tokens"]), list(row["ner_tags"])
        if len(words) != len(raw):
            raise DataError(f"{where}: {len(words)} tokens but {len(raw)} ner_tags")
        tags = []
        for tag in raw:
            if isinstance(tag, int) and not isinstance(tag, bool):
                if names is None or not 0 <= tag < len(names):
                    raise DataError(f"{where}: tag id {tag} has no name (the dataset's ner_tags names: {names})")
                tag = names[tag]
            if tag not in allowed:
                raise DataError(f"{where}: unknown tag {tag!r}; allowed: O, and B- or I- with {', '.join(types)}")
            _check_transition(tags[-1] if tags else "O", tag, "iob2", where)
            tags.append(tag)
        if words:  # the hub's copy has empty rows where the files have document breaks
            sentences.append(Sentence(tuple(words), tuple(tags), i))
    if not sentences:
        raise DataError(f"{origin}: no sentences")
    return sentences


def load_conll(
    split: str, *, conll_dir: str | Path | None, scheme: str = "iob1", hub_dataset: str = "eriktks/conll2003"
) -> list[Sentence]:
    """The ``train`` or ``dev`` sentences of CoNLL-2003, tagged in IOB2: from ``conll_dir``
    (:data:`CONLL_FILES`, read in ``scheme``) or, when it is None, from the hub."""
    if split not in CONLL_FILES:
        raise DataError(f"unknown split {split!r} for task 'conll03'; allowed: {', '.join(CONLL_FILES)}")
    if conll_dir is None:
        return load_conll_hub(split, hub_dataset)
    path = conll_file(conll_dir, split)
    if path is None:
        raise DataError(f"{conll_dir}: no {' or '.join(CONLL_FILES[split])} for the {split} split")
    return [Sentence(s.words, to_iob2(s.tags, scheme), s.line) for s in read_conll(path, scheme)]
