"""The one error class shared by every layer: :class:`InputError`, bad input that no retry can mend
(a config value, a data file, a damaged result, hardware this machine lacks). A job that fails
with one is not run again by Snakemake's retries (:func:`bertq.pipeline.jobs.run`); retries stay
for crashes, kills and running out of memory."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: the message names the config key, file, row or id at fault."""


class UnavailableHardware(InputError, RuntimeError):
    """The config asks for hardware this machine lacks (a CUDA device, a CPU instruction path)."""
