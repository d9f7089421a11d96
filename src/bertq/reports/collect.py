"""Gathering job outputs into the two tables every report reads: one row per evaluated
(model, task, seed, method, bits), and one row per timed (model, method, bits, backend); and into
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
THROUGHPUT_COLUMNS = [
    "model",
    "model_label",
    "method",
    "bits",
    "backend",
    "sequences_per_second",
    "best_sequences_per_second",
    "kernel_path",
    "first_call_seconds",
    "cpu",
    "threads",
    "batch_size",
    "sequence_length",
]


def _read(path) -> dict:
    return json.loads(Path(path).read_text())


def labels_of(result: dict, path, names=LABELS) -> dict:
    """A result's labels, checked to be complete."""
    labels = result.get("labels")
    missing = [n for n in names if n not in (labels or {})]
    if missing:
        raise ValueError(f"{path}: the result has no label(s) {missing}; was it written by bertq.pipeline.jobs?")
    return {n: labels[n] for n in names}


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
                "tuning_seconds": cost.get("centroid_finetune", {}).get("train_seconds", ""),
            }
        )
        tidy += _tidy_rows(labels, ev, cost, metrics, models)
    _write(summary_csv, SUMMARY_COLUMNS, rows)
    if tidy_csv is not None:
        _write(tidy_csv, TIDY_COLUMNS, tidy)
    trows = []
    for path in timings:
        t = _read(path)
        labels = labels_of(t, path, ("model", "method", "bits"))
        for backend, r in t["backends"].items():
            trows.append(
                {
                    **labels,
                    "model_label": models[labels["model"]]["model_label"],
                    "backend": backend,
                    "sequences_per_second": r["sequences_per_second"],
                    "best_sequences_per_second": t["batch_size"] / r["min_seconds"],
                    "kernel_path": r.get("kernel_path", ""),
                    "first_call_seconds": r.get("first_call_seconds", ""),
                    "cpu": f"{t['cpu']['model']} [{' '.join(t['cpu']['simd_flags'])}]",
                    "threads": t["threads"],
                    "batch_size": t["batch_size"],
                    "sequence_length": t["sequence_length"],
                }
            )
    _write(throughput_csv, THROUGHPUT_COLUMNS, trows)


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
