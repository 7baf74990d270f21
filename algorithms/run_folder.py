"""The one writer of run folders (battle training runs and preference-game runs).

Every file is written so that a process killed at any moment leaves either the old content or the
new one, never a torn file: JSON is written to a temporary file and renamed over the target, and
rows of a JSON-lines log are appended with one `write` and `fsync`ed (a line cut by a kill is
dropped when the log is read back).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented JSON, atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)
    return path


def read_rows(path: str | os.PathLike) -> list[dict]:
    """The rows of a JSON-lines log ([] if it does not exist); a line cut off by a kill is dropped."""
    path = Path(path)
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def write_rows(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    """Replace a JSON-lines log with `rows`, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)
    return path


def append_row(path: str | os.PathLike, row: dict) -> None:
    """Append one row to a JSON-lines log, flushed to disk before returning."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())
