#!/usr/bin/env python3
"""Job status for Snakemake's cluster-generic executor on SLURM: prints running, success or failed.

Usage: status.py JOBID   (JOBID as `sbatch --parsable` printed it, possibly "ID;cluster")

Where the answer comes from, in order:

1. ``scontrol show job -o ID``: slurmctld's own record, which covers pending and running jobs and,
   after a job ends, keeps its final JobState for MinJobAge seconds (``scontrol show config``).
2. ``sacct -X -n -P -j ID -o State``: the accounting database, when the site runs slurmdbd (without
   it, sacct fails and is skipped).
3. The job's own log, written by the submit command in profiles/cluster-generic/config.yaml to
   ``.snakemake/cluster-generic/logs/<rule>/ID.log`` (relative to the working directory Snakemake
   runs this in; BERTQ_CLUSTER_LOGDIR overrides it). This is for a job that SLURM has forgotten
   (it ended more than MinJobAge ago and there is no slurmdbd), which happens when Snakemake was
   stopped and is restarted with jobs in flight.

The third source answers "success" only on positive evidence: the Snakemake inside the job logged
that all of its steps were done ("... steps (100%) done") and no error. Anything else -- no log, an
error, or a log that just stops (the job was killed: time limit, memory, a node failure) -- is
"failed". Reporting "success" without evidence would let Snakemake accept whatever outputs exist,
possibly half-written by a killed job; "failed" at worst makes it redo a job.

When slurmctld cannot be reached at all (not the same as "it does not know the job") and neither
sacct nor the log settles it, the answer is "running": the next check asks again. A non-zero exit
here would make Snakemake abort the whole run.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

RUNNING = {
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
    "RESV_DEL_HOLD",
    "POWER_UP_NODE",
    "UPDATE_DB",
}
SUCCESS = {"COMPLETED"}
FAILED = {
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
    "SPECIAL_EXIT",
    "REVOKED",
    "PREEMPTED",
}
LOGDIR = os.environ.get("BERTQ_CLUSTER_LOGDIR", ".snakemake/cluster-generic/logs")


def _run(cmd: list[str]) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _classify(state: str) -> str | None:
    state = state.split()[0].rstrip("+") if state.strip() else ""  # "CANCELLED by 0", "RUNNING+"
    if state in RUNNING:
        return "running"
    if state in SUCCESS:
        return "success"
    if state in FAILED:
        return "failed"
    return None


def from_scontrol(jobid: str) -> tuple[str | None, bool]:
    """(answer or None, whether slurmctld answered at all)."""
    p = _run(["scontrol", "show", "job", "-o", jobid])
    if p is None:
        return None, False
    if p.returncode != 0:
        # "slurm_load_jobs error: Invalid job id specified": slurmctld answered, it has forgotten it
        return None, "invalid job id" in (p.stderr + p.stdout).lower()
    m = re.search(r"\bJobState=(\S+)", p.stdout)
    if not m:
        return None, True
    state = m.group(1)
    if state == "PREEMPTED" and re.search(r"\bRequeue=1\b", p.stdout):
        return "running", True  # it goes back to the queue
    return _classify(state), True


def from_sacct(jobid: str) -> str | None:
    p = _run(["sacct", "-X", "-n", "-P", "-j", jobid, "-o", "State"])
    if p is None or p.returncode != 0:
        return None  # e.g. "Slurm accounting storage is disabled"
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    return _classify(lines[-1]) if lines else None


def from_log(jobid: str) -> str | None:
    """'success' or 'failed' if the job's log says so; 'unfinished' if it says neither; None without one."""
    logs = glob.glob(os.path.join(glob.escape(LOGDIR), "**", f"{jobid}.log"), recursive=True)
    if not logs:
        return None
    text = ""
    for path in logs:
        try:
            with open(path, errors="replace") as f:
                text += f.read()
        except OSError:
            return None
    if re.search(r"^(Error in rule|Exiting because a job execution failed|WorkflowError)", text, re.M):
        return "failed"
    if re.search(r"^\d+ of \d+ steps \(100%\) done", text, re.M):
        return "success"
    return "unfinished"


def status(jobid: str) -> str:
    answer, controller_answered = from_scontrol(jobid)
    if answer is not None:
        return answer
    answer = from_sacct(jobid)
    if answer is not None:
        return answer
    answer = from_log(jobid)
    if answer in ("success", "failed"):
        return answer
    if not controller_answered:
        # the job may well be running: its log (if any) has not finished
        print(f"status.py: slurmctld did not answer for job {jobid}; asking again later", file=sys.stderr)
        return "running"
    print(
        f"status.py: SLURM no longer knows job {jobid} (it ended more than MinJobAge ago and there is "
        f"no slurmdbd) and its log under {LOGDIR} does not show it finished: "
        f"{'no log' if answer is None else 'the log just stops'}; reporting failed",
        file=sys.stderr,
    )
    return "failed"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].strip():
        print("usage: status.py JOBID", file=sys.stderr)
        return 2
    jobid = argv[1].strip().split(";")[0]
    print(status(jobid))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
