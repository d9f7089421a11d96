"""TyDi QA GoldP, the gold-passage secondary task of TyDi QA (Clark et al., 2020, section 8).

The official files ``tydiqa-goldp-v1.1-train.json`` / ``tydiqa-goldp-v1.1-dev.json`` are in
SQuAD v1.1's JSON format ("it should be possible to swap in the TyDiQA-GoldP JSON files for your
SQuAD 1.1 files", ``gold_passage_baseline/README.md`` of github.com/google-research-datasets/tydiqa),
so :func:`read_tydiqa` is :func:`bertq.data.squad.read_squad` plus one check: every question id
starts with its language, the part before the first ``-`` (``english-...``, ``arabic-...``), one
of the nine GoldP languages (Thai and Japanese are not in GoldP). That is how the official
``gold_passage_baseline/split_predictions.py`` splits predictions by language, and how
:mod:`bertq.metrics.tydiqa` scores them. The hub copy is ``google-research-datasets/tydiqa``,
config ``secondary_task``, in the SQuAD row layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .loading import DataError, hub_load
from .squad import SquadExample, examples_from_rows, read_squad

__all__ = ["GOLDP_LANGUAGES", "TYDIQA_FILES", "language_of", "load_tydiqa_hub", "read_tydiqa"]

GOLDP_LANGUAGES = (
    "arabic",
    "bengali",
    "english",
    "finnish",
    "indonesian",
    "korean",
    "russian",
    "swahili",
    "telugu",
)
"""The languages of TyDi QA GoldP (``split_predictions.py``'s list)."""

TYDIQA_FILES = {"train": "tydiqa-goldp-v1.1-train.json", "dev": "tydiqa-goldp-v1.1-dev.json"}
"""The official file names of TyDi QA GoldP v1.1 in a local ``data.tydiqa.dir``."""

_HUB_SPLITS = {"train": "train", "dev": "validation"}
HUB_CONFIG = "secondary_task"


def language_of(qid: str) -> str:
    """The language of a GoldP question: its id up to the first ``-``; ``ValueError`` if that is
    not a GoldP language."""
    language = qid.split("-", 1)[0]
    if "-" not in qid or language not in GOLDP_LANGUAGES:
        raise ValueError(
            f"question id {qid!r} does not start with a TyDi QA GoldP language and '-' ({', '.join(GOLDP_LANGUAGES)})"
        )
    return language


def _check_languages(examples: list[SquadExample], origin: str) -> list[SquadExample]:
    for ex in examples:
        try:
            language_of(ex.qid)
        except ValueError as exc:
            raise DataError(f"{origin}: question {ex.qid!r}: {exc}") from None
    return examples


def read_tydiqa(path: str | Path) -> list[SquadExample]:
    """Read an official TyDi QA GoldP JSON file (checked as :func:`read_squad`, and every id
    starts with its language)."""
    return _check_languages(read_squad(path), str(path))


def _hub_load_tydiqa(dataset_id: str, config: str, split: str) -> Any:
    """Seam over :func:`~bertq.data.loading.hub_load` (tests replace it)."""
    return hub_load(
        dataset_id,
        split,
        config,
        what="TyDi QA",
        instead=f"set data.tydiqa.dir to a directory with the official {TYDIQA_FILES['train']} / {TYDIQA_FILES['dev']}",
    )


def load_tydiqa_hub(split: str, dataset_id: str = "google-research-datasets/tydiqa") -> list[SquadExample]:
    """A split of TyDi QA GoldP from the hub (config ``secondary_task``; rows ``id``, ``title``,
    ``context``, ``question``, ``answers: {text, answer_start}``), checked as :func:`read_tydiqa`."""
    hub_split = _HUB_SPLITS[split]
    origin = f"hub dataset {dataset_id!r} config {HUB_CONFIG!r} split {hub_split!r}"
    return _check_languages(examples_from_rows(_hub_load_tydiqa(dataset_id, HUB_CONFIG, hub_split), origin), origin)
