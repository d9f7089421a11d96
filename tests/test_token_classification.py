"""Token classification (CoNLL-2003 NER, AQ-BERT's Table 1): CoNLL data from local files in either
scheme or from the hub, tags on each word's first sub-token, a token classifier per family in
bertq's encoder with transformers' logits and loss, its sites, MACs and integer engine, and entity
F1 over words (truncated words scored as O)."""

import random

import numpy as np
import pytest
import torch
from conll_fixture import NAMES, sentence, tags, write_conll
from torch import nn

from bertq.cost.ace import count_macs
from bertq.data import conll
from bertq.data.conll import Sentence, load_conll, to_iob2
from bertq.data.loading import DataError
from bertq.data.tasks import CONLL03
from bertq.data.tokenized import IGNORED, TaggedSplit, load_split, load_tokenized, save_tokenized, tokenize_words
from bertq.engine.linear import IntegerLinear
from bertq.engine.model import load_engine_model, quantize_modules
from bertq.evaluation.tagging import score_tags
from bertq.metrics.ner import entities, entity_scores
from bertq.models.checkpoint import build_model, load_state
from bertq.models.encoder import BertTokenClassifier, EncoderConfig, head_of
from bertq.models.sites import linear_input_site, site_modules, site_names
from bertq.quantization.model import quantize_state, save_quantized
from bertq.training.supervision import Supervision

transformers = pytest.importorskip("transformers")

LABELS = CONLL03.label_names
SIZES = {
    "bert": (transformers.BertConfig, "BertFor", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                      intermediate_size=64, max_position_embeddings=40)),
    "roberta": (transformers.RobertaConfig, "RobertaFor", dict(hidden_size=32, num_hidden_layers=2,
                num_attention_heads=4, intermediate_size=64, max_position_embeddings=40, type_vocab_size=1,
                pad_token_id=1)),
    "xlm-roberta": (transformers.XLMRobertaConfig, "XLMRobertaFor", dict(hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=4, intermediate_size=64, max_position_embeddings=40, type_vocab_size=1,
                    pad_token_id=1)),
    "distilbert": (transformers.DistilBertConfig, "DistilBertFor", dict(dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                   max_position_embeddings=40, pad_token_id=1)),
    "mobilebert": (transformers.MobileBertConfig, "MobileBertFor", dict(hidden_size=32, embedding_size=16,
                   intra_bottleneck_size=16, true_hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=64, num_feedforward_networks=2, max_position_embeddings=40, pad_token_id=1,
                   classifier_activation=False)),
}  # fmt: skip
"""MobileBERT without ``classifier_activation`` (as the hub's): its sequence and token heads have
the same weights, so only the config's ``architectures`` tells them apart."""


def _hf(family, seed=0):
    config_cls, prefix, size = SIZES[family]
    torch.manual_seed(seed)
    model = getattr(transformers, prefix + "TokenClassification")(
        config_cls(vocab_size=120, **size, num_labels=len(LABELS))
    ).eval()
    for p in model.parameters():
        if p.ndim == 2:
            nn.init.normal_(p, std=0.05)
    with torch.no_grad():
        model.get_input_embeddings().weight[1] = 0  # the padding row, as a checkpoint has it
    return model


def _batch(seed=3):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 120, (4, 13), generator=g)
    mask = torch.ones_like(ids)
    for row, length in ((1, 9), (3, 5)):
        ids[row, length:] = 1
        mask[row, length:] = 0
    return ids, mask


@pytest.mark.parametrize("family", sorted(SIZES))
def test_the_token_classifier_gives_transformers_logits_and_loss(tmp_path, family):
    hf = _hf(family)
    hf.save_pretrained(tmp_path, safe_serialization=True)
    state = load_state(tmp_path)
    assert head_of(state) == "token"
    ours = build_model(tmp_path)
    assert isinstance(ours, BertTokenClassifier) and ours.head == "token"
    ids, mask = _batch()
    labels = torch.randint(0, len(LABELS), ids.shape, generator=torch.Generator().manual_seed(1))
    labels[mask == 0] = IGNORED
    labels[:, 0] = IGNORED  # [CLS]
    with torch.no_grad():
        got, out = ours(ids, mask), hf(input_ids=ids, attention_mask=mask, labels=labels)
        alone = ours(ids[3:4, :5], mask[3:4, :5])
        loss = Supervision.of(CONLL03).wrap(ours)(ids, mask, torch.zeros_like(ids), labels).loss
    real = mask.bool()
    torch.testing.assert_close(got[real], out.logits[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone, got[3:4, :5], atol=1e-5, rtol=1e-5)  # padding changes nothing
    torch.testing.assert_close(loss, out.loss, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
def test_sites_linear_inputs_and_macs_of_the_token_head(family):
    hf = _hf(family)
    config = EncoderConfig.from_dict(hf.config.to_dict())
    model = BertTokenClassifier.from_state(config, hf.state_dict())
    assert list(site_modules(model)) == site_names(2, "token") and "pooler.output" not in site_names(2, "token")
    assert linear_input_site("classifier.weight", 2, head="token") == "layer1.ffn.norm"  # the last layer, no pooler
    assert linear_input_site("classifier.weight", 2, head="sequence") == "pooler.output"
    T, h, i, c = 20, 32, 64, len(LABELS)
    macs = count_macs(config, T, head="token")
    assert macs.linear["classifier.weight"] == T * h * c
    assert macs.total == 2 * (T * (4 * h * h + 2 * h * i) + 2 * T * T * h) + T * h * c
    assert macs.head == "token"


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_8_bit_token_classifier_on_the_integer_engine_predicts_as_its_twin(tmp_path, family):
    directory = tmp_path / "model"
    _hf(family).save_pretrained(directory, safe_serialization=True)
    qm = quantize_state(load_state(directory), "lq", 8, scope="all")
    save_quantized(qm, tmp_path / "w8.safetensors")
    engine = load_engine_model(directory, tmp_path / "w8.safetensors", "int8")
    twin = quantize_modules(build_model(directory, qm), qm, "fake")
    assert sum(isinstance(m, IntegerLinear) for m in engine.modules()) == 6 * 2 + 1
    ids, mask = _batch(5)
    with torch.no_grad():
        a, b = engine(ids, mask), twin(ids, mask)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_iob1_becomes_iob2_with_the_same_entities():
    rng = random.Random(0)
    for _ in range(300):
        words, found = sentence(rng)
        iob1 = tags(len(words), found, "iob1")
        assert entities(iob1, "iob1") == found
        assert entities(to_iob2(iob1, "iob1"), "iob2") == found
        assert list(to_iob2(iob1, "iob1")) == tags(len(words), found, "iob2")


@pytest.mark.parametrize("names", [("eng.train", "eng.testa"), ("train.txt", "valid.txt")])
def test_local_files_are_read_by_either_name_into_iob2(tmp_path, names):
    truth = write_conll(tmp_path / names[0], 30, 1, "iob1")
    write_conll(tmp_path / names[1], 5, 2, "iob1")
    train = load_conll("train", conll_dir=tmp_path, scheme="iob1")
    assert [entities(s.tags, "iob2") for s in train] == truth
    assert len(load_conll("dev", conll_dir=tmp_path, scheme="iob1")) == 5


@pytest.mark.bad_input("data", "job_time")
def test_a_directory_without_a_split_is_named(tmp_path):
    write_conll(tmp_path / "eng.train", 3, 1)
    with pytest.raises(DataError, match=r"no valid.txt or eng.testa for the dev split"):
        load_conll("dev", conll_dir=tmp_path, scheme="iob1")


class _Rows(list):
    """A hub split: rows, and ``features`` naming the ClassLabel ids of ``ner_tags``."""

    class _Seq:
        class feature:
            names = list(LABELS)

    features = {"ner_tags": _Seq}


def test_the_hub_copy_reads_class_ids_by_their_names(monkeypatch):
    rows = _Rows([{"tokens": ["EU", "rejects", "German"], "ner_tags": [3, 0, 7]}, {"tokens": [], "ner_tags": []},
                  {"tokens": ["Peter", "Blackburn"], "ner_tags": [1, 2]}])  # fmt: skip
    monkeypatch.setattr(conll, "_hub_load_conll", lambda dataset_id, split: rows)
    got = load_conll("dev", conll_dir=None, hub_dataset="x/conll")
    assert [s.tags for s in got] == [("B-ORG", "O", "B-MISC"), ("B-PER", "I-PER")]


@pytest.mark.parametrize(
    "row, message",
    [
        ({"tokens": ["EU"], "ner_tags": [3, 0]}, r"row 0: 1 tokens but 2 ner_tags"),
        ({"tokens": ["EU"], "ner_tags": [12]}, r"row 0: tag id 12 has no name"),
        ({"tokens": ["EU", "Peter"], "ner_tags": [0, 2]}, r"row 0: I-PER follows O, which IOB2 does not allow"),
        ({"words": ["EU"]}, r"row 0: expected the columns tokens and ner_tags"),
    ],
)
@pytest.mark.bad_input("data", "job_time")
def test_a_malformed_hub_row_is_named(monkeypatch, row, message):
    monkeypatch.setattr(conll, "_hub_load_conll", lambda dataset_id, split: _Rows([row]))
    with pytest.raises(DataError, match=message):
        load_conll("train", conll_dir=None, hub_dataset="x/conll")


@pytest.fixture(scope="module")
def tokenizer():
    from bertq.models.sources import packaged_path

    return transformers.AutoTokenizer.from_pretrained(str(packaged_path()))


def test_tags_sit_on_each_words_first_sub_token(tokenizer):
    sentences = [Sentence(("EU", "rejects", "Blackburnshire", "call"), ("B-ORG", "O", "B-LOC", "O"), 1),
                 Sentence(("Peter",), ("B-PER",), 7)]  # fmt: skip
    split = tokenize_words(tokenizer, sentences, LABELS, max_length=6)
    first = [tokenizer.tokenize(w) for w in sentences[0].words]
    assert len(first[2]) > 1  # the long word splits
    # [CLS] EU rejects Black ##burn ... cut at 6 tokens: [CLS] + 4 word pieces + [SEP]
    row0 = split.labels[split.offsets[0] : split.offsets[1]].tolist()
    pieces = [t for w in first for t in w][:4]
    expected = [IGNORED]
    for w, word_pieces in enumerate(first):
        for k, _ in enumerate(word_pieces):
            expected.append(LABELS.index(sentences[0].tags[w]) if k == 0 else IGNORED)
    assert row0 == expected[: 1 + len(pieces)] + [IGNORED]
    assert split.token_words[split.offsets[0] : split.offsets[1]].tolist()[:4] == [-1, 0, 1, 2]
    assert split.word_tags(0).tolist() == [3, 0, 5, 0] and split.word_tags(1).tolist() == [1]
    batch = split.batch(np.array([1, 0]))
    assert batch["labels"].shape == batch["input_ids"].shape == (2, 6)
    assert batch["labels"][0].tolist() == [IGNORED, 1, IGNORED, IGNORED, IGNORED, IGNORED]  # padding ignored
    sub = split.subset(np.array([1]))
    assert isinstance(sub, TaggedSplit) and sub.word_tags(0).tolist() == [1] and len(sub.labels) == 3


def test_a_tagged_split_survives_its_file(tmp_path, tokenizer):
    sentences = [Sentence(("EU", "rejects", "German"), ("B-ORG", "O", "B-MISC"), 1)] * 3
    split = tokenize_words(tokenizer, sentences, LABELS, max_length=16)
    save_tokenized({"train": split, "dev": split}, tmp_path / "t.safetensors", {"task": "conll03"})
    back = load_split(tmp_path / "t.safetensors", "dev")
    assert isinstance(back, TaggedSplit)
    for k in ("input_ids", "labels", "token_words", "word_labels", "word_offsets", "offsets"):
        np.testing.assert_array_equal(getattr(back, k), getattr(split, k))
    assert isinstance(load_tokenized(tmp_path / "t.safetensors")[0]["train"], TaggedSplit)


def test_entity_f1_scores_words_and_counts_truncated_ones_as_o(tokenizer):
    rng = random.Random(4)
    sentences = []
    for _ in range(40):
        words, found = sentence(rng)
        sentences.append(Sentence(tuple(words), tuple(tags(len(words), found, "iob2")), 1))
    split = tokenize_words(tokenizer, sentences, LABELS, max_length=7)  # cuts the longer sentences
    predictions = {}

    def forward(ids, mask, types):
        """Gold on every first sub-token, but every third sentence's first word tagged B-PER."""
        out = torch.full((*ids.shape, len(LABELS)), -5.0)
        out[..., 0] = 0.0
        for row in range(ids.shape[0]):
            key = tuple(ids[row][mask[row].bool()].tolist())
            i = predictions[key]
            a, b = split.offsets[i], split.offsets[i + 1]
            for pos, (word, label) in enumerate(zip(split.token_words[a:b], split.labels[a:b])):
                if word >= 0:
                    out[row, pos, LABELS.index("B-PER") if (i % 3 == 0 and word == 0) else label] = 5.0
        return out

    for i in range(len(split)):
        predictions[tuple(split.input_ids[split.offsets[i] : split.offsets[i + 1]].tolist())] = i
    got = score_tags(forward, CONLL03, {"dev": split}, batch_size=8)
    expected_words = []
    for i, s in enumerate(sentences):
        kept = int((split.token_words[split.offsets[i] : split.offsets[i + 1]] >= 0).sum())
        words = list(s.tags[:kept]) + ["O"] * (len(s.tags) - kept)
        if i % 3 == 0:
            words[0] = "B-PER"
        expected_words.append(words)
    expected = entity_scores([list(s.tags) for s in sentences], expected_words, "iob2")
    assert got["words_cut_off"] > 0 and got["words"] == sum(len(s.words) for s in sentences)
    for k in ("precision", "recall", "f1", "correct_entities", "predicted_entities", "gold_entities"):
        assert got[k] == pytest.approx(expected[k]), k
    assert got["score"] == got["f1"] < 100
    assert set(NAMES) >= {e[0] for s in sentences for e in entities(s.tags, "iob2")}


@pytest.mark.bad_input("config", "job_time")
def test_the_hub_without_datasets_says_how_to_read_local_files(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets fails
    with pytest.raises(DataError, match=r"CoNLL-2003 from the hub needs .*'datasets'.*set data.conll03.dir"):
        load_conll("train", conll_dir=None)


@pytest.mark.parametrize("family", ["bert", "distilbert"])
def test_adaround_learns_the_token_head_on_every_token(family):
    from bertq.quantization.adaround import AdaRoundConfig, adaround_model

    hf = _hf(family)
    model = BertTokenClassifier.from_state(EncoderConfig.from_dict(hf.config.to_dict()), hf.state_dict())
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    start = quantize_state(state, "mse", 4, scope="all")
    g = np.random.default_rng(1)
    lengths = g.integers(4, 13, 24)
    mask = (np.arange(12) < lengths[:, None]).astype(np.int64)
    batch = {"input_ids": np.where(mask == 1, g.integers(3, 120, (24, 12)), 1), "attention_mask": mask,
             "token_type_ids": np.zeros((24, 12), dtype=np.int64)}  # fmt: skip
    config = AdaRoundConfig(sequences=24, iterations=200, batch_size=8, learning_rate=1e-2)  # rounding settles
    tensors, results = adaround_model(model, start, batch, config)
    assert "classifier" in results and len(results) == 6 * 2 + 1
    assert all(r.error_adaround <= r.error_nearest for r in results.values()), results
