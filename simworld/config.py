"""Config loading for every job: Hydra composition checked against a dataclass schema.

A job ``<job>`` is configured by ``configs/<job>.yaml`` (which may pull options from config
groups, i.e. sub-folders such as ``configs/env/``) plus command-line overrides in Hydra syntax
(``key=value``, ``group=option``, ``+key=value``, ``~key``). The composed config is merged into
the job's schema, a dataclass registered with :func:`register_schema`, so that:

- a misspelled key, on the command line or in YAML, is an error naming the key and the valid ones;
- an unknown group option (``env=voxle``) is an error listing the valid options;
- values are type-checked, and the dataclass's ``__post_init__`` validates them.

Every failure is a :class:`ConfigError` with a message meant for the user. Only CLI code calls
:func:`load_config`; library code receives the typed dataclass from :func:`to_dataclass`.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf import errors as oc_errors

T = TypeVar("T")

_SCHEMAS: dict[str, type] = {}


class ConfigError(ValueError):
    """A config could not be composed or validated; the message is meant for the user."""


def register_schema(job: str, schema: type) -> None:
    """Register the dataclass that validates ``configs/<job>.yaml``.

    Raises:
        TypeError: ``schema`` is not a dataclass type.
        ValueError: another schema is already registered for ``job``.
    """
    if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
        raise TypeError(f"schema for job '{job}' must be a dataclass type, got {schema!r}")
    if _SCHEMAS.get(job, schema) is not schema:
        raise ValueError(f"a different schema is already registered for job '{job}': {_SCHEMAS[job]!r}")
    _SCHEMAS[job] = schema


def schema_for(job: str) -> type:
    """Return the schema registered for ``job`` (importing the CLI commands, which register them).

    Raises:
        ConfigError: no schema is registered for ``job``.
    """
    if job not in _SCHEMAS:
        from simworld.cli import load_commands  # each command registers its schema

        load_commands()
    if job not in _SCHEMAS:
        raise ConfigError(
            f"no config schema registered for job '{job}'; known jobs: {', '.join(sorted(_SCHEMAS))}"
        )
    return _SCHEMAS[job]


def config_dir() -> Path:
    """The folder holding the Hydra YAML configs.

    The repo-root ``configs/`` folder ships inside the installed package as ``simworld/configs``
    (see pyproject.toml), so this finds it in a wheel install, an editable install and a plain
    source checkout.

    Raises:
        ConfigError: no configs folder was found.
    """
    candidates = []
    try:
        spec = importlib.util.find_spec("simworld.configs")
    except ImportError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(location) for location in spec.submodule_search_locations]
    package_dir = Path(__file__).resolve().parent
    candidates += [package_dir / "configs", package_dir.parent / "configs"]  # wheel / source checkout
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate.resolve()
    raise ConfigError("configs folder not found; looked in: " + ", ".join(str(c) for c in candidates))


def available_jobs(directory: Path | None = None) -> list[str]:
    """Names of the job configs (``<job>.yaml``) at the top of the configs folder."""
    directory = config_dir() if directory is None else Path(directory)
    return sorted(path.stem for path in directory.glob("*.yaml"))


def load_config(
    job: str,
    overrides: Sequence[str] = (),
    *,
    schema: type | None = None,
    directory: Path | None = None,
    check_values: bool = True,
) -> DictConfig:
    """Compose ``<directory>/<job>.yaml`` with Hydra and validate it against the job's schema.

    Args:
        job: Job name; the config file is ``<job>.yaml``.
        overrides: Hydra overrides, e.g. ``["trainer.max_steps=3", "env=voxel"]``.
        schema: The job's dataclass; default: the one registered for ``job``.
        directory: Configs folder; default :func:`config_dir`.
        check_values: also build the dataclass now, so that missing mandatory values (``???``) and
            values its ``__post_init__`` rejects fail here; ``False`` only checks keys and types
            (what ``--help`` needs to show a config whose required values are not set yet).

    Returns:
        The composed config, typed by ``schema`` (convert with :func:`to_dataclass`).

    Raises:
        ConfigError: unknown job, key or group option; bad override syntax; a value of the wrong
            type; a missing mandatory value; or a value the schema's ``__post_init__`` rejects.
    """
    directory = (config_dir() if directory is None else Path(directory)).resolve()
    schema = schema_for(job) if schema is None else schema
    jobs = available_jobs(directory)
    if job not in jobs:
        raise ConfigError(f"unknown job '{job}'; valid jobs: {', '.join(jobs)} (configs in {directory})")
    _check_overrides(job, list(overrides), schema, directory)
    composed = _compose(job, list(overrides), directory)
    try:
        cfg = OmegaConf.merge(_structured(schema), composed)
    except oc_errors.ConfigKeyError as exc:
        key = exc.full_key or str(exc.key)
        raise ConfigError(
            f"{_unknown_key_message(job, key, schema)} (set in {directory}/{job}.yaml or a group it uses)"
        ) from None
    except oc_errors.OmegaConfBaseException as exc:
        raise ConfigError(_omegaconf_message(job, exc)) from None
    cfg = typing.cast(DictConfig, cfg)
    if not check_values:
        return cfg
    try:
        to_dataclass(cfg, schema)  # surfaces missing values and __post_init__ errors now
    except ConfigError as exc:
        raise ConfigError(f"{job}: {exc}") from None
    return cfg


def to_dataclass(cfg: DictConfig, schema: type[T]) -> T:
    """Convert a config to an instance of the ``schema`` dataclass (what library code receives).

    Raises:
        ConfigError: a mandatory value is missing, a value has the wrong type, or the dataclass
            rejects a value.
    """
    try:
        if OmegaConf.get_type(cfg) is not schema:
            cfg = OmegaConf.merge(_structured(schema), cfg)
        obj = OmegaConf.to_object(cfg)
    except oc_errors.MissingMandatoryValue as exc:
        raise ConfigError(f"missing value for '{exc.full_key}': set it, e.g. {exc.full_key}=...") from None
    except oc_errors.OmegaConfBaseException as exc:
        raise ConfigError(_omegaconf_message(schema.__name__, exc)) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid {schema.__name__}: {exc}") from None
    return typing.cast(T, obj)


def _structured(schema: type) -> DictConfig:
    """``OmegaConf.structured(schema)``, writable even where the schema nests frozen dataclasses
    (such as ``SamplerConfig``): overrides must be merged into them; ``to_object`` still builds
    the frozen instances."""
    cfg = OmegaConf.structured(schema)
    _clear_readonly(cfg)
    return cfg


def _clear_readonly(node: Any) -> None:
    """Drop the read-only flag that frozen dataclasses set, on ``node`` and every node below."""
    if isinstance(node, DictConfig):
        OmegaConf.set_readonly(node, None)
        for key in node.keys():
            child = node._get_node(key)
            if isinstance(child, DictConfig):
                _clear_readonly(child)


def _compose(job: str, overrides: list[str], directory: Path) -> DictConfig:
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(config_dir=str(directory), job_name=job, version_base=None):
            return compose(config_name=job, overrides=overrides)
    except HydraException as exc:
        # Drop Hydra's "Config search path:" listing; keep its explanation.
        message = str(exc).split("\nConfig search path:")[0].strip()
        raise ConfigError(f"{job}: {message}") from None


def _check_overrides(job: str, overrides: list[str], schema: type, directory: Path) -> None:
    """Reject unknown keys and group options before Hydra sees them, with clearer messages."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise ConfigError(f"{job}: bad override syntax: {exc}") from None
    for override in parsed:
        key = override.key_or_group
        if (directory / key).is_dir():  # a config group, e.g. env=voxel or model/vae=small
            value = override.value()
            options = sorted(p.stem for p in (directory / key).glob("*.yaml"))
            if isinstance(value, str) and not override.is_delete() and value not in options:
                valid = ", ".join(options)
                raise ConfigError(
                    f"{job}: unknown option '{value}' for config group '{key}'; valid options: {valid}"
                )
        elif not override.is_delete() and _lookup(schema, key.split(".")) is None:
            raise ConfigError(_unknown_key_message(job, key, schema))


_OPEN = object()  # a schema node that accepts any sub-key (dict or Any typed)


def _lookup(schema: Any, parts: list[str]) -> Any:
    """Follow ``parts`` through nested dataclass fields; ``None`` if a key does not exist."""
    node = schema
    for part in parts:
        children = _children(node)
        if children is _OPEN:
            return _OPEN
        if children is None or part not in children:
            return None
        node = children[part]
    return node


def _children(tp: Any) -> Any:
    """Field name -> type for a dataclass type; ``_OPEN`` for dict/Any; ``None`` for a leaf."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:  # Optional[X] / X | None
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        return _children(members[0]) if len(members) == 1 else _OPEN
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return {f.name: hints[f.name] for f in dataclasses.fields(tp)}
    if tp is Any or tp is dict or origin is dict:
        return _OPEN
    return None


def _unknown_key_message(job: str, key: str, schema: type) -> str:
    parts = key.split(".")
    parent_parts = parts[:-1]
    while parent_parts and not isinstance(_children(_lookup(schema, parent_parts)), dict):
        parent_parts = parent_parts[:-1]  # climb to the deepest existing section
    children = _children(_lookup(schema, parent_parts) if parent_parts else schema)
    prefix = ".".join(parent_parts)
    valid = [f"{prefix}.{name}" if prefix else name for name in children]
    where = f"under '{prefix}'" if prefix else "at the top level"
    message = f"{job}: unknown config key '{key}'; valid keys {where}: {', '.join(valid)}"
    close = difflib.get_close_matches(key, _all_keys(schema), n=1)
    return message + (f". Did you mean '{close[0]}'?" if close else "")


def _all_keys(schema: Any, prefix: str = "") -> list[str]:
    children = _children(schema)
    if not isinstance(children, dict):
        return []
    keys = []
    for name, tp in children.items():
        full = f"{prefix}{name}"
        keys.append(full)
        keys += _all_keys(tp, full + ".")
    return keys


def _omegaconf_message(job: str, exc: oc_errors.OmegaConfBaseException) -> str:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    key = getattr(exc, "full_key", None)
    return f"{job}: invalid value for '{key}': {detail}" if key else f"{job}: {detail}"
