"""Sample videos during training: real clip on the left, the model's version on the right.

- ``vae`` stage: the VAE's reconstruction of a held-out clip.
- ``dit``/``joint``: an autoregressive rollout of the EMA model (``WorldModel.rollout``) from the
  first half of a held-out window, driven by the window's recorded actions; the context frames
  are shown as they are, then the generated ones.

Written to ``<out>/samples/step_XXXXXXX.mp4`` and ``.gif`` by ``simworld.video.write_video``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from simworld.data.windows import WindowDataset
from simworld.video import side_by_side, write_video
from simworld.world_model import WorldModel

SAMPLES_DIR = "samples"


def held_out_window(run: Any) -> dict[str, Any]:
    """The first window of the val split (the train split when there is none), cached on ``run``."""
    if run.sample_window is None:
        cfg = run.cfg
        kwargs = dict(val_fraction=cfg.data.val_fraction, seed=cfg.trainer.seed, shuffle=False)
        kwargs.update(frame_size=cfg.data.frame_size, rank=0, world_size=1)
        split = "val" if cfg.data.val_fraction > 0 else "train"
        run.sample_window = next(iter(WindowDataset(cfg.data.path, cfg.data.window, split=split, **kwargs)))
    return run.sample_window


@torch.no_grad()
def rollout_frames(run: Any, window: dict[str, Any]) -> np.ndarray:
    """uint8 (T, H, W, 3): the window's context frames, then frames generated from its actions."""
    frames, actions = window["frames"][None], window["actions"][None]  # (1, T, H, W, 3), (1, T-1, A)
    T = frames.shape[1]
    context = max(1, T // 2)
    space, dit, head = run.world_model_parts()
    model = WorldModel(
        space,
        dit,
        head,
        run.frame_size,
        run.cfg.sampler,
        run.cfg.model.max_context_frames,
        run.cfg.model.noise_schedule,
    )
    out = model.rollout(
        frames[:, :context], actions[:, context - 1 :], actions[:, : context - 1], seed=run.cfg.trainer.seed
    )
    return torch.cat([frames[0, :context], out.frames[0].cpu()]).numpy()


def write_samples(run: Any, step: int) -> Path:
    """Write the sample video of ``step``; return the MP4 path."""
    window = held_out_window(run)
    real = window["frames"].numpy()
    if run.cfg.trainer.stage == "vae":
        space = run.space
        was_training = space.training
        space.eval()
        fake = space.decode(space.encode(window["frames"][None]))[0].cpu().numpy()
        space.train(was_training)
    else:
        fake = rollout_frames(run, window)
    video = side_by_side(real, fake)  # (T, H, 2W + 2, 3)
    folder = Path(run.cfg.trainer.out) / SAMPLES_DIR
    write_video(folder / f"step_{step:07d}.gif", video, fps=10.0, scale=2)
    return write_video(folder / f"step_{step:07d}.mp4", video, fps=10.0, scale=2)
