"""Shared by the notebook tests: run a notebook top to bottom in a real kernel of this interpreter,
with small parameters injected after its `parameters` cell."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import nbclient
import nbformat
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import KernelManager

from tests.conftest import REPO

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
