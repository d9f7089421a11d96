"""numba's on-disk cache, safe when several processes compile the same functions at once.

numba keeps one index file per function (signature and CPU -> data file) and numbered data files.
Saving reads the index, takes the first free number, writes the index, then the data; loading
reads the index, then the data file it names. Two jobs that save different specialisations at the
same moment (another kernel path, another signature) both take number 1, and the index can end up
naming the other job's machine code, which crashes whoever loads it next (numba issues #4807 and
#10128; the numba developers' remedy is a file lock). A study starts many jobs at once on a fresh
checkout or cluster node, each compiling the kernels, so bertq takes an advisory lock (``flock``)
on a file beside the function's index around every cache save (exclusive) and load (shared).
Compiled code is unchanged, and a process that never compiles never waits.
"""

from __future__ import annotations

import contextlib
import functools
import os

from numba import njit
from numba.core import caching

try:
    import fcntl
except ImportError:  # no flock (Windows): numba's own behaviour
    fcntl = None

LOCK_SUFFIX = ".lock"


@contextlib.contextmanager
def index_lock(index_path: str, exclusive: bool):
    """Hold ``flock`` on ``<index_path>.lock``; nothing where the cache directory is read-only."""
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(index_path + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # a read-only cache is never written, so there is nothing to guard
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def _locked(method, exclusive: bool):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with index_lock(self._index_path, exclusive):
            return method(self, *args, **kwargs)

    wrapper.bertq_cache_lock = True
    return wrapper


def install_cache_lock() -> None:
    """Guard numba's index-and-data cache files with :func:`index_lock` (idempotent)."""
    files = caching.IndexDataCacheFile
    if not getattr(files.save, "bertq_cache_lock", False):
        files.save = _locked(files.save, exclusive=True)
        files.load = _locked(files.load, exclusive=False)


def cached_njit(*args, **options):
    """``numba.njit(cache=True)`` with the cache lock installed."""
    install_cache_lock()
    return njit(*args, cache=True, **options)
