"""File handling every job shares: logging to the job's log file, and atomic writes so a failed
job never leaves an output a later job would trust."""

from __future__ import annotations

import contextlib
import glob
import logging
import os
from pathlib import Path


@contextlib.contextmanager
def log_to(path: str | os.PathLike | None):
    """Send stdout, stderr and logging of a job to its log file (appending)."""
    if not path:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        handler = logging.StreamHandler(f)
        logging.getLogger().addHandler(handler)
        try:
            yield
        except Exception:
            import traceback

            traceback.print_exc(file=f)
            raise
        finally:
            logging.getLogger().removeHandler(handler)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary sibling path; rename it onto ``path`` only if the block succeeds. The
    temporary files a killed write of ``path`` left (another process's) are removed first: one job
    at a time writes an output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.tmp*"):
        if stale.name[len(path.name) + 5 :].isdigit():
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def keep_file(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Make ``target`` a copy of ``source``, so that it outlives ``source`` when that is a temporary
    file. A copy, not a hard link: a link shares the source's modification time, and Snakemake
    touching the link (newer than its input) would make every job that read the source look out
    of date."""
    import shutil

    shutil.copyfile(source, target)
