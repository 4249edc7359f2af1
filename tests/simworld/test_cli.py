"""The `simworld` command, run as a user runs it (subprocess, installed console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from simworld.cli import main


def simworld_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m simworld.cli`."""
    script = Path(sys.executable).parent / "simworld"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "simworld.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "SIMWORLD_WEIGHTS_DIR"}
    full_env.update(env or {})
    return subprocess.run(
        [*simworld_command(), *args], capture_output=True, text=True, timeout=300, env=full_env
    )


def test_help_lists_commands() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    assert "usage: simworld <command>" in result.stdout
    assert "\n  info  " in result.stdout


def test_no_arguments_prints_usage_and_fails() -> None:
    result = run()
    assert result.returncode == 2
    assert "usage: simworld" in result.stderr


def test_info_text(tmp_path: Path) -> None:
    result = run("info", f"weights_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"torch            {torch.__version__}" in out
    assert "torchvision ops" in out and "cuda available" in out and "torch threads" in out
    assert "lpips_alexnet_trunk" in out and "i3d_stylegan_v" in out and "i3d_videogpt" in out
    assert f"searched {tmp_path / 'i3d_torchscript.pt'}" in out
    assert "hub/checkpoints/alexnet-owt-7be5be79.pth" in out
    assert "skipped  $SIMWORLD_WEIGHTS_DIR: not set" in out


@pytest.mark.parametrize("how", [("format=json",), ("--json",)])
def test_info_json(tmp_path: Path, how: tuple[str, ...]) -> None:
    result = run("info", *how, env={"SIMWORLD_WEIGHTS_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert set(info) == {"simworld", "python", "packages", "torchvision_ops", "device", "extras", "weights"}
    assert info["packages"]["torch"] == torch.__version__
    assert info["simworld"]["version"] == "0.1.0"
    assert info["device"]["torch_threads"] >= 1 and "cuda_available" in info["device"]
    assert set(info["extras"]) == {"vizdoom", "minerl", "pygame"}
    assert info["torchvision_ops"]["state"] in {"native", "patched", "already-imported", "absent"}
    lpips = info["weights"]["lpips_alexnet_trunk"]
    assert lpips["searched"][0] == str(tmp_path / "alexnet_imagenet_features.safetensors")
    assert lpips["found"] == (lpips["path"] is not None)
    i3d = info["weights"]["i3d_stylegan_v"]
    assert i3d["downloads"]["i3d_torchscript.pt"].startswith("https://www.dropbox.com/")


def test_info_typo_exits_2_naming_key() -> None:
    result = run("info", "info.bogus=1")
    assert result.returncode == 2
    assert "unknown config key 'info.bogus'" in result.stderr
    assert "format, weights_dir" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_command_help_prints_config_and_schema() -> None:
    result = run("info", "format=json", "--help")
    assert result.returncode == 0, result.stderr
    assert "format: json" in result.stdout and "weights_dir: null" in result.stdout
    assert "simworld.info.InfoConfig" in result.stdout and "Attributes:" in result.stdout


def test_unknown_command_and_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infoo"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'infoo'; valid commands: " in err and "info" in err.split("valid commands: ")[1]
    assert main(["info", "--jsn"]) == 2
    assert "unknown option '--jsn'" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "simworld 0.1.0"
