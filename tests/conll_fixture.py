"""Random CoNLL-2003-style sentences for tests: filler words and named entities drawn from small
lists per type (so a tiny model can learn them), written in the original release's format (word,
part of speech, chunk, entity tag; ``-DOCSTART-`` between documents) in IOB1 or IOB2."""

from __future__ import annotations

import random
from pathlib import Path

NAMES = {
    "PER": ["Peter", "Anna", "John", "Maria", "Smith", "Brown"],
    "LOC": ["Paris", "Berlin", "London", "Texas", "Kenya"],
    "ORG": ["Reuters", "Google", "NATO", "Siemens"],
    "MISC": ["German", "French", "Olympic", "Dutch"],
}
FILLER = ["the", "said", "on", "in", "a", "visited", "met", "with", "today", "and", "."]


def sentence(rng: random.Random) -> tuple[list[str], list[tuple[str, int, int]]]:
    """Words and their entities ``(type, start, end)``; two entities of a type may touch."""
    words, found = [], []
    for _ in range(rng.randint(2, 7)):
        if rng.random() < 0.45:
            kind = rng.choice(sorted(NAMES))
            start = len(words)
            words += [rng.choice(NAMES[kind]) for _ in range(rng.randint(1, 2))]
            found.append((kind, start, len(words)))
        else:
            words.append(rng.choice(FILLER))
    return words, found


def tags(n: int, found, scheme: str) -> list[str]:
    """The tags of ``n`` words holding ``found`` entities, in ``scheme``."""
    out = ["O"] * n
    previous_end = {}
    for kind, start, end in found:
        touches = previous_end.get(kind) == start
        first = "B" if scheme == "iob2" or touches else "I"
        out[start] = f"{first}-{kind}"
        out[start + 1 : end] = [f"I-{kind}"] * (end - start - 1)
        previous_end = {kind: end}
    return out


def write_conll(path: Path, n: int, seed: int, scheme: str = "iob1") -> list[list[tuple[str, int, int]]]:
    """``n`` random sentences in a CoNLL file; returns each sentence's entities."""
    rng = random.Random(seed)
    lines, truth = ["-DOCSTART- -X- -X- O", ""], []
    for i in range(n):
        words, found = sentence(rng)
        truth.append(found)
        lines += [f"{w} NNP B-NP {t}" for w, t in zip(words, tags(len(words), found, scheme))] + [""]
        if i % 10 == 9:
            lines += ["-DOCSTART- -X- -X- O", ""]
    Path(path).write_text("\n".join(lines) + "\n")
    return truth
