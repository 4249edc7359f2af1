"""``evals.suite``: the eval runner — rows for every predictor, determinism, resuming after a kill,
unit reuse, early refusal of incompatible checkpoints, and the ``simworld eval`` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evals import suite as suite_module
from evals.probes.base import Case, Media, MetricSpec, Probe, ProbeOutput, Row
from evals.probes.frames import PSNR_PROTOCOL, psnr
from evals.probes.registry import PROBES
from evals.probes.scenarios import action, repeat
from evals.rundir import COLUMNS
from evals.suite import SuiteConfig, run_eval
from simworld.cli import main
from simworld.testing import build_tiny_checkpoint


class TurnProbe(Probe):
    """A small real probe: turn right in place; per-frame PSNR against the truth."""

    name = "turn"
    metrics = {
        "psnr": MetricSpec(PSNR_PROTOCOL, True, "dB"),
        "mean_psnr": MetricSpec("mean over frames of " + PSNR_PROTOCOL, True, "dB"),
    }

    def __init__(self, steps: int = 4) -> None:
        self.steps = steps

    def cases(self, env, world_seeds):
        return [
            Case(
                self.name,
                "right",
                w,
                repeat(action(), 2),
                repeat(action(yaw=15), self.steps),
                params={"n": 1},
            )
            for w in world_seeds
        ]

    def score(self, cases, predictions, seed, ctx):
        out = ProbeOutput()
        for c, p in zip(cases, predictions):
            truth = ctx.truth(c)
            v = psnr(p, truth.future_frames)
            out.rows += [
                Row(self.name, c.name, "psnr", float(x), seed, c.world_seed, k + 1) for k, x in enumerate(v)
            ]
            out.rows.append(Row(self.name, c.name, "mean_psnr", float(v.mean()), seed, c.world_seed))
            if ctx.keep_media:
                out.media.append(Media(self.name, c.name, seed, c.world_seed, truth.future_frames, p, "turn"))
        return out


@pytest.fixture
def turn_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sys.modules[__name__].TurnProbe is TurnProbe
    monkeypatch.setitem(PROBES, "turn", f"{__name__}:TurnProbe")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", frame_size=(32, 32))


def _config(**kw) -> SuiteConfig:
    return SuiteConfig(**{"probes": {"turn": {"steps": 4}}, "world_seeds": [0, 1], "seeds": [0, 1], **kw})


def test_rows_for_every_predictor_and_references_in_order(
    turn_probe, tiny_ckpt: Path, tmp_path: Path
) -> None:
    res = run_eval([str(tiny_ckpt)], _config(), tmp_path / "run", report=False, progress=False)
    df = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert tuple(df.columns) == COLUMNS and df.equals(res.results)
    assert set(df.checkpoint) == {"tiny", "simulator", "copy_last_frame", "noise"}
    # every predictor has the same rows: 2 worlds x 2 seeds x (4 per-frame + 1 summary)
    assert df.groupby("checkpoint").size().eq(2 * 2 * 5).all()
    mean = df[df.metric == "mean_psnr"].groupby("checkpoint").value.mean()
    assert mean["simulator"] == 100.0  # the ceiling, at the PSNR cap
    assert mean["copy_last_frame"] < 40 and mean["noise"] < mean["copy_last_frame"]
    assert df[df.metric == "psnr"].horizon.dropna().astype(int).between(1, 4).all()
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["metrics"]["turn"]["psnr"]["protocol"] == PSNR_PROTOCOL
    model = next(c for c in manifest["checkpoints"] if c["name"] == "tiny")
    assert len(model["identity"]["weights_sha256"]) == 64 and manifest["env"]["params"]["width"] == 32
    media = json.loads((tmp_path / "run" / "media.json").read_text())
    assert {m["checkpoint"] for m in media} == {"tiny", "copy_last_frame", "noise"}  # not the simulator
    assert all((tmp_path / "run" / m["path"]).stat().st_size > 0 for m in media)


def test_same_config_gives_the_same_table(turn_probe, tiny_ckpt: Path, tmp_path: Path) -> None:
    a = run_eval([str(tiny_ckpt)], _config(), tmp_path / "a", report=False, progress=False).results
    b = run_eval([str(tiny_ckpt)], _config(), tmp_path / "b", report=False, progress=False).results
    pd.testing.assert_frame_equal(a, b)


def test_killed_run_resumes_to_the_uninterrupted_table(
    turn_probe, tiny_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = run_eval([str(tiny_ckpt)], _config(), tmp_path / "full", report=False, progress=False).results
    real_unit, calls = suite_module._run_unit, []

    def dies_after_three(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if the run were killed here
        calls.append(1)
        return real_unit(*args, **kwargs)

    monkeypatch.setattr(suite_module, "_run_unit", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        run_eval([str(tiny_ckpt)], _config(), tmp_path / "killed", report=False, progress=False)
    assert not (tmp_path / "killed" / "results.parquet").exists()
    assert len(list((tmp_path / "killed" / "units").glob("*.json"))) == 3
    monkeypatch.setattr(suite_module, "_run_unit", real_unit)
    resumed = run_eval([str(tiny_ckpt)], _config(), tmp_path / "killed", report=False, progress=False)
    assert resumed.reused == 3 and resumed.computed == 3  # model and noise x 2 seeds + simulator + copy-last
    pd.testing.assert_frame_equal(resumed.results, full)


def test_changed_options_recompute_only_what_changed(turn_probe, tiny_ckpt: Path, tmp_path: Path) -> None:
    run_eval([str(tiny_ckpt)], _config(), tmp_path / "r", report=False, progress=False)
    again = run_eval([str(tiny_ckpt)], _config(), tmp_path / "r", report=False, progress=False)
    assert (again.computed, again.reused) == (0, 6)
    more = run_eval([str(tiny_ckpt)], _config(seeds=[0, 1, 2]), tmp_path / "r", report=False, progress=False)
    assert (more.computed, more.reused) == (2, 6)  # only the new seed of the model and of noise
    longer = run_eval(
        [str(tiny_ckpt)], _config(probes={"turn": {"steps": 5}}), tmp_path / "r", report=False, progress=False
    )
    assert longer.computed == 6


def test_a_probe_identity_change_invalidates_its_units(
    turn_probe, tiny_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_eval([str(tiny_ckpt)], _config(), tmp_path / "r", report=False, progress=False)
    monkeypatch.setattr(TurnProbe, "identity", lambda self: {"scoring_model_sha256": "retrained"})
    again = run_eval([str(tiny_ckpt)], _config(), tmp_path / "r", report=False, progress=False)
    assert (again.computed, again.reused) == (6, 0)


def test_checkpoints_of_different_frame_sizes_are_refused_before_compute(tmp_path: Path) -> None:
    a = build_tiny_checkpoint(tmp_path / "a", frame_size=(32, 32), num_contexts=0)
    b = build_tiny_checkpoint(tmp_path / "b", frame_size=(16, 16), num_contexts=0)
    with pytest.raises(ValueError, match="separate runs"):
        run_eval([str(a), str(b)], SuiteConfig(probes={"loop_closure": {}}), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_bad_suite_values_name_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid probes: loop_closure"):
        SuiteConfig(probes={"loop_closur": {}})
    with pytest.raises(ValueError, match="valid: simulator, copy_last_frame, noise"):
        SuiteConfig(baselines=["oracle"])


def test_cli_rejects_an_unknown_probe_and_a_mismatched_checkpoint(
    tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "suite.only=[bogus]", f"out={tmp_path}/x"]) == 2
    assert "valid probes" in capsys.readouterr().err
    rc = main(
        [
            "eval",
            f"checkpoints=[{tiny_ckpt}]",
            "suite.probes={loop_closure: {}}",
            "suite.env.params={}",
            f"out={tmp_path}/y",
            "names=[a,b]",
        ]
    )
    assert rc == 2 and "2 names for 1 checkpoints" in capsys.readouterr().err


SHARD_SCRIPT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("suite_test_module", {test_file!r})
module = importlib.util.module_from_spec(spec)
sys.modules["suite_test_module"] = module
spec.loader.exec_module(module)
from evals.probes.registry import PROBES
PROBES["turn"] = "suite_test_module:TurnProbe"
from simworld.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_torchrun_shards_merge_into_the_single_process_table(tiny_ckpt: Path, tmp_path: Path) -> None:
    script = tmp_path / "shard.py"
    script.write_text(SHARD_SCRIPT.format(test_file=str(Path(__file__).resolve())))
    args = [
        "eval",
        f"checkpoints=[{tiny_ckpt}]",
        "+suite.probes.turn.steps=4",
        "suite.only=[turn]",
        "suite.world_seeds=[0,1]",
        "suite.seeds=[0,1]",
        "report=false",
        "progress=false",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run(
        [sys.executable, str(script), *args, f"out={tmp_path}/single"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", str(script), *args, f"out={tmp_path}/sharded"]
    sharded = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert sharded.returncode == 0, sharded.stdout[-2000:] + sharded.stderr[-3000:]
    a = pd.read_parquet(tmp_path / "single" / "results.parquet")
    b = pd.read_parquet(tmp_path / "sharded" / "results.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert len(list((tmp_path / "sharded" / "units").glob("*.json"))) == 6


def test_a_checkpoint_of_another_game_is_refused_before_compute(tmp_path: Path) -> None:
    ckpt = build_tiny_checkpoint(
        tmp_path / "grid", frame_size=(32, 32), num_contexts=0, env={"id": "byo/GridChase-v0", "params": {}}
    )
    with pytest.raises(ValueError, match=r"probes \['loop_closure'\] build voxel-world scenes"):
        run_eval([str(ckpt)], SuiteConfig(only=["loop_closure"]), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
