"""Tokenised span-task data (SQuAD, TyDi QA GoldP, Natural Questions), cached once per (task,
tokenizer, window settings) as one safetensors file.

The training windows carry their span labels; the dev windows carry the character offsets that
map a predicted span back to text, and the dev examples (ids, contexts, gold answers) travel in
the file's metadata, so the evaluate jobs need nothing else. The metadata also records where the
data came from and which split was used (the official one, or whole dev-set articles).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from .qa_datasets import QA_DATASETS
from .squad import QAFeatures, SquadExample, make_features

_ARRAYS = ("input_ids", "token_type_ids", "lengths", "example_index")


def save_squad_features(
    path: str | Path, train: QAFeatures, dev: QAFeatures, dev_examples: list[SquadExample], meta: dict
) -> None:
    arrays = {}
    for split, feats in (("train", train), ("dev", dev)):
        arrays[f"{split}.input_ids"] = feats.input_ids.astype(np.int32)
        arrays[f"{split}.token_type_ids"] = feats.token_type_ids.astype(np.int8)
        arrays[f"{split}.lengths"] = feats.lengths.astype(np.int32)
        arrays[f"{split}.example_index"] = feats.example_index.astype(np.int32)
    arrays["train.start_positions"] = train.start_positions.astype(np.int32)
    arrays["train.end_positions"] = train.end_positions.astype(np.int32)
    arrays["dev.offsets"] = dev.offsets.astype(np.int32)
    examples = json.dumps([asdict(ex) for ex in dev_examples], ensure_ascii=False)
    save_file(
        {k: np.ascontiguousarray(v) for k, v in arrays.items()},
        str(path),
        metadata={"meta": json.dumps(meta), "dev_examples": examples},
    )


def load_squad_features(path: str | Path) -> tuple[dict[str, QAFeatures], list[SquadExample], dict]:
    """``({"train": ..., "dev": ...}, dev examples, meta)``; the train windows have no offsets
    (an all ``-1`` placeholder of width 1), the dev windows no labels."""
    with safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata()
        get = f.get_tensor
        feats = {}
        for split in ("train", "dev"):
            ids, types, lengths, ex = (get(f"{split}.{k}").astype(np.int64) for k in _ARRAYS)
            if split == "train":
                offsets = np.full((len(ids), 1, 2), -1, dtype=np.int64)
                labels = (get("train.start_positions").astype(np.int64), get("train.end_positions").astype(np.int64))
            else:
                offsets, labels = get("dev.offsets").astype(np.int64), (None, None)
            feats[split] = QAFeatures(ids, types, lengths, ex, offsets, *labels)
    examples = [SquadExample(**d) for d in json.loads(metadata["dev_examples"])]
    return feats, examples, json.loads(metadata["meta"])


def run_tokenize_span(
    tokenizer_location: str,
    output: str | Path,
    *,
    task: str,
    max_length: int,
    doc_stride: int,
    max_query_length: int,
    data_dir: str | None,
    hub_dataset: str,
    split_mode: str,
    dev_fraction: float,
    split_seed: int,
) -> dict:
    """The tokenise job of a span task (:data:`bertq.data.qa_datasets.QA_DATASETS`): read both
    splits, make sliding-window features, write them."""
    from transformers import AutoTokenizer

    dataset = QA_DATASETS[task]
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_location, trust_remote_code=False)
    source = dict(
        data_dir=data_dir,
        hub_dataset=hub_dataset,
        split_mode=split_mode,
        dev_fraction=dev_fraction,
        split_seed=split_seed,
    )
    train_examples = dataset.load("train", **source)
    dev_examples = dataset.load("dev", **source)
    window = dict(max_length=max_length, stride=doc_stride, max_query_length=max_query_length)
    train = make_features(tokenizer, train_examples, training=True, **window)
    dev = make_features(tokenizer, dev_examples, **window)
    split = (
        "official train / dev"
        if split_mode == "official"
        else f"{Path(dataset.files['dev'][0]).name.partition('.json')[0]} articles: "
        f"{len({e.title for e in train_examples})} for training, "
        f"{len({e.title for e in dev_examples})} held out (dev_fraction {dev_fraction}, "
        f"seed {split_seed})"
    )
    meta = {
        "task": task,
        "tokenizer": tokenizer_location,
        **window,
        "source": f"dir:{data_dir}" if data_dir else f"hub:{hub_dataset}",
        "split_mode": split_mode,
        "split": split,
        "dev_fraction": dev_fraction if split_mode == "dev_articles" else None,
        "split_seed": split_seed if split_mode == "dev_articles" else None,
        "train_examples": len(train_examples),
        "dev_examples": len(dev_examples),
        "train_windows": len(train),
        "dev_windows": len(dev),
        "dev_titles": sorted({e.title for e in dev_examples}),
        "pad_token_id": tokenizer.pad_token_id or 0,
    }
    save_squad_features(output, train, dev, dev_examples, meta)
    return meta
