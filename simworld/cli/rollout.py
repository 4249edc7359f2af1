"""``simworld rollout``: run scripted policies in the voxel world and write videos and trajectories."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from envs.config import EnvConfig
from envs.voxel.policies import POLICIES, make_policy
from simworld.cli.registry import command
from simworld.rollout import record_scripted
from simworld.video import write_video


@dataclass
class RolloutConfig:
    """Run scripted policies in an env and write what they saw.

    Attributes:
        env: the environment (config group ``env``).
        policies: scripted policies to run, one episode each (envs.voxel.policies.POLICIES).
        steps: steps per episode.
        seed: reset seed (same seed: same world, same frames).
        out: output folder: <policy>.mp4, <policy>.gif, <policy>.npz and summary.json.
        fps: video frame rate (the world runs at 20 steps/s).
        scale: nearest-neighbour upscaling of the videos.
        gif: also write a GIF per policy.
    """

    env: EnvConfig = field(default_factory=EnvConfig)
    policies: list[str] = field(default_factory=lambda: ["explore", "loop", "circle", "build_break"])
    steps: int = 200
    seed: int = 0
    out: str = "runs/rollout"
    fps: float = 20.0
    scale: int = 2
    gif: bool = True

    def __post_init__(self) -> None:
        unknown = [p for p in self.policies if p not in POLICIES]
        if unknown:
            raise ValueError(f"unknown policies {unknown}; valid: {', '.join(POLICIES)}")
        if self.steps < 1 or self.scale < 1 or self.fps <= 0:
            raise ValueError(
                f"steps and scale must be >= 1 and fps > 0, got {self.steps}, {self.scale}, {self.fps}"
            )


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    os.replace(tmp, path)


@command(
    "rollout",
    RolloutConfig,
    help="Run scripted policies in the voxel world; write MP4/GIF videos and trajectories.",
)
def run(cfg: RolloutConfig) -> int:
    """Record one episode per policy and print a summary."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    env = cfg.env.make(ground_truth=("pose", "events"), max_episode_steps=cfg.steps)
    summary = {"config": asdict(cfg), "episodes": {}}
    for name in cfg.policies:
        traj = record_scripted(env, make_policy(name), cfg.steps, cfg.seed, progress=name)
        write_video(out / f"{name}.mp4", traj.frames, cfg.fps, cfg.scale)
        if cfg.gif:
            write_video(out / f"{name}.gif", traj.frames, cfg.fps, cfg.scale)
        _save_npz(
            out / f"{name}.npz",
            frames=traj.frames,
            actions=traj.actions,
            rewards=traj.rewards,
            terminated=traj.terminated,
            truncated=traj.truncated,
            poses=traj.poses,
        )
        path = (
            np.linalg.norm(np.diff(traj.poses[:, :3], axis=0), axis=1).sum() if len(traj.poses) > 1 else 0.0
        )
        summary["episodes"][name] = {
            "steps": len(traj),
            "world_seed": traj.reset_info.get("world_seed"),
            "steps_per_s": round(len(traj) / traj.seconds, 1),
            "distance_blocks": round(float(path), 2),
            "block_events": int(traj.events.sum()),
            "return": float(traj.rewards.sum()),
        }
    env.close()
    tmp = out / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    os.replace(tmp, out / "summary.json")
    print(f"{'policy':<12} {'steps':>5} {'steps/s':>8} {'moved':>7} {'events':>6}")
    for name, ep in summary["episodes"].items():
        moved, events = ep["distance_blocks"], ep["block_events"]
        print(f"{name:<12} {ep['steps']:>5} {ep['steps_per_s']:>8.0f} {moved:>7.1f} {events:>6}")
    print(f"wrote {len(cfg.policies)} videos, trajectories and summary.json to {out}/")
    return 0
