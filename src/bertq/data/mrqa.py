"""Natural Questions (Kwiatkowski et al., 2019) in the MRQA 2019 shared task's format (Fisch et al.,
2019), as SQuAD-style examples for bertq's span path.

An MRQA file (github.com/mrqa/MRQA-Shared-Task-2019, README "Dataset format") is JSON lines,
optionally gzipped: a header line ``{"header": {...}}``, then one object per context::

    {"context": ..., "qas": [{"qid": ..., "question": ..., "answers": [...],
        "detected_answers": [{"text": ..., "char_spans": [[start, end], ...], "token_spans": ...}]}]}

``char_spans`` are *inclusive*: ``context[start:end + 1]`` is the answer. Each question becomes a
:class:`~bertq.data.squad.SquadExample` whose located ``answers`` are the detected spans (the
first one is the training label) and whose ``gold_answers`` are the ``answers`` strings, which
MRQA's official ``mrqa_official_eval.py`` scores against (SQuAD normalization, EM and F1, the
maximum over the gold answers). Contexts keep MRQA's markup tokens (``[PAR]``, ``<P>``, ...) as
text. Questions sharing a context share a ``title`` (``context <k>``), so the ``dev_articles``
split never puts one context on both sides.

The hub copy ``mrqa-workshop/mrqa`` holds every MRQA subset in one table, one row per question
(``subset``, ``context``, ``qid``, ``question``, ``answers``, ``detected_answers: {text: [...],
char_spans: [{start: [...], end: [...]}], token_spans: ...}``, its dataset card); the rows of
``subset == "NaturalQuestionsShort"`` are Natural Questions.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from .loading import DataError, hub_load
from .squad import SquadExample, _example, _field

__all__ = ["NQ_FILES", "NQ_SUBSET", "load_mrqa_hub", "read_mrqa"]

NQ_SUBSET = "NaturalQuestionsShort"
NQ_FILES = {
    "train": ("train/NaturalQuestionsShort.jsonl.gz", "train/NaturalQuestionsShort.jsonl"),
    "dev": ("dev/NaturalQuestionsShort.jsonl.gz", "dev/NaturalQuestionsShort.jsonl"),
}
"""Where a local ``data.nq.dir`` holds each split (the MRQA download's train/ and dev/ files have
the same name): the gzipped file, or else the plain one."""

_HUB_SPLITS = {"train": "train", "dev": "validation"}


def _lines(path: Path):
    """``(line number, text)`` of a JSON-lines file, gzipped (by its magic bytes) or plain."""
    try:
        with open(path, "rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rt", encoding="utf-8") if gz else open(path, encoding="utf-8") as f:
            yield from enumerate(f, start=1)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None


def read_mrqa(path: str | Path) -> list[SquadExample]:
    """Read an MRQA JSON-lines file (``.jsonl`` or ``.jsonl.gz``): a header line, then contexts.

    Every bad input raises :class:`DataError` naming the file, the line and the question id: a
    line that is not JSON, a missing or mistyped key, a char span outside the context or whose
    text is not the detected answer's, a question without a detected answer or gold answer, a
    duplicate question id, a file without the header or without questions.
    """
    path = Path(path)
    examples: list[SquadExample] = []
    seen: set[str] = set()
    contexts = 0
    for n, line in _lines(path):
        where_line = f"{path}: line {n}"
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where_line}: invalid JSON: {exc}") from None
        if n == 1:
            if not isinstance(obj, dict) or "header" not in obj:
                raise DataError(f"{where_line}: the first line must be the MRQA header {{'header': ...}}")
            continue
        context = _field(obj, "context", str, where_line)
        for i, qa in enumerate(_field(obj, "qas", list, where_line)):
            qid = _field(qa, "qid", str, f"{where_line}, question {i}")
            where = f"{where_line}: question {qid!r}"
            if qid in seen:
                raise DataError(f"{where}: duplicate question id")
            seen.add(qid)
            spans = []
            for j, det in enumerate(_field(qa, "detected_answers", list, where)):
                text = _field(det, "text", str, f"{where}, detected answer {j}")
                for span in _field(det, "char_spans", list, f"{where}, detected answer {j}"):
                    spans.append((text, span))
            examples.append(_mrqa_example(qid, f"context {contexts}", qa, context, spans, where))
        contexts += 1
    if not examples:
        raise DataError(f"{path}: no questions (an MRQA file is a header line, then one context per line)")
    return examples


def _mrqa_example(qid: str, title: str, qa: Any, context: str, spans: list, where: str) -> SquadExample:
    """A checked example from an MRQA question: located answers from the inclusive ``spans``
    (``(text, [start, end])``), gold strings from ``answers``."""
    question = _field(qa, "question", str, where)
    gold = _field(qa, "answers", list, where)
    if not gold or any(not isinstance(g, str) for g in gold):
        raise DataError(f"{where}: 'answers' must be a non-empty list of strings")
    if not spans:
        raise DataError(f"{where}: no detected answer")
    texts, starts = [], []
    for text, span in spans:
        ok = isinstance(span, list | tuple) and len(span) == 2
        if not ok or any(isinstance(v, bool) or not isinstance(v, int) for v in span):
            raise DataError(f"{where}: char span {span!r} of {text!r} is not [start, end]")
        start, end = span
        if not 0 <= start <= end < len(context) or context[start : end + 1] != text:
            raise DataError(
                f"{where}: char span [{start}, {end}] (end inclusive) does not point at {text!r} in the context"
            )
        texts.append(text)
        starts.append(start)
    example = _example(qid, title, question, context, texts, starts, where)
    example.gold_answers = list(gold)
    return example


def _hub_load_mrqa(dataset_id: str, split: str) -> Any:
    """Seam over :func:`~bertq.data.loading.hub_load` (tests replace it)."""
    return hub_load(
        dataset_id,
        split,
        what="Natural Questions (MRQA)",
        instead=f"set data.nq.dir to a directory with {NQ_FILES['train'][0]} and {NQ_FILES['dev'][0]}",
    )


def load_mrqa_hub(split: str, dataset_id: str = "mrqa-workshop/mrqa", subset: str = NQ_SUBSET) -> list[SquadExample]:
    """The ``subset`` rows of a split of the hub's MRQA table, read as :func:`read_mrqa` reads a
    file (``detected_answers`` there is ``{text: [...], char_spans: [{start: [...], end: [...]}]}``,
    one entry per detected answer)."""
    hub_split = _HUB_SPLITS[split]
    origin = f"hub dataset {dataset_id!r} split {hub_split!r}"
    examples, seen, titles = [], set(), {}
    for i, row in enumerate(_hub_load_mrqa(dataset_id, hub_split)):
        where_row = f"{origin}, row {i}"
        if _field(row, "subset", str, where_row) != subset:
            continue
        qid = _field(row, "qid", str, where_row)
        where = f"{where_row}: question {qid!r}"
        if qid in seen:
            raise DataError(f"{where}: duplicate question id")
        seen.add(qid)
        context = _field(row, "context", str, where)
        detected = _field(row, "detected_answers", dict, where)
        texts = _field(detected, "text", list, where)
        char_spans = _field(detected, "char_spans", list, where)
        if len(texts) != len(char_spans):
            raise DataError(f"{where}: {len(texts)} detected answer texts but {len(char_spans)} char_spans")
        spans = []
        for j, (text, cs) in enumerate(zip(texts, char_spans, strict=True)):
            at = f"{where}, detected answer {j}"
            starts, ends = _field(cs, "start", list, at), _field(cs, "end", list, at)
            if len(starts) != len(ends):
                raise DataError(f"{at}: {len(starts)} span starts but {len(ends)} ends")
            if not isinstance(text, str):
                raise DataError(f"{at}: 'text' must be str")
            spans += [(text, [s, e]) for s, e in zip(starts, ends, strict=True)]
        title = titles.setdefault(context, f"context {len(titles)}")
        examples.append(_mrqa_example(qid, title, row, context, spans, where))
    if not examples:
        raise DataError(f"{origin}: no rows of subset {subset!r}")
    return examples
