"""Small helpers the Snakemake rules share: code hashes for precise reruns, job logging and
provenance, and atomic writes so a failed job never leaves an output a later job would trust."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import time
from pathlib import Path

PACKAGE_DIR = Path(__file__).parent


def code_hash(*modules: str) -> str:
    """SHA-256 (shortened) of the named source files, relative to the bertq package.

    Passed to a rule as a param, so that editing a module reruns exactly the jobs that run it.
    """
    h = hashlib.sha256()
    for rel in sorted(set(modules)):
        path = PACKAGE_DIR / rel
        h.update(rel.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


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
def job(smk, results=()):
    """Run a rule's script body: logging to the job's log file, then, when the body succeeds,
    a provenance block (:mod:`bertq.provenance`) stamped into each JSON file of ``results``."""
    from . import provenance

    started = time.time()
    with log_to(smk.log[0] if smk.log else None):
        yield
        block = provenance.record(smk.rule, dict(smk.wildcards.items()), dict(smk.params.items()),
                                  started, time.time())
        for path in results:
            provenance.stamp(path, block)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary sibling path; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def fail(message: str) -> None:
    print(f"bertq: {message}", file=sys.stderr)
    raise SystemExit(1)
