"""Packaging facts stay true to each other: one version, one licence, a citation file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

import pipesim

ROOT = Path(__file__).resolve().parents[1]


def test_citation_matches_the_package():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert {"cff-version", "message", "title", "authors", "version", "license"} <= set(cff)
    assert cff["version"] == pipesim.__version__
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert cff["license"] == project["license"]["text"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith(f"{cff['license']} License")


def test_version_has_one_source():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" in project["project"]["dynamic"] and "version" not in project["project"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pipesim._version.__version__"}
