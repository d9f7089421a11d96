"""The reports, one module per paper: each declares its :class:`~bertq.reports.record.Report`
records in ``REPORTS`` beside their render functions, and imports its rendering code (pandas,
matplotlib) only inside them. :func:`modules` finds every module here, so a new report needs no
list to be added to; a module's ``ORDER`` places its reports in the default order."""

from __future__ import annotations

import importlib
import pkgutil


def modules() -> list:
    """Every module of this package, imported, in its ``ORDER`` (the papers in the order bertq
    reproduces them; modules without one last), then by name."""
    found = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    return sorted(found, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
