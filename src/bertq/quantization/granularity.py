"""How many codebooks (or scales) a weight gets: per tensor, per output channel, or N groups.

A weight in input-major layout ``(h, d)`` is split along its ``d`` output channels (columns) into
``groups`` runs of ``d / groups`` consecutive channels, each with its own codebook or scale. This
is the group-wise scheme of Q-BERT (Shen et al., 2020), which groups a matrix's output neurons and
which Zhao et al. (2021, Table 5) use with 128 groups per matrix; ``channel`` is one group per
output channel and ``tensor`` one for the whole weight. For an embedding table (input-major
``(vocabulary, hidden)``) the channels are the hidden dimensions.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

GRANULARITIES = ("tensor", "channel")


def check_granularity(value) -> None:
    """``"tensor"``, ``"channel"`` or a positive integer number of groups."""
    if isinstance(value, bool) or not (value in GRANULARITIES or (isinstance(value, int) and value >= 1)):
        raise ValueError(f"granularity must be 'tensor', 'channel' or a positive number of groups, got {value!r}")


def group_count(granularity, channels: int) -> int:
    """Codebooks for a weight with ``channels`` output channels; N groups must divide them."""
    check_granularity(granularity)
    if granularity == "tensor":
        return 1
    if granularity == "channel":
        return channels
    if channels % granularity:
        raise ValueError(f"{granularity} groups do not divide {channels} output channels evenly")
    return granularity


def column_groups(w: np.ndarray, groups: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(g, w[:, columns of group g])`` for each group."""
    size = w.shape[1] // groups
    for g in range(groups):
        yield g, w[:, g * size : (g + 1) * size]


def per_column(values: np.ndarray, channels: int) -> np.ndarray:
    """Expand one value per group to one per output channel."""
    values = np.asarray(values).reshape(-1)
    return np.repeat(values, channels // values.size)
