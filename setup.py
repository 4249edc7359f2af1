"""Package discovery; all other metadata lives in pyproject.toml.

pyproject.toml alone cannot both discover packages automatically and add `simworld.configs`,
which is mapped from the repo-root `configs/` folder (see `[tool.setuptools.package-dir]`).
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["simworld", "simworld.*", "envs", "envs.*", "evals", "evals.*"]),
        "simworld.configs",
    ],
)
