"""How the pipeline tests run Snakemake: the repository's Snakefile on a study directory holding
its config.yaml, offline."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def offline_env(**extra: str) -> dict[str, str]:
    """This process's environment with the hub switched off, plus ``extra``."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}


def snakemake_argv(workdir: Path, *args: str) -> list[str]:
    """``python -m snakemake`` with ``args`` on the repository's Snakefile in ``workdir`` (its
    config.yaml last: ``--configfile`` takes every word after it)."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        *args,
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
    ]
