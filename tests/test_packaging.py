"""Packaging facts a user relies on: the LICENSE file is the license pyproject.toml declares, and
the optional extras the README names exist."""

from __future__ import annotations

import tomllib

from tests.conftest import REPO


def test_license_file_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text.splitlines()[1] and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_extras_named_in_the_readme_exist():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    readme = (REPO / "README.md").read_text()
    for extra in ("adapters", "tensorboard"):
        assert extra in extras and f"gigastep-jax[{extra}]" in readme, extra
    assert "gigastep-jax[adapters,tensorboard]" in extras["dev"]
