"""Zhao et al. (2021), "An Investigation on Different Underlying Quantization Schemes for
Pre-trained Language Models": Tables 1-4 (linear clustering and k-means per bit-width), Figs. 1-2
and 3-4, Table 5 (k-means against group-wise linear clustering) and Table 6 (k-means iterations),
each over the classification tasks and the method entries it reads."""

from __future__ import annotations

from bertq.reports.record import Context, Report
from bertq.reports.zhao_paper import ZHAO_CITATION

PAPER = "Zhao et al. (2021)"
ORDER = 1


def _runs(methods: dict, algorithm: str, grouped: bool) -> bool:
    """Whether an entry runs ``algorithm`` per tensor (``grouped`` False) or over a number of groups."""
    for name, entry in methods.items():
        g = entry.get("granularity", "tensor")
        if entry.get("method", name) == algorithm and grouped == (isinstance(g, int) and not isinstance(g, bool)):
            return True
    return False


def _zhao_table1(c: Context):
    from bertq.reports import zhao

    return zhao.zhao_table(c.summary, "linear_clustering", c.path("zhao_table1.md"), c.path("zhao_table1.csv"),
                           tasks=c.tasks, models=c.models)


def _zhao_table2(c: Context):
    from bertq.reports import zhao

    return zhao.zhao_table(c.summary, "kmeans", c.path("zhao_table2.md"), c.path("zhao_table2.csv"),
                           tasks=c.tasks, models=c.models)


def _zhao_fig1(c: Context):
    from bertq.reports import zhao

    return zhao.zhao_fig1(c.summary, c.path("zhao_fig1.png"), c.path("zhao_fig1.svg"), tasks=c.tasks,
                          models=c.models)


def _zhao_fig3(c: Context):
    from bertq.reports import zhao

    return zhao.zhao_fig3(c.summary, c.path("zhao_fig3.png"), c.path("zhao_fig3.svg"), tasks=c.tasks,
                          models=c.models)


def _zhao_table5(c: Context):
    from bertq.reports import zhao

    return zhao.zhao_table5(c.summary, c.variants, c.path("zhao_table5.md"), c.path("zhao_table5.csv"),
                            tasks=c.tasks, models=c.models)


def _zhao_table6(c: Context):
    from bertq.reports import zhao

    return zhao.zhao_table6(c.summary, c.variants, c.path("zhao_table6.md"), c.path("zhao_table6.csv"),
                            tasks=c.tasks, models=c.models)


REPORTS = (
    Report("zhao_table1", PAPER, render=_zhao_table1, uses=lambda m: "linear_clustering" in m,
           needs="a method entry named linear_clustering", files={
               "zhao_table1.md": f"Linear clustering: per-task scores at every bit-width, difference to fp32 in "
                                 f"parentheses, with {ZHAO_CITATION}'s Tables 1 (BERT) and 3 (ALBERT).",
               "zhao_table1.csv": "Linear-clustering table in long form (ours and the paper's numbers)."},
           caption="Linear clustering (Zhao et al., 2021, sec. 3.2) at every bit-width: per-task scores with the "
                   "difference to fp32, beside the paper's Table 1 (BERT-Base) and Table 3 (ALBERT-Base). "
                   "Markdown: reports/zhao_table1.md."),
    Report("zhao_table2", PAPER, render=_zhao_table2, uses=lambda m: "kmeans" in m,
           needs="a method entry named kmeans", files={
               "zhao_table2.md": f"k-means: per-task scores at every bit-width, difference to fp32 in parentheses, "
                                 f"with {ZHAO_CITATION}'s Tables 2 (BERT) and 4 (ALBERT).",
               "zhao_table2.csv": "k-means table in long form (ours and the paper's numbers)."},
           caption="k-means quantization (Zhao et al., 2021, sec. 3.3) at every bit-width: per-task scores with "
                   "the difference to fp32, beside the paper's Table 2 (BERT-Base) and Table 4 (ALBERT-Base). "
                   "Markdown: reports/zhao_table2.md."),
    Report("zhao_fig1", PAPER, render=_zhao_fig1, uses=lambda m: "linear_clustering" in m or "kmeans" in m,
           needs="a method entry named linear_clustering or kmeans", files={
               "zhao_fig1.png": f"Average score against bit-width, linear clustering against k-means, the paper's "
                                f"curves dashed ({ZHAO_CITATION}, Figs. 1-2).",
               "zhao_fig1.svg": "Zhao et al. Figs. 1-2, vector version."},
           caption="Average score (mean over the study's classification tasks) against weight bit-width for "
                   "linear clustering and k-means, fp32 dotted, the paper's curves over the same tasks dashed. "
                   "Reproduces Figs. 1-2 of Zhao et al. (2021)."),
    Report("zhao_fig3", PAPER, render=_zhao_fig3, uses=lambda m: "kmeans" in m,
           needs="a method entry named kmeans", files={
               "zhao_fig3.png": f"k-means across models: average score and its percentage of fp32 against "
                                f"bit-width, the paper's BERT and ALBERT curves dashed ({ZHAO_CITATION}, "
                                f"Figs. 3-4).",
               "zhao_fig3.svg": "Zhao et al. Figs. 3-4, vector version."},
           caption="k-means on every model of the study: the average score against weight bit-width, and the "
                   "same as a percentage of the model's fp32 score; the paper's BERT-Base and ALBERT-Base curves "
                   "(its mean over the same tasks) dashed. Reproduces Figs. 3-4 of Zhao et al. (2021)."),
    Report("zhao_table5", PAPER, render=_zhao_table5,
           uses=lambda m: _runs(m, "kmeans", False) and _runs(m, "linear_clustering", True),
           needs="a per-tensor kmeans entry and a linear_clustering entry with a number of groups", files={
               "zhao_table5.md": f"k-means against group-wise linear clustering: scores and time per task, with "
                                 f"{ZHAO_CITATION}'s Table 5.",
               "zhao_table5.csv": "Table 5 in long form."},
           caption="k-means against group-wise linear clustering (128 groups per matrix): per-task scores and "
                   "the time quantization took, beside Table 5 of Zhao et al. (2021). Markdown: "
                   "reports/zhao_table5.md."),
    Report("zhao_table6", PAPER, render=_zhao_table6, uses=lambda m: _runs(m, "kmeans", False),
           needs="a per-tensor kmeans entry", files={
               "zhao_table6.md": f"Score against the number of k-means iterations, with {ZHAO_CITATION}'s Table 6.",
               "zhao_table6.csv": "Table 6 in long form."},
           caption="Score against the number of k-means (Lloyd) iterations, beside Table 6 of Zhao et al. "
                   "(2021). Markdown: reports/zhao_table6.md."),
)
