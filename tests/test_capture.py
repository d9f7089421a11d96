"""Activation capture (bertq.evaluation.capture) against hooks on the encoder's own submodules, the
outlier criterion of Bondarenko et al. (2021, Fig. 2b) against a brute force, and the figures of
bertq.reports.bondarenko_figures on a synthetic capture."""

import csv
import json

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from bertq.data.tokenized import TokenizedSplit, save_tokenized
from bertq.evaluation.capture import Capture, capture, load_capture, outliers, run_capture, save_capture
from bertq.models.encoder import BertClassifier, EncoderConfig

CONFIG = EncoderConfig(
    vocab_size=40,
    hidden_size=16,
    num_hidden_layers=3,
    num_attention_heads=2,
    intermediate_size=24,
    max_position_embeddings=32,
    num_labels=3,
)
CLS, SEP = 1, 2


def _split(lengths, seed=0) -> TokenizedSplit:
    rng = np.random.default_rng(seed)
    ids, types = [], []
    for n in lengths:
        seq = rng.integers(3, CONFIG.vocab_size, n)
        seq[0], seq[-1], seq[n // 2] = CLS, SEP, SEP
        ids.append(seq)
        types.append((np.arange(n) > n // 2).astype(np.int8))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return TokenizedSplit(
        np.concatenate(ids).astype(np.int32), np.concatenate(types), offsets, np.zeros(len(lengths), np.int64)
    )


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return BertClassifier(CONFIG).eval()


def _reference(model, split, n):
    """Per sequence, unpadded and alone: the attention LayerNorm's output and the FFN's second
    linear output, from hooks on those nn modules (not the site modules)."""
    out = {}
    for i in range(CONFIG.num_hidden_layers):
        out[f"layer{i}.attention.norm"], out[f"layer{i}.ffn.output"] = [], []
    handles = []
    for i, layer in enumerate(model.bert.encoder.layer):
        for module, name in ((layer.attention.output.LayerNorm, "attention.norm"), (layer.output.dense, "ffn.output")):
            key = f"layer{i}.{name}"
            handles.append(
                module.register_forward_hook(lambda m, a, o, key=key: out[key].append(o[0].detach().numpy()))
            )
    with torch.no_grad():
        for s in range(n):
            a, b = split.offsets[s], split.offsets[s + 1]
            ids = torch.from_numpy(split.input_ids[a:b].astype(np.int64))[None]
            types = torch.from_numpy(split.token_type_ids[a:b].astype(np.int64))[None]
            model(ids, torch.ones_like(ids), types)
    for h in handles:
        h.remove()
    return {k: np.concatenate(v) for k, v in out.items()}


def test_capture_matches_submodule_hooks_padding_excluded(model):
    split = _split([7, 12, 5, 9, 11], seed=1)
    ref = _reference(model, split, 4)
    for batch_size in (1, 3):
        cap = capture(model, split, sequences=4, batch_size=batch_size)
        assert cap.offsets.tolist() == [0, 7, 19, 24, 33]
        assert cap.input_ids.tolist() == split.input_ids[:33].tolist()
        assert sorted(cap.sites) == sorted(ref)
        for name, x in cap.sites.items():
            assert x.dtype == np.float32 and x.shape == (33, CONFIG.hidden_size)
            np.testing.assert_allclose(x, ref[name], rtol=1e-5, atol=1e-5)
    assert cap.meta["num_layers"] == 3 and cap.meta["hidden"] == 16
    assert cap.site(-2, "ffn.output") == "layer1.ffn.output"
    assert not any(m._forward_hooks for m in model.modules())


def test_capture_other_kinds_and_errors(model):
    split = _split([6, 8])
    cap = capture(model, split, sequences=10, kinds=("ffn.norm",))  # fewer sequences than asked: all of them
    assert cap.sequences == 2 and list(cap.sites) == [f"layer{i}.ffn.norm" for i in range(3)]
    with torch.no_grad():
        ids = torch.from_numpy(split.input_ids[:6].astype(np.int64))[None]
        last = model.encode(
            ids, torch.ones_like(ids), torch.from_numpy(split.token_type_ids[:6].astype(np.int64))[None]
        )
    np.testing.assert_allclose(cap.sequence("layer2.ffn.norm", 0), last[0].numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="per-token"):
        capture(model, split, kinds=("attention.scores",))
    bad = _split([6, 8])
    bad.input_ids[8] = CONFIG.vocab_size + 5  # out of the vocabulary: the forward fails mid-capture
    with pytest.raises(IndexError):
        capture(model, bad, batch_size=1)
    assert not any(m._forward_hooks for m in model.modules())


def test_save_load_round_trip(model, tmp_path):
    cap = capture(model, _split([5, 9, 4]), sequences=3)
    tokens = [f"t{i}" for i in cap.input_ids]
    save_capture(cap, tmp_path / "c.safetensors", {"model": "tiny", "task": "mnli", "tokens": tokens})
    with open(tmp_path / "c.safetensors", "rb") as f:
        assert b"pickle" not in f.read(200)
    back = load_capture(tmp_path / "c.safetensors")
    assert back.meta["model"] == "tiny" and back.meta["task"] == "mnli" and back.meta["tokens"] == tokens
    assert back.meta["num_layers"] == 3 and back.meta["hidden"] == 16
    assert list(back.sites) == list(cap.sites)
    for name in cap.sites:
        np.testing.assert_array_equal(back.sites[name], cap.sites[name])
    np.testing.assert_array_equal(back.offsets, cap.offsets)
    np.testing.assert_array_equal(back.input_ids, cap.input_ids)


def _planted(seed=0, tokens=False) -> Capture:
    rng = np.random.default_rng(seed)
    n, h = 200, 24
    ids = rng.integers(10, 20, n)
    ids[::25] = SEP
    sites = {}
    for layer in range(2):
        x = rng.normal(0, 1, (n, h)).astype(np.float32)
        y = rng.normal(0, 1, (n, h)).astype(np.float32)
        y[ids == SEP, 5] = 40 + 5 * layer  # a structured outlier on [SEP]
        y[17, 11] = -30
        x[3, 2] = 12
        sites[f"layer{layer}.attention.norm"], sites[f"layer{layer}.ffn.output"] = x, y
    offsets = np.array([0, 12, 60, 110, 160, n], dtype=np.int64)
    meta = {"num_layers": 2, "hidden": h}
    if tokens:
        meta["tokens"] = ["[SEP]" if i == SEP else f"w{i}" for i in ids]
    return Capture(sites, ids, offsets, meta)


def _brute(cap: Capture, sigma: float) -> dict:
    found = {}
    for name, x in cap.sites.items():
        values = [float(v) for v in np.asarray(x, np.float64).ravel()]
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
        for t in range(x.shape[0]):
            for d in range(x.shape[1]):
                z = abs(float(x[t, d]) - mean) / std
                if z > sigma:
                    entry = found.setdefault((name, d), {"count": 0, "max": 0.0, "ids": []})
                    entry["count"] += 1
                    entry["max"] = max(entry["max"], z)
                    entry["ids"].append(int(cap.input_ids[t]))
    return found


@pytest.mark.parametrize("sigma", [6.0, 3.0])
def test_outliers_match_brute_force(sigma):
    cap = _planted()
    rows = outliers(cap, sigma)
    brute = _brute(cap, sigma)
    assert {(r["site"], r["dim"]) for r in rows} == set(brute)
    for r in rows:
        b = brute[(r["site"], r["dim"])]
        assert r["count"] == b["count"]
        assert r["max_sigma"] == pytest.approx(b["max"], rel=1e-9)
        assert r["layer"] == int(r["site"][5]) and r["kind"] == r["site"].split(".", 1)[1]
        top = max(b["ids"].count(i) for i in set(b["ids"]))
        assert r["tokens"][0][1] == top
    assert [r["max_sigma"] for r in rows] == sorted((r["max_sigma"] for r in rows), reverse=True)
    if sigma == 6.0:
        assert (rows[0]["site"], rows[0]["dim"], rows[0]["tokens"]) == ("layer1.ffn.output", 5, [[SEP, 8]])


def test_outliers_name_token_strings():
    rows = outliers(_planted(tokens=True))
    assert rows[0]["tokens"] == [["[SEP]", 8]]


def test_run_capture_job(model, tmp_path):
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    ckpt = tmp_path / "finetuned" / "tiny-bert" / "mnli" / "seed1"
    ckpt.mkdir(parents=True)
    save_file(state, str(ckpt / "model.safetensors"))
    (ckpt / "config.json").write_text(json.dumps({"model_type": "bert", **CONFIG.__dict__}))
    splits = {"train": _split([4, 4]), "dev_matched": _split([6, 9, 7], seed=2), "dev_mismatched": _split([5])}
    save_tokenized(splits, tmp_path / "tok.safetensors", {"task": "mnli"})
    summary = run_capture(ckpt, tmp_path / "tok.safetensors", sequences=2, out_path=tmp_path / "cap.safetensors")
    json.dumps(summary)
    assert (summary["model"], summary["task"], summary["split"]) == ("tiny-bert", "mnli", "dev_matched")
    assert (summary["sequences"], summary["tokens"], summary["layers"], summary["hidden"]) == (2, 15, 3, 16)
    cap = load_capture(tmp_path / "cap.safetensors")
    direct = capture(model, splits["dev_matched"], sequences=2)
    for name, x in direct.sites.items():
        np.testing.assert_allclose(cap.sites[name], x, rtol=1e-5, atol=1e-6)
        assert summary["ranges"][name] == {"min": pytest.approx(float(x.min())), "max": pytest.approx(float(x.max()))}
    assert summary["outliers"] == outliers(cap)[:50]
    assert (
        run_capture(ckpt, tmp_path / "tok.safetensors", sequences=1, out_path=tmp_path / "c2", split=None)["split"]
        == "dev_matched"
    )
    with pytest.raises(KeyError, match="dev_matched"):
        run_capture(ckpt, tmp_path / "tok.safetensors", sequences=1, out_path=tmp_path / "c3", split="test")


def test_figures_render(tmp_path):
    pytest.importorskip("matplotlib")
    from bertq.reports import bondarenko_figures as bf

    paths = {}
    for k, task in enumerate(("mnli", "stsb")):
        paths[task] = tmp_path / f"{task}.safetensors"
        save_capture(_planted(seed=k, tokens=k == 0), paths[task], {"model": "tiny", "task": task})
    written = bf.fig2(paths["mnli"], tmp_path / "f2.png", tmp_path / "f2.svg", model_label="Tiny", task="mnli")
    written += bf.fig2(paths["stsb"], tmp_path / "g2.png", tmp_path / "g2.svg", model_label="Tiny", task="stsb")
    written += bf.outlier_maps(paths, tmp_path / "m.png", tmp_path / "m.svg", model_label="Tiny")
    written += bf.fig9(paths, tmp_path / "f9.png", tmp_path / "f9.svg", model_label="Tiny")
    for p in written:
        head = p.read_bytes()[:200]
        assert head.startswith(b"\x89PNG") if p.suffix == ".png" else b"<svg" in p.read_bytes()
        assert p.stat().st_size > 5_000
    table = bf.outlier_table({("tiny", t): p for t, p in paths.items()}, tmp_path / "o.csv")
    with open(table[0]) as f:
        rows = list(csv.DictReader(f))
    expected = [(t, r["site"], r["dim"]) for t, p in paths.items() for r in outliers(load_capture(p))]
    assert [(r["task"], r["site"], int(r["dim"])) for r in rows] == expected
    assert rows[0]["tokens"] == "[SEP]:8" and rows[0]["model"] == "tiny"
