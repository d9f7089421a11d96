"""Each pipeline job starts Python and imports its entry point; a job imports only what it runs
(no scipy.optimize outside an ACIQ quantization, no transformers where the tokenized data is
already there, never pandas or matplotlib outside the reports), and ``import bertq`` is free."""

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "numba", "scipy", "scipy.optimize", "scipy.special", "transformers", "pandas", "matplotlib")


def _imported(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "entry,forbidden",
    [
        # numba itself imports the bare scipy package; scipy.optimize is ACIQ's, loaded when it runs
        ("bertq.quantization.job", {"scipy.optimize", "scipy.special", "transformers", "pandas", "matplotlib"}),
        ("bertq.evaluation.job", {"scipy", "numba", "transformers", "pandas", "matplotlib"}),
    ],
)
def test_job_entry_points_import_only_what_they_run(entry, forbidden):
    assert not _imported(f"import {entry}") & forbidden


def test_importing_bertq_and_its_api_names_is_cheap():
    assert not _imported("import bertq\nimport bertq.models.sources") & set(HEAVY)
    assert "torch" not in _imported("from bertq import QuantizationConfig\nQuantizationConfig('lq', 4)")


def test_aciq_still_finds_its_clipping_ratio():
    """scipy is imported inside ACIQ: the root of eq. 5 at 4 bits is the authors' 2.55 sigma."""
    from bertq.quantization.aciq import optimal_clip_ratio

    assert optimal_clip_ratio("gaussian", 4) == pytest.approx(2.55, abs=0.01)
