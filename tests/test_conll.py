"""CoNLL-2003 files read with their tagging scheme, and every malformed line named by file and line."""

import pytest

from bertq.data.conll import read_conll
from bertq.data.loading import DataError
from bertq.metrics.ner import entities, entity_scores

IOB1_FILE = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
Smith NNP I-NP B-PER
"""


def test_an_iob1_file_reads_into_sentences_and_entities(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text(IOB1_FILE)
    sentences = read_conll(path, "iob1")
    assert [s.words for s in sentences] == [("EU", "rejects", "German", "call", "."), ("Peter", "Blackburn", "Smith")]
    assert [s.line for s in sentences] == [3, 9]
    assert entities(sentences[0].tags, "iob1") == [("ORG", 0, 1), ("MISC", 2, 3)]
    assert entities(sentences[1].tags, "iob1") == [("PER", 0, 2), ("PER", 2, 3)]  # B- splits two people
    gold = [s.tags for s in sentences]
    assert entity_scores(gold, gold, "iob1")["f1"] == 100.0


def test_an_iob2_file_reads_with_its_scheme(tmp_path):
    path = tmp_path / "dev.txt"
    path.write_text("EU B-ORG\nrejects O\nGerman B-MISC\n\nPeter B-PER\nBlackburn I-PER\n")
    sentences = read_conll(path, "iob2")
    assert [entities(s.tags, "iob2") for s in sentences] == [[("ORG", 0, 1), ("MISC", 2, 3)], [("PER", 0, 2)]]


@pytest.mark.parametrize(
    "text, scheme, message",
    [
        ("EU B-ORG\nrejects\n", "iob2", r"line 2: 'rejects' has no tag column"),
        ("EU B-ORG\nrejects B-VERB\n", "iob2", r"line 2: unknown tag 'B-VERB'; allowed: O, and B- or I- with PER, LOC"),
        ("EU O\nrejects X\n", "iob2", r"line 2: unknown tag 'X'"),
        ("EU O\nPeter I-PER\n", "iob2", r"line 2: I-PER follows O, which IOB2 does not allow"),
        ("EU B-ORG\nPeter I-PER\n", "iob2", r"line 2: I-PER follows B-ORG, which IOB2 does not allow"),
        ("Peter I-PER\n", "iob2", r"line 1: I-PER follows O"),  # a sentence begins after an O
        ("EU O\nPeter B-PER\n", "iob1", r"line 2: B-PER follows O, which IOB1 does not allow"),
        ("\n\n-DOCSTART- O\n", "iob1", r"no sentences"),
        ("EU O\n", "bio", r"unknown tagging scheme 'bio'"),
    ],
)
@pytest.mark.bad_input("data", "job_time")
def test_a_malformed_file_is_named_with_its_line(tmp_path, text, scheme, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_conll(path, scheme)
    assert scheme == "bio" or str(path) in str(info.value)


@pytest.mark.bad_input("data", "job_time")
def test_a_missing_or_binary_file_is_named(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_conll(tmp_path / "absent.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="bin.txt: not UTF-8 text"):
        read_conll(tmp_path / "bin.txt")
