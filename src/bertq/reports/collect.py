"""Gathering job outputs into the two tables every report reads: one row per evaluated
(model, task, seed, method, bits), and one row per timed (model, backend, method, bits); and into
one tidy table for users' own analysis: a row per (model, task, seed, method, bits, metric), with
what produced it (code, machine, the quantization's settings).

Results are joined by the labels each carries in its JSON (``labels``: model, task, seed, method,
bits; :mod:`bertq.pipeline.jobs` writes them), never by where the file lives."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..pipeline.layout import LABELS

SUMMARY_COLUMNS = [
    "model",
    "model_label",
    "paper_name",
    "size_class",
    "random_init",
    "layers",
    "hidden",
    "task",
    "seed",
    "method",
    "bits",
    "score",
    "metrics",
    "size_bytes",
    "ace",
    "quantization_ratio",
    "mean_layer_mse",
    "quantization_seconds",
    "tuning_seconds",
    "encoder_size_mib",
    "group_bits",
    "warnings",
]
TIDY_COLUMNS = [
    "model",
    "model_label",
    "task",
    "seed",
    "method",
    "bits",
    "metric",
    "value",
    "size_bytes",
    "ace",
    "quantization",
    "code_version",
    "git_commit",
    "host",
    "cpu",
    "gpu",
    "evaluate_seconds",
]
NOT_METRICS = (
    "warnings",
    "labels",
    "task",
    "metric",
    "predictions",
    "provenance",
    "scored_on",
    "kernel_path",
    "scoring_seconds",
    "integer_ops",
)
"""Keys of an evaluation that are not metrics: its labels and records, and how it was scored."""
RATIO_BASELINES = {"torch fp32": "ratio_to_torch_fp32", "torch dynamic int8": "ratio_to_torch_dynamic_int8"}
"""The baselines each backend's speed is compared with, round by round in the same job, and the
columns of those paired ratios (the median, its quartiles ``_q1``/``_q3`` and ``_iqr``)."""
THROUGHPUT_COLUMNS = [
    "model",
    "model_label",
    "backend",
    "method",
    "bits",
    "median_seconds",
    "sequences_per_second",
    "words_per_second",
    "min_seconds",
    "max_seconds",
    "iqr_seconds",
    *(f"{col}{part}" for col in RATIO_BASELINES.values() for part in ("", "_q1", "_q3", "_iqr")),
    "rounds",
    "batch_size",
    "sequence_length",
    "threads",
    "kernel_path",
    "first_call_seconds",
    "cpu",
]


def _read(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a JSON result ({exc}); delete it and rerun the job that wrote it") from None


def labels_of(result: dict, path, names=LABELS) -> dict:
    """A result's labels, checked to be complete."""
    labels = result.get("labels")
    missing = [n for n in names if n not in (labels or {})]
    if missing:
        raise ValueError(f"{path}: the result has no label(s) {missing}; was it written by bertq.pipeline.jobs?")
    return {n: labels[n] for n in names}


TUNING_STEPS = {
    "centroid_finetune": "train_seconds",
    "qat": "train_seconds",
    "adaround": "seconds",
    "retrain": "seconds",
}
"""A summary's training step after quantization (its record key) and the key of its seconds."""


def tuning_seconds(cost: dict):
    """The seconds of a variant's training step after quantization ('' without one)."""
    return next((cost[step][key] for step, key in TUNING_STEPS.items() if step in cost), "")


def collect(evaluations, costs, timings, models: dict, summary_csv, throughput_csv, tidy_csv=None) -> None:
    cost_by_key = {}
    for path in costs:
        cost = _read(path)
        key = tuple(labels_of(cost, path).values())
        if key in cost_by_key:
            raise ValueError(f"{path}: a second cost result for {dict(zip(LABELS, key))}")
        cost_by_key[key] = cost
    rows, tidy = [], []
    for path in evaluations:
        ev = _read(path)
        labels = labels_of(ev, path)
        try:
            cost = cost_by_key[tuple(labels.values())]
        except KeyError:
            raise ValueError(f"{path}: no cost result for {labels}") from None
        metrics = {k: v for k, v in ev.items() if k not in NOT_METRICS}
        rows.append(
            {
                **labels,
                **models[labels["model"]],
                "layers": cost["layers"],
                "hidden": cost["hidden"],
                "score": ev["score"],
                "metrics": json.dumps(metrics, sort_keys=True),
                "size_bytes": cost["size_bytes"],
                "ace": cost["ace"],
                "quantization_ratio": cost["quantization_ratio"],
                "mean_layer_mse": cost["mean_layer_mse"],
                "quantization_seconds": cost.get("quantization_seconds", ""),
                "tuning_seconds": tuning_seconds(cost),
                "encoder_size_mib": cost.get("encoder_size_mib", ""),
                "group_bits": json.dumps(cost["assignment"], sort_keys=True) if "assignment" in cost else "",
                "warnings": "; ".join(ev.get("warnings", [])),
            }
        )
        tidy += _tidy_rows(labels, ev, cost, metrics, models)
    _write(summary_csv, SUMMARY_COLUMNS, rows)
    if tidy_csv is not None:
        _write(tidy_csv, TIDY_COLUMNS, tidy)
    trows = []
    for path in timings:
        trows += throughput_rows(_read(path), path, models)
    _write(throughput_csv, THROUGHPUT_COLUMNS, trows)


def throughput_rows(timing: dict, path, models: dict) -> list[dict]:
    """One row per backend, method and bits of a model's timing job (bertq.bench.throughput):
    seconds per batch (median and spread over the rounds), sequences and words (tokens) per
    second at the median, and the paired ratios to each baseline timed in the same rounds."""
    model = labels_of(timing, path, ("model",))["model"]
    setting = {
        "model": model,
        "model_label": models[model]["model_label"],
        "rounds": timing["rounds"],
        "batch_size": timing["batch_size"],
        "sequence_length": timing["sequence_length"],
        "threads": timing["threads"],
        "cpu": f"{timing['cpu']['model']} [{' '.join(timing['cpu']['simd_flags'])}]",
    }
    rows = []
    for r in timing["backends"]:
        row = {
            **setting,
            "backend": r["backend"],
            "method": r["method"],
            "bits": r["bits"],
            "median_seconds": r["median_seconds"],
            "sequences_per_second": r["sequences_per_second"],
            "words_per_second": r["sequences_per_second"] * timing["sequence_length"],
            "min_seconds": r["min_seconds"],
            "max_seconds": r["max_seconds"],
            "iqr_seconds": r["iqr_seconds"],
            "kernel_path": r.get("kernel_path") or "",
            "first_call_seconds": r.get("first_call_seconds", ""),
        }
        for col in RATIO_BASELINES.values():
            ratio = r.get(col) or {}
            for part, key in (("", "median"), ("_q1", "q1"), ("_q3", "q3"), ("_iqr", "iqr")):
                row[col + part] = ratio.get(key, "")
        rows.append(row)
    return rows


def _tidy_rows(labels: dict, ev: dict, cost: dict, metrics: dict, models: dict) -> list[dict]:
    """One row per numeric metric of an evaluation (the task's official metrics and the score)."""
    prov, qprov = ev.get("provenance", {}), cost.get("provenance", {})
    device = prov.get("device", {})
    cpu, gpu = device.get("cpu") or {}, device.get("gpu") or {}
    method_params = qprov.get("params", {}).get("method", "")
    common = {
        **labels,
        "model_label": models[labels["model"]]["model_label"],
        "size_bytes": cost["size_bytes"],
        "ace": cost["ace"],
        "quantization": json.dumps(method_params, sort_keys=True) if method_params else "",
        "code_version": prov.get("code", {}).get("source_sha256", ""),
        "git_commit": prov.get("code", {}).get("git_commit") or "",
        "host": device.get("host", ""),
        "cpu": cpu.get("model", ""),
        "gpu": gpu.get("name", ""),
        "evaluate_seconds": prov.get("wall_seconds", ""),
    }
    numeric = {"score": ev["score"], **metrics}
    return [
        {**common, "metric": k, "value": v}
        for k, v in numeric.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]


def _write(path, columns, rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
