"""What a report is: one :class:`Report` record per report, and the :class:`Context` it renders from.

A record says everything the rest of bertq needs to know about a report: its name (the key in a
config's ``reports`` list), the paper it reproduces (its category in Snakemake's HTML report), the
files it writes with their lines in ``index.md``, its caption in the HTML report, which studies it
applies to, and the function that renders it. Records live in the modules of
:mod:`bertq.reports.catalog`, one per paper; :mod:`bertq.reports.registry` collects them.

This module imports neither pandas nor matplotlib: the config reads the records on every DAG build.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLASSIFICATION = "classification"
SQUAD = "squad"
ANY = "any"
QA = "qa"
READS = {CLASSIFICATION: "a GLUE, rotten_tomatoes or conll03 task", SQUAD: "the task squad",
         QA: "the task tydiqa or nq", ANY: "a GLUE, rotten_tomatoes or conll03 task or squad"}
"""Which results a report reads, and what its ``tasks`` must then hold."""

MODEL = "{model}"
"""In a file pattern: one file per model of the study."""


@dataclass(frozen=True)
class Context:
    """What a report renders from: the summary's rows over the classification ``tasks``
    (``summary``), over SQuAD (``squad``) and over the other span tasks (``qa``), the throughput table, the models in order, the
    method variants (``{name: {"method", "params", ...}}``, see :func:`bertq.pipeline.config.variant_record`), the
    activation captures and the output directory."""

    out: Path
    summary: Any
    squad: Any
    throughput: Any
    tasks: list[str]
    models: list[str]
    variants: dict = field(default_factory=dict)
    captures: dict = field(default_factory=dict)
    """``{(model, task): path}`` of the activation captures (:mod:`bertq.evaluation.capture`) of the
    fp32 models, for the reports that declare ``captures=True``."""
    qa: Any = None
    """The summary's rows over the span tasks other than SQuAD (TyDi QA, NQ), which no paper
    report reads; bertq's ``results.csv`` has a benchmark per task."""

    def path(self, name: str) -> Path:
        return self.out / name


def _any_methods(methods: dict) -> bool:
    return True


@dataclass(frozen=True)
class Report:
    """One report.

    ``files`` maps each file pattern (``{model}`` for one file per model) to its line in
    ``index.md`` (``{model}`` there is the model's label); ``caption`` is the reStructuredText of
    its caption in the HTML report, which shows its ``.png`` and ``.csv`` files; ``reads`` says
    which results it reads (:data:`READS`); ``uses``/``needs`` say which ``quantization.methods``
    entries it reads and in words; ``render`` writes the files and returns their paths. A report
    that is not ``selectable`` is rendered for every study and cannot be named in a config.
    """

    name: str
    paper: str
    files: dict[str, str]
    caption: str
    render: Callable[[Context], list[Path]]
    reads: str = CLASSIFICATION
    uses: Callable[[dict], bool] = _any_methods
    needs: str = ""
    selectable: bool = True
    captures: bool = False
    """Whether it reads the activation captures of the fp32 models (:attr:`Context.captures`)."""

    def __post_init__(self):
        if self.reads not in READS:
            raise ValueError(f"report {self.name}: reads must be one of {', '.join(READS)}, not {self.reads!r}")

    def file_names(self, models) -> list[str]:
        """Every file the report writes for a study of ``models``: its own files, then its files
        per model (model by model)."""
        own = [p for p in self.files if MODEL not in p]
        return own + [p.replace(MODEL, m) for m in models for p in self.files if MODEL in p]

    def index_lines(self, models, labels: dict[str, str]) -> dict[str, str]:
        """File name -> its line in ``index.md``, models named by ``labels``."""
        return {p.replace(MODEL, m): line.replace(MODEL, labels.get(m, m))
                for p, line in self.files.items() for m in (models if MODEL in p else [""])}

    def applies(self, tasks, methods: dict) -> bool:
        """Whether a study of ``tasks`` with these ``quantization.methods`` entries can render it."""
        from bertq.data.tasks import TASKS

        spans = {TASKS[t].is_span for t in tasks if t in TASKS}
        qa = any(TASKS[t].is_span for t in tasks if t in TASKS and t != SQUAD)
        has = {CLASSIFICATION: False in spans, SQUAD: SQUAD in tasks, QA: qa, ANY: bool(spans)}[self.reads]
        return has and self.uses(methods or {})

    def requirement(self) -> str:
        """What a study needs for this report, in words (for config errors)."""
        need = f"{READS[self.reads]} in tasks"
        return need + (f" and {self.needs} in quantization.methods" if self.needs else "")
