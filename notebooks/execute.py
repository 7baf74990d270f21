"""Run the notebooks top to bottom with their own parameters and store them with their outputs, so
the figures show where the repository is browsed. The tests run them again with small parameters.

    python notebooks/execute.py                      # every notebook (several minutes on a CPU)
    python notebooks/execute.py 02_selfplay_winrate  # one

Each runs in a fresh temporary folder (what it writes under out/ is thrown away), so no run is
reused from an earlier one, in a kernel of this interpreter with the package installed.
Terminal colour codes and progress redraws are stripped from the stored outputs.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import nbclient
import nbformat

NOTEBOOKS = Path(__file__).resolve().parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def tidy(nb: nbformat.NotebookNode) -> None:
    """Drop terminal colour codes and carriage-return progress redraws from stream outputs."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                lines = [ANSI.sub("", line.rsplit("\r", 1)[-1]) for line in out["text"].split("\n")]
                out["text"] = "\n".join(lines)


def run(path: Path, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gigastep-notebook-") as folder:
        nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": folder}}).execute()
    tidy(nb)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="notebook names (default: all)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.names:
        paths = [p for p in paths if p.stem in args.names or p.name in args.names]
        if not paths:
            sys.exit(f"no notebook named {args.names}; have {[p.stem for p in sorted(NOTEBOOKS.glob('*.ipynb'))]}")
    for path in paths:
        print(f"{path.name}: {run(path, args.timeout):.0f} s", flush=True)


if __name__ == "__main__":
    main()
