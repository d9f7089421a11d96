"""CoNLL-format named-entity data (CoNLL-2003, Tjong Kim Sang and De Meulder, 2003) from a local
file: one token per line, whitespace-separated columns with the word first and the entity tag
last (CoNLL-2003: word, part of speech, chunk, entity), a blank line between sentences,
``-DOCSTART-`` lines between documents. Tags are read in the file's scheme
(:mod:`bertq.metrics.ner`): ``iob1`` for the original release, ``iob2`` for the hub's copy. A line
without a tag, a tag outside the task's types, or a transition the scheme forbids is an error
naming the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..metrics.ner import SCHEMES, split_tag
from .loading import DataError

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
