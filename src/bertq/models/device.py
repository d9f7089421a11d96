"""Where a job's model runs: ``finetune.device`` (``auto``, ``cpu`` or ``cuda``)."""

from __future__ import annotations

import torch

from ..errors import UnavailableHardware


def pick_device(device: str) -> torch.device:
    """``auto``: CUDA when there is a device, else the CPU; ``cuda`` without one is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UnavailableHardware("finetune.device is 'cuda' but no CUDA device is available")
    return torch.device(device)
