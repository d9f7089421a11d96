"""One job protocol for every rule: a rule's script is ``run(snakemake)``.

:func:`run` checks the seals of the job's inputs (:mod:`bertq.pipeline.integrity`), decodes the
rule's params, casts its wildcards, calls the rule's library function (its entry point, in
:data:`JOBS`) with temporary paths for the files it writes itself, writes the record the function
returns once, atomically, as JSON with the job's labels and provenance, and seals every output.
The record's provenance holds the SHA-256 of every input it was made from.
A job that fails on bad input (:class:`~bertq.errors.InputError`) leaves its message for its
retry, which then fails at once instead of repeating the work.
The entry point is also what the rule's ``code`` param hashes (:func:`job_code`): the import
closure of its module, so editing a module reruns exactly the jobs whose entry points import it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import integrity, provenance
from .imports import code_hash
from .layout import FP32, INTEGER_WILDCARDS, LABELS
from .workflow import atomic_path, log_to


@dataclass(frozen=True)
class Call:
    """What a job's arguments are built from: cast wildcards, decoded params, inputs, the
    temporary paths of the files the function writes, and the job's threads."""

    wildcards: dict[str, Any]
    params: dict[str, Any]
    input: Any
    output: Any
    files: dict[str, Path]
    threads: int = 1

    @property
    def task(self):
        from ..data.tasks import get_task

        return get_task(self.wildcards["task"])

    def finetuned_dir(self) -> Path:
        return Path(self.input.model).parent


def write_json(path: Path, record: dict, call: Call) -> None:
    """The record as a JSON object (non-finite floats allowed, as the metrics may be ``nan``)."""
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False))


@dataclass(frozen=True)
class Job:
    """A rule's library function and how to call it.

    ``entry`` is ``"module:function"`` (or, in tests, a callable); ``arguments`` builds its keyword
    arguments from a :class:`Call`; ``files`` names the outputs it writes itself (it is given
    temporary paths, renamed when the job succeeds); ``record`` names the output its return value
    goes to, with ``labels`` (the job's wildcards, and ``labels`` for those its paths fix) and
    ``provenance`` added (``write`` writes it).
    """

    entry: str | Callable[..., Any]
    arguments: Callable[[Call], dict]
    files: tuple[str, ...] = ()
    record: str | None = None
    write: Callable[[Path, Any, Call], None] = field(default=write_json)
    labels: dict[str, Any] = field(default_factory=dict)

    def function(self) -> Callable[..., Any]:
        if callable(self.entry):
            return self.entry
        module, _, name = self.entry.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def module(self) -> str:
        return self.entry.partition(":")[0] if isinstance(self.entry, str) else self.entry.__module__


def cast_wildcards(wildcards: dict[str, str]) -> dict[str, Any]:
    """Wildcards with the numeric ones (seed, bits, lengths) as integers."""
    out = {}
    for k, v in wildcards.items():
        if k in INTEGER_WILDCARDS:
            try:
                v = int(v)
            except ValueError:
                raise ValueError(f"wildcard {k}={v!r} is not an integer") from None
        out[k] = v
    return out


def decode_params(params: dict[str, Any]) -> dict[str, Any]:
    """Params as the rules pass them, with their JSON strings decoded ('' is None)."""
    return {k: None if v == "" else provenance.decoded(v) for k, v in params.items()}


def run(smk, job: Job | None = None) -> Any:
    """Run one Snakemake job: ``smk`` is the script's ``snakemake`` object; ``job`` defaults to
    the rule's entry in :data:`JOBS`. Returns the function's result."""
    if job is None:
        try:
            job = JOBS[smk.rule]
        except KeyError:
            raise KeyError(f"rule {smk.rule!r} has no job; known: {', '.join(sorted(JOBS))}") from None
    started = time.time()
    marker = input_error_marker(smk)
    with log_to(smk.log[0] if smk.log else None):
        attempt = int(getattr(getattr(smk, "resources", None), "attempt", 1) or 1)
        if attempt > 1 and marker.is_file():
            raise InputError(f"{marker.read_text()} (not retried: attempt {attempt} would fail the same way)")
        marker.unlink(missing_ok=True)
        try:
            inputs = {  # a damaged or edited input stops the job before it trusts it
                str(path): integrity.checked_sha256(path) for path in smk.input if Path(path).is_file()
            }
            result = _call(smk, job, started, inputs)
        except InputError as exc:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(str(exc))
            raise
        for path in smk.output:
            if Path(path).is_file():  # (Snakemake itself fails a job that left one out)
                integrity.seal(path, smk.rule)
    return result


INPUT_ERRORS = Path(".snakemake") / "bertq" / "input-errors"
"""Where a job that failed on bad input leaves its message for its own retry (Snakemake runs jobs
in the study directory)."""


def input_error_marker(smk) -> Path:
    """The file a job's attempts share: named by its rule and wildcards."""
    import hashlib

    key = json.dumps([smk.rule, sorted(dict(smk.wildcards.items()).items())])
    return INPUT_ERRORS / f"{smk.rule}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.txt"


def _call(smk, job: Job, started: float, inputs: dict[str, str]) -> Any:
    """Call the job's function with temporary paths for its files, rename them into place, then
    write its record, atomically and last: the record is what the reports read, so a job killed at
    any write leaves either no record or a record beside every file it names."""
    record = None
    with contextlib.ExitStack() as outputs:
        wildcards = cast_wildcards(dict(smk.wildcards.items()))
        files = {name: outputs.enter_context(atomic_path(getattr(smk.output, name))) for name in job.files}
        call = Call(
            wildcards,
            decode_params(dict(smk.params.items())),
            smk.input,
            smk.output,
            files,
            int(getattr(smk, "threads", 1) or 1),
        )
        result = job.function()(**job.arguments(call))
        if job.record is not None:
            record = result
            if job.write is write_json:
                if not isinstance(result, dict):
                    raise TypeError(f"{job.entry} returned a {type(result).__name__}, not a record (a dict)")
                block = provenance.record(
                    smk.rule, dict(smk.wildcards.items()), dict(smk.params.items()), started, time.time(), inputs
                )
                labels = {**wildcards, **job.labels}
                record = {**result, "labels": {k: labels[k] for k in LABELS if k in labels}, "provenance": block}
    if job.record is not None:
        with atomic_path(getattr(smk.output, job.record)) as tmp:
            job.write(tmp, record, call)
    return result


def _tokenize(c: Call) -> dict:
    p = c.params
    return dict(
        spec=c.task,
        tokenizer_location=p["tokenizer"],
        max_length=c.wildcards["max_length"],
        output=c.files["tokenized"],
        glue_dir=p["glue_dir"],
        hub_dataset=p["hub_dataset"],
        dev_fraction=p["dev_fraction"],
        split_seed=p["split_seed"],
    )


def _tokenize_tags(c: Call) -> dict:
    conll = c.params["conll"]
    return dict(
        spec=c.task,
        tokenizer_location=c.params["tokenizer"],
        max_length=c.wildcards["max_length"],
        output=c.files["tokenized"],
        conll_dir=conll["dir"],
        scheme=conll["scheme"],
        hub_dataset=conll["hub_dataset"],
    )


def _tokenize_span(c: Call) -> dict:
    wc, source = c.wildcards, c.params["qa_data"]
    return dict(
        tokenizer_location=c.params["tokenizer"],
        output=c.files["tokenized"],
        task=c.task.name,
        max_length=wc["max_length"],
        doc_stride=wc["doc_stride"],
        max_query_length=wc["max_query_length"],
        data_dir=source["dir"],
        hub_dataset=source["hub_dataset"],
        split_mode=source["split"],
        dev_fraction=source["dev_fraction"],
        split_seed=source["split_seed"],
    )


def _finetune(c: Call) -> dict:
    from ..models.sources import parse_source

    p = c.params
    return dict(
        source=parse_source(p["source"], p["layers"]),
        spec=c.task,
        tokenized_path=c.input.tokenized,
        params=p["hyper"],
        seed=c.wildcards["seed"],
        out_dir=Path(c.output.model).parent,
        device=p["device"],
        threads=c.threads,
    )


def _quantize(c: Call) -> dict:
    spec, cost = c.params["method"], c.params["cost"]
    return dict(
        finetuned_dir=c.finetuned_dir(),
        method=spec["method"],
        bits=c.wildcards["bits"],
        params=spec["params"],
        cost_sequence_length=cost["sequence_length"],
        activation_bits=cost["activation_bits"],
        checkpoint=c.files["checkpoint"],
        embedding_bits=spec["embedding_bits"],
        scope=spec["scope"],
        activations=c.params["activations"],
    )


def _centroid_finetune(c: Call) -> dict:
    return dict(
        finetuned_dir=c.finetuned_dir(),
        quantized=c.input.quantized,
        spec=c.task,
        tokenized_path=c.input.tokenized,
        params=c.params["hyper"],
        seed=c.wildcards["seed"],
        checkpoint=c.files["checkpoint"],
        base_summary=c.input.summary,
        device=c.params["device"],
        threads=c.threads,
    )


def _adaround(c: Call) -> dict:
    return dict(
        finetuned_dir=c.finetuned_dir(),
        quantized=c.input.quantized,
        tokenized=c.input.tokenized,
        settings=c.params["settings"],
        seed=c.wildcards["seed"],
        checkpoint=c.files["checkpoint"],
        base_summary=c.input.summary,
        device=c.params["device"],
        threads=c.threads,
    )


def _qat(c: Call) -> dict:
    return dict(
        finetuned_dir=c.finetuned_dir(),
        quantized=c.input.quantized,
        ranges=c.input.get("ranges"),
        spec=c.task,
        tokenized_path=c.input.tokenized,
        params=c.params["hyper"],
        seed=c.wildcards["seed"],
        checkpoint=c.files["checkpoint"],
        ranges_out=c.files.get("ranges"),
        base_summary=c.input.summary,
        device=c.params["device"],
        threads=c.threads,
    )


def _search(c: Call) -> dict:
    spec, cost = c.params["search"], c.params["cost"]
    return dict(
        finetuned_dir=c.finetuned_dir(),
        method=spec["method"],
        spec=c.task,
        tokenized=c.input.tokenized,
        params=spec["search"],
        seed=c.wildcards["seed"],
        checkpoint=c.files["checkpoint"],
        cost_sequence_length=cost["sequence_length"],
        activation_bits=cost["activation_bits"],
        embedding_bits=spec["embedding_bits"],
        activations=c.params["activations"],
        device=c.params["device"],
        threads=c.threads,
    )


def _baseline_cost(c: Call) -> dict:
    cost = c.params["cost"]
    return dict(
        finetuned_dir=c.finetuned_dir(),
        cost_sequence_length=cost["sequence_length"],
        activation_bits=cost["activation_bits"],
        activations=c.params.get("activations"),
    )


def _calibrate(c: Call) -> dict:
    return dict(
        finetuned_dir=c.finetuned_dir(),
        quantized=c.input.get("quantized"),
        tokenized=c.input.tokenized,
        activations=c.params["activations"],
        seed=c.wildcards["seed"],
        threads=c.params["threads"],
    )


def _capture(c: Call) -> dict:
    return dict(
        finetuned_dir=c.finetuned_dir(),
        tokenized=c.input.tokenized,
        sequences=c.params["sequences"],
        out_path=c.files["capture"],
        tokenizer_dir=c.params["tokenizer"],
        model=c.wildcards["model"],
    )


def _evaluate(c: Call) -> dict:
    return dict(
        finetuned_dir=c.finetuned_dir(),
        quantized=c.input.get("quantized"),
        tokenized=c.input.tokenized,
        spec=c.task,
        batch_size=c.params["batch_size"],
        threads=c.params["threads"],
        qa_decoding=c.params["qa_decoding"],
        ranges=c.input.get("ranges"),
        dynamic=c.params.get("dynamic"),
        engine=bool(c.params.get("engine")),
    )


def _throughput(c: Call) -> dict:
    """The model's timed variants (params ``variants``: method, bits, resolved entry), each with its
    checkpoint (input ``quantized``, in the same order)."""
    t = c.params["timing"]
    checkpoints = c.input.get("quantized") or []
    return dict(
        finetuned_dir=c.finetuned_dir(),
        variants=list(c.params["variants"] or []),
        checkpoints=[checkpoints] if isinstance(checkpoints, str) else list(checkpoints),
        batch_size=t["batch_size"],
        sequence_length=t["sequence_length"],
        threads=t["threads"],
        repeats=t["repeats"],
        warmup=t["warmup"],
        kernel_path=t.get("kernel_path"),
    )


def _timed_checkpoint(c: Call) -> dict:
    return dict(source=c.input.quantized, target=c.files["checkpoint"])


def _aggregate(c: Call) -> dict:
    return dict(
        evaluations=list(c.input.evaluations),
        costs=list(c.input.costs),
        timings=list(c.input.timings),
        models=c.params["models"],
        summary_csv=c.files["summary"],
        throughput_csv=c.files["throughput"],
        tidy_csv=c.files["tidy"],
    )


def _reports(c: Call) -> dict:
    p = c.params
    return dict(
        summary_csv=c.input.summary,
        throughput_csv=c.input.throughput,
        out_dir=Path(c.output.manifest).parent,
        reports=list(p["reports"]),
        models_order=list(p["models"]),
        tasks=list(p["tasks"]),
        study_name=p["name"],
        variants=p["variants"],
        seed_statistics=p["seed_statistics"],
        captures={(m, t): path for m, t, path in zip(p["capture_models"], p["capture_tasks"], c.input.captures)},
    )


def write_manifest(path: Path, written, call: Call) -> None:
    """The reports' manifest: the name of every file written, after checking each declared one is."""
    missing = [f for f in call.output if f != call.output.manifest and not Path(f).exists()]
    if missing:
        raise RuntimeError(f"reports not written: {missing}")
    path.write_text("".join(f"{Path(f).name}\n" for f in sorted(map(str, written))))


_QUANTIZE = Job("bertq.quantization.job:run_quantize", _quantize, files=("checkpoint",), record="summary")
JOBS: dict[str, Job] = {
    "tokenize": Job("bertq.data.tokenized:run_tokenize", _tokenize, files=("tokenized",)),
    "tokenize_tags": Job("bertq.data.tokenized:run_tokenize_tags", _tokenize_tags, files=("tokenized",)),
    "tokenize_span": Job("bertq.data.tokenized_squad:run_tokenize_span", _tokenize_span, files=("tokenized",)),
    "finetune": Job("bertq.training.finetune:run_finetune", _finetune, record="metrics"),
    "quantize": _QUANTIZE,
    "quantize_kept": _QUANTIZE,
    "quantize_before_tuning": _QUANTIZE,
    "quantize_before_training": _QUANTIZE,
    "centroid_finetune": Job(
        "bertq.training.centroids:run_centroid_finetune", _centroid_finetune, files=("checkpoint",), record="summary"
    ),
    "adaround": Job("bertq.quantization.adaround_job:run_adaround", _adaround, files=("checkpoint",), record="summary"),
    "qat": Job("bertq.training.qat:run_qat", _qat, files=("checkpoint",), record="summary"),
    "qat_activations": Job("bertq.training.qat:run_qat", _qat, files=("checkpoint", "ranges"), record="summary"),
    "search": Job("bertq.training.search_job:run_search", _search, files=("checkpoint",), record="summary"),
    "baseline_cost": Job(
        "bertq.quantization.job:run_baseline_cost",
        _baseline_cost,
        record="summary",
        labels=dict(zip(("method", "bits"), FP32)),
    ),
    "float_cost": Job("bertq.quantization.job:run_baseline_cost", _baseline_cost, record="summary"),
    "calibrate": Job("bertq.quantization.calibration:run_calibrate", _calibrate, record="ranges"),
    "calibrate_before_qat": Job("bertq.quantization.calibration:run_calibrate", _calibrate, record="ranges"),
    "capture": Job("bertq.evaluation.capture:run_capture", _capture, files=("capture",), record="summary"),
    "evaluate": Job("bertq.evaluation.job:run_evaluate", _evaluate, record="evaluation"),
    "timed_checkpoint": Job("bertq.pipeline.workflow:keep_file", _timed_checkpoint, files=("checkpoint",)),
    "throughput": Job("bertq.bench.throughput:run_throughput", _throughput, record="timing"),
    "aggregate": Job("bertq.reports.collect:collect", _aggregate, files=("summary", "throughput", "tidy")),
    "reports": Job("bertq.reports.build:build_reports", _reports, record="manifest", write=write_manifest),
}
"""Every rule's job, by rule name."""


def job_code(rule: str) -> str:
    """The rule's ``code`` param: the hash of its entry point's import closure."""
    return code_hash(JOBS[rule].module)
