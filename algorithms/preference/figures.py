"""Curves of preference-game runs (the payoff-matrix figures are `algorithms.evaluation.plots`'s, as for battles).

Each function writes one PNG with `algorithms.evaluation.plots`' backend and saver and returns its path.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from algorithms.evaluation import plots

CURVES = ("exploitability", "exploitability_average", "win_rate_vs_reference", "kl_to_reference")


def plot_curves(rows: Sequence[dict], path, keys: Sequence[str] = CURVES, title: str = "") -> str:
    """One panel per metric of one run (`run_selfplay` rows) against the iteration."""
    return plot_compare({"": rows}, path, keys, title)


def plot_compare(runs: Mapping[str, Sequence[dict]], path, keys: Sequence[str] = CURVES, title: str = "",
                 reference_lines: Mapping[str, float] | None = None) -> str:
    """One panel per metric, one line per run ({label: rows}); `reference_lines` {label: y} draws
    horizontal dashed lines (e.g. the exploitability of the uniform policy or of π*_τ) on the
    exploitability panels."""
    plt = plots.plt
    keys = [k for k in keys if any(k in r for rows in runs.values() for r in rows)]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.0 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for label, rows in runs.items():
            xs = [r["iteration"] for r in rows if key in r]
            ax.plot(xs, [r[key] for r in rows if key in r], "o-", ms=3, label=label or None)
        if key.startswith("exploitability"):
            ax.axhline(0.0, color="black", lw=0.8)
            for name, y in (reference_lines or {}).items():
                ax.axhline(y, color="gray", lw=0.8, ls="--")
                ax.text(0.99, y, name, color="gray", fontsize=7, ha="right", va="bottom",
                        transform=ax.get_yaxis_transform())
        ax.set_xlabel("iteration")
        ax.set_title(key.replace("_", " "), fontsize=9)
        ax.grid(alpha=0.3)
    if len(runs) > 1:
        axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return plots._save(fig, path)
