"""Figures of Bondarenko et al. (2021) drawn from fp32 activation captures
(:mod:`bertq.evaluation.capture`): Fig. 2 (per-token ranges and outlier map of the FFN's input and
output in the second-to-last layer), Figs. 6-8 (the outlier map of every layer, per task), Fig. 9
(per-sequence ranges of the FFN's input and output per task) and a CSV of the outlier dimensions.

"FFN input" is the site kind ``attention.norm``, "FFN output" ``ffn.output``; an outlier is a value
more than ``sigma`` (six) standard deviations from the mean of its activation tensor (Fig. 2b).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from bertq.evaluation.capture import Capture, load_capture, outlier_mask, outliers
from bertq.pipeline.workflow import atomic_path
from bertq.reports.figures import RC, plt, save
from bertq.reports.paper import task_label

FFN_IN, FFN_OUT = "attention.norm", "ffn.output"
KIND_LABELS = {FFN_IN: "FFN input", FFN_OUT: "FFN output"}
SPECIAL = {"[CLS]", "[SEP]", "<s>", "</s>", "[PAD]", "<pad>"}
SPECIAL_COLOR = "tab:red"


def _cmap():
    from matplotlib.colors import ListedColormap

    return ListedColormap(["white", "#404040"])


def _load(c) -> Capture:
    return c if isinstance(c, Capture) else load_capture(c)


def _layer_index(cap: Capture, layer: int) -> int:
    return layer + cap.num_layers if layer < 0 else layer


def _tokens_and_special(cap: Capture, i: int) -> tuple[list[str], np.ndarray]:
    """Labels of sequence ``i``'s tokens and which are special. Without token strings, the first
    token is taken as [CLS] and every token with the last token's id as [SEP] (BERT's layout)."""
    a, b = cap.offsets[i], cap.offsets[i + 1]
    tokens = cap.meta.get("tokens")
    if tokens is not None and len(tokens) == len(cap.input_ids):
        labels = [str(t) for t in tokens[a:b]]
        return labels, np.array([t in SPECIAL for t in labels])
    ids = cap.input_ids[a:b]
    special = ids == ids[-1]
    special[0] = True
    labels = [("[CLS]" if k == 0 else "[SEP]") if s else str(int(t)) for k, (t, s) in enumerate(zip(ids, special))]
    return labels, special


def _pool_max(mask: np.ndarray, max_rows: int, max_cols: int) -> np.ndarray:
    """Max-pool a boolean map to at most ``max_rows x max_cols`` cells, so a single outlier stays
    visible when the image has more cells than the axes has pixels."""
    fr = max(1, math.ceil(mask.shape[0] / max_rows))
    fc = max(1, math.ceil(mask.shape[1] / max_cols))
    r, c = math.ceil(mask.shape[0] / fr) * fr, math.ceil(mask.shape[1] / fc) * fc
    padded = np.zeros((r, c), dtype=bool)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    return padded.reshape(r // fr, fr, c // fc, fc).any(axis=(1, 3))


def _draw_map(ax, cap: Capture, name: str, sigma: float, px: tuple[int, int], seq_ticks: bool = True) -> np.ndarray:
    """The outlier map of site ``name``: rows the captured tokens, columns the embedding dims."""
    x = cap.sites[name]
    mask = outlier_mask(x, sigma)
    pooled = _pool_max(mask, *px)
    n_tok, hidden = x.shape
    ax.imshow(
        pooled,
        cmap=_cmap(),
        vmin=0,
        vmax=1,
        aspect="auto",
        interpolation="nearest",
        extent=(-0.5, hidden - 0.5, n_tok - 0.5, -0.5),
    )
    if seq_ticks:
        starts = cap.offsets[:-1]
        ax.set_yticks(starts)
        ax.set_yticklabels([f"seq {i}" for i in range(len(starts))], fontsize=6)
    ax.tick_params(axis="x", labelsize=6)
    return mask


def _top_dims(mask: np.ndarray, k: int = 4) -> list[int]:
    counts = mask.sum(axis=0)
    order = [int(d) for d in np.argsort(-counts, kind="stable") if counts[d] > 0]
    return order[:k]


def _range_boxes(ax, columns: list[np.ndarray], colors=None) -> None:
    """One box per column: the box spans the quartiles, the whiskers the min and max."""
    bp = ax.boxplot(
        columns, whis=(0, 100), showfliers=False, widths=0.6, patch_artist=True, medianprops={"color": "black"}
    )
    for k, box in enumerate(bp["boxes"]):
        color = colors[k] if colors is not None else "tab:blue"
        box.set_facecolor(color)
        box.set_alpha(0.6)
    ax.grid(axis="y", alpha=0.3)


def fig2(
    capture_path, out_png, out_svg, *, model_label: str, task: str, layer: int = -2, sigma: float = 6.0
) -> list[Path]:
    """Fig. 2: (a) per-token ranges of the FFN's input (top) and output (bottom) for the first
    sequence, (b) their outlier maps over the tokens of the captured sequences, in ``layer``."""
    cap = _load(capture_path)
    li = _layer_index(cap, layer)
    labels, special = _tokens_and_special(cap, 0)
    n_tok = len(labels)
    width_a = max(5.0, 0.14 * n_tok + 1.5)
    with plt.rc_context(RC):
        fig, axes = plt.subplots(
            2, 2, figsize=(width_a + 6.5, 7.2), gridspec_kw={"width_ratios": [width_a, 6.5]}, squeeze=False
        )
        for row, kind in enumerate((FFN_IN, FFN_OUT)):
            name = cap.site(li, kind)
            seq = cap.sequence(name, 0)
            ax = axes[row][0]
            colors = [SPECIAL_COLOR if s else "tab:blue" for s in special]
            _range_boxes(ax, list(seq), colors)
            ax.set_xticks(np.arange(1, n_tok + 1))
            ax.set_xticklabels(labels, rotation=90, fontsize=6)
            for tick, s in zip(ax.get_xticklabels(), special):
                if s:
                    tick.set_color(SPECIAL_COLOR)
            ax.set_xlim(0.3, n_tok + 0.7)
            ax.set_ylabel(f"{KIND_LABELS[kind]} value")
            ax.set_title(
                f"(a) {KIND_LABELS[kind]}, layer {li}: per-token range, sequence 0 "
                f"([CLS]/[SEP] in red; box: quartiles, whiskers: min/max)",
                fontsize=8,
            )
            if row == 1:
                ax.set_xlabel("token")
            ax2 = axes[row][1]
            mask = _draw_map(ax2, cap, name, sigma, px=(150, 400))
            dims = _top_dims(mask)
            ax2.set_title(
                f"(b) {KIND_LABELS[kind]}, layer {li}: |x - mean| > {sigma:g} std (dark)\n"
                f"{int(mask.sum())} values; top dims {', '.join(map(str, dims)) or 'none'}",
                fontsize=8,
            )
            ax2.set_xlabel("embedding dimension")
            ax2.set_ylabel(f"token (first {cap.sequences} sequences)")
        fig.suptitle(
            f"{model_label}, {task_label(task)}: FFN input and output in layer {li} of {cap.num_layers} "
            f"(Bondarenko et al. 2021, Fig. 2; sigma = {sigma:g})",
            fontsize=10,
        )
        fig.tight_layout()
        return save(fig, out_png, out_svg)


def outlier_maps(captures_by_task: dict, out_png, out_svg, *, model_label: str, sigma: float = 6.0) -> list[Path]:
    """Figs. 6-8: the outlier map of the FFN's input and output in every layer (rows), one pair of
    columns per task."""
    caps = {task: _load(p) for task, p in captures_by_task.items()}
    if not caps:
        raise ValueError("outlier_maps needs at least one capture")
    layers = max(c.num_layers for c in caps.values())
    ncols = 2 * len(caps)
    with plt.rc_context(RC):
        fig, axes = plt.subplots(layers, ncols, figsize=(2.3 * ncols + 0.6, 1.15 * layers + 1.2), squeeze=False)
        for t, (task, cap) in enumerate(caps.items()):
            for k, kind in enumerate((FFN_IN, FFN_OUT)):
                col = 2 * t + k
                for li in range(layers):
                    ax = axes[li][col]
                    name = f"layer{li}.{kind}"
                    if name not in cap.sites:
                        ax.set_visible(False)
                        continue
                    _draw_map(ax, cap, name, sigma, px=(60, 160), seq_ticks=False)
                    ax.set_yticks([])
                    if li < layers - 1:
                        ax.set_xticks([])
                    else:
                        ax.set_xlabel("embedding dim", fontsize=7)
                    if col == 0:
                        ax.set_ylabel(f"layer {li}", fontsize=8)
                    if li == 0:
                        ax.set_title(f"{task_label(task)}\n{KIND_LABELS[kind]}", fontsize=8)
        fig.suptitle(
            f"{model_label}: outliers (|x - mean| > {sigma:g} std of the tensor, dark) of the FFN input and output, "
            f"every layer; rows: tokens of the first sequences (Bondarenko et al. 2021, Figs. 6-8)",
            fontsize=9,
        )
        fig.tight_layout()
        return save(fig, out_png, out_svg)


def fig9(captures_by_task: dict, out_png, out_svg, *, model_label: str, layer: int = -2) -> list[Path]:
    """Fig. 9: per task, the range of the FFN's input (a) and output (b) in ``layer`` per data
    sequence (box: quartiles, whiskers: min and max)."""
    caps = {task: _load(p) for task, p in captures_by_task.items()}
    if not caps:
        raise ValueError("fig9 needs at least one capture")
    n = len(caps)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    with plt.rc_context(RC):
        fig = plt.figure(figsize=(2 * 3.2 * cols + 0.5, 2.6 * rows + 1.0), layout="constrained")
        subfigs = fig.subfigures(1, 2, wspace=0.04)
        for sub, (letter, kind) in zip(subfigs, (("a", FFN_IN), ("b", FFN_OUT))):
            axes = sub.subplots(rows, cols, squeeze=False)
            for ax in axes.flat[n:]:
                ax.set_visible(False)
            for ax, (task, cap) in zip(axes.flat, caps.items()):
                li = _layer_index(cap, layer)
                name = cap.site(li, kind)
                _range_boxes(ax, [cap.sequence(name, i).ravel() for i in range(cap.sequences)])
                ax.set_xticks(np.arange(1, cap.sequences + 1))
                ax.set_xticklabels([str(i) for i in range(cap.sequences)], fontsize=7)
                ax.set_title(f"{task_label(task)} (layer {li})", fontsize=8)
                ax.set_xlabel("data sequence", fontsize=7)
                ax.set_ylabel("value", fontsize=7)
                ax.tick_params(axis="y", labelsize=7)
            sub.suptitle(f"({letter}) {KIND_LABELS[kind]}", fontsize=9)
        fig.suptitle(
            f"{model_label}: range of FFN input and output in the second-to-last layer per data sequence "
            f"(box: quartiles, whiskers: min/max; Bondarenko et al. 2021, Fig. 9)",
            fontsize=9,
        )
        return save(fig, out_png, out_svg)


TABLE_COLUMNS = ["model", "task", "site", "layer", "kind", "dim", "count", "max_sigma", "tokens"]


def outlier_table(captures: dict, out_csv, sigma: float = 6.0) -> list[Path]:
    """One CSV row per (model, task, site, dim) holding outliers (:func:`~bertq.evaluation.capture.outliers`);
    ``tokens`` lists the most frequent tokens they sit on as ``token:count`` joined by spaces."""
    with atomic_path(out_csv) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TABLE_COLUMNS)
        for (model, task), path in captures.items():
            for r in outliers(_load(path), sigma):
                tokens = " ".join(f"{t}:{c}" for t, c in r["tokens"])
                layer = "" if r["layer"] is None else r["layer"]
                w.writerow(
                    [
                        model,
                        task,
                        r["site"],
                        layer,
                        r["kind"],
                        r["dim"],
                        r["count"],
                        f"{r['max_sigma']:.3f}",
                        tokens,
                    ]
                )
    return [Path(out_csv)]
