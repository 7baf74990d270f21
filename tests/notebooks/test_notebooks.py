"""The tutorial notebooks: stored with the outputs of a full run (`notebooks/execute.py`), and they
run top to bottom (small parameters) in a real kernel."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests.conftest import REPO
from tests.notebooks.conftest import execute, inject, stdout_of

QUICKSTART = REPO / "notebooks" / "01_quickstart.ipynb"


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_stored_with_the_outputs_of_one_full_run(path):
    """Executed top to bottom in one kernel (counts 1, 2, ...), no cell failed, and the figures are
    there for a reader browsing the repository."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), f"{path.name}: rerun notebooks/execute.py"
    for i, cell in enumerate(code):
        assert not [o for o in cell.outputs if o["output_type"] == "error"], f"{path.name} code cell {i} failed"
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert images or path.stem == "01_quickstart", f"{path.name} shows no figure"


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
