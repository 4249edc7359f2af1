"""A regular (non-editable) wheel ships the packages and the Hydra configs inside `simworld`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_configs_and_finds_them(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("simworld", "envs", "evals", "configs"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp_path / "dist").glob("simworld-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "simworld/configs/info.yaml",
        "simworld/cli/__init__.py",
        "envs/__init__.py",
        "evals/__init__.py",
    } <= names
    assert not any(name.startswith(("tests/", "configs/")) for name in names)

    target = tmp_path / "site"
    install = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    code = (
        "import simworld; from simworld.config import config_dir, load_config; "
        "print(simworld.__file__); print(config_dir()); print(load_config('info', ['format=json']).format)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    module_file, configs, fmt = result.stdout.split()
    assert Path(module_file).is_relative_to(target)
    assert Path(configs) == target / "simworld" / "configs" and fmt == "json"
