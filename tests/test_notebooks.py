"""The tutorial notebooks: stored clean, and they run top to bottom (small parameters) in a real kernel."""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import KernelManager

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "notebooks" / "01_quickstart.ipynb"
PYTHON_ALIASES = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}


def _same_interpreter(exe: str) -> bool:
    if exe in PYTHON_ALIASES:  # jupyter_client substitutes sys.executable for these
        return True
    try:
        return os.path.samefile(exe, sys.executable)
    except OSError:
        return False


def kernel_manager() -> KernelManager:
    """A manager for the "python3" kernel that runs this very interpreter (the one pytest runs in).

    The "python3" kernelspec found first is normally ipykernel's own (argv[0] "python", which
    jupyter_client replaces with sys.executable). If some other "python3" kernelspec that names a
    different interpreter shadows it (e.g. one registered in the user's data dir), fall back to
    ipykernel's built-in spec, which always names sys.executable. Nothing is installed.
    """
    ksm = KernelSpecManager()
    try:
        spec = ksm.get_kernel_spec(NATIVE_KERNEL_NAME)
        ok = _same_interpreter(spec.argv[0])
    except NoSuchKernel:
        ok = False
    if not ok:
        ksm = KernelSpecManager(kernel_dirs=[])  # only ipykernel's built-in native kernel remains
    return KernelManager(kernel_name=NATIVE_KERNEL_NAME, kernel_spec_manager=ksm)


def inject(nb: nbformat.NotebookNode, overrides: str) -> nbformat.NotebookNode:
    """Put the repo on the kernel's path first, and `overrides` right after the parameters cell."""
    nb = copy.deepcopy(nb)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"expected exactly one cell tagged 'parameters', found {len(tagged)}"
    nb.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(overrides))
    nb.cells.insert(0, nbformat.v4.new_code_cell(f"import sys; sys.path.insert(0, {str(REPO)!r})"))
    for i, cell in enumerate(nb.cells):  # unique ids for the inserted cells too
        cell["id"] = f"test-{i:02d}"
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name=NATIVE_KERNEL_NAME,
        km=kernel_manager(),
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()  # raises CellExecutionError naming the cell on any error
    return nb


def stdout_of(cell: nbformat.NotebookNode) -> str:
    return "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == "stdout")


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
