"""The ``simworld`` command line: ``simworld <command> [key=value ...] [--help]``.

Every job is a command configured by ``configs/<command>.yaml`` plus Hydra overrides and
validated by the command's dataclass schema (see :mod:`simworld.config`). To add a command,
write a module with a function decorated by :func:`simworld.cli.registry.command` and list the
module in :data:`COMMAND_MODULES` (ARCHITECTURE.md shows a complete example).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Sequence

from omegaconf import OmegaConf

from simworld.cli.registry import COMMANDS, Command
from simworld.config import ConfigError, load_config, to_dataclass

# Modules whose import registers commands; keep sorted.
COMMAND_MODULES: tuple[str, ...] = (
    "simworld.cli.collect",
    "simworld.cli.compare",
    "simworld.cli.eval",
    "simworld.cli.export",
    "simworld.cli.import_data",
    "simworld.cli.info",
    "simworld.cli.play",
    "simworld.cli.rollout",
    "simworld.cli.sample",
    "simworld.cli.train",
    "simworld.cli.train_idm",
    "simworld.cli.validate",
)

_HELP_FLAGS = ("-h", "--help")


def load_commands() -> dict[str, Command]:
    """Import every module in :data:`COMMAND_MODULES` and return the registry."""
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    return COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simworld`` console script.

    Args:
        argv: Arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        The exit code: 0 on success, 2 on a usage or config error, else the command's own code.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    commands = load_commands()
    if not args or args[0] in (*_HELP_FLAGS, "help"):
        print(_usage(commands), file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        import simworld

        print(f"simworld {simworld.__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in commands:
        return _fail(f"unknown command '{name}'; valid commands: {', '.join(sorted(commands))}")
    cmd = commands[name]
    show_help = any(arg in _HELP_FLAGS for arg in rest)
    overrides, bare = [], []
    for arg in rest:
        if arg in _HELP_FLAGS:
            continue
        if arg in cmd.flags:
            overrides.append(cmd.flags[arg])
        elif arg.startswith("-"):
            valid = ", ".join([*_HELP_FLAGS, *cmd.flags])
            return _fail(
                f"{name}: unknown option '{arg}'; valid options: {valid} (config keys are set as key=value)"
            )
        elif "=" not in arg and not arg.startswith(("+", "~")):
            bare.append(arg)
        else:
            overrides.append(arg)
    if bare:
        if cmd.positional is None:
            return _fail(f"{name}: unexpected argument '{bare[0]}'; config keys are set as key=value")
        quoted = ",".join("'" + b.replace("\\", "\\\\").replace("'", "\\'") + "'" for b in bare)
        overrides.append(f"{cmd.positional}=[{quoted}]")
    try:
        cfg = load_config(name, overrides, schema=cmd.schema, check_values=not show_help)
        if show_help:
            print(_command_help(cmd, OmegaConf.to_yaml(cfg)))
            return 0
        return int(cmd.run(to_dataclass(cfg, cmd.schema)) or 0)
    except ConfigError as exc:
        return _fail(str(exc))


def _fail(message: str) -> int:
    print(f"simworld: error: {message}", file=sys.stderr)
    return 2


def _usage(commands: dict[str, Command]) -> str:
    width = max((len(name) for name in commands), default=0)
    lines = [
        "usage: simworld <command> [key=value ...] [--help]",
        "",
        "A learned world simulator for RL research. Commands:",
        *(f"  {name.ljust(width)}  {commands[name].help}" for name in sorted(commands)),
        "",
        "Config keys are Hydra overrides: key=value, group=option, +key=value, ~key.",
        "`simworld <command> --help` prints the command's composed config and what its keys mean.",
    ]
    return "\n".join(lines)


def _command_help(cmd: Command, config_yaml: str) -> str:
    flags = "".join(f"\n  {flag}  same as {override}" for flag, override in cmd.flags.items())
    flag_usage = "".join(f" [{flag}]" for flag in cmd.flags)
    return "\n".join(
        [
            f"usage: simworld {cmd.name} [key=value ...] [--help]{flag_usage}",
            "",
            cmd.help,
            "" if not flags else f"\nflags:{flags}",
            f"config (configs/{cmd.name}.yaml with your overrides):",
            *(f"  {line}" for line in config_yaml.rstrip().splitlines()),
            "",
            f"schema {cmd.schema.__module__}.{cmd.schema.__name__}:",
            *(f"  {line}" for line in (inspect.getdoc(cmd.schema) or "").splitlines()),
        ]
    )
