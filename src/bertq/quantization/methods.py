"""Weight quantization methods, in a registry: the linear grids of Hu et al. (2022) (LQ, ACIQ,
OCS) and of Bondarenko et al. (2021) (the MSE range estimator), and the codebooks of Zhao et al.
(2021) (linear clustering, k-means, and optimal 1-D k-means).

A method maps a float weight in input-major layout ``(h, d)`` and a bit-width to a quantized
weight of :mod:`bertq.quantization.tensor`. Every method takes a ``granularity``: one scale or
codebook per tensor, per output channel, or per N groups of output channels
(:mod:`bertq.quantization.granularity`). New methods register themselves with :func:`register`,
stating the bit-widths they support.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from . import aciq as aciq_range
from . import clustering, ocs
from .bits import SymmetricInt
from .granularity import check_granularity, column_groups, group_count, per_column
from .quantizer import max_abs, mse_clip, quantize, scale_for_range
from .tensor import CodebookTensor, QuantizedTensor, QuantizedWeight


class Method(Protocol):
    def __call__(self, w: np.ndarray, bits: int, **params) -> QuantizedWeight: ...


METHODS: dict[str, Method] = {}
METHOD_PARAMS: dict[str, dict[str, object]] = {}
"""Each method's parameters and their defaults (the config schema mirrors these)."""
METHOD_BITS: dict[str, tuple[int, int]] = {}
"""The bit-widths each method supports, ``(lowest, highest)``."""


def register(name: str, bits: tuple[int, int] = (2, 8), **defaults) -> Callable[[Method], Method]:
    """Register ``fn`` as method ``name``; ``defaults`` are its parameters (``granularity`` is
    added, per tensor by default)."""

    def wrap(fn: Method) -> Method:
        METHODS[name] = fn
        METHOD_PARAMS[name] = {"granularity": "tensor", **defaults}
        METHOD_BITS[name] = bits
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
        raise ValueError(
            f"method {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(METHOD_PARAMS[name])}"
        )
    lo, hi = METHOD_BITS[name]
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not lo <= bits <= hi:
        raise ValueError(f"method {name!r} quantizes to {lo} to {hi} bits, not {bits!r}")
    params = {**METHOD_PARAMS[name], **params}
    check_granularity(params["granularity"])
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"expected a 2-D weight, got shape {w.shape}")
    return method(w, int(bits), **params)


def _group_scales(
    w: np.ndarray, granularity, range_of: Callable[[np.ndarray], float], int_type: SymmetricInt
) -> np.ndarray:
    groups = group_count(granularity, w.shape[1])
    return np.array([scale_for_range(range_of(part), int_type) for _, part in column_groups(w, groups)])


def _linear_grid(w: np.ndarray, bits: int, granularity, range_of: Callable[[np.ndarray], float]) -> QuantizedTensor:
    int_type = SymmetricInt(bits)
    scales = _group_scales(w, granularity, range_of, int_type)
    return QuantizedTensor(quantize(w, per_column(scales, w.shape[1]), int_type), scales, int_type)


@register("lq")
def linear_quantization(w, bits, granularity):
    """LQ: symmetric linear quantization over ``max|W|`` of each group (eqs. 1-3)."""
    return _linear_grid(w, bits, granularity, max_abs)


@register("aciq", prior="gaussian")
def aciq(w, bits, granularity, prior):
    """ACIQ: symmetric linear quantization clipped at the MSE-optimal value of each group (eq. 5)."""
    return _linear_grid(w, bits, granularity, lambda part: aciq_range.aciq_clip(part, bits, prior))


@register("mse", candidates=100)
def mse_range(w, bits, granularity, candidates):
    """Symmetric linear quantization clipped where a grid search finds the least squared error of
    each group: the MSE range estimator of Bondarenko et al. (2021) for weights below 8 bits."""
    if not isinstance(candidates, int) or isinstance(candidates, bool) or candidates < 1:
        raise ValueError(f"candidates must be a positive integer, got {candidates!r}")
    int_type = SymmetricInt(bits)
    return _linear_grid(w, bits, granularity, lambda part: mse_clip(part, int_type, candidates))


@register("ocs", expand_ratio=0.01, split="iterative")
def outlier_channel_splitting(w, bits, granularity, expand_ratio, split):
    """OCS: split input channels quantization-aware (eq. 7), then LQ. ``split="iterative"`` is the
    authors' ``ocs_wts``: ``ceil(r*h)`` splits, each of the largest row of the grown weight (a
    channel may be split again); ``split="once"`` splits the ``floor(r*h)`` largest channels once.
    The grid (per group, from its columns) is the max of the naively split weight (eq. 6)."""
    int_type = SymmetricInt(bits)
    w = np.asarray(w, dtype=np.float64)
    n_split = ocs.channels_to_split(w.shape[0], expand_ratio, split)
    if split == "once":
        index = ocs.select_channels(w, n_split)
        scales = _group_scales(ocs.naive_split(w, index), granularity, max_abs, int_type)
        columns = per_column(scales, w.shape[1])
        grown = ocs.quantization_aware_split(w, index, columns)
    else:
        scales = _group_scales(ocs.iterative_split(w, n_split)[0], granularity, max_abs, int_type)
        columns = per_column(scales, w.shape[1])
        grown, index = ocs.iterative_split(w, n_split, step=columns)
    return QuantizedTensor(quantize(grown, columns, int_type), scales, int_type, split_index=index)


def _clustered(w: np.ndarray, bits: int, granularity, cluster) -> CodebookTensor:
    """Cluster each group's values with ``cluster(values) -> (codes, sorted centroids)``."""
    h, d = w.shape
    groups = group_count(granularity, d)
    codes = np.empty((h, d), np.uint8)
    codebook = np.empty((groups, 1 << bits), np.float32)
    size = d // groups
    for g, part in column_groups(w, groups):
        c, centroids = cluster(part)
        codes[:, g * size : (g + 1) * size] = c.reshape(h, size)
        codebook[g] = centroids
    return CodebookTensor(codes, codebook, bits)


@register("linear_clustering", bits=(1, 8))
def linear_clustering(w, bits, granularity):
    """Linear clustering (Zhao et al., 2021, eqs. 2-4): ``2**bits`` equal bins over each group's
    ``[min, max]``, each value replaced by the mean of its bin."""
    return _clustered(w, bits, granularity, lambda part: clustering.linear_clustering(part, bits))


@register("kmeans", bits=(1, 8), iterations=3, seed=0)
def kmeans(w, bits, granularity, iterations, seed):
    """k-means (Zhao et al., 2021, Algorithm 1): k-means++ from ``seed``, then at most
    ``iterations`` Lloyd rounds (the paper uses 3), per group."""
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    rng = np.random.default_rng(seed)

    def cluster(part):
        init = clustering.kmeans_plusplus(part, 1 << bits, rng)
        codes, centroids, _ = clustering.lloyd(part, init, iterations)
        return codes, centroids

    return _clustered(w, bits, granularity, cluster)


@register("kmeans_optimal", bits=(1, 8))
def kmeans_optimal(w, bits, granularity):
    """Optimal 1-D k-means (beyond the paper): the codebook of least squared error for each group,
    by exact dynamic programming (:func:`bertq.quantization.clustering.optimal_kmeans`)."""
    return _clustered(w, bits, granularity, lambda part: clustering.optimal_kmeans(part, bits))
