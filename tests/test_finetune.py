"""Fine-tuning: deterministic for a seed, the schedule the paper uses, the files a later job reads."""

import json
import math

import numpy as np
import pytest
from safetensors.numpy import load_file

from bertq.data.tasks import get_task
from bertq.data.tokenized import TokenizedSplit, save_tokenized
from bertq.models.sources import parse_source
from bertq.training.finetune import run_finetune

PARAMS = {
    "learning_rate": 1e-3,
    "batch_size": 8,
    "epochs": 2,
    "max_length": 16,
    "warmup_ratio": 0.25,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "max_train_examples": None,
    "eval_batch_size": 16,
}


def _split(rng, n):
    lengths = rng.integers(3, 12, size=n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = rng.integers(1000, 2000, size=offsets[-1]).astype(np.int32)
    labels = rng.integers(0, 2, size=n).astype(np.int64)
    ids[offsets[:-1]] = 101 + labels  # the first token gives the label away: learnable
    return TokenizedSplit(ids, np.zeros(offsets[-1], np.int8), offsets, labels)


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "rte.safetensors"
    rng = np.random.default_rng(0)
    save_tokenized({"train": _split(rng, 36), "dev": _split(rng, 20)}, path, {"task": "rte"})
    return path


def _run(tokenized, out, seed, **changes):
    return run_finetune(
        parse_source("random:tiny", layers=1),
        get_task("rte"),
        tokenized,
        {**PARAMS, **changes},
        seed,
        out,
        threads=1,
        progress=False,
    )


def test_same_seed_same_weights_other_seed_other_weights(tokenized, tmp_path):
    a = _run(tokenized, tmp_path / "a", 3)
    b = _run(tokenized, tmp_path / "b", 3)
    _run(tokenized, tmp_path / "c", 4)
    wa, wb, wc = (load_file(str(tmp_path / d / "model.safetensors")) for d in "abc")
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k])
    assert any(not np.array_equal(wa[k], wc[k]) for k in wa)
    assert a["score"] == b["score"]
    for f in ("config.json", "tokenizer.json", "train_log.jsonl"):
        assert (tmp_path / "a" / f).is_file()


def test_linear_schedule_with_warmup_and_metrics(tokenized, tmp_path):
    metrics = _run(tokenized, tmp_path / "run", 0)
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    steps = math.ceil(36 / 8) * 2
    assert len(log) == metrics["steps"] == steps
    warmup = int(0.25 * steps)
    lrs = [row["lr"] for row in log]
    assert lrs[warmup - 1] == pytest.approx(1e-3)  # peak at the end of warm-up
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)  # linear decay to zero
    assert all(x >= y for x, y in zip(lrs[warmup - 1 :], lrs[warmup:]))
    assert set(metrics) >= {"accuracy", "score", "train_examples", "train_seconds"}
    assert 0 <= metrics["score"] <= 100


def test_max_train_examples_subsamples(tokenized, tmp_path):
    metrics = _run(tokenized, tmp_path / "sub", 0, max_train_examples=10, epochs=1)
    assert metrics["train_examples"] == 10 and metrics["steps"] == 2


@pytest.mark.parametrize("failing", ["tokenizer", "publish"])
@pytest.mark.bad_input("kill", "handled")
def test_a_fine_tune_killed_while_writing_leaves_nothing_a_later_job_reads(tokenized, tmp_path, monkeypatch, failing):
    """The weights, config and tokenizer are written beside the output directory and renamed in
    last (weights very last): a failure at any write leaves neither config.json nor
    model.safetensors where the quantize and evaluate jobs read them."""
    import os

    import transformers

    import bertq.training.finetune as finetune

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    if failing == "tokenizer":
        monkeypatch.setattr(transformers.PreTrainedTokenizerBase, "save_pretrained", boom)
    else:  # killed after config.json was moved in, before the weights
        real = os.replace

        def replace(src, dst):
            if str(dst).endswith("model.safetensors"):
                boom()
            real(src, dst)

        monkeypatch.setattr(finetune.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        _run(tokenized, tmp_path / "out", 0, epochs=1)
    assert not (tmp_path / "out" / "model.safetensors").exists()
    assert (tmp_path / "out" / "config.json").exists() == (failing == "publish")  # alone it is read by no job
    monkeypatch.undo()
    _run(tokenized, tmp_path / "out", 0, epochs=1)  # the rerun replaces what the kill left
    assert (tmp_path / "out" / "model.safetensors").is_file() and not (tmp_path / ".out.partial").exists()
