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


def publish_attention_mask(model: torch.nn.Module) -> None:
    """Make ``model``, which does not set :func:`real_tokens` itself (a transformers BERT), publish
    the ``attention_mask`` it is called with (keyword or second positional argument) for the
    length of each forward pass, exceptions included."""
    entered = []

    def enter(module, args, kwargs):
        mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
        entered.append(_MASK.set(None if mask is None else mask != 0))

    def leave(module, args, kwargs, output):
        _MASK.reset(entered.pop())

    model.register_forward_pre_hook(enter, with_kwargs=True)
    model.register_forward_hook(leave, with_kwargs=True, always_call=True)


def current_mask() -> torch.Tensor | None:
    """The boolean ``(batch, tokens)`` mask of the forward pass in flight, or ``None``."""
    return _MASK.get()
