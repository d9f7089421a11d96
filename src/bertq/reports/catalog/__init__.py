"""The reports, one module per paper: each declares its :class:`~bertq.reports.record.Report`
records in ``REPORTS`` beside their render functions, and imports its rendering code (pandas,
matplotlib) only inside them. :func:`modules` finds every module here, so a new report needs no
list to be added to."""

from __future__ import annotations

import importlib
import pkgutil


def modules() -> list:
    """Every module of this package, imported, in name order."""
    found = sorted(info.name for info in pkgutil.iter_modules(__path__))
    return [importlib.import_module(f"{__name__}.{name}") for name in found]
