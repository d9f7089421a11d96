"""numba's disk cache under bertq's cross-process lock (bertq.kernels.jit_cache): loads wait while
another process holds the function's lock, and processes that compile different specialisations
of one function at the same moment leave a cache from which every one of them loads correctly."""

import fcntl
import subprocess
import sys
import textwrap
import time
from pathlib import Path

MODULE = textwrap.dedent("""
    from bertq.kernels.jit_cache import cached_njit

    @cached_njit
    def scaled(x):
        return x * 3 + 1
""")

CALL = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {dir!r})
    import numpy as np
    import kern
    value = eval({expr!r})
    start = float({start!r})
    while time.time() < start:
        time.sleep(0.001)
    print(repr(kern.scaled(value)), kern.scaled.stats.cache_hits.get(kern.scaled.signatures[0], 0)
          if kern.scaled.signatures else 0)
""")


def _call(tmp_path: Path, expr: str, start: float = 0.0) -> subprocess.Popen:
    code = CALL.format(dir=str(tmp_path), expr=expr, start=start)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _index_lock(tmp_path: Path) -> Path:
    (index,) = (tmp_path / "__pycache__").glob("kern.scaled-*.nbi")
    return Path(str(index) + ".lock")


def test_a_cache_load_waits_for_the_lock_another_process_holds(tmp_path):
    (tmp_path / "kern.py").write_text(MODULE)
    first = _call(tmp_path, "1")
    assert first.communicate(timeout=120)[0].split()[0] == "4"  # compiled and saved
    lock = _index_lock(tmp_path)
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        waiting = _call(tmp_path, "2.5")
        time.sleep(3.0)
        assert waiting.poll() is None, "the cache was read while another process held its lock"
        fcntl.flock(held, fcntl.LOCK_UN)
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert out.split()[0] == "8.5"


def test_concurrent_compiles_of_different_specialisations_leave_a_consistent_cache(tmp_path):
    (tmp_path / "kern.py").write_text(MODULE)
    exprs = [
        "1",
        "2.5",
        "np.float32(2.0)",
        "np.int16(3)",
        "np.arange(3)",
        "np.ones(2, np.float32)",
        "complex(1, 1)",
        "np.uint8(7)",
    ]
    start = time.time() + 6.0  # every process imports first, then all compile at once
    procs = [_call(tmp_path, e, start) for e in exprs]
    first = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in first]
    # Every specialisation now loads from the cache, in a fresh process, with the right result.
    for expr, (out, _) in zip(exprs, first, strict=True):
        again = _call(tmp_path, expr)
        out2, err2 = again.communicate(timeout=120)
        assert again.returncode == 0, err2
        value, hits = out2.rsplit(" ", 1)
        assert value == out.rsplit(" ", 1)[0], expr
        assert int(hits) == 1, f"{expr} was compiled again instead of loaded from the cache"
