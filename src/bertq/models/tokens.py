"""Which tokens of the batch in flight are real: the attention mask of the current forward pass,
for the modules that take run-time statistics per sequence over its real tokens (dynamic
activation scales, TM-IQR quartiles), so that a sequence's output never depends on the other
sequences of its batch or on padding.

:class:`bertq.models.encoder` sets it for the length of each forward pass; a module reads it with
:func:`current_mask`. ``None`` (outside a forward pass, or a model called without a mask) means
every token is real.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

_MASK: ContextVar[torch.Tensor | None] = ContextVar("bertq_real_tokens", default=None)


@contextmanager
def real_tokens(attention_mask: torch.Tensor | None) -> Iterator[None]:
    """Within the block, :func:`current_mask` is ``attention_mask != 0`` (``(batch, tokens)``)."""
    token = _MASK.set(None if attention_mask is None else attention_mask != 0)
    try:
        yield
    finally:
        _MASK.reset(token)


def current_mask() -> torch.Tensor | None:
    """The boolean ``(batch, tokens)`` mask of the forward pass in flight, or ``None``."""
    return _MASK.get()
