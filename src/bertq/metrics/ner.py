"""Named-entity recognition scores (CoNLL-2003, as AQ-BERT's Table 1 reports them): entity-level
precision, recall and F1, an entity counted right only when its span and type both match exactly
(conlleval's definition, Tjong Kim Sang and De Meulder, 2003).

Entities are read from IOB tags in one of two schemes:

- ``iob2`` (Ramshaw and Marcus's IOB as the hub's CoNLL-2003 stores it): every entity begins with
  ``B-X`` and continues with ``I-X``;
- ``iob1`` (the original CoNLL-2003 files): an entity begins with ``I-X``, and ``B-X`` only begins
  an entity that directly follows another of the same type.

Tags that break the scheme are read strictly, as seqeval's ``mode="strict"`` reads them (the
field's reference implementation): a chunk is a token that may begin one after its predecessor,
followed by every token that may continue it, and it counts only if the token after it (or the end
of the sentence) may follow its last token. A token that can neither begin nor continue a chunk
belongs to none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

SCHEMES = ("iob1", "iob2")
O, I, B = "O", "I", "B"

# (previous prefix, current prefix, same type?) -> allowed; None: either way.
_BEGINS = {
    "iob2": {(p, B, None) for p in (O, I, B)},
    "iob1": {(O, I, None), (I, I, False), (B, I, None), (I, B, True), (B, B, True)},
}
_CONTINUES = {
    "iob2": {(B, I, True), (I, I, True)},
    "iob1": {(B, I, True), (I, I, True)},
}
_ENDS = {
    "iob2": {(I, O, None), (I, I, False), (I, B, None), (B, O, None), (B, I, False), (B, B, None)},
    "iob1": {(I, I, False), (I, O, None), (I, B, None), (B, O, None), (B, I, False), (B, B, True)},
}


def split_tag(tag: str) -> tuple[str, str]:
    """``("B", "PER")`` for ``B-PER``; ``("O", "")`` for ``O``."""
    if tag == O:
        return O, ""
    prefix, sep, kind = tag.partition("-")
    if prefix not in (I, B) or not sep or not kind:
        raise ValueError(f"tag {tag!r} is not O, B-<type> or I-<type>")
    return prefix, kind


def _allowed(table: set, prev: tuple[str, str], cur: tuple[str, str]) -> bool:
    same = prev[1] == cur[1]
    return (prev[0], cur[0], same) in table or (prev[0], cur[0], None) in table


def entities(tags: Sequence[str], scheme: str = "iob2") -> list[tuple[str, int, int]]:
    """The entities of one sentence's tags: ``(type, start, end)``, ``end`` exclusive."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tagging scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    parts = [split_tag(t) for t in tags] + [(O, "")]  # the sentence ends as if an O followed
    found, prev, i = [], (O, ""), 0
    while i < len(tags):
        if _allowed(_BEGINS[scheme], prev, parts[i]):
            end = i + 1
            while end < len(tags) and _allowed(_CONTINUES[scheme], parts[end - 1], parts[end]):
                end += 1
            if _allowed(_ENDS[scheme], parts[end - 1], parts[end]):
                found.append((parts[i][1], i, end))
            i = end
        else:
            i += 1
        prev = parts[i - 1]
    return found


def entity_scores(gold: Iterable[Sequence[str]], predicted: Iterable[Sequence[str]], scheme: str = "iob2") -> dict:
    """Micro-averaged entity precision, recall and F1 (percent) over sentences, and the counts."""
    gold_set, pred_set = set(), set()
    for n, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {n}: {len(g)} gold tags but {len(p)} predicted")
        gold_set |= {(n, *e) for e in entities(g, scheme)}
        pred_set |= {(n, *e) for e in entities(p, scheme)}
    correct = len(gold_set & pred_set)
    precision = correct / len(pred_set) if pred_set else 0.0
    recall = correct / len(gold_set) if gold_set else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": 100 * precision,
        "recall": 100 * recall,
        "f1": 100 * f1,
        "gold_entities": len(gold_set),
        "predicted_entities": len(pred_set),
        "correct_entities": correct,
    }
