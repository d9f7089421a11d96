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


@pytest.mark.bad_input("damaged", "job_time")
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


def test_a_record_names_the_sha256_of_every_input_it_was_made_from(tmp_path):
    import hashlib

    sealed, unsealed = tmp_path / "w4.safetensors", tmp_path / "dev.tsv"
    sealed.write_bytes(b"weights")
    integrity.seal(sealed, "quantize")
    unsealed.write_bytes(b"a\tb\n")
    smk = _smk(tmp_path, {"model": str(sealed), "data": str(unsealed)}, rule="evaluate")
    smk.output = Named(record=str(tmp_path / "w4.json"))
    run(smk, Job(lambda: {"score": 1.0}, lambda c: {}, record="record"))
    inputs = json.loads((tmp_path / "w4.json").read_text())["provenance"]["inputs"]
    assert inputs == {
        str(sealed): hashlib.sha256(b"weights").hexdigest(),
        str(unsealed): hashlib.sha256(b"a\tb\n").hexdigest(),
    }


@pytest.mark.bad_input("edited", "job_time")
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


@pytest.mark.bad_input("damaged", "job_time")
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


@pytest.mark.bad_input("damaged", "job_time")
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


@pytest.mark.bad_input("data", "job_time")
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


@pytest.mark.bad_input("hardware", "job_time")
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


# --- a job killed at each write ------------------------------------------------------------------

KILLED_JOB = r"""
import os, sys
from pathlib import Path
from types import SimpleNamespace
from bertq.pipeline.jobs import Job, run

class Named(dict):
    __getattr__ = dict.__getitem__
    def __iter__(self):
        return iter(list(self.values()))

out, kill_at = Path(sys.argv[1]), int(sys.argv[2])
writes, real_replace = [0], os.replace
def replace(src, dst):  # SIGKILL's effect: the process ends, no finally block runs
    writes[0] += 1
    if writes[0] == kill_at:
        os._exit(137)
    real_replace(src, dst)
os.replace = replace

def quantize(checkpoint, codebook):
    checkpoint.write_bytes(b"W" * 4096)
    if kill_at == 0:  # killed while the function writes its second file
        codebook.write_bytes(b"half")
        os._exit(137)
    codebook.write_bytes(b"C" * 1024)
    return {"score": 61.5}

job = Job(quantize, lambda c: dict(c.files), files=("checkpoint", "codebook"), record="summary")
outputs = Named(checkpoint=str(out / "w4.safetensors"), codebook=str(out / "w4.codebook"),
                summary=str(out / "w4.json"))
smk = SimpleNamespace(rule="quantize", log=[], wildcards=Named(), params=Named(), input=Named(),
                      output=outputs, threads=1)
run(smk, job)
print("writes", writes[0])
"""
COMPLETE = {"w4.safetensors": 4096, "w4.codebook": 1024}


def _killed_job(out, kill_at):
    import subprocess
    import sys

    out.mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, "-c", KILLED_JOB, str(out), str(kill_at)], capture_output=True, text=True)
    return done


@pytest.mark.bad_input("kill", "handled")
def test_a_job_killed_at_each_write_leaves_no_half_written_output_and_its_rerun_cleans_up(tmp_path):
    """The job protocol every rule but fine-tuning uses (fine-tuning: tests/test_finetune.py),
    killed at each rename and seal and while its function writes: every output in place is whole,
    the record (what the reports read) never lands before the files it describes, ``verify`` names
    what the kill left, and the rerun replaces it all and leaves nothing behind."""
    full = _killed_job(tmp_path / "full", -1)
    assert full.returncode == 0, full.stderr
    writes = int(full.stdout.split()[-1])
    assert writes == 6  # three outputs renamed in, three seals
    for kill_at in range(writes + 1):
        out = tmp_path / f"kill{kill_at}"
        assert _killed_job(out, kill_at).returncode == 137
        present = {p.name: p.stat().st_size for p in out.iterdir() if not p.name.startswith(".")}
        for name, size in present.items():
            assert name == "w4.json" or size == COMPLETE[name], (kill_at, name)  # whole, never partial
        if "w4.json" in present:
            assert COMPLETE.keys() <= present.keys(), kill_at
            assert json.loads((out / "w4.json").read_text())["score"] == 61.5
        found = integrity.verify(out)
        assert not found.broken, kill_at  # a seal, when written, matches its file
        assert found.leftovers and not found.ok, kill_at  # the killed write's temporary file is listed
        assert all(p.name.startswith(".") for p in found.leftovers)  # no job reads a hidden name
        rerun = _killed_job(out, -1)
        assert rerun.returncode == 0, rerun.stderr
        found = integrity.verify(out)
        assert found.ok and not found.leftovers and not found.unsealed, (kill_at, found.lines())
        assert sorted(p.name for p in found.intact) == sorted([*COMPLETE, "w4.json"])
