"""The one writer of run folders (battle training runs, evaluations and preference-game runs).

Every file is written so that a process killed at any moment leaves either the old content or the
new one, never a torn file: JSON is written to a temporary file and renamed over the target, and
rows of a JSON-lines log are appended with one `write` and `fsync`ed (a line cut by a kill is
dropped when the log is read back). One process writes a folder at a time (`exclusive`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

LOCK = ".lock"


def prepare(folder: str | os.PathLike) -> Path:
    """The folder, created if needed; ValueError if it is a file or cannot be written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is an existing file, not a folder: choose another output folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create the folder {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write to the folder {folder}: permission denied")
    return folder


@contextlib.contextmanager
def exclusive(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold the folder's writer lock for the block; a second writer is refused at once with a
    ValueError naming the process that holds it. The lock is an `flock` on folder/.lock, which the
    kernel releases when its process ends, so a killed run leaves nothing stuck."""
    folder = prepare(folder)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ValueError(f"{folder} is being written by another writer (process {holder}); wait for it to end "
                         f"or choose another output folder") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield folder
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _replace(path: Path, text: str) -> Path:
    """Write `text` to a temporary file, flush it to disk, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented JSON, atomically; returns the path."""
    return _replace(Path(path), json.dumps(obj, indent=1))


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
    return _replace(Path(path), "".join(json.dumps(r) + "\n" for r in rows))


def append_row(path: str | os.PathLike, row: dict) -> None:
    """Append one row to a JSON-lines log, flushed to disk before returning."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())
