"""pyproject.toml ships every package and data folder of the tree.

A package left out of ``[tool.setuptools] packages`` still imports from a checkout and from an
editable install, so only a plain ``pip install .`` would show it missing (``tcg_env.bots`` was,
until the twenty-sixth session)."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = ("tcg_env", "policy", "verification", "prefabs", "training")


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _folders_below(top: str):
    """Every folder below a top package that holds Python or TOML files, as dotted names."""
    for d in [ROOT / top, *sorted((ROOT / top).rglob("*"))]:
        if d.is_dir() and d.name != "__pycache__" and (any(d.glob("*.py")) or any(d.glob("*.toml"))):
            yield ".".join(d.relative_to(ROOT).parts)


def test_every_package_and_data_folder_is_listed():
    listed = set(_setuptools()["packages"])
    present = {name for top in TOP for name in _folders_below(top)}
    assert present - listed == set(), "folders a plain `pip install .` would leave out"
    assert listed - present == set(), "listed packages that do not exist"
    assert {"tcg_env.bots", "prefabs.data", "training.configs"} <= listed


def test_every_folder_of_toml_files_ships_them_as_package_data():
    data = _setuptools()["package-data"]
    with_toml = {name for top in TOP for name in _folders_below(top)
                 if any((ROOT / name.replace(".", "/")).glob("*.toml"))}
    assert with_toml == {"prefabs.data", "training.configs"}
    for name in with_toml:
        assert data.get(name) == ["*.toml"], f"{name}'s TOML files are not package data"


def test_the_license_is_an_spdx_expression_with_its_file():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
