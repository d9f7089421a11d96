"""One-dimensional clustering of weights into ``2**bits`` centroids (Zhao et al., 2021, section 3).

Three ways to choose a codebook for a vector ``v``, each returning ``(codes, centroids)`` with the
centroids sorted ascending (so codes are monotone in the value) and ``v[i] ~ centroids[codes[i]]``:

- :func:`linear_clustering` (sec. 3.2, eqs. 2-4): ``2**bits`` equal-width bins over
  ``[min, max]``; each value is replaced by the mean of its bin.
- :func:`kmeans` (sec. 3.3, Algorithm 1): k-means++ initialisation, then Lloyd iterations until the
  labels stop changing or ``iterations`` is reached (the paper's default is 3).
- :func:`optimal_kmeans` (beyond the paper): the exact minimiser of the squared error, by dynamic
  programming over the sorted values (the Ckmeans.1d.dp family; Wang & Song, 2011), with the
  divide-and-conquer speed-up that the monotone optimal split points allow (Grønlund et al., 2017).

All of them run in numba on float64 values.
"""

from __future__ import annotations

import numpy as np

from ..kernels.jit_cache import cached_njit

# --------------------------------------------------------------------------- linear clustering


@cached_njit
def _linear_clustering(v, k):
    n = v.size
    lo, hi = v.min(), v.max()
    width = (hi - lo) / k
    codes = np.zeros(n, np.uint8)
    sums = np.zeros(k)
    counts = np.zeros(k, np.int64)
    for i in range(n):
        c = 0
        if width > 0:
            c = int((v[i] - lo) / width)
            if c > k - 1:  # v == max lands on the upper edge of the last bin
                c = k - 1
        codes[i] = c
        sums[c] += v[i]
        counts[c] += 1
    centroids = np.empty(k)
    for c in range(k):
        # An empty bin keeps its midpoint: no weight uses it, and the codebook stays sorted.
        centroids[c] = sums[c] / counts[c] if counts[c] else lo + (c + 0.5) * width
    return codes, centroids


def linear_clustering(v: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Eqs. 2-4: bin ``i`` is ``floor((v - v_min) / width)`` with ``width = (v_max - v_min) / 2**k``
    (the maximum joins the last bin), and its centroid is the mean of its members."""
    v = _as_values(v)
    return _linear_clustering(v, 1 << _check_bits(bits))


# --------------------------------------------------------------------------- k-means


@cached_njit
def _kmeans_plusplus(v, k, first, uniforms):
    """k-means++ (Arthur & Vassilvitskii, 2007) as the paper describes it: the first centroid is
    ``v[first]``; each next one is drawn with probability proportional to its squared distance
    from the nearest centroid chosen so far (one candidate per step, no greedy trials)."""
    n = v.size
    centroids = np.empty(k)
    centroids[0] = v[first]
    d2 = np.empty(n)
    for i in range(n):
        d = v[i] - centroids[0]
        d2[i] = d * d
    for c in range(1, k):
        total = d2.sum()
        if total <= 0.0:  # fewer distinct values than centroids: repeat the last one
            centroids[c] = centroids[c - 1]
            continue
        target = uniforms[c - 1] * total
        acc = 0.0
        pick = n - 1
        for i in range(n):
            acc += d2[i]
            if acc > target:
                pick = i
                break
        while d2[pick] == 0.0 and pick > 0:  # never re-pick a chosen value through rounding
            pick -= 1
        centroids[c] = v[pick]
        for i in range(n):
            d = v[i] - centroids[c]
            d = d * d
            if d < d2[i]:
                d2[i] = d
    return centroids


@cached_njit
def _assign(v, centroids, codes):
    """Nearest centroid (sorted ascending) of every value, by binary search over the midpoints;
    a value exactly between two centroids goes to the lower one, as ``argmin`` would. Returns how
    many labels changed."""
    k = centroids.size
    mids = np.empty(k - 1)
    for c in range(k - 1):
        mids[c] = 0.5 * (centroids[c] + centroids[c + 1])
    changed = 0
    for i in range(v.size):
        c = np.searchsorted(mids, v[i])  # first midpoint >= v
        if codes[i] != c:
            codes[i] = c
            changed += 1
    return changed


@cached_njit
def _update(v, codes, centroids):
    k = centroids.size
    sums = np.zeros(k)
    counts = np.zeros(k, np.int64)
    for i in range(v.size):
        sums[codes[i]] += v[i]
        counts[codes[i]] += 1
    for c in range(k):
        if counts[c]:  # an empty cluster keeps its centroid
            centroids[c] = sums[c] / counts[c]


@cached_njit
def _lloyd(v, centroids, iterations):
    centroids = np.sort(centroids)
    codes = np.full(v.size, 255, np.uint8)
    done = 0
    for _ in range(iterations):
        changed = _assign(v, centroids, codes)
        if changed == 0:  # converged: the update would give the same centroids
            break
        _update(v, codes, centroids)
        done += 1
        # Keep the codebook sorted; a swap can only come from two equal centroids.
        order = np.argsort(centroids, kind="mergesort")
        if np.any(order != np.arange(centroids.size)):
            centroids = centroids[order]
    _assign(v, centroids, codes)
    return codes, centroids, done


def lloyd(v: np.ndarray, init: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Algorithm 1 from given initial centroids: at most ``iterations`` rounds of (assign every
    value to its nearest centroid, move every centroid to the mean of its members), stopping early
    when no label changes. Returns ``(codes, sorted centroids, rounds run)``; the codes are those of
    the final centroids. An empty cluster keeps its centroid (scikit-learn would move it to a far
    point instead; with k-means++ seeding clusters are never empty at the start)."""
    v = _as_values(v)
    init = np.asarray(init, np.float64)
    if init.ndim != 1 or not 1 <= init.size <= 256:
        raise ValueError(f"need 1 to 256 initial centroids, got shape {init.shape}")
    if iterations < 0:
        raise ValueError(f"iterations must be non-negative, got {iterations}")
    return _lloyd(v, init, int(iterations))


def kmeans_plusplus(v: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    v = _as_values(v)
    first = int(rng.integers(v.size))
    return _kmeans_plusplus(v, int(k), first, rng.random(max(k - 1, 1)))


def kmeans(v: np.ndarray, bits: int, iterations: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sec. 3.3: k-means++ seeded with ``seed``, then at most ``iterations`` Lloyd rounds."""
    k = 1 << _check_bits(bits)
    v = _as_values(v)
    init = kmeans_plusplus(v, k, np.random.default_rng(seed))
    codes, centroids, _ = _lloyd(v, init, int(iterations))
    return codes, centroids


# --------------------------------------------------------------------------- optimal 1-D k-means


@cached_njit
def _sse(s1, s2, i, j):
    """Squared error of the sorted values ``x[i..j]`` around their mean, from prefix sums."""
    n = j - i + 1
    a = s1[j + 1] - s1[i]
    e = (s2[j + 1] - s2[i]) - a * a / n
    return e if e > 0.0 else 0.0


@cached_njit
def _best_start(prev, s1, s2, j, lo, hi):
    """``argmin_{lo <= i <= hi} prev[i-1] + SSE(x[i..j])`` (the first on ties) and its value."""
    a_end, b_end = s1[j + 1], s2[j + 1]
    best, best_i = np.inf, lo
    for i in range(lo, hi + 1):
        a = a_end - s1[i]
        c = prev[i - 1] + ((b_end - s2[i]) - a * a / (j - i + 1))
        if c < best:
            best, best_i = c, i
    return best_i, best


@cached_njit
def _fill_layer(prev, cur, arg, below, s1, s2, m, n):
    """``cur[j] = min_{m <= i <= j} prev[i-1] + sse(i, j)`` for ``j >= m``: the best cost of
    ``x[0..j]`` in ``m + 1`` clusters, the last one starting at ``arg[j]``. The optimal start is
    monotone in ``j`` (and never before the previous layer's, ``below[j]``), so the rows are
    solved divide-and-conquer (an explicit stack of ``(j_lo, j_hi, i_lo, i_hi)``)."""
    stack = np.empty((64, 4), np.int64)
    stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3] = m, n - 1, m, n - 1
    top = 1
    while top:
        top -= 1
        jl, jh, il, ih = stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3]
        if jl > jh:
            continue
        j = (jl + jh) // 2
        lo = il if il > below[j] else below[j]
        hi = ih if ih < j else j
        best_i, cur[j] = _best_start(prev, s1, s2, j, lo, hi)
        arg[j] = best_i
        stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3] = jl, j - 1, il, best_i
        top += 1
        stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3] = j + 1, jh, best_i, ih
        top += 1


@cached_njit
def _optimal_bounds(x, k):
    """Start index of every cluster of the optimal ``k``-partition of the sorted ``x``."""
    n = x.size
    shift = x[n // 2]  # centre the sums: keeps sse() from cancelling
    s1 = np.zeros(n + 1)
    s2 = np.zeros(n + 1)
    for i in range(n):
        d = x[i] - shift
        s1[i + 1] = s1[i] + d
        s2[i + 1] = s2[i] + d * d
    starts = np.zeros((k, n), np.int32)
    prev = np.empty(n)
    for j in range(n):
        prev[j] = _sse(s1, s2, 0, j)
    cur = np.full(n, np.inf)
    for m in range(1, k):
        cur[:] = np.inf
        arg = starts[m]
        if m == k - 1:  # the last layer is needed at j = n - 1 only
            lo = max(m, starts[m - 1, n - 1])
            arg[n - 1], cur[n - 1] = _best_start(prev, s1, s2, n - 1, lo, n - 1)
        else:
            _fill_layer(prev, cur, arg, starts[m - 1], s1, s2, m, n)
        prev, cur = cur, prev
    bounds = np.zeros(k + 1, np.int64)
    bounds[k] = n
    j = n - 1
    for m in range(k - 1, 0, -1):
        bounds[m] = starts[m, j]
        j = bounds[m] - 1
    return bounds


MAX_DP_TABLE_BYTES = 4 * 2**30
"""The optimal DP keeps one int32 back-pointer per value and centroid; beyond this it refuses
(BERT-Base's token embeddings, 23 M values, take 1.4 GiB at 4 bits and 23 GiB at 8)."""


@cached_njit
def _codes_from_bounds(v, order, x, bounds):
    k = bounds.size - 1
    centroids = np.empty(k)
    codes = np.empty(v.size, np.uint8)
    for c in range(k):
        lo, hi = bounds[c], bounds[c + 1]
        if hi > lo:
            centroids[c] = x[lo:hi].mean()
        for t in range(lo, hi):
            codes[order[t]] = c
    return codes, centroids


def optimal_kmeans(v: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``2**bits`` centroids with the least squared error over ``v``, exactly.

        In 1-D an optimal clustering cuts the sorted values into contiguous runs, so
        ``D[m][j] = min_i D[m-1][i-1] + SSE(x[i..j])`` over the sorted ``x`` gives it (Wang & Song,
        2011). The optimal start ``i`` never decreases with ``j`` (the cost is Monge), which lets each of
        the ``2**bits - 1`` layers be solved in ``O(n log n)`` by divide and conquer, each search range
    also bounded below by the previous layer's optimal start. With fewer distinct
        values than centroids, the spare centroids repeat the largest value (they get no members)."""
    v = _as_values(v)
    k = 1 << _check_bits(bits)
    order = np.argsort(v)
    x = v[order]
    distinct = int(np.count_nonzero(np.diff(x))) + 1
    if distinct <= k:
        levels = np.unique(x)
        codes = np.searchsorted(levels, v).astype(np.uint8)
        return codes, np.concatenate([levels, np.full(k - levels.size, levels[-1])])
    table = 4 * k * x.size
    if table > MAX_DP_TABLE_BYTES:
        raise ValueError(
            f"optimal k-means of {x.size:,} values at {bits} bits needs a {table / 2**30:.1f} GiB "
            f"back-pointer table (limit {MAX_DP_TABLE_BYTES / 2**30:.0f} GiB); use a finer "
            "granularity (channel or groups), fewer bits, or kmeans"
        )
    bounds = _optimal_bounds(x, k)
    return _codes_from_bounds(v, order, x, bounds)


# --------------------------------------------------------------------------- shared


def squared_error(v: np.ndarray, codes: np.ndarray, centroids: np.ndarray) -> float:
    """``sum (v - centroids[codes])**2``, the objective all three minimise (the first two
    approximately)."""
    d = np.asarray(v, np.float64).ravel() - np.asarray(centroids, np.float64)[codes.ravel()]
    return float(d @ d)


def _check_bits(bits: int) -> int:
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be an integer from 1 to 8, got {bits!r}")
    return int(bits)


def _as_values(v: np.ndarray) -> np.ndarray:
    v = np.ascontiguousarray(np.asarray(v, dtype=np.float64).ravel())
    if v.size == 0:
        raise ValueError("cannot cluster an empty tensor")
    if not np.all(np.isfinite(v)):
        raise ValueError("cannot cluster a tensor with NaN or infinite values")
    return v
