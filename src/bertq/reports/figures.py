"""Figures reproducing Hu et al. (2022): Fig. 2 (score against model size per method), Figs. 3 and 4
(per-task score against bit-width), Fig. 5a (the model family under OCS: score against size
and against ACE, eq. 8), and their SQuAD counterparts Fig. 6 (as Fig. 2) and Fig. 5b (as Fig. 5a),
which plot the mean of exact match and F1.

Rendered with the Agg backend at a fixed dpi, with no timestamp in the SVG and fixed SVG ids, so a
rerun on the same data gives the same bytes.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from bertq.reports.paper import PAPER_CITATION, method_label, task_label  # noqa: E402
from bertq.reports.tables import (aggregate, labels, ordered_models, ordered_tasks,  # noqa: E402
                                  score_label, task_scores)
from bertq.pipeline.workflow import atomic_path  # noqa: E402

DPI = 150
QUANT_METHODS = ["lq", "aciq", "ocs"]
COLORS = {"lq": "tab:blue", "aciq": "tab:orange", "ocs": "tab:green", "fp32": "black"}
MARKERS = {"lq": "o", "aciq": "s", "ocs": "^"}
RC = {"svg.hashsalt": "bertq", "svg.fonttype": "path", "font.size": 9}


def _color(method: str) -> str:
    """The method's colour; methods beyond the core paper's get the next ones of the palette."""
    extra = ["tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
    return COLORS.get(method) or extra[sum(map(ord, method)) % len(extra)]


def save(fig, out_png, out_svg) -> list[Path]:
    """Save ``fig`` as PNG and SVG via temporary names renamed into place; close it."""
    paths = []
    for path, fmt, meta in ((out_png, "png", {"Software": None}), (out_svg, "svg", {"Date": None})):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=meta, bbox_inches="tight")
        paths.append(Path(path))
    plt.close(fig)
    return paths


def finish(fig, title: str, out_png, out_svg, fontsize: float | None = 10, rect=None) -> list[Path]:
    """Title ``fig`` (``fontsize`` None: matplotlib's figure title size), lay it out and :func:`save` it."""
    fig.suptitle(title, **({} if fontsize is None else {"fontsize": fontsize}))
    fig.tight_layout(rect=rect)
    return save(fig, out_png, out_svg)


def _grid(n: int, width: float = 4.2, height: float = 3.3, max_cols: int = 3):
    cols = max(1, min(n, max_cols))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:max(n, 1)])


def _no_data(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no complete results\n{what}", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _log_x(ax) -> None:
    """Log x-axis with plain-number tick labels at 1-2-5 steps (no crowded minor labels)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.08, y=0.1)


def _annotate(ax, x, y, bits, done: set | None = None, below: bool = False) -> None:
    """Label points with their bit-width; with ``done``, each bit-width once (at its highest point)."""
    pts = sorted(zip(x, y, bits), key=lambda p: -p[1])
    for xi, yi, b in pts:
        if done is not None:
            if int(b) in done:
                continue
            done.add(int(b))
        ax.annotate(f"{int(b)}", (xi, yi), textcoords="offset points", xytext=(0, -11 if below else 5), ha="center",
                    fontsize=7, color="0.25")


def fig2(summary: pd.DataFrame, out_png, out_svg, tasks=None, models=None, figure: str = "Fig. 2"
         ) -> list[Path]:
    """Fig. 2: aggregate score against model size (MB, log x) per method, one point per bit-width,
    one subplot per model; fp32 as a star and a dotted horizontal line."""
    tasks = ordered_tasks(summary, tasks)
    agg, names, ylabel = aggregate(summary, tasks), labels(summary), score_label(tasks)
    models = ordered_models(summary, models) if not summary.empty else []
    with plt.rc_context(RC):
        fig, axes = _grid(len(models))
        for ax, model in zip(axes, models):
            a = agg[agg["model"] == model]
            ax.set_title(names.get(model, model), fontsize=9)
            if a.empty:
                _no_data(ax, "for every task")
                continue
            fp = a[a["method"] == "fp32"]
            if len(fp):
                ax.axhline(fp["score"].iloc[0], color="black", ls=":", lw=1)
                ax.plot(fp["size_bytes"] / 1e6, fp["score"], "*", color="black", ms=11, label="fp32 (32-bit)")
            q_all = a[a["method"].isin(["fp32"] + QUANT_METHODS)]
            _annotate(ax, q_all["size_bytes"] / 1e6, q_all["score"], q_all["bits"], done=set())
            for m in QUANT_METHODS:
                q = a[a["method"] == m].sort_values("size_bytes")
                if q.empty:
                    continue
                ax.plot(q["size_bytes"] / 1e6, q["score"], marker=MARKERS[m], color=COLORS[m], ms=4,
                        label=method_label(m))
            _log_x(ax)
            ax.set_xlabel("model size (MB, log scale)")
            ax.set_ylabel(f"{ylabel} (%)")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7, loc="lower right")
        if not models:
            _no_data(axes[0], "")
        return finish(fig, f"{ylabel} against model size; points labelled with bit-width "
                           f"(cf. {PAPER_CITATION}, {figure})", out_png, out_svg)


def fig3(summary: pd.DataFrame, model: str, out_png, out_svg, tasks=None) -> list[Path]:
    """Figs. 3 and 4: per-task score against bit-width for one model (8 bits on the left), a line per
    method (error bars: std over seeds) and the fp32 score as a dashed horizontal line."""
    sub = summary[summary["model"] == model] if not summary.empty else summary
    tasks = ordered_tasks(sub, tasks) if not sub.empty else list(tasks or [])
    ts = task_scores(sub) if not sub.empty else None
    name = labels(sub).get(model, model) if not sub.empty else model
    bits = sorted({int(b) for b in sub["bits"] if int(b) != 32}, reverse=True) if not sub.empty else []
    pos = {b: i for i, b in enumerate(bits)}
    with plt.rc_context(RC):
        fig, axes = _grid(len(tasks), width=3.6, height=2.9, max_cols=4)
        for ax, task in zip(axes, tasks):
            t = ts[ts["task"] == task] if ts is not None else sub
            ax.set_title(task_label(task), fontsize=9)
            if t.empty:
                _no_data(ax, f"for {task}")
                continue
            fp = t[t["method"] == "fp32"]
            if len(fp):
                ax.axhline(fp["score"].iloc[0], color="black", ls="--", lw=1, label="fp32")
            for m in QUANT_METHODS:
                q = t[t["method"] == m].sort_values("bits", ascending=False)
                if q.empty:
                    continue
                ax.errorbar([pos[int(b)] for b in q["bits"]], q["score"], yerr=q["score_std"].fillna(0.0),
                            marker=MARKERS[m], color=COLORS[m], ms=4, capsize=2, lw=1.2, label=method_label(m))
            ax.set_xticks(range(len(bits)), [str(b) for b in bits])
            ax.set_xlim(-0.4, max(len(bits) - 0.6, 0.4))
            ax.set_xlabel("weight bits")
            ax.set_ylabel("score (%)")
            ax.grid(alpha=0.3)
        if not tasks:
            _no_data(axes[0], f"for {model}")
        handles, lab = [], []
        for ax in axes:
            for h, l in zip(*ax.get_legend_handles_labels()):
                if l not in lab:
                    handles.append(h)
                    lab.append(l)
        if handles:
            fig.legend(handles, lab, loc="lower center", ncol=len(lab), fontsize=8, frameon=False,
                       bbox_to_anchor=(0.5, -0.02))
        return finish(fig, f"{name}\nper-task score against bit-width, error bars: std over seeds "
                           f"(cf. {PAPER_CITATION}, Figs. 3-4)", out_png, out_svg, rect=(0, 0.05, 1, 1))


def fig5a(summary: pd.DataFrame, out_png, out_svg, method: str = "ocs", tasks=None, models=None,
          figure: str = "Fig. 5a") -> list[Path]:
    """Fig. 5a: the model family under ``method``: score against size (MB) and against ACE (both log x),
    one line per model ordered by size, points fp32 then the method's bit-widths, labelled with bits."""
    tasks = ordered_tasks(summary, tasks)
    agg, names, ylabel = aggregate(summary, tasks), labels(summary), score_label(tasks)
    models = ordered_models(summary, models) if not summary.empty else []
    fp_size = agg[agg["method"] == "fp32"].set_index("model")["size_bytes"]
    models = sorted(models, key=lambda m: fp_size.get(m, np.inf))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(models), 1)))
    with plt.rc_context(RC):
        fig, (ax_s, ax_a) = plt.subplots(1, 2, figsize=(10, 4))
        drawn = False
        for i, (color, model) in enumerate(zip(colors, models)):
            a = agg[(agg["model"] == model) & agg["method"].isin(["fp32", method])]
            a = a.sort_values("bits", ascending=False)
            if a.empty:
                continue
            drawn = True
            for ax, col, scale in ((ax_s, "size_bytes", 1e6), (ax_a, "ace", 1.0)):
                ax.plot(a[col] / scale, a["score"], marker="o", ms=4, color=color, label=names.get(model, model))
                _annotate(ax, a[col] / scale, a["score"], a["bits"], below=i % 2 == 1)  # neighbours apart
        for ax, xl in ((ax_s, "model size (MB, log scale)"), (ax_a, "ACE (eq. 8, log scale)")):
            if not drawn:
                _no_data(ax, f"for fp32 / {method_label(method)}")
                continue
            _log_x(ax)
            ax.set_xlabel(xl)
            ax.set_ylabel(f"{ylabel} (%)")
            ax.grid(alpha=0.3, which="both")
        if drawn:
            ax_a.legend(fontsize=7, loc="lower right")
        return finish(fig, f"Model family quantized with {method_label(method)}: {ylabel} against size and ACE; "
                           f"points labelled with bit-width (cf. {PAPER_CITATION}, {figure})", out_png, out_svg)


def _squad_only(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["task"] == "squad"] if not summary.empty else summary


def fig6(summary: pd.DataFrame, out_png, out_svg, models=None) -> list[Path]:
    """Fig. 6: the SQuAD score (mean of EM and F1) against model size per method and bit-width."""
    return fig2(_squad_only(summary), out_png, out_svg, tasks=["squad"], models=models, figure="Fig. 6")


def fig5b(summary: pd.DataFrame, out_png, out_svg, models=None) -> list[Path]:
    """Fig. 5b: the model family under OCS on SQuAD, against size and ACE (at the QA length)."""
    return fig5a(_squad_only(summary), out_png, out_svg, tasks=["squad"], models=models, figure="Fig. 5b")


BASELINE_STYLES = {"torch fp32": ("black", ":"), "torch dynamic int8": ("tab:purple", "--"),
                   "torchao dynamic int8": ("tab:brown", "-.")}
ENGINE_STYLES = {"bertq int8 engine": ("-", None, "int8 codes, int8 kernels"),
                 "bertq codebook engine": ("--", "none", "packed codes, lookup-table kernels"),
                 "bertq dynamic int8 engine": ((0, (4, 1, 1, 1)), "white", "dynamic int8 engine")}
"""Line style, marker face and legend words of each engine backend (any other bertq backend is
drawn dotted, under its own name)."""


def _ratio(g: pd.DataFrame, part: str = "") -> pd.Series:
    return pd.to_numeric(g[f"ratio_to_torch_fp32{part}"], errors="coerce")


def throughput_figure(throughput: pd.DataFrame, out_png, out_svg, models=None) -> list[Path]:
    """Speed-up of the integer engine over torch fp32 against weight bits, a line per method and
    engine (int8 codes on the int8 kernels, packed codes on the lookup-table kernels): the median
    of the ratios paired round by round in the model's one timing job, error bars from their first
    to third quartile; torch fp32 (1.0), torch's and torchao's dynamic int8 (their own paired
    ratios, quartiles shaded) as horizontal lines; one panel per model, the legend beside the
    panels. Not in the paper."""
    df = throughput if not throughput.empty else pd.DataFrame(columns=["model"])
    model_list = ordered_models(df.assign(size_bytes=0.0), models) if not df.empty else []
    with plt.rc_context(RC):
        fig, axes = _grid(max(len(model_list), 1), max_cols=3)
        if not model_list:
            _no_data(axes[0], "no throughput results")
        handles = {}
        for ax, model in zip(axes, model_list):
            g = df[df["model"] == model]
            engine = g[g["backend"].astype(str).str.startswith("bertq")]
            present = list(dict.fromkeys(engine["method"]))
            methods = [m for m in QUANT_METHODS if m in present] + sorted(m for m in present if m not in QUANT_METHODS)
            kinds = [b for b in ENGINE_STYLES if b in set(engine["backend"])]
            kinds += sorted(set(engine["backend"]) - set(kinds))
            timed = set(zip(engine["method"], engine["backend"]))
            series = [(m, b) for b in kinds for m in methods if (m, b) in timed]
            for i, (method, backend) in enumerate(series):
                sel = engine[(engine["method"] == method) & (engine["backend"] == backend)].sort_values("bits")
                style, fill, words = ENGINE_STYLES.get(backend, (":", "white", backend))
                median = _ratio(sel)
                below, above = (median - _ratio(sel, "_q1")).clip(lower=0), (_ratio(sel, "_q3") - median).clip(lower=0)
                dodge = 0.12 * (i - (len(series) - 1) / 2)  # side by side, so no bar hides another
                h = ax.errorbar(sel["bits"].astype(float) + dodge, median, yerr=[below.fillna(0), above.fillna(0)],
                                marker=MARKERS.get(method, "D"), color=_color(method), linestyle=style,
                                markerfacecolor=fill, ms=5, capsize=2, lw=1.2)
                handles.setdefault(f"{method_label(method)}, {words}", h)
            for backend, (color, style) in BASELINE_STYLES.items():
                b = g[g["backend"] == backend]
                if b.empty:
                    continue
                level = 1.0 if backend == "torch fp32" else float(_ratio(b).iloc[0])
                h = ax.axhline(level, color=color, linestyle=style, linewidth=1.2)
                if backend != "torch fp32" and not _ratio(b, "_q1").isna().all():
                    ax.axhspan(float(_ratio(b, "_q1").iloc[0]), float(_ratio(b, "_q3").iloc[0]), color=color,
                               alpha=0.12, linewidth=0)
                handles.setdefault(backend + (" (1.0)" if backend == "torch fp32" else ""), h)
            paths = engine["kernel_path"].dropna().unique() if "kernel_path" in engine else []
            title = labels(g)[model] if "model_label" in g else model
            ax.set_title(title + (f" ({', '.join(map(str, paths))})" if len(paths) else ""))
            if len(engine):
                ticks = sorted({int(b) for b in engine["bits"]})
                ax.set_xticks(ticks)
                ax.set_xlim(ticks[0] - 0.75, ticks[-1] + 0.75)  # one bit-width: its dodged markers stay beside the tick
            ax.set_xlabel("weight bits")
            ax.set_ylabel("speed-up over torch fp32 (×)")
            ax.set_ylim(0, ax.get_ylim()[1] * 1.08)  # headroom above the highest point
            ax.grid(alpha=0.3)
        if handles:
            fig.legend(list(handles.values()), list(handles), loc="center left", bbox_to_anchor=(1.0, 0.5),
                       fontsize=8, frameon=False)
        first = df.iloc[0] if not df.empty else None
        setting = ("" if first is None else
                   f"\nbatch {first['batch_size']}, sequence length {first['sequence_length']}, "
                   f"{first['threads']} thread(s); median of per-round ratios, bars: interquartile range")
        return finish(fig, f"CPU speed-up of the integer engine over torch fp32 against bit-width{setting}",
                      out_png, out_svg, fontsize=None)
