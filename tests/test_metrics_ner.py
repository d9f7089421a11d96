"""Entity-level scores for CoNLL-2003 NER against the field's reference, seqeval in strict mode, on
random tag sequences (valid and invalid transitions alike) in IOB1 and IOB2, and against
hand-counted cases."""

import numpy as np
import pytest
from seqeval.metrics import f1_score, precision_score, recall_score  # a test dependency (pyproject: test)
from seqeval.scheme import IOB1, IOB2

from bertq.metrics.ner import entities, entity_scores

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


def _sentences(rng, n, noise=0.3):
    out = []
    for _ in range(n):
        length = int(rng.integers(1, 14))
        out.append([TAGS[int(rng.integers(0, len(TAGS)))] if rng.random() < noise else "O" for _ in range(length)])
    return out


def _perturb(rng, sentences, rate=0.25):
    return [[TAGS[int(rng.integers(0, len(TAGS)))] if rng.random() < rate else t for t in s] for s in sentences]


@pytest.mark.parametrize("scheme, reference", [("iob2", IOB2), ("iob1", IOB1)])
@pytest.mark.parametrize("seed", range(5))
def test_entity_scores_equal_seqeval_strict_mode(scheme, reference, seed):
    rng = np.random.default_rng(seed)
    gold = _sentences(rng, 200, noise=0.5)
    pred = _perturb(rng, gold)
    ours = entity_scores(gold, pred, scheme)
    kwargs = dict(mode="strict", scheme=reference)
    assert ours["f1"] == pytest.approx(100 * f1_score(gold, pred, **kwargs), abs=1e-9)
    assert ours["precision"] == pytest.approx(100 * precision_score(gold, pred, **kwargs), abs=1e-9)
    assert ours["recall"] == pytest.approx(100 * recall_score(gold, pred, **kwargs), abs=1e-9)
    assert 0 < ours["correct_entities"] < ours["gold_entities"]


def test_entities_by_hand():
    assert entities(["B-PER", "I-PER", "O", "B-LOC"], "iob2") == [("PER", 0, 2), ("LOC", 3, 4)]
    assert entities(["I-PER", "I-PER", "O"], "iob2") == []  # IOB2 entities begin with B-
    assert entities(["I-PER", "I-PER", "B-PER", "O"], "iob1") == [("PER", 0, 2), ("PER", 2, 3)]
    assert entities(["I-PER", "I-LOC"], "iob1") == [("PER", 0, 1), ("LOC", 1, 2)]
    s = entity_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]])
    assert (s["precision"], s["recall"], s["f1"]) == (50.0, 50.0, 50.0)


def test_bad_tags_and_lengths_are_named():
    with pytest.raises(ValueError, match="tag 'X-PER' is not O, B-<type> or I-<type>"):
        entities(["X-PER"])
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        entity_scores([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="unknown tagging scheme 'bilou'"):
        entities(["O"], "bilou")
