"""Synthetic TyDi QA GoldP and MRQA Natural Questions files the tests write themselves, built from
:mod:`squad_fixture`'s articles: GoldP ids carry a language prefix (``english-...``), MRQA lines
carry inclusive char spans and MarkUp tokens (``<P>``, ``[PAR]``) in their contexts."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from squad_fixture import synthetic_squad

LANGUAGES = ("english", "arabic", "finnish")


def synthetic_tydiqa(n_articles: int = 6, seed: int = 0) -> dict:
    """SQuAD-format data whose question ids start with a GoldP language, cycling over LANGUAGES."""
    data = synthetic_squad(n_articles, seed=seed)
    k = 0
    for article in data["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                qa["id"] = f"{LANGUAGES[k % len(LANGUAGES)]}-{k}-{qa['id']}"
                k += 1
    return data


def synthetic_mrqa(n_contexts: int = 12, seed: int = 0) -> list[dict]:
    """MRQA lines (header first): each context two questions; the gold ``answers`` strings add a
    lower-cased variant the detected spans do not have."""
    lines: list[dict] = [{"header": {"dataset": "NaturalQuestionsShort", "split": "synthetic"}}]
    squad = synthetic_squad(n_contexts, paragraphs=1, seed=seed)
    for a, article in enumerate(squad["data"]):
        para = article["paragraphs"][0]
        context = "<P> " + para["context"].replace(". ", " . [PAR] ", 1) + " </P>"
        qas = []
        for qa in para["qas"]:
            text = qa["answers"][0]["text"]
            start = context.index(text)
            qas.append(
                {
                    "qid": f"nq{a}-{qa['id']}",
                    "question": qa["question"].lower().rstrip("?"),
                    "answers": [text, text.lower()],
                    "detected_answers": [
                        {"text": text, "char_spans": [[start, start + len(text) - 1]], "token_spans": [[0, 0]]}
                    ],
                }
            )
        lines.append({"id": f"ctx{a}", "context": context, "qas": qas})
    return lines


def write_jsonl(path: Path, lines: list[dict], gz: bool = True) -> Path:
    text = "".join(json.dumps(obj) + "\n" for obj in lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def write_tydiqa_dir(directory: Path, n_articles: int = 6, with_train: bool = True) -> Path:
    """``tydiqa-goldp-v1.1-dev.json`` (and the train file with ``with_train``) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tydiqa-goldp-v1.1-dev.json").write_text(json.dumps(synthetic_tydiqa(n_articles, seed=0)))
    if with_train:
        (directory / "tydiqa-goldp-v1.1-train.json").write_text(json.dumps(synthetic_tydiqa(n_articles, seed=1)))
    return directory


def write_nq_dir(directory: Path, n_contexts: int = 12, gz: bool = True) -> Path:
    """``train/`` and ``dev/NaturalQuestionsShort.jsonl[.gz]`` in ``directory``."""
    name = "NaturalQuestionsShort.jsonl" + (".gz" if gz else "")
    write_jsonl(directory / "train" / name, synthetic_mrqa(n_contexts, seed=1), gz)
    write_jsonl(directory / "dev" / name, synthetic_mrqa(n_contexts, seed=0), gz)
    return directory
