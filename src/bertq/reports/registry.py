"""The report registry: every :class:`~bertq.reports.record.Report` declared in a module of
:mod:`bertq.reports.catalog` (its ``REPORTS`` tuple), found by listing the package, so adding a
report is adding a record (and its render function) in a catalog module.

The config's report names and checks, the reports rule's outputs, the HTML report's categories
and captions, ``index.md`` and :func:`bertq.reports.build.build_reports` all read it. Cheap to
import: catalog modules import their rendering code when they render.
"""

from __future__ import annotations

import functools
from pathlib import Path

from bertq.reports import catalog
from bertq.reports.record import CLASSIFICATION, SQUAD, Report

GROUP_ORDER = {CLASSIFICATION: 0, SQUAD: 1}
"""Default order: reports over classification tasks, then SQuAD's, then those reading both."""


@functools.cache
def reports() -> dict[str, Report]:
    """Every report by name: catalog modules in name order, each module's records in its order."""
    found: dict[str, Report] = {}
    for module in catalog.modules():
        for record in getattr(module, "REPORTS", ()):
            if not isinstance(record, Report):
                raise TypeError(f"{module.__name__}.REPORTS holds {record!r}, not a Report")
            if record.name in found:
                raise ValueError(f"report {record.name!r} is declared twice ({module.__name__})")
            found[record.name] = record
    return found


def selectable() -> list[Report]:
    """The reports a config may name, in default order."""
    chosen = [r for r in reports().values() if r.selectable]
    return sorted(chosen, key=lambda r: GROUP_ORDER.get(r.reads, 2))  # stable: registry order within a group


def always() -> list[Report]:
    """The reports every study renders (after the chosen ones), in registry order."""
    return [r for r in reports().values() if not r.selectable]


def names() -> list[str]:
    return [r.name for r in selectable()]


def get(name: str) -> Report:
    """The selectable report ``name``, or a ValueError listing the known ones."""
    record = reports().get(name)
    if record is None or not record.selectable:
        raise ValueError(f"unknown report {name!r}; known reports: {', '.join(names())}")
    return record


def planned(chosen, models) -> list[tuple[Report, str]]:
    """(report, file name) of every file a study writes: the chosen reports', then every study's."""
    return [(r, f) for r in [get(n) for n in chosen] + always() for f in r.file_names(models)]


def html_item(report: Report, file_name: str) -> tuple[str, str] | None:
    """(category, subcategory) of a file in Snakemake's HTML report, or None for files kept out
    of it (markdown twins of the CSV tables, vector twins of the PNG figures)."""
    ext = file_name.rsplit(".", 1)[-1]
    if ext not in ("png", "csv"):
        return None
    return report.paper, "Figures" if ext == "png" else "Tables"


CAPTION_FOOTER = "\n\n{{ snakemake.params.study }}\n"
"""Every caption ends with the study line (the reports rule's ``study`` param, rendered by Jinja)."""


def write_captions(directory) -> dict[str, Path]:
    """One caption file per report (its caption and the study line) in ``directory`` for
    Snakemake's ``report(..., caption=...)``; files already up to date are left alone."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, record in reports().items():
        path = directory / f"{name}.rst"
        text = record.caption.strip() + CAPTION_FOOTER
        if not path.is_file() or path.read_text() != text:
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text)
            tmp.replace(path)
        paths[name] = path
    return paths
