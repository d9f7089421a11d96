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


def run_snakemake(workdir: Path, *args: str, timeout: int = 900):
    """Snakemake with ``args`` on two cores in the study directory ``workdir``, offline."""
    import subprocess

    return subprocess.run(
        snakemake_argv(workdir, "--cores", "2", *args),
        capture_output=True,
        text=True,
        env=offline_env(),
        timeout=timeout,
    )


def run_study(workdir: Path, config: dict) -> Path:
    """Write ``config`` as the study's config.yaml and run it to ``reports/all``, which must succeed."""
    import yaml

    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    run = run_snakemake(workdir, "reports/all")
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir
