"""What every benchmark script ends with: the machine it ran on, its targets printed as met or
MISSED, and one JSON file holding both with the measurements."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numba

from ..pipeline.provenance import cpu_info

BASELINE_ISA_ENV = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "FBGEMM_ENABLE_INSTRUCTIONS")
"""What pins torch's baselines to an instruction set: ATen's own kernels, MKL's fp32 GEMM and
fbgemm's int8 GEMM each read their own variable (fbgemm ignores the other two, so without
``FBGEMM_ENABLE_INSTRUCTIONS=AVX2`` "torch dynamic int8" keeps running AVX-512 VNNI)."""


def machine(**extra) -> dict:
    """The CPU (model and SIMD flags), Python and numba versions, the baselines' instruction-set
    variables (:data:`BASELINE_ISA_ENV`, empty when unset), plus what the caller adds."""
    return {
        "cpu": cpu_info(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "baseline_isa_env": {name: os.environ.get(name, "") for name in BASELINE_ISA_ENV},
        **extra,
    }


def target(name: str, value: float, threshold: float, *, at_most: bool = False) -> dict:
    """One speed target: ``value >= threshold`` (a speedup), or ``value <= threshold`` (seconds)."""
    met = value <= threshold if at_most else value >= threshold
    return {"target": name, "value": float(value), "threshold": float(threshold), "met": bool(met)}


def write(result: dict, out, unit: str = "x") -> Path:
    """Print ``result["targets"]`` and write ``result`` to ``out`` as JSON (directories made)."""
    for c in result.get("targets", []):
        value = f"{c['value']:.2f}x" if unit == "x" else f"{c['value']:.1f} {unit}"
        print(f"[{'met' if c['met'] else 'MISSED'}] {c['target']}: {value}", flush=True)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}", flush=True)
    return out
