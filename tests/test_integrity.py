"""Sealed results (bertq.pipeline.integrity): a job seals what it writes and checks what it reads,
so a truncated checkpoint or a hand-edited score stops the first job that would trust it, named
with the rule that made it; ``bertq verify`` lists exactly the damaged, edited and half-written
files of a tree."""

import json
import os
from types import SimpleNamespace

import pytest

from bertq import cli
from bertq.pipeline import integrity
from bertq.pipeline.jobs import Job, run

WEIGHTS = "finetuned/m/rte/seed42/model.safetensors"


class Named(dict):
    """Stands in for Snakemake's named lists (attribute access, iterating the values)."""

    __getattr__ = dict.__getitem__

    def __iter__(self):
        return iter(list(self.values()))


def _smk(tmp_path, inputs: dict, rule="aggregate"):
    return SimpleNamespace(
        rule=rule, log=[], wildcards=Named(), params=Named(), input=Named(inputs),
        output=Named(out=str(tmp_path / "out.bin")), threads=1,
    )  # fmt: skip


def _writer(calls):
    def write(out):
        calls.append(out)
        out.write_bytes(b"made")

    return Job(write, lambda c: {"out": c.files["out"]}, files=("out",))


def test_a_job_seals_its_outputs_and_refuses_a_damaged_input(tmp_path):
    calls = []
    run(_smk(tmp_path, {}, rule="quantize"), _writer(calls))
    sealed = tmp_path / "out.bin"
    assert integrity.check(sealed) and json.loads(integrity.seal_path(sealed).read_text())["rule"] == "quantize"
    downstream = tmp_path / "next"
    downstream.mkdir()
    run(_smk(downstream, {"model": str(sealed)}), _writer(calls))  # intact: read
    assert len(calls) == 2
    sealed.write_bytes(b"ma")  # truncated
    with pytest.raises(integrity.IntegrityError) as info:
        run(_smk(downstream, {"model": str(sealed)}), _writer(calls))
    message = str(info.value)
    assert str(sealed) in message and "damaged after rule quantize wrote it (2 bytes, written with 4)" in message
    assert "--forcerun quantize" in message and len(calls) == 2  # the job never started


def test_an_edited_result_is_named_and_an_unsealed_file_is_read(tmp_path):
    result = tmp_path / "eval.json"
    result.write_text(json.dumps({"score": 61.2}))
    assert integrity.check(result) is False  # unsealed (written by hand, or before seals): read unchecked
    integrity.seal(result, "evaluate")
    result.write_text(json.dumps({"score": 91.2}))  # same size, another score
    with pytest.raises(integrity.IntegrityError, match=r"eval.json was edited after rule evaluate wrote it \(its SHA"):
        integrity.check(result)
    integrity.seal_path(result).write_text("{not json")
    with pytest.raises(integrity.IntegrityError, match="the seal of .*eval.json is unreadable"):
        integrity.check(result)


def test_verify_lists_exactly_the_damaged_edited_and_half_written_files(tmp_path, capsys):
    results = tmp_path / "results"
    files = {
        WEIGHTS: b"w" * 1000,
        "finetuned/m/rte/seed42/config.json": b"{}",
        "quantized/m/rte/seed42/lq/w4.safetensors": b"q" * 100,
        "quantized/m/rte/seed42/lq/w4.json": b'{"size_bytes": 50}',
        "eval/m/rte/seed42/lq/w4.json": b'{"score": 60.0}',
    }
    for name, content in files.items():
        path = results / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        integrity.seal(path, "job")
    (results / "unsealed.csv").write_text("a,b\n")
    (results / "gone.bin").write_bytes(b"x")
    integrity.seal(results / "gone.bin", "quantize")
    os.unlink(results / "gone.bin")  # a temporary output, removed after use: not a finding
    assert cli.main(["verify", str(results)]) == 0
    assert "5 sealed files intact, 0 damaged or edited, 1 unsealed, 0 leftovers" in capsys.readouterr().out

    (results / WEIGHTS).write_bytes(b"w" * 500)  # truncated weights
    (results / "eval/m/rte/seed42/lq/w4.json").write_bytes(b'{"score": 90.0}')  # an edited score
    (results / "quantized/m/rte/seed42/lq/.w4.safetensors.tmp4242").write_bytes(b"half")  # a killed write
    (results / "finetuned/m/rte/.seed7.partial").mkdir()
    found = integrity.verify(results)
    assert set(found.broken) == {results / WEIGHTS, results / "eval/m/rte/seed42/lq/w4.json"}
    assert set(found.leftovers) == {
        results / "quantized/m/rte/seed42/lq/.w4.safetensors.tmp4242",
        results / "finetuned/m/rte/.seed7.partial",
    }
    assert cli.main(["verify", str(results)]) == 1
    out = capsys.readouterr().out
    assert "model.safetensors was damaged after rule job wrote it" in out and "w4.json was edited" in out
    assert "3 sealed files intact, 2 damaged or edited, 1 unsealed, 2 leftovers" in out


def test_unsealed_damaged_results_are_named_by_their_readers(tmp_path):
    """Results without seals (older runs, copied trees) that are damaged still name their file."""
    from bertq.models.checkpoint import load_state
    from bertq.quantization.model import load_quantized
    from bertq.reports.collect import collect

    (tmp_path / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{")  # truncated header
    with pytest.raises(ValueError, match=r"model.safetensors: not a readable safetensors file .*rerun the job"):
        load_state(tmp_path)
    with pytest.raises(ValueError, match=r"model.safetensors: not a readable safetensors file"):
        load_quantized(tmp_path / "model.safetensors")
    (tmp_path / "cost.json").write_text('{"labels": {"model": "m"')
    with pytest.raises(ValueError, match=r"cost.json: not a JSON result"):
        collect([], [tmp_path / "cost.json"], [], {}, tmp_path / "s.csv", tmp_path / "t.csv")


def test_a_job_that_failed_on_bad_input_is_not_run_again_by_its_retry(tmp_path, monkeypatch):
    from bertq.data.loading import DataError
    from bertq.errors import InputError

    monkeypatch.chdir(tmp_path)  # the study directory: the message is kept under .snakemake/
    calls = []

    def bad(out):
        calls.append(out)
        raise DataError("data/RTE/train.tsv, line 4: unknown label 'maybe'")

    job = Job(bad, lambda c: {"out": c.files["out"]}, files=("out",))

    def attempt(n, rule="finetune"):
        smk = _smk(tmp_path, {}, rule=rule)
        smk.wildcards, smk.resources = Named(model="m", task="rte", seed="0"), SimpleNamespace(attempt=n)
        with pytest.raises(InputError) as info:
            run(smk, job)
        return str(info.value)

    assert attempt(1).startswith("data/RTE/train.tsv, line 4") and len(calls) == 1
    second = attempt(2)
    assert len(calls) == 1 and "unknown label 'maybe' (not retried: attempt 2 would fail the same way)" in second
    assert attempt(1) and len(calls) == 2  # a new run (attempt 1) tries again: the data may be fixed
    assert attempt(2, rule="qat") and len(calls) == 3  # another job's retry is its own


def test_unavailable_hardware_is_bad_input():
    import torch

    from bertq.errors import InputError
    from bertq.kernels.simd import PATHS, available_paths, resolve_path
    from bertq.models.device import pick_device

    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA device"):
            pick_device("cuda")
    missing = [p for p in PATHS if p not in available_paths()]
    if missing:
        with pytest.raises(InputError, match="which this CPU lacks"):
            resolve_path(missing[0])


def test_the_seals_of_deleted_temporary_outputs_are_pruned(tmp_path):
    kept, temporary = tmp_path / "w4.json", tmp_path / "w4.ptq.safetensors"
    for path in (kept, temporary):
        path.write_text("x")
        integrity.seal(path, "quantize")
    temporary.unlink()  # Snakemake removes a temp() output after its last reader
    assert integrity.prune_stale_seals(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".w4.json.sha256", "w4.json"]
