"""Activation capture of the fp32 encoder and the outlier criterion of Bondarenko et al. (2021).

Section 3 and Fig. 2 (Appendix D: Figs. 6-9) look at the FFN's input (the attention LayerNorm
output, site kind ``attention.norm``) and output (``ffn.output``) of every layer on the first ten
dev sequences, and call a value an outlier when it lies more than six standard deviations from the
mean of the activation tensor (Fig. 2b caption). :func:`capture` records those values with forward
hooks on the site modules (:mod:`bertq.models.sites`), real tokens only; :func:`save_capture` /
:func:`load_capture` keep them as safetensors; :func:`outliers` applies the criterion per
embedding dimension; :func:`run_capture` is the pipeline job.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..models.sites import KINDS, TOKENS, kind_of, site_modules

DEFAULT_KINDS = ("attention.norm", "ffn.output")
"""The paper's "FFN input" and "FFN output" (Fig. 2)."""
SITE_PREFIX = "site."


@dataclass
class Capture:
    """Captured activations: ``sites[name]`` is ``(n_tokens_total, hidden)`` float32, the real
    tokens of every captured sequence concatenated; sequence ``i`` is rows
    ``offsets[i]:offsets[i + 1]``; ``input_ids`` is aligned with the rows. ``meta`` holds
    ``model``, ``task``, ``num_layers``, ``hidden`` and optionally ``tokens`` (one string per row)."""

    sites: dict[str, np.ndarray]
    input_ids: np.ndarray
    offsets: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def sequences(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_layers(self) -> int:
        if "num_layers" in self.meta:
            return int(self.meta["num_layers"])
        return 1 + max((_layer_of(n) for n in self.sites if _layer_of(n) is not None), default=-1)

    def site(self, layer: int, kind: str) -> str:
        """The name of ``kind``'s site in ``layer`` (negative counts from the last layer)."""
        index = layer + self.num_layers if layer < 0 else layer
        name = f"layer{index}.{kind}"
        if name not in self.sites:
            raise KeyError(f"no captured site {name!r}; captured: {', '.join(self.sites)}")
        return name

    def sequence(self, name: str, i: int) -> np.ndarray:
        return self.sites[name][self.offsets[i] : self.offsets[i + 1]]

    def token_labels(self) -> list[str]:
        """One label per row: the token string where the meta has them, else the id."""
        tokens = self.meta.get("tokens")
        if tokens is not None and len(tokens) == len(self.input_ids):
            return [str(t) for t in tokens]
        return [str(int(t)) for t in self.input_ids]


def _layer_of(name: str) -> int | None:
    head = name.split(".", 1)[0]
    return int(head[5:]) if head.startswith("layer") and head[5:].isdigit() else None


def capture(model, split, sequences: int = 10, kinds=DEFAULT_KINDS, *, batch_size: int = 1) -> Capture:
    """Run the fp32 ``model`` on the first ``sequences`` sequences of ``split`` (a
    :class:`~bertq.data.tokenized.TokenizedSplit`), in order, ``batch_size`` at a time, and record
    the output of every site of ``kinds`` in every layer at the real tokens (padding excluded)."""
    for kind in kinds:
        if kind not in KINDS or KINDS[kind].layout != TOKENS:
            raise ValueError(f"capture records per-token sites; {kind!r} is not one")
    chosen = {name: module for name, (_, module) in site_modules(model).items() if kind_of(name) in kinds}
    if not chosen:
        raise ValueError(f"the model has no site of kinds {list(kinds)} (is it a BERT encoder with sites?)")
    n = min(int(sequences), len(split))
    if n < 1:
        raise ValueError("capture needs at least one sequence")
    pieces: dict[str, list[np.ndarray]] = {name: [] for name in chosen}
    mask_now: list[torch.Tensor] = []

    def hook_for(name):
        def hook(module, inputs, output):
            keep = mask_now[0].bool()
            pieces[name].append(output.detach()[keep].to(torch.float32).cpu().numpy())

        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in chosen.items()]
    try:
        with torch.no_grad():
            for start in range(0, n, batch_size):
                b = split.batch(np.arange(start, min(start + batch_size, n)))
                mask = torch.from_numpy(b["attention_mask"])
                mask_now[:] = [mask]
                model(torch.from_numpy(b["input_ids"]), mask, torch.from_numpy(b["token_type_ids"]))
    finally:
        for h in handles:
            h.remove()
    lengths = split.lengths()[:n]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.asarray(split.input_ids[: offsets[-1]], dtype=np.int64)
    sites = {name: np.ascontiguousarray(np.concatenate(p, axis=0), dtype=np.float32) for name, p in pieces.items()}
    config = getattr(model, "config", None)
    meta = {
        "num_layers": getattr(config, "num_hidden_layers", None) or 1 + max(_layer_of(k) or 0 for k in sites),
        "hidden": int(next(iter(sites.values())).shape[1]),
    }
    return Capture(sites, ids, offsets, meta)


def save_capture(capture: Capture, path, meta: dict) -> None:
    """Write ``capture`` as safetensors: ``site.<name>``, ``input_ids``, ``offsets``; ``meta``
    (model, task, num_layers, hidden, optional tokens) as JSON in the header (no pickle)."""
    from safetensors.numpy import save_file

    arrays = {f"{SITE_PREFIX}{name}": np.ascontiguousarray(a, dtype=np.float32) for name, a in capture.sites.items()}
    arrays["input_ids"] = np.ascontiguousarray(capture.input_ids, dtype=np.int64)
    arrays["offsets"] = np.ascontiguousarray(capture.offsets, dtype=np.int64)
    full = {**capture.meta, **meta, "sites": list(capture.sites)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(arrays, str(path), metadata={"meta": json.dumps(full)})


def load_capture(path) -> Capture:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads(f.metadata()["meta"])
        sites = {name: f.get_tensor(f"{SITE_PREFIX}{name}") for name in meta.pop("sites")}
        return Capture(sites, f.get_tensor("input_ids"), f.get_tensor("offsets"), meta)


def outlier_mask(x: np.ndarray, sigma: float = 6.0) -> np.ndarray:
    """Where ``|x - mean| > sigma * std`` with the mean and std of the whole tensor (Fig. 2b)."""
    x = np.asarray(x, dtype=np.float64)
    return np.abs(x - x.mean()) > sigma * x.std()


def outliers(capture: Capture, sigma: float = 6.0, top_tokens: int = 5) -> list[dict]:
    """The embedding dimensions holding outliers (values beyond ``sigma`` standard deviations from
    the mean of their site's tensor over the captured tokens; Bondarenko et al., Fig. 2b), one dict
    per (site, dim): ``site``, ``layer`` (None outside the layers), ``kind``, ``dim``, ``count``,
    ``max_sigma`` (max ``|x - mean| / std`` in that dim) and ``tokens``, the ``top_tokens`` most
    frequent tokens (strings when the meta has them, else ids) they sit on as ``[token, count]``;
    largest ``max_sigma`` first."""
    labels = capture.meta.get("tokens")
    labels = labels if labels is not None and len(labels) == len(capture.input_ids) else None
    rows = []
    for name, x in capture.sites.items():
        x = np.asarray(x, dtype=np.float64)
        std = x.std()
        if not std > 0:
            continue
        z = np.abs(x - x.mean()) / std
        hit = z > sigma
        for dim in np.flatnonzero(hit.any(axis=0)):
            where = np.flatnonzero(hit[:, dim])
            keys = [labels[i] for i in where] if labels is not None else [int(capture.input_ids[i]) for i in where]
            rows.append(
                {
                    "site": name,
                    "layer": _layer_of(name),
                    "kind": kind_of(name),
                    "dim": int(dim),
                    "count": int(len(where)),
                    "max_sigma": float(z[:, dim].max()),
                    "tokens": [[t, c] for t, c in Counter(keys).most_common(top_tokens)],
                }
            )
    rows.sort(key=lambda r: (-r["max_sigma"], r["site"], r["dim"]))
    return rows


def _choose_split(splits: dict, split: str | None) -> str:
    """``split`` if present; None: the first non-train split; ``dev`` where there is none: the
    first split named ``dev*`` (MNLI's ``dev_matched``)."""
    if split is not None and split in splits:
        return split
    if split is None:
        candidates = [s for s in splits if s != "train"]
    elif split == "dev":
        candidates = [s for s in splits if s.startswith("dev")]
    else:
        candidates = []
    if not candidates:
        raise KeyError(f"no split {split!r} in the tokenized data; it has {', '.join(splits)}")
    return candidates[0]


def _model_name(finetuned_dir: Path) -> str:
    """``results/finetuned/{model}/{task}/seed{seed}`` -> model; else the directory's name."""
    if finetuned_dir.name.startswith("seed") and len(finetuned_dir.parents) > 1:
        return finetuned_dir.parents[1].name
    return finetuned_dir.name


def run_capture(
    finetuned_dir,
    tokenized,
    *,
    sequences: int,
    out_path,
    split: str | None = "dev",
    tokenizer_dir=None,
    model: str | None = None,
    kinds=DEFAULT_KINDS,
) -> dict:
    """The capture job: the fp32 fine-tuned model on the first ``sequences`` sequences of the dev
    split, saved to ``out_path``; returns a JSON-able summary (sequences, tokens, layers, hidden,
    the 50 strongest outlier dimensions and each site's min/max)."""
    from ..data.tokenized import load_tokenized
    from ..models.checkpoint import build_model

    finetuned_dir = Path(finetuned_dir)
    splits, tmeta = load_tokenized(tokenized)
    name = _choose_split(splits, split)
    net = build_model(finetuned_dir)
    cap = capture(net, splits[name], sequences, kinds)
    meta = {
        "model": model or _model_name(finetuned_dir),
        "task": tmeta.get("task"),
        "split": name,
        "num_layers": cap.meta["num_layers"],
        "hidden": cap.meta["hidden"],
    }
    if tokenizer_dir is not None:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
        meta["tokens"] = tok.convert_ids_to_tokens([int(i) for i in cap.input_ids])
    cap.meta.update(meta)
    save_capture(cap, out_path, meta)
    return {
        "model": meta["model"],
        "task": meta["task"],
        "split": name,
        "sequences": cap.sequences,
        "tokens": int(cap.offsets[-1]),
        "layers": meta["num_layers"],
        "hidden": meta["hidden"],
        "outliers": outliers(cap)[:50],
        "ranges": {s: {"min": float(a.min()), "max": float(a.max())} for s, a in cap.sites.items()},
    }
