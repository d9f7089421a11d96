"""Benchmark codebook quantization over all weights of a BERT-Base-sized model; write JSON.

    python bench/clustering.py [--bits 4] [--size base] [--out bench/out/clustering.json]

One thread. Times linear clustering, k-means (3 Lloyd rounds, the paper's setting) and optimal
1-D k-means per tensor over the embedding tables and every encoder linear, and, as the baseline
timed in the same run, scikit-learn's KMeans (same 3 rounds from the same k-means++ centroids)
and our Lloyd on the largest encoder matrix. The JSON holds every timing, the machine, and the
issue #5 speed targets with whether each was met.
"""

from __future__ import annotations

import argparse
import sys
import time

import numba
import numpy as np

from bertq.bench import results
from bertq.bench.clustering import bert_like_weights, time_method
from bertq.quantization import clustering

TARGETS = {"kmeans": 30.0, "kmeans_optimal": 120.0}


def sklearn_baseline(size: str, bits: int) -> dict:
    """Our Lloyd against scikit-learn's on the largest encoder matrix, from the same centroids."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    name, w = max(((n, w) for n, w in bert_like_weights(size) if n.startswith("layer.")), key=lambda t: t[1].size)
    v = w.astype(np.float64).ravel()
    init = clustering.kmeans_plusplus(v, 2**bits, np.random.default_rng(0))
    t = time.perf_counter()
    _, ours, _ = clustering.lloyd(v, init, 3)
    t_ours = time.perf_counter() - t
    with threadpool_limits(1):
        t = time.perf_counter()
        km = KMeans(2**bits, init=init.reshape(-1, 1), n_init=1, max_iter=3, tol=0.0, algorithm="lloyd").fit(
            v.reshape(-1, 1)
        )
        t_sk = time.perf_counter() - t
    return {
        "tensor": name,
        "weights": int(v.size),
        "bertq_lloyd_seconds": t_ours,
        "sklearn_seconds": t_sk,
        "speedup_vs_sklearn": t_sk / t_ours,
        "max_centroid_rel_diff": float(np.max(np.abs(np.sort(km.cluster_centers_.ravel()) - ours) / np.abs(ours))),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench/out/clustering.json")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--size", default="base")
    args = ap.parse_args(argv)
    numba.set_num_threads(1)
    started = time.time()
    runs = []
    for method, params in (("linear_clustering", {}), ("kmeans", {"iterations": 3}), ("kmeans_optimal", {})):
        r = time_method(method, args.bits, args.size, **params)
        runs.append(r)
        print(
            f"{method:18s} {args.bits}-bit per tensor, BERT-{args.size} ({r['weights'] / 1e6:.1f} M weights): "
            f"{r['seconds']:.1f} s (slowest: {r['slowest_tensor']} {r['slowest_tensor_seconds']:.2f} s; "
            f"first call {r['first_call_seconds']:.2f} s)",
            flush=True,
        )
    baseline = sklearn_baseline(args.size, args.bits)
    print(
        f"Lloyd, 3 rounds on {baseline['tensor']}: bertq {baseline['bertq_lloyd_seconds']:.2f} s, scikit-learn "
        f"{baseline['sklearn_seconds']:.2f} s ({baseline['speedup_vs_sklearn']:.1f}x)",
        flush=True,
    )
    targets = [
        results.target(
            f"{m} ({args.bits} bits, per tensor, all weights of BERT-{args.size}) <= {limit:.0f} s",
            r["seconds"],
            limit,
            at_most=True,
        )
        for r in runs
        for m, limit in TARGETS.items()
        if r["method"] == m and args.size == "base"
    ]
    result = {
        "machine": results.machine(threads=1),
        "runs": runs,
        "sklearn_baseline": baseline,
        "targets": targets,
        "wall_seconds": time.time() - started,
    }
    results.write(result, args.out, unit="s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
