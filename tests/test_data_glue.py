"""Tests of bertq.data.loading: GLUE TSV parsing, hub mapping, Rotten Tomatoes split."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from bertq.data import loading
from bertq.data.loading import (
    DataError,
    Examples,
    load_glue_hub,
    load_glue_local,
    load_rotten_tomatoes,
    load_task,
    read_glue_tsv,
)
from bertq.data.tasks import GLUE_TASKS, ROTTEN_TOMATOES

T = "\t"


def write(path: Path, lines: list[str], *, bom: bool = False, final_newline: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + ("\n" if final_newline else "")
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


def row(*fields) -> str:
    return T.join(str(f) for f in fields)


# Fixture files in the real GLUE formats (Wang et al., 2018).
COLA = [
    row("gj04", 1, "", "The sailors rode the breeze clear of the rocks."),
    row("gj04", 0, "*", "The more does Bill smoke, the more Susan hates him."),
    row("cj99", 1, "", 'He said "hi to me.'),  # stray quote: must stay verbatim
]
SST2 = [row("sentence", "label"), row("it 's a charming journey . ", 1), row("unflinchingly bleak ", 0)]
MRPC = [
    row("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
    row(1, 1355540, 1355592, "He said the pie business doesn't fit.", '"The pie business does not fit our strategy.'),
    row(
        0,
        2029631,
        2029565,
        "Magnarelli said Racicot hated the regime.",
        'His wife said he was "100 percent behind George Bush".',
    ),
]
STSB_HEADER = row(
    "index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2", "score"
)
STSB = [
    STSB_HEADER,
    row(
        0,
        "main-captions",
        "MSRvid",
        "2012test",
        "0000",
        "none",
        "none",
        "A man with a hard hat is dancing.",
        "A man wearing a hard hat is dancing.",
        "5.000",
    ),
    row(
        1,
        "main-captions",
        "MSRvid",
        "2012test",
        "0002",
        "none",
        "none",
        "A young child is riding a horse.",
        "A child is riding a horse.",
        "4.750",
    ),
    row(2, "main-news", "headlines", "2013", "0003", "none", "none", "Stocks fell.", "It rained.", "0.000"),
]
MNLI_HEADER = row(
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
    "sentence1",
    "sentence2",
    "label1",
    "gold_label",
)
MNLI = [
    MNLI_HEADER,
    row(
        0,
        31193,
        "31193n",
        "government",
        "( ( Conceptually cream ) ... )",
        "( ... )",
        "(ROOT ...)",
        "(ROOT ...)",
        "Conceptually cream skimming has two dimensions.",
        "Product and geography are what make cream skimming work. ",
        "neutral",
        "neutral",
    ),
    row(
        1,
        101457,
        "101457e",
        "telephone",
        "( you ... )",
        "( ... )",
        "(ROOT ...)",
        "(ROOT ...)",
        "you know during the season",
        "You lose the things.",
        "entailment",
        "entailment",
    ),
    row(
        2,
        134793,
        "134793e",
        "fiction",
        "( ... )",
        "( ... )",
        "(ROOT ...)",
        "(ROOT ...)",
        "One of our number will carry out your instructions.",
        "A member will refuse.",
        "contradiction",
        "contradiction",
    ),
]
RTE = [
    row("index", "sentence1", "sentence2", "label"),
    row(0, "Dana Reeve has died of lung cancer at age 44.", "Christopher Reeve had an accident.", "not_entailment"),
    row(1, "Bacteria are mutating faster.", "Bacteria is winning the war.", "entailment"),
]
QNLI = [
    row("index", "question", "sentence", "label"),
    row(0, "What came into force?", "The new constitution came into force.", "entailment"),
    row(1, "What is the first major city?", "The Ill flows below Strasbourg.", "not_entailment"),
]


@pytest.fixture
def glue_dir(tmp_path: Path) -> Path:
    root = tmp_path / "glue_data"
    write(root / "CoLA" / "dev.tsv", COLA, final_newline=False)  # like the official file
    write(root / "SST-2" / "train.tsv", SST2)
    write(root / "MRPC" / "dev.tsv", MRPC, bom=True)  # the official MRPC files have a BOM
    write(root / "STS-B" / "dev.tsv", STSB)
    write(root / "MNLI" / "dev_matched.tsv", MNLI)
    write(root / "MNLI" / "dev_mismatched.tsv", MNLI[:2])
    write(root / "RTE" / "train.tsv", RTE)
    write(root / "QNLI" / "dev.tsv", QNLI)
    return root


class TestParse:
    def test_cola_headerless(self, glue_dir):
        ex = load_glue_local(glue_dir, GLUE_TASKS["cola"], "dev")
        assert ex.text_a == [
            "The sailors rode the breeze clear of the rocks.",
            "The more does Bill smoke, the more Susan hates him.",
            'He said "hi to me.',
        ]
        assert ex.text_b is None
        assert ex.labels.dtype == np.int64
        assert ex.labels.tolist() == [1, 0, 1]
        assert len(ex) == 3

    def test_sst2(self, glue_dir):
        ex = load_glue_local(glue_dir, GLUE_TASKS["sst2"], "train")
        assert ex.text_a == ["it 's a charming journey . ", "unflinchingly bleak "]
        assert ex.text_b is None
        assert ex.labels.tolist() == [1, 0]

    def test_mrpc_bom_and_stray_quotes(self, glue_dir):
        ex = load_glue_local(glue_dir, GLUE_TASKS["mrpc"], "dev")
        assert ex.text_a == ["He said the pie business doesn't fit.", "Magnarelli said Racicot hated the regime."]
        assert ex.text_b == [
            '"The pie business does not fit our strategy.',
            'His wife said he was "100 percent behind George Bush".',
        ]
        assert ex.labels.tolist() == [1, 0]

    def test_stsb_regression(self, glue_dir):
        ex = load_glue_local(glue_dir, GLUE_TASKS["stsb"], "dev")
        assert ex.labels.dtype == np.float32
        np.testing.assert_array_equal(ex.labels, np.array([5.0, 4.75, 0.0], dtype=np.float32))
        assert ex.text_a[1] == "A young child is riding a horse."
        assert ex.text_b[1] == "A child is riding a horse."

    def test_mnli_both_dev_splits(self, glue_dir):
        spec = GLUE_TASKS["mnli"]
        ex = load_glue_local(glue_dir, spec, "dev_matched")
        assert ex.labels.tolist() == [1, 0, 2]  # neutral, entailment, contradiction
        assert ex.text_a[0] == "Conceptually cream skimming has two dimensions."
        assert ex.text_b[0] == "Product and geography are what make cream skimming work. "
        assert len(load_glue_local(glue_dir, spec, "dev_mismatched")) == 1

    def test_rte_and_qnli(self, glue_dir):
        rte = load_glue_local(glue_dir, GLUE_TASKS["rte"], "train")
        assert rte.labels.tolist() == [1, 0]
        assert rte.text_b == ["Christopher Reeve had an accident.", "Bacteria is winning the war."]
        qnli = load_glue_local(glue_dir, GLUE_TASKS["qnli"], "dev")
        assert qnli.text_a == ["What came into force?", "What is the first major city?"]
        assert qnli.text_b[1] == "The Ill flows below Strasbourg."
        assert qnli.labels.tolist() == [0, 1]

    def test_load_task_local(self, glue_dir):
        ex = load_task(GLUE_TASKS["rte"], "train", glue_dir=glue_dir)
        assert ex.labels.tolist() == [1, 0]

    def test_blank_lines_skipped(self, tmp_path):
        path = write(tmp_path / "t.tsv", [SST2[0], "", SST2[1], "", SST2[2], ""])
        assert read_glue_tsv(path, GLUE_TASKS["sst2"]).labels.tolist() == [1, 0]

    def test_examples_length_check(self):
        with pytest.raises(DataError):
            Examples(["a", "b"], None, np.zeros(1, dtype=np.int64))


def error_of(path: Path, spec_name: str) -> str:
    with pytest.raises(DataError) as info:
        read_glue_tsv(path, GLUE_TASKS[spec_name])
    return str(info.value)


class TestErrors:
    @pytest.mark.bad_input("data", "job_time")
    def test_wrong_field_count(self, tmp_path):
        path = write(tmp_path / "dev.tsv", RTE + [row(2, "only premise", "entailment")])
        msg = error_of(path, "rte")
        assert str(path) in msg and "line 4" in msg and "expected 4" in msg and "found 3" in msg

    @pytest.mark.bad_input("data", "job_time")
    def test_wrong_field_count_cola(self, tmp_path):
        path = write(tmp_path / "dev.tsv", COLA[:1] + [row("gj04", 1, "A sentence.")])
        msg = error_of(path, "cola")
        assert str(path) in msg and "line 2" in msg and "expected 4" in msg

    @pytest.mark.bad_input("data", "job_time")
    def test_unknown_label(self, tmp_path):
        path = write(tmp_path / "dev.tsv", QNLI + [row(2, "q?", "s.", "neutral")])
        msg = error_of(path, "qnli")
        assert str(path) in msg and "line 4" in msg and "'neutral'" in msg
        assert "'entailment'" in msg and "'not_entailment'" in msg

    @pytest.mark.bad_input("data", "job_time")
    def test_unknown_label_cola(self, tmp_path):
        path = write(tmp_path / "dev.tsv", [row("gj04", 2, "", "A sentence.")])
        msg = error_of(path, "cola")
        assert "line 1" in msg and "'2'" in msg and "'0', '1'" in msg

    def test_non_numeric_score(self, tmp_path):
        bad = STSB[1].rsplit(T, 1)[0] + T + "five"
        path = write(tmp_path / "dev.tsv", STSB[:1] + [STSB[2], bad])
        msg = error_of(path, "stsb")
        assert str(path) in msg and "line 3" in msg and "'five'" in msg

    @pytest.mark.parametrize("score", ["5.2", "-0.5"])
    @pytest.mark.bad_input("data", "job_time")
    def test_score_outside_the_tasks_range(self, tmp_path, score):
        bad = STSB[1].rsplit(T, 1)[0] + T + score
        path = write(tmp_path / "dev.tsv", STSB[:1] + [STSB[2], bad])
        msg = error_of(path, "stsb")
        assert str(path) in msg and "line 3" in msg and f"score {float(score):g} is outside stsb's range [0, 5]" in msg

    @pytest.mark.bad_input("data", "job_time")
    def test_missing_header_column(self, tmp_path):
        path = write(
            tmp_path / "dev.tsv", [row("index", "question", "text", "label"), row(0, "q?", "s.", "entailment")]
        )
        msg = error_of(path, "qnli")
        assert str(path) in msg and "line 1" in msg and "'sentence'" in msg

    @pytest.mark.bad_input("data", "job_time")
    def test_missing_header_column_after_blank_line(self, tmp_path):
        path = write(tmp_path / "dev.tsv", ["", row("sentence", "gold")])
        msg = error_of(path, "sst2")
        assert "line 2" in msg and "'label'" in msg

    def test_empty_file(self, tmp_path):
        path = tmp_path / "dev.tsv"
        path.write_text("", encoding="utf-8")
        for name in ("sst2", "cola"):
            msg = error_of(path, name)
            assert str(path) in msg and "line 1" in msg and "empty" in msg

    def test_header_only(self, tmp_path):
        path = write(tmp_path / "dev.tsv", SST2[:1])
        msg = error_of(path, "sst2")
        assert str(path) in msg and "line 2" in msg and "no data rows" in msg

    @pytest.mark.bad_input("data", "job_time")
    def test_missing_file(self, tmp_path):
        with pytest.raises(DataError) as info:
            load_glue_local(tmp_path, GLUE_TASKS["rte"], "dev")
        msg = str(info.value)
        assert str(tmp_path / "RTE" / "dev.tsv") in msg and "official GLUE layout" in msg

    @pytest.mark.bad_input("data", "job_time")
    def test_read_missing_file(self, tmp_path):
        assert "not found" in error_of(tmp_path / "nope.tsv", "sst2")

    @pytest.mark.bad_input("data", "job_time")
    def test_bad_split(self, glue_dir):
        with pytest.raises(DataError, match="dev_matched"):
            load_glue_local(glue_dir, GLUE_TASKS["mnli"], "dev")
        with pytest.raises(DataError, match="unknown split"):
            load_glue_local(glue_dir, GLUE_TASKS["rte"], "test")

    def test_not_utf8(self, tmp_path):
        path = tmp_path / "dev.tsv"
        path.write_bytes(b"sentence\tlabel\n\xff\xfe bad\t1\n")
        assert str(path) in error_of(path, "sst2")


class FakeDataset:
    def __init__(self, columns: dict[str, list]):
        self.columns = columns

    def __getitem__(self, name):
        return self.columns[name]

    def __len__(self):
        return len(next(iter(self.columns.values())))


HUB_DATA = {
    "cola": {"sentence": ["s0", "s1"], "label": [1, 0]},
    "sst2": {"sentence": ["s0", "s1"], "label": [0, 1]},
    "mrpc": {"sentence1": ["a0", "a1"], "sentence2": ["b0", "b1"], "label": [1, 0]},
    "stsb": {"sentence1": ["a0", "a1"], "sentence2": ["b0", "b1"], "label": [4.5, 0.25]},
    "rte": {"sentence1": ["a0", "a1"], "sentence2": ["b0", "b1"], "label": [0, 1]},
    "qqp": {"question1": ["a0", "a1"], "question2": ["b0", "b1"], "label": [0, 1]},
    "mnli": {"premise": ["a0", "a1"], "hypothesis": ["b0", "b1"], "label": [2, 1]},
    "qnli": {"question": ["a0", "a1"], "sentence": ["b0", "b1"], "label": [1, 0]},
}


@pytest.fixture
def fake_hub(monkeypatch):
    calls = []

    def fake(dataset_id, config, split):
        calls.append((dataset_id, config, split))
        return FakeDataset(HUB_DATA[config])

    monkeypatch.setattr(loading, "_hub_load_dataset", fake)
    return calls


class TestHub:
    @pytest.mark.parametrize("name", sorted(GLUE_TASKS))
    def test_columns_and_splits(self, fake_hub, name):
        spec = GLUE_TASKS[name]
        data = HUB_DATA[name]
        for split in ("train", *spec.dev_splits):
            ex = load_glue_hub(spec, split)
            cols = [c for c in data if c != "label"]
            assert ex.text_a == data[cols[0]]
            assert ex.text_b == (data[cols[1]] if spec.is_pair else None)
            assert ex.labels.tolist() == data["label"]
            assert ex.labels.dtype == (np.float32 if spec.is_regression else np.int64)
        expected_splits = {
            "train": "train",
            "dev": "validation",
            "dev_matched": "validation_matched",
            "dev_mismatched": "validation_mismatched",
        }
        assert fake_hub == [("nyu-mll/glue", spec.hub_config, expected_splits[s]) for s in ("train", *spec.dev_splits)]

    def test_load_task_uses_hub_without_glue_dir(self, fake_hub):
        ex = load_task(GLUE_TASKS["mrpc"], "dev", hub_dataset="my/glue")
        assert ex.text_b == ["b0", "b1"]
        assert fake_hub == [("my/glue", "mrpc", "validation")]

    @pytest.mark.bad_input("data", "job_time")
    def test_unlabelled_rows_rejected(self, monkeypatch):
        monkeypatch.setattr(
            loading, "_hub_load_dataset", lambda d, c, s: FakeDataset({"sentence": ["x"], "label": [-1]})
        )
        with pytest.raises(DataError, match="row 0"):
            load_glue_hub(GLUE_TASKS["sst2"], "train")

    @pytest.mark.bad_input("data", "job_time")
    def test_score_outside_the_range(self, monkeypatch):
        rows = {"sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": [4.0, 5.5]}
        monkeypatch.setattr(loading, "_hub_load_dataset", lambda d, c, s: FakeDataset(rows))
        with pytest.raises(DataError, match=r"row 1: score 5.5 is outside stsb's range \[0, 5\]"):
            load_glue_hub(GLUE_TASKS["stsb"], "train")

    @pytest.mark.bad_input("data", "job_time")
    def test_missing_column(self, monkeypatch):
        monkeypatch.setattr(loading, "_hub_load_dataset", lambda d, c, s: FakeDataset({"text": ["x"], "label": [0]}))
        with pytest.raises(DataError, match="sentence"):
            load_glue_hub(GLUE_TASKS["sst2"], "train")

    def test_without_datasets_package(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
        with pytest.raises(DataError) as info:
            load_glue_hub(GLUE_TASKS["sst2"], "train")
        msg = str(info.value)
        assert "pip install datasets" in msg and "GLUE directory" in msg

    @pytest.mark.bad_input("data", "job_time")
    def test_bad_split(self, fake_hub):
        with pytest.raises(DataError, match="unknown split"):
            load_glue_hub(GLUE_TASKS["sst2"], "test")
        assert fake_hub == []


class TestRottenTomatoes:
    def test_sizes_disjoint_cover(self):
        train = load_rotten_tomatoes("train")
        dev = load_rotten_tomatoes("dev")
        assert len(train) + len(dev) == 8530
        assert len(dev) == 2 * round(0.1 * 4265) == 852
        assert len(train) == 8530 - 852
        assert train.text_b is None and train.labels.dtype == np.int64
        assert np.bincount(train.labels).tolist() == [3839, 3839]
        assert np.bincount(dev.labels).tolist() == [426, 426]
        texts, _ = loading._read_rotten_tomatoes()
        tr, dv = loading._stratified_split(loading._read_rotten_tomatoes()[1], 0.1, 0)
        assert set(tr.tolist()).isdisjoint(dv.tolist())
        assert sorted(np.concatenate([tr, dv]).tolist()) == list(range(len(texts)))
        assert train.text_a == [texts[i] for i in tr]

    def test_deterministic_and_seeded(self):
        a = load_rotten_tomatoes("dev", seed=3)
        b = load_rotten_tomatoes("dev", seed=3)
        c = load_rotten_tomatoes("dev", seed=4)
        assert a.text_a == b.text_a and a.labels.tolist() == b.labels.tolist()
        assert set(a.text_a) != set(c.text_a)

    def test_fraction_and_proportion(self):
        dev = load_rotten_tomatoes("dev", dev_fraction=0.25, seed=1)
        assert len(dev) == 2 * round(0.25 * 4265)
        assert abs(dev.labels.mean() - 0.5) < 0.01

    def test_load_task(self):
        ex = load_task(ROTTEN_TOMATOES, "dev", dev_fraction=0.2, split_seed=7)
        assert ex.text_a == load_rotten_tomatoes("dev", 0.2, 7).text_a

    @pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
    @pytest.mark.bad_input("data", "job_time")
    def test_bad_fraction(self, fraction):
        with pytest.raises(DataError, match="dev_fraction"):
            load_rotten_tomatoes("dev", dev_fraction=fraction)

    @pytest.mark.bad_input("data", "job_time")
    def test_bad_split(self):
        with pytest.raises(DataError, match="unknown split"):
            load_rotten_tomatoes("test")


SHARED = os.environ.get("BERTQ_SHARED_DATA")


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED, reason="set BERTQ_SHARED_DATA to the shared data directory")
class TestSharedGlue:
    """Official GLUE row and label counts on the real files (opt-in)."""

    @pytest.mark.parametrize(
        "name,split,rows",
        [
            ("cola", "train", 8551),
            ("cola", "dev", 1043),
            ("sst2", "train", 67349),
            ("sst2", "dev", 872),
            ("mrpc", "train", 3668),
            ("mrpc", "dev", 408),
            ("stsb", "train", 5749),
            ("stsb", "dev", 1500),
            ("rte", "train", 2490),
            ("rte", "dev", 277),
            ("qnli", "dev", 5463),
        ],
    )
    def test_row_counts(self, name, split, rows):
        ex = load_task(GLUE_TASKS[name], split, glue_dir=Path(SHARED) / "glue_data")
        assert len(ex) == rows
        assert (ex.text_b is not None) == GLUE_TASKS[name].is_pair

    @pytest.mark.parametrize(
        "name,counts",
        [
            ("cola", [322, 721]),  # label 0, label 1
            ("rte", [146, 131]),  # entailment, not_entailment
            ("qnli", [2702, 2761]),  # entailment, not_entailment
        ],
    )
    def test_dev_label_counts(self, name, counts):
        ex = load_task(GLUE_TASKS[name], "dev", glue_dir=Path(SHARED) / "glue_data")
        assert np.bincount(ex.labels, minlength=2).tolist() == counts

    def test_stsb_scores(self):
        ex = load_task(GLUE_TASKS["stsb"], "dev", glue_dir=Path(SHARED) / "glue_data")
        assert ex.labels.min() >= 0.0 and ex.labels.max() <= 5.0
