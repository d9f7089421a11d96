"""Timing helpers for the benchmarks: round-robin repeats, best and median, machine facts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def time_round_robin(
    candidates: dict[str, Callable[[], object]], repeats: int, warmup: int = 1, min_seconds: float = 0.0
) -> dict[str, dict]:
    """Seconds per call of each candidate, one call of each per round, so that a slow spell of the
    machine hits all of them alike. With ``min_seconds``, each timed sample loops a candidate
    until that long has passed (for calls of microseconds) and reports the mean per call."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    loops = {}
    for name, fn in candidates.items():  # calibrate the inner loop count once
        n, start = 1, time.perf_counter()
        fn()
        once = time.perf_counter() - start
        if min_seconds > 0 and once < min_seconds:
            n = max(1, int(min_seconds / max(once, 1e-7)))
        loops[name] = n
    samples = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            n = loops[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return {
        name: {
            "best_seconds": min(s),
            "median_seconds": statistics.median(s),
            "repeats": repeats,
            "calls_per_sample": loops[name],
            "seconds": s,
        }
        for name, s in samples.items()
    }


def paired_ratios(baseline: Sequence[float], seconds: Sequence[float]) -> list[float]:
    """The speed-up over the baseline in each round: baseline seconds / seconds, round by round."""
    if len(baseline) != len(seconds):
        raise ValueError(f"{len(baseline)} baseline rounds against {len(seconds)}")
    return [b / s for b, s in zip(baseline, seconds)]


def paired(timings: dict[str, dict], baseline: str) -> dict[str, float]:
    """The median over rounds of each candidate's :func:`paired_ratios` to ``baseline``: on a
    machine whose speed drifts (a shared VM's does by 20% within seconds), the two calls of one
    round see the same spell, so this is steadier than a ratio of medians."""
    base = timings[baseline]["seconds"]
    return {name: statistics.median(paired_ratios(base, t["seconds"])) for name, t in timings.items()}


def ratios(timings: dict[str, dict], baseline: str, stat: str = "best_seconds") -> dict[str, float]:
    """Speed-up of each candidate over ``baseline`` (baseline seconds / candidate seconds)."""
    base = timings[baseline][stat]
    return {name: base / t[stat] for name, t in timings.items()}
