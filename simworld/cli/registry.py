"""The command registry behind ``simworld <command>``.

A command is a name, the dataclass schema of its config (``configs/<name>.yaml``), a function
that runs it, and a one-line help. Register with the :func:`command` decorator in a module
listed in ``simworld.cli.COMMAND_MODULES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simworld.config import register_schema

RunFn = Callable[[Any], "int | None"]


@dataclass(frozen=True)
class Command:
    """A registered CLI command.

    Attributes:
        name: What the user types: ``simworld <name>``; also the config file ``configs/<name>.yaml``.
        schema: Dataclass validating the composed config; ``run`` receives an instance of it.
        run: Runs the command; returns an exit code (``None`` means 0).
        help: One line for ``simworld --help``.
        flags: Shorthand flags mapped to overrides, e.g. ``{"--json": "format=json"}``.
        positional: list-valued config key that collects bare arguments (no ``=``), e.g.
            ``"runs"`` makes ``simworld compare A B`` mean ``runs=[A,B]``; None: none accepted.
    """

    name: str
    schema: type
    run: RunFn
    help: str
    flags: Mapping[str, str] = field(default_factory=dict)
    positional: str | None = None


COMMANDS: dict[str, Command] = {}


def command(
    name: str,
    schema: type,
    help: str,
    flags: Mapping[str, str] | None = None,
    positional: str | None = None,
) -> Callable[[RunFn], RunFn]:
    """Decorator registering ``run`` as ``simworld <name>`` with config schema ``schema``.

    Raises:
        ValueError: ``name`` is already registered to another function, or ``help`` is not one line.
    """
    if not help or "\n" in help:
        raise ValueError(f"command '{name}' needs a one-line help, got {help!r}")

    def decorator(run: RunFn) -> RunFn:
        existing = COMMANDS.get(name)
        if existing is not None and existing.run is not run:
            raise ValueError(f"command '{name}' is already registered by {existing.run.__module__}")
        register_schema(name, schema)
        COMMANDS[name] = Command(name, schema, run, help, dict(flags or {}), positional)
        return run

    return decorator
