"""comparison.png: per pair × cell, the mean paired difference A − B with its 95 % intervals, F1 and
EM side by side, a vertical line at zero (no difference). A point right of the line favours A; an
interval that crosses it is a difference the seeds (or the evaluation questions) cannot tell from
none. A single-seed cell has no t-interval and is marked n=1; the question-level interval is drawn
beside it where predictions were available."""

from __future__ import annotations

from collections.abc import Sequence

from splinter.reporting.compare import METRIC_TITLES, PairComparison
from splinter.reporting.runs import METRICS

SEED_COLOUR, QUESTION_COLOUR = "tab:blue", "tab:orange"


def comparison_figure(comparisons: Sequence[PairComparison]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = [f"{p.a.label} − {p.b.label}\n{c.column.label} ({_seeds(c)})" for p in comparisons for c in p.cells]
    cells = [c for p in comparisons for c in p.cells]
    fig = Figure(figsize=(11, 1.9 + 0.7 * max(1, len(cells))), dpi=120)
    FigureCanvasAgg(fig)  # Agg whatever the global backend; no pyplot state
    axes = fig.subplots(1, len(METRICS), sharey=True, squeeze=False)[0]
    ys = list(range(len(cells)))[::-1]  # first cell on top
    for ax, metric in zip(axes, METRICS, strict=True):
        ax.axvline(0.0, color="black", linewidth=1, linestyle="--", label="0: no difference")
        seed_drawn = question_drawn = False
        for y, cell in zip(ys, cells, strict=True):
            st = cell.seeds.get(metric)
            if st is None:
                ax.annotate("no paired runs", (0, y), xytext=(6, 0), textcoords="offset points",
                            va="center", fontsize="small", color="grey")
                continue
            label = None if seed_drawn else "mean over seeds, 95 % t-interval"
            if st.t is not None:
                ax.errorbar(st.mean, y, xerr=[[st.mean - st.t[0]], [st.t[1] - st.mean]], fmt="o",
                            color=SEED_COLOUR, capsize=4, label=label)
            else:
                ax.plot(st.mean, y, "o", color=SEED_COLOUR, label=label)
                ax.annotate("n=1", (st.mean, y), xytext=(4, 5), textcoords="offset points", fontsize="x-small")
            seed_drawn = True
            q = cell.questions.get(metric)
            if q is not None:
                ax.errorbar(q.mean, y - 0.25, xerr=[[q.mean - q.bootstrap[0]], [q.bootstrap[1] - q.mean]],
                            fmt="s", markersize=4, color=QUESTION_COLOUR, capsize=3,
                            label=None if question_drawn else "95 % bootstrap over evaluation questions")
                question_drawn = True
        ax.set_xlabel(f"{METRIC_TITLES[metric]}: first row − second row (points; > 0: the first is better)")
        ax.set_title(METRIC_TITLES[metric], fontsize="medium")
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_ylim(-0.8, len(cells) - 0.4)
    axes[0].set_yticks(ys, labels, fontsize="small")
    # one legend under both panels, where it never covers an interval
    handles = max((ax.get_legend_handles_labels() for ax in axes), key=lambda h: len(h[0]))
    fig.legend(*handles, loc="lower center", ncol=3, fontsize="small", frameon=False)
    fig.suptitle("Paired difference between rows per cell (dataset / training examples), runs paired by "
                 "split and training seed", fontsize="medium")
    fig.tight_layout(rect=(0, 0.35 / fig.get_figheight(), 1, 1))  # room for the legend: 0.35 inch
    return fig


def _seeds(cell) -> str:
    return f"{len(cell.keys)} paired seed{'s' if len(cell.keys) != 1 else ''}"
