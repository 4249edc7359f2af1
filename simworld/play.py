"""``simworld play``: a person steps the learned world (and the real one beside it) with keyboard and mouse.

Controls (Minecraft's): W/A/S/D move, Space jumps, Left Shift sneaks, Left Ctrl sprints, the left
mouse button attacks, the right one uses, 1–9 select the hotbar slot; the mouse turns the view
while the window grabs it (click into the window; Tab releases it), or the arrow keys turn it by
``arrow_step_deg``. R resets both worlds to a new start, P pauses, Esc quits.

With a checkpoint, the learned world starts from real frames of the env it was trained on (a few
no-op steps of the real env are its context) and — with ``side_by_side`` — the real env runs beside
it from the same start with the same actions: learned on the left, real on the right. Without a
checkpoint the real voxel world is played alone. ``record`` writes what was shown to an MP4/GIF.

The pygame loop is thin: ``action_from_input`` (keys and mouse → canonical action) and
``PlaySession`` (reset, step, compose the picture) hold the logic and are tested without a screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from simworld import actions as A

KEY_ACTIONS = {
    "w": "forward",
    "s": "back",
    "a": "left",
    "d": "right",
    "space": "jump",
    "left shift": "sneak",
    "left ctrl": "sprint",
}
"""pygame key names → binary action keys."""

MOUSE_ACTIONS = {1: "attack", 3: "use"}
"""pygame mouse buttons (1 left, 3 right) → binary action keys."""


@dataclass
class PlayConfig:
    """A person playing the learned (and/or the real) world.

    Attributes:
        checkpoint: world-model checkpoint folder; empty plays the real env alone.
        env_id: the real env (empty: the checkpoint's training env, else the voxel world).
        env_params: its keyword arguments (frame size is set to the checkpoint's).
        side_by_side: with a checkpoint, also run the real env from the same start.
        context_frames: real frames (reset + no-op steps) the learned world starts from.
        seed: first start's seed (each R reset adds one).
        device: torch device of the model.
        num_inference_steps: denoising steps per frame (None: the checkpoint's).
        scale: integer upscaling of the frames on screen.
        fps: frame rate cap (the learned world may be slower).
        mouse_sensitivity: degrees of camera turn per pixel of mouse motion.
        arrow_step_deg: degrees per step while an arrow key is held.
        record: write the session (what was shown) to this .mp4/.gif at exit; empty: no recording.
        max_steps: stop after this many steps (0: until Esc or the window closes).
    """

    checkpoint: str = ""
    env_id: str = ""
    env_params: dict[str, Any] = field(default_factory=dict)
    side_by_side: bool = True
    context_frames: int = 4
    seed: int = 0
    device: str = "cpu"
    num_inference_steps: int | None = None
    scale: int = 6
    fps: float = 20.0
    mouse_sensitivity: float = 0.15
    arrow_step_deg: float = 5.0
    record: str = ""
    max_steps: int = 0

    def __post_init__(self) -> None:
        if self.context_frames < 1 or self.scale < 1 or self.fps <= 0 or self.max_steps < 0:
            raise ValueError(
                "context_frames and scale must be >= 1, fps > 0 and max_steps >= 0; got "
                f"{self.context_frames}, {self.scale}, {self.fps}, {self.max_steps}"
            )
        if self.record and Path(self.record).suffix not in (".mp4", ".gif"):
            raise ValueError(f"record must end in .mp4 or .gif, got {self.record!r}")


def action_from_input(
    keys: Iterable[str],
    buttons: Iterable[int] = (),
    mouse_rel: tuple[float, float] = (0.0, 0.0),
    hotbar: int = 0,
    mouse_sensitivity: float = 0.15,
    arrow_step_deg: float = 5.0,
) -> dict[str, Any]:
    """The canonical action for the keys held, mouse buttons held and mouse motion of one step.

    Args:
        keys: pygame key names held (``pygame.key.name``), e.g. ``{"w", "space", "left"}``.
        buttons: mouse buttons held (1 left, 3 right).
        mouse_rel: mouse motion (dx, dy) in pixels since the last step (screen y grows downwards).
        hotbar: slot selected this step (0: keep).
        mouse_sensitivity: degrees per pixel.
        arrow_step_deg: degrees per step of a held arrow key.

    Returns:
        A validated canonical action: moving the mouse right or holding → turns right (yaw +),
        moving it down or holding ↓ looks down (pitch +), as in MineRL/VPT.
    """
    keys, buttons = set(keys), set(buttons)
    act = A.noop()
    for key, name in KEY_ACTIONS.items():
        act[name] = int(key in keys)
    for button, name in MOUSE_ACTIONS.items():
        act[name] = int(button in buttons)
    dx, dy = mouse_rel
    yaw = dx * mouse_sensitivity + arrow_step_deg * (("right" in keys) - ("left" in keys))
    pitch = dy * mouse_sensitivity + arrow_step_deg * (("down" in keys) - ("up" in keys))
    clip = A.CAMERA_MAX_DEG
    act["camera"] = np.array([np.clip(pitch, -clip, clip), np.clip(yaw, -clip, clip)], np.float32)
    act["hotbar"] = int(hotbar)
    return A.validate(act)


def _real_env_spec(cfg: PlayConfig, model: Any | None) -> tuple[str, dict[str, Any]]:
    training_env = dict((model.training.get("env") or {}) if model is not None else {})
    env_id = cfg.env_id or str(training_env.get("id", "simworld/VoxelWorld-v0"))
    params = {**dict(training_env.get("params") or {}), **cfg.env_params}
    params.pop("ground_truth", None)
    if model is not None:
        params["height"], params["width"] = model.frame_size
    return env_id, params


class PlaySession:
    """The worlds a person plays, stepped together; no screen needed (the pygame loop drives it).

    Args:
        cfg: the settings.

    Raises:
        ValueError: nothing to play (no checkpoint and no real env), or bad settings.
    """

    def __init__(self, cfg: PlayConfig) -> None:
        import envs  # noqa: F401  (registers the simworld ids)

        self.cfg = cfg
        self.learned = None
        model = None
        if cfg.checkpoint:
            from envs.learned.env import WorldModelEnv

            self.learned = WorldModelEnv(
                cfg.checkpoint,
                device=cfg.device,
                num_inference_steps=cfg.num_inference_steps,
                report_latency=False,
            )
            model = self.learned.model
        self.env_id, self.env_params = _real_env_spec(cfg, model)
        self.real = gym.make(self.env_id, **self.env_params)  # always: it gives the learned world its start
        self.show_real = self.learned is None or cfg.side_by_side
        self.seed = cfg.seed
        self.frames: dict[str, np.ndarray] = {}
        self.step_count = 0
        self.last_reward: dict[str, float] = {}

    def reset(self) -> None:
        """Both worlds from a new real start (seed, then seed + 1 on each later reset)."""
        obs, _ = self.real.reset(seed=self.seed)
        frames, actions = [obs], []
        for _ in range(self.cfg.context_frames - 1):
            obs, *_ = self.real.step(A.noop())
            frames.append(obs)
            actions.append(A.to_flat(A.noop()))
        self.frames = {"real": frames[-1]}
        if self.learned is not None:
            ctx = {"context_frames": np.stack(frames)}
            if actions:
                ctx["context_actions"] = np.stack(actions).astype(np.float32)
            obs, _ = self.learned.reset(seed=self.seed, options=ctx)
            self.frames["learned"] = obs
        self.seed += 1
        self.step_count = 0

    def step(self, action: Mapping[str, Any]) -> dict[str, Any]:
        """Step every world with the same action; return ``{world: (reward, terminated)}``."""
        out = {}
        if self.learned is not None:
            obs, r, term, _, _ = self.learned.step(action)
            self.frames["learned"], out["learned"] = obs, (float(r), bool(term))
        if self.show_real:
            obs, r, term, _, _ = self.real.step(action)
            self.frames["real"], out["real"] = obs, (float(r), bool(term))
        self.step_count += 1
        return out

    def picture(self) -> np.ndarray:
        """uint8 (H * scale, W' * scale, 3): learned | real (or the one world shown), upscaled."""
        parts = []
        for i, name in enumerate(self.titles()):
            if i:
                parts.append(np.full((self.frames[name].shape[0], 1, 3), 255, np.uint8))
            parts.append(self.frames[name])
        pic = np.concatenate(parts, axis=1)
        s = self.cfg.scale
        return np.repeat(np.repeat(pic, s, axis=0), s, axis=1)

    def titles(self) -> list[str]:
        """What each panel shows, left to right."""
        return [n for n in ("learned", "real") if n in self.frames and (n != "real" or self.show_real)]

    def close(self) -> None:
        """Close the envs."""
        if self.learned is not None:
            self.learned.close()
        self.real.close()


def run_play(cfg: PlayConfig) -> int:
    """Open the window and play until Esc, the window closes or ``max_steps``; return the steps taken."""
    import os

    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    session = PlaySession(cfg)
    session.reset()
    recorded = [session.picture()]
    pygame.init()
    try:
        pic = session.picture()
        screen = pygame.display.set_mode((pic.shape[1], pic.shape[0] + 20))
        pygame.display.set_caption("simworld play — " + " | ".join(session.titles()))
        font = pygame.font.Font(None, 18)
        clock = pygame.time.Clock()
        hotbar, paused, running, steps = 0, False, True, 0
        while running:
            rel = (0.0, 0.0)
            for event in pygame.event.get():
                if event.type == pygame.QUIT:
                    running = False
                elif event.type == pygame.KEYDOWN:
                    name = pygame.key.name(event.key)
                    if name == "escape":
                        running = False
                    elif name == "r":
                        session.reset()
                    elif name == "p":
                        paused = not paused
                    elif name == "tab":
                        pygame.event.set_grab(False)
                        pygame.mouse.set_visible(True)
                    elif name in "123456789" and len(name) == 1:
                        hotbar = int(name)
                elif event.type == pygame.MOUSEBUTTONDOWN and not pygame.event.get_grab():
                    pygame.event.set_grab(True)
                    pygame.mouse.set_visible(False)
                elif event.type == pygame.MOUSEMOTION and pygame.event.get_grab():
                    rel = (rel[0] + event.rel[0], rel[1] + event.rel[1])
            if not running:
                break
            if not paused:
                pressed = pygame.key.get_pressed()
                held = {pygame.key.name(k) for k in range(len(pressed)) if pressed[k]}
                buttons = {i + 1 for i, b in enumerate(pygame.mouse.get_pressed()) if b}
                act = action_from_input(held, buttons, rel, hotbar, cfg.mouse_sensitivity, cfg.arrow_step_deg)
                hotbar = 0
                rewards = session.step(act)
                steps += 1
                pic = session.picture()
                if cfg.record:
                    recorded.append(pic)
                status = f"step {session.step_count}  " + "  ".join(
                    f"{k}: r={v[0]:+.2f}{' END' if v[1] else ''}" for k, v in rewards.items()
                )
            else:
                status = "paused (P resumes)"
            screen.fill((0, 0, 0))
            screen.blit(pygame.surfarray.make_surface(pic.swapaxes(0, 1)), (0, 0))
            screen.blit(font.render(status, True, (230, 230, 230)), (4, pic.shape[0] + 3))
            pygame.display.flip()
            clock.tick(cfg.fps)
            if cfg.max_steps and steps >= cfg.max_steps:
                break
    finally:
        pygame.quit()
        session.close()
    if cfg.record:
        from simworld.video import write_video

        write_video(cfg.record, np.stack(recorded), fps=cfg.fps)
    return steps
