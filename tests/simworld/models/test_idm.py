"""The inverse-dynamics model: shapes, the correlation layer, sliding-window prediction, strict
save/load, and the action scores against a direct reference computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from simworld import actions as A
from simworld.models.idm import (
    IDM_MANIFEST,
    IDMConfig,
    InverseDynamicsModel,
    correlation,
    load_idm,
    save_idm,
    score_actions,
)
from simworld.models.serialization import CheckpointError

TINY = IDMConfig(
    clip_length=4, feature_channels=4, max_displacement=2, channels=(8, 8), hidden_size=16, num_heads=2
)


def test_forward_shapes_and_input_checks() -> None:
    torch.manual_seed(0)
    model = InverseDynamicsModel(TINY)
    out = model(torch.randint(0, 256, (2, 4, 24, 32, 3), dtype=torch.uint8))
    assert out.key_logits.shape == (2, 3, A.NUM_KEYS) and out.camera.shape == (2, 3, 2)
    assert model(torch.zeros(1, 2, 16, 16, 3, dtype=torch.uint8)).camera.shape == (1, 1, 2)  # shorter clip
    with pytest.raises(ValueError, match="2..4 frames"):
        model(torch.zeros(1, 5, 16, 16, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="at least 16"):
        model(torch.zeros(1, 3, 8, 8, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        model(torch.zeros(1, 3, 16, 16, 3))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"clip_length": 1}, "clip_length"),
        ({"hidden_size": 30, "num_heads": 4}, "must divide"),
        ({"channels": ()}, "channels"),
        ({"feature_stride": 3}, "feature_stride"),
        ({"camera_scale": 0.0}, "camera_scale"),
    ],
)
def test_bad_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IDMConfig(**kwargs)


def test_correlation_matches_a_direct_loop() -> None:
    g = torch.Generator().manual_seed(0)
    f1, f2 = torch.randn(2, 3, 5, 6, generator=g), torch.randn(2, 3, 5, 6, generator=g)
    d = 2
    out = correlation(f1, f2, d)
    assert out.shape == (2, 4 * d + 1, 5, 6)
    shifts = [(0, dx) for dx in range(-d, d + 1)] + [(dy, 0) for dy in (-2, -1, 1, 2)]
    for ch, (dy, dx) in enumerate(shifts):
        for y in range(5):
            for x in range(6):
                yy, xx = y + dy, x + dx
                want = (f1[:, :, y, x] * f2[:, :, yy, xx]).mean(1) if 0 <= yy < 5 and 0 <= xx < 6 else 0.0
                assert torch.allclose(out[:, ch, y, x], torch.as_tensor(want), atol=1e-6)
    # a horizontal shift of the image peaks at the matching displacement
    f2 = torch.roll(f1, shifts=1, dims=3)
    peak = correlation(f1, f2, d)[:, : 2 * d + 1, :, 1:-2].mean(dim=(0, 2, 3)).argmax()
    assert int(peak) == d + 1


def test_predict_covers_every_transition_once() -> None:
    torch.manual_seed(0)
    model = InverseDynamicsModel(TINY)
    video = np.random.default_rng(0).integers(0, 256, (11, 16, 16, 3), dtype=np.uint8)
    probs, camera = model.predict(video, batch_size=2)
    assert probs.shape == (10, 9) and camera.shape == (10, 2)
    assert np.all((probs > 0) & (probs < 1))
    # clips start at 0, 3, 6 (shared boundary frames), then one ending at the last frame: 7..10
    with torch.no_grad():
        first = torch.sigmoid(model(torch.from_numpy(video[None, 0:4])).key_logits)[0].numpy()
        last = torch.sigmoid(model(torch.from_numpy(video[None, 7:11])).key_logits)[0].numpy()
    assert np.allclose(probs[0:3], first, atol=1e-6) and np.allclose(probs[7:10], last, atol=1e-6)
    short, _ = model.predict(video[:3])
    assert short.shape == (2, 9)


def test_save_load_roundtrip_and_strictness(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = InverseDynamicsModel(TINY)
    folder = save_idm(tmp_path / "idm", model, (32, 48), {"steps": 3})
    loaded = load_idm(folder)
    assert loaded.frame_size == (32, 48) and loaded.training == {"steps": 3}
    assert loaded.model.config == TINY and not loaded.model.training
    x = torch.randint(0, 256, (1, 4, 32, 48, 3), dtype=torch.uint8)
    assert torch.equal(model.eval()(x).key_logits, loaded.model(x).key_logits)
    meta = json.loads((folder / IDM_MANIFEST).read_text())
    (folder / IDM_MANIFEST).write_text(json.dumps({**meta, "action_schema": {"name": "vpt", "flat_dim": 25}}))
    with pytest.raises(CheckpointError, match="action_schema"):
        load_idm(folder)
    (folder / IDM_MANIFEST).write_text(json.dumps({**meta, "extra": 1}))
    with pytest.raises(CheckpointError, match="expected keys"):
        load_idm(folder)
    with pytest.raises(CheckpointError, match="train one with `simworld train-idm`"):
        load_idm(tmp_path / "missing")


def test_score_actions_against_a_direct_count() -> None:
    rng = np.random.default_rng(0)
    true = rng.random((200, 9)) < 0.3
    true[:, 8] = False  # 'use' never commanded
    probs = np.clip(true * 0.6 + rng.random((200, 9)) * 0.5, 0, 1)
    probs[:, 7] = 0.0  # 'attack' never predicted
    cam_true = rng.uniform(-10, 10, (200, 2))
    cam_pred = cam_true + rng.normal(0, 1, (200, 2))
    s = score_actions(probs, cam_pred, true, cam_true)
    for i, key in enumerate(A.ACTION_KEYS[:7]):
        p, t = probs[:, i] >= 0.5, true[:, i]
        tp, fp, fn = (p & t).sum(), (p & ~t).sum(), (~p & t).sum()
        assert s["keys"][key]["precision"] == pytest.approx(tp / (tp + fp))
        assert s["keys"][key]["recall"] == pytest.approx(tp / (tp + fn))
        assert s["keys"][key]["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert np.isnan(s["keys"]["attack"]["precision"]) and s["keys"]["attack"]["recall"] == 0.0
    assert np.isnan(s["keys"]["use"]["recall"]) and np.isnan(s["keys"]["use"]["f1"])
    f1s = [s["keys"][k]["f1"] for k in A.ACTION_KEYS[:8]]
    assert s["macro_f1"] == pytest.approx(np.mean(f1s))  # 'use' (never commanded) left out
    assert s["camera_mae"] == pytest.approx(np.abs(cam_pred - cam_true).mean(axis=0).tolist())
    turning = np.abs(cam_true[:, 1]) >= 1
    pred_sign = np.sign(np.where(np.abs(cam_pred[:, 1]) < 0.5, 0.0, cam_pred[:, 1]))  # ±0.5°: no turn
    want = np.mean(pred_sign[turning] == np.sign(cam_true[turning, 1]))
    assert s["yaw_sign_accuracy"] == pytest.approx(want) and s["yaw_sign_support"] == turning.sum()
