"""Checkpoint folder: layout, manifest, round trip, strict loading errors naming the file."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from simworld.checkpoint import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    CheckpointError,
    load_checkpoint,
    read_manifest,
    save_checkpoint,
)
from simworld.diffusion.samplers import SamplerConfig
from simworld.models.dit import DiT, DiTConfig
from simworld.models.heads import RewardHeadConfig, RewardTerminationHead
from simworld.models.pixel_space import PixelSpace, PixelSpaceConfig
from simworld.models.vae import VideoVAE


def components(in_channels: int = 12, patch_size: int = 2):
    torch.manual_seed(0)
    dit = DiT(DiTConfig.preset("tiny", in_channels=in_channels, patch_size=patch_size))
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return dit, RewardTerminationHead(RewardHeadConfig(in_dim=64, hidden=16))


@pytest.fixture
def checkpoint(tmp_path):
    dit, head = components()
    return save_checkpoint(
        tmp_path / "ckpt",
        latent_space=PixelSpace(PixelSpaceConfig(2)),
        dit=dit,
        head=head,
        frame_size=(16, 16),
        sampler=SamplerConfig(name="flow_euler", num_inference_steps=3),
        max_context_frames=8,
        training={"steps": 3, "data": "unit test"},
    )


def test_layout_and_manifest(checkpoint):
    names = sorted(p.relative_to(checkpoint).as_posix() for p in checkpoint.rglob("*") if p.is_file())
    assert names == [
        "dit/config.json",
        "dit/model.safetensors",
        "heads/config.json",
        "heads/model.safetensors",
        "pixel/config.json",
        MANIFEST_NAME,
    ]
    manifest = json.loads((checkpoint / MANIFEST_NAME).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["action_schema"] == {"name": "simworld.actions", "flat_dim": 21}
    assert manifest["frame_size"] == [16, 16] and manifest["max_context_frames"] == 8
    assert manifest["latent_space"] == {
        "kind": "pixel",
        "folder": "pixel",
        "spatial_factor": 2,
        "temporal_factor": 1,
        "latent_channels": 12,
    }
    assert manifest["noise_schedule"]["prediction_type"] == "v_prediction"
    assert manifest["sampler"]["name"] == "flow_euler" and manifest["training"]["steps"] == 3


def test_round_trip_gives_identical_outputs(checkpoint):
    dit, _ = components()
    loaded = load_checkpoint(checkpoint)
    assert loaded.sampler.num_inference_steps == 3 and loaded.noise_schedule.num_train_timesteps == 1000
    x, t, a = torch.randn(1, 2, 12, 8, 8), torch.rand(1, 2) * 999, torch.randn(1, 2, 21)
    assert torch.equal(loaded.dit(x, t, a).prediction, dit.eval()(x, t, a).prediction)
    bf16 = load_checkpoint(checkpoint, dtype=torch.bfloat16)
    assert next(bf16.dit.parameters()).dtype == torch.bfloat16


def test_version_mismatch(checkpoint):
    manifest = json.loads((checkpoint / MANIFEST_NAME).read_text())
    manifest["format_version"] = 2
    (checkpoint / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"world_model.json: format_version 2 is not supported"):
        read_manifest(checkpoint)


def test_unknown_and_missing_manifest_keys(checkpoint):
    manifest = json.loads((checkpoint / MANIFEST_NAME).read_text())
    manifest["colour"] = "red"
    del manifest["sampler"]
    (checkpoint / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(
        CheckpointError, match=r"world_model.json.*unknown: \['colour'\], missing: \['sampler'\]"
    ):
        load_checkpoint(checkpoint)


def test_fields_added_later_may_be_missing_but_others_may_not(checkpoint):
    # a checkpoint written before DiTConfig.spatial_pos existed loads with the old behaviour
    path = checkpoint / "dit" / "config.json"
    data = json.loads(path.read_text())
    del data["config"]["spatial_pos"]
    path.write_text(json.dumps(data))
    assert load_checkpoint(checkpoint).dit.config.spatial_pos == "none"
    del data["config"]["qk_norm"]
    path.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"missing: \['qk_norm'\]"):
        load_checkpoint(checkpoint)


def test_bad_sampler_section(checkpoint):
    manifest = json.loads((checkpoint / MANIFEST_NAME).read_text())
    manifest["sampler"]["name"] = "heun"
    (checkpoint / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"\[sampler\].*sampler name must be one of"):
        load_checkpoint(checkpoint)


def test_missing_and_unexpected_weights(checkpoint):
    path = checkpoint / "dit" / "model.safetensors"
    state = load_file(str(path))
    state.pop("final.linear.bias")
    state["blocks.9.extra"] = torch.zeros(1)
    save_file(state, str(path))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(checkpoint)
    message = str(err.value)
    assert str(path) in message and "final.linear.bias" in message and "blocks.9.extra" in message


def test_components_that_do_not_fit(checkpoint):
    config = json.loads((checkpoint / "heads" / "config.json").read_text())
    config["config"]["in_dim"] = 32
    (checkpoint / "heads" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="heads"):
        load_checkpoint(checkpoint)


def test_missing_files(tmp_path, checkpoint):
    with pytest.raises(CheckpointError, match="world_model.json: file not found"):
        load_checkpoint(tmp_path)
    (checkpoint / "dit" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"dit/model.safetensors: file not found"):
        load_checkpoint(checkpoint)


def test_save_refuses_components_that_do_not_fit(tmp_path):
    dit, head = components(in_channels=4)
    with pytest.raises(CheckpointError, match="in_channels 4 != latent_channels 12"):
        save_checkpoint(
            tmp_path,
            latent_space=PixelSpace(PixelSpaceConfig(2)),
            dit=dit,
            head=head,
            frame_size=(16, 16),
            sampler=SamplerConfig(),
            max_context_frames=4,
        )
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_vae_checkpoint_round_trip(tmp_path):
    vae = VideoVAE.from_preset("tiny", spatial_factor=4)
    dit, head = components(in_channels=vae.config.latent_channels, patch_size=1)
    path = save_checkpoint(
        tmp_path / "ckpt",
        latent_space=vae,
        dit=dit,
        head=head,
        frame_size=(16, 16),
        sampler=SamplerConfig(),
        max_context_frames=4,
    )
    assert (path / "vae" / "model.safetensors").is_file()
    loaded = load_checkpoint(path)
    assert isinstance(loaded.latent_space, VideoVAE) and loaded.manifest.latent_space["kind"] == "vae"
    frames = torch.randint(0, 256, (1, 1, 16, 16, 3), dtype=torch.uint8)
    assert torch.equal(loaded.latent_space.encode(frames), vae.eval().encode(frames))
