"""Hydra YAML configs, installed as the package ``simworld.configs`` (see pyproject.toml).

``<job>.yaml`` configures ``simworld <job>``; sub-folders are config groups.
"""
