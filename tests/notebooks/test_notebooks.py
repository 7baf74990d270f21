"""The tutorial notebooks: stored clean, and they run top to bottom (small parameters) in a real kernel."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests.conftest import REPO
from tests.notebooks.conftest import execute, inject, stdout_of

QUICKSTART = REPO / "notebooks" / "01_quickstart.ipynb"


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has stored outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


def test_quickstart_runs(tmp_path):
    import imageio.v2 as imageio

    out_dir = tmp_path / "qs"
    nb = inject(
        nbformat.read(QUICKSTART, as_version=4),
        f"BATCH = 32\nSTEPS = 20\nOUT_DIR = {str(out_dir)!r}",
    )
    nb = execute(nb, tmp_path)

    for i, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        assert not errors, f"cell {i} raised {errors[0]['ename']}: {errors[0]['evalue']}"

    summary = json.loads(stdout_of(nb.cells[-1]))
    assert summary["n_agents"] == 10
    assert summary["obs_shape"] == [90]
    assert summary["batch"] == 32 and summary["steps"] == 20
    assert summary["frames"] >= 2
    assert summary["winner"] in (-1, 0, 1)
    assert isinstance(summary["episodes_finished"], int) and summary["episodes_finished"] >= 0

    gif = Path(summary["gif"])
    assert gif == out_dir / "battle.gif"
    assert gif.is_file() and gif.stat().st_size > 0
    frames = imageio.mimread(gif)
    assert 1 < len(frames) <= summary["frames"]  # a GIF writer may merge identical frames
    h, w = frames[0].shape[:2]
    for f in frames:
        assert f.ndim == 3 and f.shape[:2] == (h, w) and f.shape[2] in (3, 4)
