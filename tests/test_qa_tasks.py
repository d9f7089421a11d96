"""TyDi QA GoldP and Natural Questions (MRQA) as span tasks: their readers on files the tests
write (local and through the hub seams), their bad inputs, the TyDi GoldP metric against a hand
computation, and their config keys."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from qa_tasks_fixture import (
    synthetic_mrqa,
    synthetic_tydiqa,
    write_jsonl,
    write_nq_dir,
    write_tydiqa_dir,
)

import bertq.pipeline.config as bq
from bertq.data import mrqa as mrqa_mod
from bertq.data import tydiqa as tydiqa_mod
from bertq.data.loading import DataError
from bertq.data.mrqa import read_mrqa
from bertq.data.qa_datasets import QA_DATASETS, load_qa
from bertq.data.squad import SquadExample, read_squad
from bertq.data.tydiqa import read_tydiqa
from bertq.evaluation.qa import span_metrics
from bertq.metrics.squad import squad_metrics
from bertq.metrics.tydiqa import tydiqa_metrics

# --- TyDi QA GoldP ------------------------------------------------------------------------------


def test_tydiqa_file_reads_as_squad_with_languages(tmp_path):
    d = write_tydiqa_dir(tmp_path)
    examples = read_tydiqa(d / "tydiqa-goldp-v1.1-dev.json")
    assert examples == read_squad(d / "tydiqa-goldp-v1.1-dev.json")
    assert {ex.qid.split("-")[0] for ex in examples} == {"english", "arabic", "finnish"}
    assert load_qa("tydiqa", "train", data_dir=d) == read_tydiqa(d / "tydiqa-goldp-v1.1-train.json")
    train, dev = (
        load_qa("tydiqa", s, data_dir=d, split_mode="dev_articles", dev_fraction=0.34) for s in ("train", "dev")
    )
    assert {e.title for e in train}.isdisjoint({e.title for e in dev})
    assert len(train) + len(dev) == len(examples)


def _write(tmp_path, data) -> str:
    path = tmp_path / "tydiqa-goldp-v1.1-dev.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda qa: qa.update(id="klingon-1"), "question 'klingon-1': question id 'klingon-1' does not start"),
        (lambda qa: qa.update(id="english"), "question 'english': question id 'english' does not start"),
        (lambda qa: qa.pop("question"), "question 'arabic-1-a0p0q1': missing key 'question'"),
        (lambda qa: qa["answers"][0].update(answer_start=0), "question 'arabic-1-a0p0q1', answer 0: answer_start 0"),
    ],
)
@pytest.mark.bad_input("data", "job_time")
def test_bad_tydiqa_file_names_file_and_question(tmp_path, mutate, message):
    data = synthetic_tydiqa(2)
    mutate(data["data"][0]["paragraphs"][0]["qas"][1])
    path = _write(tmp_path, data)
    with pytest.raises(DataError, match=f"^{path}.*{message}"):
        read_tydiqa(path)


@pytest.mark.bad_input("data", "job_time")
def test_duplicate_tydiqa_id_names_it(tmp_path):
    data = synthetic_tydiqa(2)
    qas = data["data"][1]["paragraphs"][0]["qas"]
    qas[0]["id"] = data["data"][0]["paragraphs"][0]["qas"][0]["id"]
    path = _write(tmp_path, data)
    with pytest.raises(DataError, match=f"{path}: question 'english-0-a0p0q0': duplicate question id"):
        read_tydiqa(path)


def _squad_rows(data: dict) -> list[dict]:
    return [
        {
            "id": qa["id"],
            "title": article["title"],
            "context": para["context"],
            "question": qa["question"],
            "answers": {
                "text": [a["text"] for a in qa["answers"]],
                "answer_start": [a["answer_start"] for a in qa["answers"]],
            },
        }
        for article in data["data"]
        for para in article["paragraphs"]
        for qa in para["qas"]
    ]


def test_tydiqa_hub_rows_through_the_seam(monkeypatch, tmp_path):
    d = write_tydiqa_dir(tmp_path)
    calls = []

    def fake(dataset_id, config, split):
        calls.append((dataset_id, config, split))
        name = "tydiqa-goldp-v1.1-train.json" if split == "train" else "tydiqa-goldp-v1.1-dev.json"
        return _squad_rows(json.loads((d / name).read_text()))

    monkeypatch.setattr(tydiqa_mod, "_hub_load_tydiqa", fake)
    assert load_qa("tydiqa", "dev") == read_tydiqa(d / "tydiqa-goldp-v1.1-dev.json")
    assert load_qa("tydiqa", "train", hub_dataset="mirror/tydiqa") == read_tydiqa(d / "tydiqa-goldp-v1.1-train.json")
    assert calls == [
        ("google-research-datasets/tydiqa", "secondary_task", "validation"),
        ("mirror/tydiqa", "secondary_task", "train"),
    ]


@pytest.mark.bad_input("data", "job_time")
def test_bad_tydiqa_hub_row_names_row_and_question(monkeypatch):
    rows = _squad_rows(synthetic_tydiqa(1))
    rows[2]["id"] = "thai-9"  # Thai is not in GoldP
    monkeypatch.setattr(tydiqa_mod, "_hub_load_tydiqa", lambda dataset_id, config, split: rows)
    with pytest.raises(DataError, match="split 'validation'.*question 'thai-9'.*does not start with a TyDi QA GoldP"):
        load_qa("tydiqa", "dev")


# --- the TyDi GoldP metric ----------------------------------------------------------------------


def test_tydiqa_metric_averages_languages_without_english():
    gold = {
        "english-1": ["Alice"],
        "english-2": ["in 1900", "1900"],
        "arabic-1": ["Bob"],
        "arabic-2": ["the red house"],
        "arabic-3": ["Carol"],
        "finnish-1": ["Dave"],
    }
    predictions = {
        "english-1": "alice",  # EM
        "english-2": "1900 was",  # F1 2/3 against "1900"
        "arabic-1": "Bob",  # EM
        "arabic-2": "red",  # F1: 1 common of 1 predicted, 2 gold -> 2/3
        "arabic-3": "Erin",  # 0
        "finnish-1": "Dave Smith",  # F1 2/3
    }
    m = tydiqa_metrics(predictions, gold)
    per = {
        lang: squad_metrics(predictions, {q: a for q, a in gold.items() if q.startswith(lang)})
        for lang in ("english", "arabic", "finnish")
    }
    # By hand: english EM 50, F1 (1 + 2/3) / 2; arabic EM 100/3, F1 (1 + 2/3 + 0) / 3; finnish EM 0, F1 2/3.
    assert per["english"]["exact_match"] == pytest.approx(50.0)
    assert per["english"]["f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert per["arabic"]["exact_match"] == pytest.approx(100 / 3)
    assert per["arabic"]["f1"] == pytest.approx(100 * (5 / 3) / 3)
    assert per["finnish"]["f1"] == pytest.approx(100 * 2 / 3)
    for lang in per:
        assert m[f"{lang}/exact_match"] == pytest.approx(per[lang]["exact_match"])
        assert m[f"{lang}/f1"] == pytest.approx(per[lang]["f1"])
        assert m[f"{lang}/n"] == per[lang]["n"]
    assert m["exact_match"] == pytest.approx((100 / 3 + 0) / 2)
    assert m["f1"] == pytest.approx((100 * 5 / 9 + 100 * 2 / 3) / 2)
    assert m["score"] == pytest.approx((m["exact_match"] + m["f1"]) / 2)
    assert m["exact_match_with_english"] == pytest.approx((50 + 100 / 3 + 0) / 3)
    assert m["f1_with_english"] == pytest.approx(np.mean([per[x]["f1"] for x in per]))
    micro = squad_metrics(predictions, gold)
    assert (m["micro_exact_match"], m["micro_f1"], m["n"]) == (micro["exact_match"], micro["f1"], 6)
    assert m["exact_match"] != m["exact_match_with_english"]  # English does count elsewhere


def test_tydiqa_metric_without_non_english_is_nan():
    with pytest.warns(UserWarning, match="no non-English question"):
        m = tydiqa_metrics({"english-1": "a"}, {"english-1": ["a"]})
    assert np.isnan(m["exact_match"]) and m["exact_match_with_english"] == 100.0


def test_span_metrics_follow_the_task():
    ex = SquadExample("english-1", "t", "q", "Alice Smith built it", ["Alice Smith"], [0], gold_answers=["Smith"])
    other = SquadExample("arabic-1", "t", "q", "Bob built it", ["Bob"], [0])
    preds = {"english-1": "Smith", "arabic-1": "Bob"}
    assert span_metrics("mrqa", preds, [ex, other])["exact_match"] == 100.0  # MRQA's gold strings
    assert span_metrics("tydiqa", preds, [ex, other])["exact_match"] == 100.0  # arabic only
    assert span_metrics("tydiqa", preds, [ex, other])["exact_match_with_english"] == 100.0
    with pytest.raises(ValueError, match="unknown metric"):
        span_metrics("bleu", preds, [ex])


# --- Natural Questions (MRQA) -------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_mrqa_file_reads_inclusive_spans_and_gold_strings(tmp_path, gz):
    lines = synthetic_mrqa(4)
    path = write_jsonl(tmp_path / ("nq.jsonl.gz" if gz else "nq.jsonl"), lines, gz)
    examples = read_mrqa(path)
    assert len(examples) == 8
    for ex, qa in zip(examples, [qa for line in lines[1:] for qa in line["qas"]], strict=True):
        (start, end) = qa["detected_answers"][0]["char_spans"][0]
        assert ex.qid == qa["qid"] and ex.answer_starts == [start]
        assert ex.context[start : end + 1] == ex.answers[0] == qa["detected_answers"][0]["text"]
        assert ex.gold_answers == qa["answers"] and ex.scored_answers == qa["answers"]
        assert ex.context.startswith("<P> ") and "[PAR]" in ex.context
    assert [ex.title for ex in examples[:4]] == ["context 0", "context 0", "context 1", "context 1"]


def test_nq_dir_gz_or_plain_and_article_split(tmp_path):
    gz, plain = write_nq_dir(tmp_path / "gz"), write_nq_dir(tmp_path / "plain", gz=False)
    assert load_qa("nq", "dev", data_dir=gz) == load_qa("nq", "dev", data_dir=plain)
    assert QA_DATASETS["nq"].local_file(plain, "train") == plain / "train" / "NaturalQuestionsShort.jsonl"
    kw = dict(data_dir=gz, split_mode="dev_articles", dev_fraction=0.25, split_seed=1)
    train, dev = load_qa("nq", "train", **kw), load_qa("nq", "dev", **kw)
    assert {e.title for e in train}.isdisjoint({e.title for e in dev}) and len(train) + len(dev) == 24


def _mrqa_bad(tmp_path, mutate) -> str:
    lines = synthetic_mrqa(3)
    mutate(lines)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path = tmp_path / "dev" / "NaturalQuestionsShort.jsonl.gz"
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt") as f:
        f.write(text)
    return str(path)


def _qa(lines, line=2, q=1):
    return lines[line - 1]["qas"][q]


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda ls: _qa(ls).pop("question"), "line 2: question 'nq0-a0p0q1': missing key 'question'"),
        (lambda ls: _qa(ls).pop("qid"), "line 2, question 1: missing key 'qid'"),
        (
            lambda ls: _qa(ls)["detected_answers"][0]["char_spans"][0].__setitem__(
                1, _qa(ls)["detected_answers"][0]["char_spans"][0][1] + 1
            ),
            r"line 2: question 'nq0-a0p0q1': char span \[\d+, \d+\] \(end inclusive\) does not point at",
        ),
        (
            lambda ls: _qa(ls, 3).update(qid=_qa(ls, 2, 0)["qid"]),
            "line 3: question 'nq0-a0p0q0': duplicate question id",
        ),
        (lambda ls: ls.__setitem__(2, '{"context": "x", "qas": [}'), "line 3: invalid JSON"),
        (lambda ls: ls.pop(0), "line 1: the first line must be the MRQA header"),
        (lambda ls: _qa(ls).update(answers=[]), "line 2: question 'nq0-a0p0q1': 'answers' must be a non-empty list"),
        (lambda ls: _qa(ls).update(detected_answers=[]), "line 2: question 'nq0-a0p0q1': no detected answer"),
    ],
)
@pytest.mark.bad_input("data", "job_time")
def test_bad_mrqa_file_names_file_line_and_question(tmp_path, mutate, message):
    path = _mrqa_bad(tmp_path, mutate)
    with pytest.raises(DataError, match=f"^{path}: {message}"):
        read_mrqa(path)


def _hub_rows(lines: list[dict]) -> list[dict]:
    """MRQA lines as the hub's rows: one per question, ``detected_answers`` as columns."""
    rows = []
    for line in lines[1:]:
        for qa in line["qas"]:
            det = qa["detected_answers"]
            rows.append(
                {
                    "subset": "NaturalQuestionsShort",
                    "context": line["context"],
                    "qid": qa["qid"],
                    "question": qa["question"],
                    "answers": qa["answers"],
                    "detected_answers": {
                        "text": [d["text"] for d in det],
                        "char_spans": [
                            {"start": [s for s, _ in d["char_spans"]], "end": [e for _, e in d["char_spans"]]}
                            for d in det
                        ],
                        "token_spans": [{"start": [0], "end": [0]} for _ in det],
                    },
                }
            )
    return rows


def test_mrqa_hub_rows_through_the_seam(monkeypatch, tmp_path):
    d = write_nq_dir(tmp_path)
    calls = []
    other = {**_hub_rows(synthetic_mrqa(1))[0], "subset": "SQuAD", "qid": "squad-row", "detected_answers": None}

    def fake(dataset_id, split):
        calls.append((dataset_id, split))
        lines = synthetic_mrqa(12, seed=1 if split == "train" else 0)
        return [other] + _hub_rows(lines)

    monkeypatch.setattr(mrqa_mod, "_hub_load_mrqa", fake)
    assert load_qa("nq", "dev") == load_qa("nq", "dev", data_dir=d)
    assert load_qa("nq", "train") == load_qa("nq", "train", data_dir=d)
    assert calls == [("mrqa-workshop/mrqa", "validation"), ("mrqa-workshop/mrqa", "train")]


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda r: r.pop("answers"), "row 1: question 'nq0-a0p0q1': missing key 'answers'"),
        (
            lambda r: r["detected_answers"]["char_spans"][0]["start"].__setitem__(0, 0),
            "row 1: question 'nq0-a0p0q1': char span",
        ),
        (
            lambda r: r["detected_answers"]["char_spans"][0]["end"].append(3),
            "row 1: question 'nq0-a0p0q1', detected answer 0: 1 span starts but 2 ends",
        ),
        (lambda r: r.update(qid="nq0-a0p0q0"), "row 1: question 'nq0-a0p0q0': duplicate question id"),
    ],
)
@pytest.mark.bad_input("data", "job_time")
def test_bad_mrqa_hub_row_names_row_and_question(monkeypatch, mutate, message):
    rows = _hub_rows(synthetic_mrqa(1))
    mutate(rows[1])
    monkeypatch.setattr(mrqa_mod, "_hub_load_mrqa", lambda dataset_id, split: rows)
    with pytest.raises(DataError, match=f"hub dataset 'mrqa-workshop/mrqa' split 'validation', {message}"):
        load_qa("nq", "dev")


# --- config ---------------------------------------------------------------------------------------

BASE = {"models": {"m": {"source": "packaged:all-MiniLM-L6-v2"}}}


def test_span_tasks_get_their_data_keys_and_squad_defaults(tmp_path):
    cfg = bq.validate({**BASE, "tasks": ["tydiqa", "nq"]})
    assert cfg["data"]["tydiqa"] == {
        "dir": None,
        "hub_dataset": "google-research-datasets/tydiqa",
        "split": "official",
        "dev_fraction": 0.2,
        "split_seed": 0,
    }
    assert cfg["data"]["nq"]["hub_dataset"] == "mrqa-workshop/mrqa"
    for task in ("tydiqa", "nq"):
        assert bq.finetune_params(cfg, "m", task) == bq.finetune_params(cfg, "m", "squad")
    cfg = bq.validate({**BASE, "tasks": ["nq"], "data": {"nq": {"dir": str(write_nq_dir(tmp_path, gz=False))}}})
    assert cfg["data"]["nq"]["dir"] == str(tmp_path)


@pytest.mark.bad_input("config", "before_job")
def test_span_task_data_errors_name_the_key(tmp_path):
    with pytest.raises(bq.ConfigError, match=r"config key data.tydiqa.dir: '.*nowhere' is not a directory"):
        bq.validate({**BASE, "tasks": ["tydiqa"], "data": {"tydiqa": {"dir": str(tmp_path / "nowhere")}}})
    d = write_tydiqa_dir(tmp_path / "tydi", with_train=False)
    with pytest.raises(bq.ConfigError, match=r"data.tydiqa.dir: no tydiqa-goldp-v1.1-train.json .*split: dev_articles"):
        bq.validate({**BASE, "tasks": ["squad", "tydiqa"], "data": {"tydiqa": {"dir": str(d)}}})
    bq.validate({**BASE, "tasks": ["tydiqa"], "data": {"tydiqa": {"dir": str(d), "split": "dev_articles"}}})
    (tmp_path / "nq").mkdir()
    with pytest.raises(bq.ConfigError, match=r"data.nq.dir: no train/NaturalQuestionsShort.jsonl.gz or "):
        bq.validate({**BASE, "tasks": ["nq"], "data": {"nq": {"dir": str(tmp_path / "nq")}}})
    with pytest.raises(bq.ConfigError, match=r"config key finetune \(nq, model m\): need doc_stride"):
        bq.validate({**BASE, "tasks": ["nq"], "finetune": {"per_task": {"nq": {"doc_stride": 400}}}})
    with pytest.raises(bq.ConfigError, match=r"reports\[0\]: table2 needs the task squad"):
        bq.validate({**BASE, "tasks": ["tydiqa"], "reports": ["table2"]})
