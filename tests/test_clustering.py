"""Codebook quantization (Zhao et al., 2021): linear clustering, k-means, optimal 1-D k-means,
granularity, and codebook checkpoints.

References: scikit-learn's KMeans from the same initial centroids, brute force over every
contiguous partition, and a direct numpy transcription of eqs. 2-4."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertq.quantization import clustering as cl
from bertq.quantization.methods import quantize_weight
from bertq.quantization.model import load_quantized, quantize_state, save_quantized
from bertq.quantization.tensor import CodebookTensor, QuantizedTensor


def _brute_force_sse(x: np.ndarray, k: int) -> float:
    """The least squared error over every cut of the sorted values into k contiguous runs."""
    x = np.sort(x)
    best = np.inf
    for cuts in itertools.combinations(range(1, x.size), k - 1):
        b = (0, *cuts, x.size)
        best = min(best, sum(((x[b[i] : b[i + 1]] - x[b[i] : b[i + 1]].mean()) ** 2).sum() for i in range(k)))
    return best


# ----------------------------------------------------------------------------- linear clustering


def test_linear_clustering_follows_eqs_2_to_4():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(1000)
    for bits in (1, 2, 3, 5):
        k = 2**bits
        width = (v.max() - v.min()) / k  # eq. 2
        bins = np.minimum(np.floor((v - v.min()) / width), k - 1).astype(int)  # eq. 3, max in last bin
        codes, centroids = cl.linear_clustering(v, bits)
        np.testing.assert_array_equal(codes, bins)
        for c in np.unique(bins):  # eq. 4: bin means
            assert centroids[c] == pytest.approx(v[bins == c].mean(), rel=1e-12)
        assert np.all(np.diff(centroids) > 0)


def test_linear_clustering_of_a_constant_and_of_empty_bins():
    codes, centroids = cl.linear_clustering(np.full(10, 0.25), 2)
    assert (codes == 0).all() and centroids[0] == 0.25
    # two far-apart clumps: the middle bins are empty and keep their midpoints (sorted codebook)
    codes, centroids = cl.linear_clustering(np.array([0.0, 0.01, 1.0, 0.99]), 2)
    np.testing.assert_array_equal(codes, [0, 0, 3, 3])
    np.testing.assert_allclose(centroids, [0.005, 0.375, 0.625, 0.995])


# ----------------------------------------------------------------------------- k-means


@pytest.mark.parametrize("iterations", [1, 2, 3, 10])
@pytest.mark.parametrize("bits", [1, 3, 4])
def test_lloyd_matches_scikit_learn_from_the_same_centroids(bits, iterations):
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(bits)
    v = np.concatenate([rng.standard_normal(3000) * 0.04, rng.standard_t(3, 500) * 0.05])
    init = cl.kmeans_plusplus(v, 2**bits, np.random.default_rng(7))
    codes, centroids, _ = cl.lloyd(v, init, iterations)
    km = KMeans(2**bits, init=init.reshape(-1, 1), n_init=1, max_iter=iterations, tol=0.0, algorithm="lloyd").fit(
        v.reshape(-1, 1)
    )
    expected = np.sort(km.cluster_centers_.ravel())
    np.testing.assert_allclose(centroids, expected, rtol=1e-6, atol=0)
    order = np.argsort(km.cluster_centers_.ravel())
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    np.testing.assert_array_equal(codes, rank[km.labels_])


def test_lloyd_stops_when_labels_settle_and_assigns_ties_low():
    v = np.array([0.0, 0.1, 0.9, 1.0])
    codes, centroids, rounds = cl.lloyd(v, np.array([0.0, 1.0]), 50)
    assert rounds == 1 and centroids.tolist() == pytest.approx([0.05, 0.95])
    codes, _, _ = cl.lloyd(np.array([0.5]), np.array([0.0, 1.0]), 0)  # exactly between: argmin's choice
    assert codes.tolist() == [0]


def test_kmeans_plusplus_is_seeded_and_picks_distinct_values():
    v = np.random.default_rng(0).standard_normal(500)
    a = cl.kmeans_plusplus(v, 16, np.random.default_rng(3))
    b = cl.kmeans_plusplus(v, 16, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert np.unique(a).size == 16 and np.isin(a, v).all()
    # with fewer distinct values than centroids every value is still a centroid
    c = cl.kmeans_plusplus(np.array([1.0, 1.0, 2.0]), 4, np.random.default_rng(0))
    assert set(c) == {1.0, 2.0}


def test_kmeans_improves_on_its_initialisation_and_on_linear_clustering():
    v = np.random.default_rng(5).standard_t(4, 20000) * 0.03
    for bits in (2, 3, 4):
        lc = cl.squared_error(v, *cl.linear_clustering(v, bits))
        km = cl.squared_error(v, *cl.kmeans(v, bits, iterations=3, seed=0))
        km_long = cl.squared_error(v, *cl.kmeans(v, bits, iterations=30, seed=0))
        assert km_long <= km < lc


# ----------------------------------------------------------------------------- optimal k-means


@pytest.mark.parametrize("seed", range(12))
def test_optimal_kmeans_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(int(rng.integers(6, 12)))
    if seed % 3 == 0:
        v[:3] = v[3]  # ties
    for bits in (1, 2):
        codes, centroids = cl.optimal_kmeans(v, bits)
        assert cl.squared_error(v, codes, centroids) == pytest.approx(_brute_force_sse(v, 2**bits), rel=1e-9, abs=1e-12)
        assert np.all(np.diff(centroids) >= 0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1, 1, allow_nan=False, width=32), min_size=1, max_size=9), st.integers(1, 2))
def test_optimal_kmeans_property(values, bits):
    v = np.array(values, dtype=np.float64)
    codes, centroids = cl.optimal_kmeans(v, bits)
    k = min(2**bits, np.unique(v).size)
    expected = 0.0 if np.unique(v).size <= 2**bits else _brute_force_sse(v, k)
    assert cl.squared_error(v, codes, centroids) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert centroids.size == 2**bits and codes.max() < 2**bits


def test_optimal_kmeans_with_few_distinct_values_is_exact():
    v = np.array([3.0, 1.0, 3.0, 2.0])
    codes, centroids = cl.optimal_kmeans(v, 2)
    np.testing.assert_array_equal(centroids[codes], v)


def test_optimal_kmeans_refuses_a_table_too_large(monkeypatch):
    monkeypatch.setattr(cl, "MAX_DP_TABLE_BYTES", 4 * 16 * 999)
    with pytest.raises(ValueError, match="1,000 values at 4 bits needs a .* GiB back-pointer table"):
        cl.optimal_kmeans(np.random.default_rng(0).standard_normal(1000), 4)


def test_bad_values_are_named():
    with pytest.raises(ValueError, match="NaN or infinite"):
        cl.kmeans(np.array([1.0, np.nan]), 2)
    with pytest.raises(ValueError, match="empty"):
        cl.optimal_kmeans(np.zeros(0), 2)
    with pytest.raises(ValueError, match="bits must be an integer from 1 to 8"):
        cl.linear_clustering(np.ones(3), 9)


# ----------------------------------------------------------------------------- methods


@pytest.mark.parametrize("method", ["linear_clustering", "kmeans", "kmeans_optimal"])
@pytest.mark.parametrize("granularity,groups", [("tensor", 1), ("channel", 12), (3, 3)])
def test_codebook_methods_per_granularity(method, granularity, groups):
    w = np.random.default_rng(1).standard_normal((40, 12))
    qt = quantize_weight(method, w, 2, granularity=granularity)
    assert isinstance(qt, CodebookTensor) and qt.codebook.shape == (groups, 4)
    deq = qt.dequantize()
    size = 12 // groups
    for g in range(groups):
        block = deq[:, g * size : (g + 1) * size]
        assert set(np.unique(block)) <= set(qt.codebook[g])  # each group uses its own codebook
    if method != "kmeans":
        fn = cl.linear_clustering if method == "linear_clustering" else cl.optimal_kmeans
        for g in range(groups):
            _, centroids = fn(w[:, g * size : (g + 1) * size], 2)
            np.testing.assert_allclose(qt.codebook[g], centroids.astype(np.float32))
    assert qt.storage_bits() == w.size * 2 + 32 * 4 * groups


@pytest.mark.parametrize("method", ["lq", "aciq", "ocs"])
def test_linear_grids_per_channel_and_group(method):
    w = np.random.default_rng(2).standard_normal((50, 8)) * np.array([0.1, 1, 2, 4, 0.1, 1, 2, 4])
    params = {"expand_ratio": 0.1} if method == "ocs" else {}
    per_tensor = quantize_weight(method, w, 4, **params)
    per_channel = quantize_weight(method, w, 4, granularity="channel", **params)
    per_group = quantize_weight(method, w, 4, granularity=2, **params)
    assert (per_tensor.groups, per_channel.groups, per_group.groups) == (1, 8, 2)
    err = [((q.dequantize() - w) ** 2).mean() for q in (per_tensor, per_group, per_channel)]
    assert err[2] < err[0] and err[1] <= err[0]
    if method == "lq":  # each channel's grid reaches exactly its own max |w|
        np.testing.assert_allclose(per_channel.scale * 7, np.abs(w).max(axis=0))
    assert per_channel.storage_bits() == per_channel.codes.size * 4 + 32 * 8 + 32 * per_channel.n_split


def test_granularity_errors_are_clear():
    with pytest.raises(ValueError, match="5 groups do not divide 12 output channels"):
        quantize_weight("kmeans", np.ones((4, 12)), 2, granularity=5)
    with pytest.raises(ValueError, match="granularity must be"):
        quantize_weight("lq", np.ones((4, 12)), 2, granularity="row")
    with pytest.raises(ValueError, match="quantizes to 2 to 8 bits, not 1"):
        quantize_weight("lq", np.ones((4, 12)), 1)
    with pytest.raises(ValueError, match="iterations must be a non-negative integer"):
        quantize_weight("kmeans", np.ones((4, 12)), 2, iterations=-1)


def test_codebook_checkpoint_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    state = {
        "bert.embeddings.word_embeddings.weight": rng.standard_normal((30, 8)).astype(np.float32),
        "bert.encoder.layer.0.output.dense.weight": rng.standard_normal((8, 16)).astype(np.float32),
        "classifier.weight": rng.standard_normal((2, 8)).astype(np.float32),
    }
    for method, bits, params in [
        ("kmeans", 1, {}),
        ("kmeans_optimal", 3, {"granularity": "channel"}),
        ("linear_clustering", 5, {"granularity": 2}),
        ("lq", 4, {"granularity": 4}),
    ]:
        qm = quantize_state(state, method, bits, params)
        save_quantized(qm, tmp_path / "q.safetensors")
        back = load_quantized(tmp_path / "q.safetensors")
        assert back.params == qm.params and back.size_bits() == qm.size_bits()
        for name, qt in qm.tensors.items():
            assert type(back.tensors[name]) is type(qt)
            np.testing.assert_array_equal(back.tensors[name].dequantize(), qt.dequantize())
        kind = QuantizedTensor if method == "lq" else CodebookTensor
        assert all(isinstance(t, kind) for t in back.tensors.values())


def test_mse_ordering_on_minilm_weights():
    """On real BERT weights (the packaged MiniLM), per tensor, at every bit-width:
    optimal k-means <= Lloyd's k-means <= linear clustering in squared error."""
    from safetensors.numpy import load_file

    from bertq.models.sources import packaged_path

    state = load_file(str(packaged_path() / "model.safetensors"))
    names = [
        n
        for n in state
        if n.endswith(("attention.self.query.weight", "intermediate.dense.weight"))
        and ".layer.0." in n
        or n.endswith(".layer.5.output.dense.weight")
    ]
    assert len(names) == 3
    for name in names:
        v = state[name].astype(np.float64).ravel()
        for bits in range(1, 9):
            lc = cl.squared_error(v, *cl.linear_clustering(v, bits))
            km = cl.squared_error(v, *cl.kmeans(v, bits, iterations=3, seed=0))
            if bits <= 5 or v.size <= 200_000:
                opt = cl.squared_error(v, *cl.optimal_kmeans(v, bits))
                assert opt <= km * (1 + 1e-12), (name, bits)
            assert km <= lc, (name, bits)
