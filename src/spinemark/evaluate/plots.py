"""Benchmark plots as PNG bytes (matplotlib, Agg backend, no window, no file writes)."""

from __future__ import annotations

import io

import numpy as np


def _figure(width: float = 6.4, height: float = 4.0):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def error_boxplot(groups: dict[str, list[float]], title: str, xlabel: str) -> bytes:
    """Box plot of localization errors (mm) per group (level, field-of-view bucket, variant)."""
    fig = _figure(max(4.0, 0.6 * len(groups) + 2.0))
    ax = fig.add_subplot()
    names = list(groups)
    data = [groups[n] if groups[n] else [np.nan] for n in names]
    if names:
        ax.boxplot(data, showfliers=True)
        ax.set_xticks(range(1, len(names) + 1), [f"{n} (n={len(groups[n])})" for n in names], rotation=30, ha="right",
                      fontsize=8)
    for t, style in ((5, ":"), (10, "--"), (20, "-")):
        ax.axhline(t, color="grey", linestyle=style, linewidth=0.8)
    ax.set_ylabel("localization error (mm)")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _png(fig)


def rate_bars(rates: dict[str, float | None], title: str, ylabel: str = "identification rate") -> bytes:
    """Bar chart of rates (0..1) per group."""
    fig = _figure(max(4.0, 0.6 * len(rates) + 2.0))
    ax = fig.add_subplot()
    names = list(rates)
    vals = [np.nan if rates[n] is None else rates[n] for n in names]
    ax.bar(range(len(names)), vals, color="tab:blue")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _png(fig)


def confusion_plot(table: dict, title: str = "label confusion") -> bytes:
    """Heat map of a :func:`~spinemark.evaluate.metrics.confusion_table`, counts written in the cells."""
    rows, cols = table["rows"], table["cols"]
    counts = np.asarray(table["counts"], dtype=float).reshape(len(rows), len(cols))
    fig = _figure(max(4.0, 0.45 * len(cols) + 2.5), max(3.5, 0.4 * len(rows) + 2.0))
    ax = fig.add_subplot()
    ax.imshow(counts if counts.size else np.zeros((1, 1)), cmap="Blues")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if counts[i, j]:
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if counts[i, j] > counts.max() / 2 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("predicted name ('-' = missed)")
    ax.set_ylabel("true vertebra ('-' = near no truth)")
    ax.set_title(title)
    return _png(fig)
