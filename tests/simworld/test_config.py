"""simworld.config: composition, schema validation and the messages users see."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from simworld.config import (
    ConfigError,
    available_jobs,
    config_dir,
    load_config,
    register_schema,
    to_dataclass,
)
from simworld.info import InfoConfig


@dataclass
class EnvConfig:
    """Test env group."""

    size: int = 0


@dataclass
class TrainerConfig:
    """Test trainer section."""

    max_steps: int = 1
    lr: float = 1e-3


@dataclass
class JobConfig:
    """Test job schema."""

    env: EnvConfig = field(default_factory=EnvConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    seed: int = 0
    name: str = "run"


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    """A configs folder with job `job` using group `env` (options voxel, doom)."""
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "voxel.yaml").write_text("size: 3\n")
    (tmp_path / "env" / "doom.yaml").write_text("size: 4\n")
    (tmp_path / "job.yaml").write_text(
        "defaults:\n  - env: voxel\n  - _self_\ntrainer:\n  max_steps: 5\nseed: 1\n"
    )
    return tmp_path


def load(configs: Path, overrides: list[str], job: str = "job"):
    return load_config(job, overrides, schema=JobConfig, directory=configs)


def test_composes_groups_and_overrides(configs: Path) -> None:
    cfg = to_dataclass(load(configs, ["env=doom", "trainer.max_steps=3", "seed=7"]), JobConfig)
    assert isinstance(cfg, JobConfig) and isinstance(cfg.env, EnvConfig)
    assert (cfg.env.size, cfg.trainer.max_steps, cfg.trainer.lr, cfg.seed) == (4, 3, 1e-3, 7)


def test_defaults_from_yaml(configs: Path) -> None:
    cfg = to_dataclass(load(configs, []), JobConfig)
    assert (cfg.env.size, cfg.trainer.max_steps, cfg.seed, cfg.name) == (3, 5, 1, "run")


@pytest.mark.parametrize("override", ["trainer.max_stepz=3", "+trainer.max_stepz=3"])
def test_misspelled_key_on_command_line_names_key_and_valid_keys(configs: Path, override: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(configs, [override])
    message = str(info.value)
    assert "'trainer.max_stepz'" in message
    assert "trainer.max_steps" in message and "trainer.lr" in message
    assert "Did you mean 'trainer.max_steps'?" in message


def test_misspelled_top_level_key_lists_top_level_keys(configs: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'sed'.*env, trainer, seed, name"):
        load(configs, ["sed=3"])


def test_unknown_section_lists_top_level_keys(configs: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'trainr.max_steps'.*at the top level"):
        load(configs, ["trainr.max_steps=3"])


def test_misspelled_key_in_yaml_names_key(configs: Path) -> None:
    (configs / "job.yaml").write_text("defaults:\n  - env: voxel\n  - _self_\ntrainer:\n  max_stepz: 5\n")
    with pytest.raises(ConfigError) as info:
        load(configs, [])
    assert "'trainer.max_stepz'" in str(info.value)
    assert "trainer.max_steps" in str(info.value)


def test_misspelled_key_in_group_yaml_names_key(configs: Path) -> None:
    (configs / "env" / "doom.yaml").write_text("sise: 4\n")
    with pytest.raises(ConfigError, match=r"'env.sise'.*env.size"):
        load(configs, ["env=doom"])


def test_unknown_group_option_lists_valid_options(configs: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown option 'voxle' for config group 'env'; valid options: doom, voxel"
    ):
        load(configs, ["env=voxle"])


def test_unknown_group_option_in_yaml_lists_valid_options(configs: Path) -> None:
    (configs / "job.yaml").write_text("defaults:\n  - env: voxle\n  - _self_\n")
    with pytest.raises(ConfigError) as info:
        load(configs, [])
    message = str(info.value)
    assert "voxle" in message and "doom" in message and "voxel" in message
    assert "Config search path" not in message


def test_wrong_type_names_key(configs: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid value for 'trainer.max_steps'"):
        load(configs, ["trainer.max_steps=many"])


def test_bad_override_syntax(configs: Path) -> None:
    with pytest.raises(ConfigError, match="bad override syntax"):
        load(configs, ["seed=[1"])


def test_unknown_job_lists_jobs(configs: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown job 'jbo'; valid jobs: job"):
        load(configs, [], job="jbo")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_register_schema_rejects_non_dataclass() -> None:
    with pytest.raises(TypeError, match="dataclass"):
        register_schema("not-a-job", dict)


# --- the real `info` job ------------------------------------------------------------------


def test_config_dir_holds_info_job() -> None:
    assert (config_dir() / "info.yaml").is_file()
    assert "info" in available_jobs()


def test_info_job_loads_with_registered_schema() -> None:
    cfg = to_dataclass(load_config("info", ["format=json"]), InfoConfig)
    assert cfg == InfoConfig(format="json", weights_dir=None)


@pytest.mark.parametrize("override", ["info.devicez=cpu", "formatt=json", "+weights_dri=/tmp"])
def test_info_typo_names_key_and_valid_keys(override: str) -> None:
    key = override.lstrip("+").split("=")[0]
    with pytest.raises(ConfigError, match=rf"unknown config key '{key}'.*format, weights_dir"):
        load_config("info", [override])


def test_info_rejects_unknown_format() -> None:
    with pytest.raises(ConfigError, match="format must be one of text, json; got 'xml'"):
        load_config("info", ["format=xml"])


@dataclass
class RequiredConfig:
    """Test schema with a mandatory value."""

    path: str = "???"


def test_missing_mandatory_value_fails_unless_only_keys_are_checked(tmp_path: Path) -> None:
    (tmp_path / "need.yaml").write_text("path: ???\n")
    with pytest.raises(ConfigError, match="path"):
        load_config("need", [], schema=RequiredConfig, directory=tmp_path)
    cfg = load_config("need", [], schema=RequiredConfig, directory=tmp_path, check_values=False)
    assert OmegaConf.is_missing(cfg, "path")  # --help can show it as ???
    with pytest.raises(ConfigError, match="unknown config key 'pathh'"):
        load_config("need", ["pathh=x"], schema=RequiredConfig, directory=tmp_path, check_values=False)
