"""`algorithms.run_folder`, the one writer of run folders: atomic JSON, JSON-lines logs that survive
a kill."""

from __future__ import annotations

import json

import pytest

from algorithms import run_folder


def test_write_json_writes_indented_json_and_creates_folders(tmp_path):
    path = run_folder.write_json(tmp_path / "a" / "b" / "summary.json", {"x": [1, 2], "y": "z"})
    assert path == tmp_path / "a" / "b" / "summary.json"
    assert json.loads(path.read_text()) == {"x": [1, 2], "y": "z"}
    assert "\n" in path.read_text()  # indented, one field a line
    assert sorted(p.name for p in path.parent.iterdir()) == ["summary.json"]  # no .tmp left behind


def test_write_json_replaces_the_old_content(tmp_path):
    path = tmp_path / "config.json"
    run_folder.write_json(path, {"old": 1})
    run_folder.write_json(str(path), {"new": 2})  # a str path works too
    assert json.loads(path.read_text()) == {"new": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_a_failed_write_leaves_the_old_content(tmp_path):
    path = tmp_path / "report.json"
    run_folder.write_json(path, {"old": 1})
    before = path.read_bytes()
    with pytest.raises(TypeError):
        run_folder.write_json(path, {"new": object()})  # json cannot encode it
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_append_row_then_read_rows_round_trips(tmp_path):
    path = tmp_path / "metrics.jsonl"
    assert run_folder.read_rows(path) == []  # no log yet
    rows = [{"chunk": 1, "loss": 0.5}, {"chunk": 2, "loss": 0.25, "names": ["a", "b"]}, {}]
    for row in rows:
        run_folder.append_row(path, row)
    assert run_folder.read_rows(path) == rows
    assert path.read_text().count("\n") == 3  # one line per row


def test_read_rows_drops_a_torn_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    run_folder.append_row(path, {"chunk": 1})
    run_folder.append_row(path, {"chunk": 2})
    with open(path, "a") as f:
        f.write('{"chunk": 3, "lo')  # a kill in the middle of a write
    assert run_folder.read_rows(path) == [{"chunk": 1}, {"chunk": 2}]
    # The next row after a torn one starts on the torn line: it is lost too, but the ones after it
    # and before it are read back.
    run_folder.append_row(path, {"chunk": 4})
    run_folder.append_row(path, {"chunk": 5})
    assert run_folder.read_rows(path)[:2] == [{"chunk": 1}, {"chunk": 2}]
    assert run_folder.read_rows(path)[-1] == {"chunk": 5}


def test_write_rows_replaces_a_log_atomically(tmp_path):
    path = tmp_path / "sub" / "metrics.jsonl"
    run_folder.write_rows(path, [{"chunk": i} for i in range(3)])
    run_folder.append_row(path, {"chunk": 3})
    assert [r["chunk"] for r in run_folder.read_rows(path)] == [0, 1, 2, 3]
    run_folder.write_rows(path, [{"chunk": 0}])  # e.g. a resumed run drops rows after its checkpoint
    assert run_folder.read_rows(path) == [{"chunk": 0}]
    with pytest.raises(TypeError):
        run_folder.write_rows(path, [{"chunk": object()}])
    assert run_folder.read_rows(path) == [{"chunk": 0}]
    assert [p.name for p in path.parent.iterdir()] == ["metrics.jsonl"]
    run_folder.write_rows(path, [])
    assert path.read_text() == "" and run_folder.read_rows(path) == []
