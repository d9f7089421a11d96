"""The bad-input corpus: every test marked ``@pytest.mark.bad_input(kind, outcome)`` feeds bertq
what a careless user or a crash would (a config, a data file, hardware the machine lacks, a
damaged or edited result, a kill at a write, a hostile string) and asserts that the message names
the key or file, that no job ran where the config was at fault, and that no partial output
survives. Each parametrized case counts once. The run's summary tallies the cases by kind and by
outcome; a failing case counts as neither outcome (an unclear error or a silent acceptance)."""

from __future__ import annotations

from collections import Counter

import pytest

KINDS = ("config", "data", "hardware", "damaged", "edited", "kill", "hostile")
OUTCOMES = {
    "before_job": "caught before any job",
    "job_time": "clear error at job time",
    "handled": "handled (escaped, warned in the report, or recovered by the rerun)",
}
_CORPUS = pytest.StashKey[dict]()


def pytest_collection_modifyitems(config, items):
    corpus = {}
    for item in items:
        marker = item.get_closest_marker("bad_input")
        if marker is None:
            continue
        kind, outcome = marker.args
        if kind not in KINDS or outcome not in OUTCOMES:
            raise pytest.UsageError(
                f"{item.nodeid}: bad_input({kind!r}, {outcome!r}): kind is one of {KINDS}, outcome one of "
                f"{tuple(OUTCOMES)}"
            )
        corpus[item.nodeid] = (kind, outcome)
    config.stash[_CORPUS] = corpus


def pytest_terminal_summary(terminalreporter, config):
    corpus = config.stash.get(_CORPUS, {})
    if not corpus:
        return
    ran = {}
    for status in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(status, []):
            if getattr(report, "nodeid", None) not in corpus:
                continue
            if report.when == "call" or (status != "passed" and report.when == "setup"):
                ran[report.nodeid] = "passed" if status == "passed" else "failed"
    if not ran:
        return
    kinds = Counter(corpus[n][0] for n in ran)
    outcomes = Counter(corpus[n][1] for n, status in ran.items() if status == "passed")
    failed = sum(status == "failed" for status in ran.values())
    terminalreporter.write_sep("-", "bad-input corpus")
    terminalreporter.write_line(
        f"{len(ran)} cases ({', '.join(f'{k} {kinds[k]}' for k in KINDS if kinds[k])}): "
        + ", ".join(f"{label} {outcomes[o]}" for o, label in OUTCOMES.items())
        + f", unclear or silently accepted {failed}"
    )
