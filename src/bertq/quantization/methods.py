"""Weight quantization methods of Hu et al. (2022): LQ, ACIQ and OCS, in a registry.

A method maps a float weight in input-major layout ``(h, d)`` and a bit-width to a
:class:`QuantizedTensor`. New methods register themselves with :func:`register`.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from . import aciq as aciq_range
from . import ocs
from .bits import SymmetricInt
from .quantizer import max_abs, quantize, scale_for_range
from .tensor import QuantizedTensor


class Method(Protocol):
    def __call__(self, w: np.ndarray, int_type: SymmetricInt, **params) -> QuantizedTensor: ...


METHODS: dict[str, Method] = {}
METHOD_PARAMS: dict[str, dict[str, object]] = {}
"""Each method's parameters and their defaults (the config schema mirrors these)."""
METHOD_SOURCES: dict[str, tuple[str, ...]] = {}
"""Modules (relative to this package) a method uses beyond the shared ones; the workflow hashes
them so that editing one method's code reruns only that method's jobs."""
SHARED_SOURCES = ("bits.py", "tensor.py", "quantizer.py", "methods.py", "model.py")


def register(name: str, sources: tuple[str, ...] = (), **defaults) -> Callable[[Method], Method]:
    def wrap(fn: Method) -> Method:
        METHODS[name] = fn
        METHOD_PARAMS[name] = dict(defaults)
        METHOD_SOURCES[name] = tuple(sources)
        return fn
    return wrap


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown quantization method {name!r}; known: {', '.join(sorted(METHODS))}") from None


def quantize_weight(name: str, w: np.ndarray, bits: int, **params) -> QuantizedTensor:
    unknown = set(params) - set(METHOD_PARAMS.get(name, {}))
    method = get_method(name)
    if unknown:
        raise ValueError(f"method {name!r} has no parameter(s) {sorted(unknown)}; "
                         f"it takes {sorted(METHOD_PARAMS[name])}")
    return method(np.asarray(w), SymmetricInt(bits), **{**METHOD_PARAMS[name], **params})


def _with_clip(w: np.ndarray, clip: float, int_type: SymmetricInt) -> QuantizedTensor:
    scale = scale_for_range(clip, int_type)
    return QuantizedTensor(quantize(w, scale, int_type), scale, int_type)


@register("lq")
def linear_quantization(w, int_type):
    """LQ: symmetric linear quantization over ``max|W|`` (eqs. 1-3)."""
    return _with_clip(w, max_abs(w), int_type)


@register("aciq", sources=("aciq.py",), prior="gaussian")
def aciq(w, int_type, prior):
    """ACIQ: symmetric linear quantization clipped at the MSE-optimal value (eq. 5)."""
    return _with_clip(w, aciq_range.aciq_clip(w, int_type.bits, prior), int_type)


@register("ocs", sources=("ocs.py",), expand_ratio=0.01)
def outlier_channel_splitting(w, int_type, expand_ratio):
    """OCS: split the ``floor(r*h)`` largest input channels quantization-aware (eq. 7), then LQ."""
    w = np.asarray(w, dtype=np.float64)
    index = ocs.select_channels(w, ocs.channels_to_split(w.shape[0], expand_ratio))
    scale = scale_for_range(max_abs(ocs.naive_split(w, index)), int_type)
    split = ocs.quantization_aware_split(w, index, scale)
    return QuantizedTensor(quantize(split, scale, int_type), scale, int_type, split_index=index)
