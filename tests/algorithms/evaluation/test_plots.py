"""The figures of a payoff matrix and its report (`algorithms.evaluation.plots`)."""

from __future__ import annotations

from algorithms import evaluation as E
from algorithms.evaluation import plots
from tests.algorithms.evaluation.conftest import CHAIN, exact_matrix


def _is_png(path, min_bytes=5000) -> bool:
    data = open(path, "rb").read()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= min_bytes


def test_plots_write_pngs(tmp_path):
    import matplotlib.image

    m = exact_matrix(CHAIN, 50, ["ckpt_0", "ckpt_1", "ckpt_2", "ckpt_3"])
    report = E.evaluation_report(m)
    paths = [
        plots.plot_payoff_heatmap(m, tmp_path / "heatmap.png"),
        plots.plot_winrate_vs_earlier(m, tmp_path / "earlier.png"),
        plots.plot_ratings(m.names, report["bradley_terry"], report["bradley_terry_interval"], tmp_path / "bt.png"),
        plots.plot_nash_mixture(m.names, report["nash_strategy"], tmp_path / "sub" / "nash.png"),
    ]
    for path in paths:
        assert _is_png(path), path
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 200 and image.shape[1] > 200
        assert image[..., :3].std() > 0.05  # not a blank canvas
    # One policy: nothing earlier, still a figure.
    single = exact_matrix([[0.5]], 10, ["only"])
    assert _is_png(plots.plot_winrate_vs_earlier(single, tmp_path / "single.png"), 2000)
