"""What produced a result: the job's config values, the code, the packages, the device, the time.

Every JSON result a job writes carries a ``provenance`` block (see :func:`record`), so a number in
a table can be traced back to the exact settings, code and machine that made it, even after the
workflow that ran it is gone. The code is identified by a hash of the installed package's
sources (and the git commit when the package runs from a checkout). :func:`bertq.pipeline.jobs.run`
writes the block with the job's record.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PACKAGES = (
    "bertq",
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "numpy",
    "scipy",
    "pandas",
    "numba",
    "llvmlite",
    "snakemake",
    "matplotlib",
)
SIMD_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "amx_int8",
    "neon",
    "asimd",
    "asimddp",
)


def cpu_info() -> dict:
    """The CPU's model name, architecture and the SIMD flags the kernels care about."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model", "cpu model") and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key in ("flags", "Features"):
                flags.update(value.split())
    except OSError:
        pass
    return {"model": model, "machine": platform.machine(), "simd_flags": sorted(flags & set(SIMD_FLAGS))}


def gpu_info() -> dict | None:
    """The GPU torch sees (name, CUDA version), or None. Only asked when torch is already loaded:
    jobs that never touch torch (tables, figures) ran on no GPU."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return {"name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count(), "cuda": torch.version.cuda}


@functools.cache
def code_version() -> dict:
    """A hash of every source file of the package, and the git commit (with a dirty flag) when
    the package is imported from a git checkout."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.suffix in (".py", ".json", ".yaml") and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(PACKAGE_DIR)).encode())
            h.update(path.read_bytes())
    out = {"source_sha256": h.hexdigest()[:16], "git_commit": None, "git_dirty": None}
    try:
        root = PACKAGE_DIR.parents[1]
        run = functools.partial(subprocess.run, cwd=root, capture_output=True, text=True, timeout=10, check=True)
        out["git_commit"] = run(["git", "rev-parse", "HEAD"]).stdout.strip()
        out["git_dirty"] = bool(run(["git", "status", "--porcelain", "--", "src"]).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return out


@functools.cache
def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def record(
    rule: str, wildcards: dict, params: dict, started: float, finished: float, inputs: dict | None = None
) -> dict:
    """The provenance block of one job: ``params`` are the config values the job was given (the
    rule passes every value it uses through ``params``, JSON strings decoded); ``inputs`` the
    SHA-256 of each file it read, as checked against its seal before the job started."""
    return {
        "rule": rule,
        "wildcards": dict(wildcards),
        "params": {k: decoded(v) for k, v in params.items()},
        "inputs": dict(inputs or {}),
        "code": code_version(),
        "packages": package_versions(),
        "device": {
            "host": platform.node(),
            "cpu": cpu_info(),
            "gpu": gpu_info(),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        },
        "started": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(finished - started, 3),
    }


def decoded(value):
    """A param as the job uses it: JSON strings (objects, lists) decoded, anything else plain."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): decoded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [decoded(v) for v in value]
    return str(value)


def read(path: str | os.PathLike) -> dict:
    """The provenance block of a result file ({} for files written before provenance existed)."""
    return json.loads(Path(path).read_text()).get("provenance", {})
