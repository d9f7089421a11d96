"""A synthetic SQuAD v1.1 file the tests write themselves: short articles whose questions ask who
built a house (a name) and when (a year, with a second gold answer "in <year>")."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "under",
    "mat",
    "big",
    "small",
    "red",
    "blue",
    "quickly",
    "slowly",
]
NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy"]


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10)))


def synthetic_squad(n_articles: int = 8, paragraphs: int = 3, seed: int = 0) -> dict:
    rng = random.Random(seed)
    data = []
    for a in range(n_articles):
        paras = []
        for p in range(paragraphs):
            name, year = rng.choice(NAMES), str(rng.randint(1800, 2000))
            context = (
                f"{_sentence(rng)}. {_sentence(rng)}. {name} built the house in {year}. "
                f"{_sentence(rng)}. {_sentence(rng)}."
            )
            qas = [
                {
                    "id": f"a{a}p{p}q0",
                    "question": "Who built the house?",
                    "answers": [{"text": name, "answer_start": context.index(name)}],
                },
                {
                    "id": f"a{a}p{p}q1",
                    "question": "When was the house built?",
                    "answers": [
                        {"text": year, "answer_start": context.index(year)},
                        {"text": f"in {year}", "answer_start": context.index(f"in {year}")},
                    ],
                },
            ]
            paras.append({"context": context, "qas": qas})
        data.append({"title": f"Article_{a}", "paragraphs": paras})
    return {"version": "1.1", "data": data}


def write_squad_dir(directory: Path, n_articles: int = 8, with_train: bool = False) -> Path:
    """``dev-v1.1.json`` (and ``train-v1.1.json`` with ``with_train``) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dev-v1.1.json").write_text(json.dumps(synthetic_squad(n_articles, seed=0)))
    if with_train:
        (directory / "train-v1.1.json").write_text(json.dumps(synthetic_squad(n_articles, seed=1)))
    return directory
