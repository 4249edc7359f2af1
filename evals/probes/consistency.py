"""What the 3D-consistency probes share: scenes, motion cases, option checks and summaries.

The probes themselves live one per module: ``evals.probes.loop_closure.LoopClosure``,
``evals.probes.pose_geometry.Geometry`` and ``evals.probes.reprojection.Reprojection``.

- ``LoopClosure`` turns the agent 360° in place, or walks it A→B→A, and compares the frame
  generated back at A with the truth, with the context frame the predictor was shown at A, and
  with the frame the predictor itself generated at A before leaving (revisit consistency as in
  WorldMem / LoopNav).
- ``Geometry`` matches keypoints between predicted frames, estimates their relative pose with the
  known intrinsics and reports the Sampson epipolar error under the TRUE motion and the rotation /
  translation-direction errors of the estimated motion (as Cosmos and WorldScore do).
- ``Reprojection`` warps each true frame into the next true pose with the true depth and compares
  the predicted frame with it on the co-visible pixels.

Camera conventions and the two-view maths live in ``evals.probes.geometry``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from evals.probes.base import VOXEL_ENVS, Case, Media, Probe, ProbeContext, ProbeEnv, ProbeOutput, Row, Truth
from evals.probes.scenarios import Arena, action, in_arena, repeat

LPIPS_PROTOCOL = "LPIPS v0.1 (alex), RGB in [-1, 1] (evals.probes.frames)"
MIN_TRANSLATION = 0.02
"""Blocks: a true camera translation shorter than this counts as none (pure rotation)."""
MOB_SEGMENTATION = 1000
"""Segmentation ids from this up are mobs (``envs.voxel.render.ENTITY_SEG_OFFSET``)."""
SETTLE_STEPS = 16
"""Steps without walking after each leg of the A→B→A walk (the turn, then still steps): the slide
left after walking shrinks to ~1e-5 blocks, so the true revisit pose is A."""
MOTIONS = ("turn", "arc", "forward")
"""Camera motions of the geometry and reprojection cases."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _lpips(ctx: ProbeContext, a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None):
    """LPIPS per frame (masked when ``mask`` is given), or NaNs and the reason."""
    if not ctx.scorer.lpips_available:
        return np.full(len(a), np.nan), ctx.scorer.lpips_unavailable
    side = ctx.scorer.min_side
    if min(a.shape[1:3]) < side:
        return np.full(
            len(a), np.nan
        ), f"LPIPS needs frames of at least {side}×{side}, got {a.shape[1]}×{a.shape[2]}"
    if mask is None:
        return ctx.scorer.lpips(a, b), ""
    return ctx.scorer.masked_lpips(a, b, mask), ""


# ------------------------------------------------------------------------------------ scenes


def landmark_scene(world: Any, a: Arena) -> None:
    """Distinctive structures on every side of the arena centre (none on the walk line x = centre).

    Wool, log, plank and stone pillars of different heights, so every yaw and both ends of the
    A→B→A walk see something that identifies the view.
    """
    pillars = [  # (dx, dz, height, block): +z ahead, -x right, +x left at yaw 0; the walk keeps to dx = 0
        (0, 6, 3, "red_wool"),
        (-4, 2, 2, "blue_wool"),
        (-4, 3, 1, "blue_wool"),
        (4, -2, 4, "magenta_wool"),
        (1, -5, 2, "yellow_wool"),
        (-1, -5, 3, "yellow_wool"),
        (3, 4, 3, "log"),
        (-3, -4, 2, "planks"),
        (-3, 5, 1, "stone"),
        (4, -4, 2, "stone"),
    ]
    for dx, dz, h, name in pillars:
        world.fill(a.cell(dx, dz, 1), a.cell(dx, dz, h), name)


_WALL_BLOCKS = ("planks", "stone", "red_wool", "blue_wool", "yellow_wool", "magenta_wool", "log")


def textured_scene(world: Any, a: Arena) -> None:
    """A wall of randomly mixed blocks ahead and to the right, pillars at several depths, a still pig.

    Mixed neighbouring blocks give distinctive corners for keypoints; the pillars give depth
    variation (a single plane is a degenerate scene for relative pose); the pig, standing still,
    exercises the reprojection's mob mask. The pattern is a function of the world seed.
    """
    rng = np.random.default_rng([world.seed, 0xC0515])
    wall = [(dx, 7) for dx in range(-9, 7)] + [(-9, dz) for dz in range(-1, 7)]
    for dx, dz in wall:
        for dy in range(1, 5):
            world.set_block(*a.cell(dx, dz, dy), str(rng.choice(_WALL_BLOCKS)))
    for dx, dz, h, name in [
        (-3, 4, 3, "log"),
        (3, 5, 2, "stone"),
        (5, 3, 3, "red_wool"),
        (-6, 2, 2, "blue_wool"),
    ]:
        world.fill(a.cell(dx, dz, 1), a.cell(dx, dz, h), name)
    world.spawn_mob("pig", (a.cx + 2.5, float(a.floor + 1), a.cz + 6.0), heading=180.0, wander=False)


def _still(n: int) -> list[dict[str, Any]]:
    return repeat(action(), n)


class _CaseProbe(Probe):
    """A probe scored case by case: ``case_rows`` per case, one ``Media`` per case with ``caption``."""

    supported_envs = VOXEL_ENVS

    caption: ClassVar[str] = ""

    def score(
        self, cases: Sequence[Case], predictions: Sequence[np.ndarray], seed: int, ctx: ProbeContext
    ) -> ProbeOutput:
        out = ProbeOutput()
        for case, pred in zip(cases, predictions):
            truth, pred = ctx.truth(case), np.asarray(pred)
            out.rows += self.case_rows(case, pred, truth, seed, ctx)
            if ctx.keep_media:
                caption = f"{case.name}: {self.caption}"
                out.media.append(
                    Media(self.name, case.name, seed, case.world_seed, truth.future_frames, pred, caption)
                )
        self.check_rows(out.rows)
        return out

    def case_rows(
        self, case: Case, pred: np.ndarray, truth: Truth, seed: int, ctx: ProbeContext
    ) -> list[Row]:
        """The rows of one case: ``pred`` uint8 (K, H, W, 3) against ``truth``."""
        raise NotImplementedError

    def _row(self, case: Case, seed: int, metric: str, value: float, horizon=None, note: str = "") -> Row:
        return Row(
            probe=self.name,
            case=case.name,
            metric=metric,
            value=float(value),
            seed=seed,
            world_seed=case.world_seed,
            horizon=horizon,
            params=dict(case.params),
            note=note,
        )


class _MotionProbe(_CaseProbe):
    """A case probe over ``motion_cases`` (turn, arc, forward): subclasses set ``motions``,
    ``horizon``, ``turn_step_deg`` and ``context_frames``."""

    motions: tuple[str, ...]
    horizon: int
    turn_step_deg: float
    context_frames: int

    def cases(self, env: ProbeEnv, world_seeds: Sequence[int]) -> list[Case]:
        motions, horizon, step = self.motions, self.horizon, self.turn_step_deg
        return motion_cases(self.name, world_seeds, motions, horizon, step, self.context_frames, env.id)


# ------------------------------------------------------------------------------- loop closure


def motion_cases(
    probe: str,
    world_seeds: Sequence[int],
    motions: Sequence[str],
    horizon: int,
    turn_step_deg: float,
    context_frames: int,
    env_id: str = VOXEL_ENVS[0],
) -> list[Case]:
    """Cases of known camera motion, pitch 0 throughout.

    Motions: "turn" (``+turn_step_deg`` yaw per step, a pure rotation), "arc" (forward and
    ``+turn_step_deg`` yaw per step), "forward" (forward only). The context is ``context_frames``
    still frames. The scene: ``textured_scene`` in an arena in the voxel world; on ViZDoom the
    scenario's map as it is, the player turned to its most open heading
    (``evals.probes.doom_scenes.face_open``).
    """
    if env_id in VOXEL_ENVS:
        scenario = in_arena(textured_scene)
    else:
        from evals.probes.doom_scenes import face_open

        scenario = face_open
    acts = {
        "turn": action(yaw=turn_step_deg),
        "arc": action(forward=1, yaw=turn_step_deg),
        "forward": action(forward=1),
    }
    return [
        Case(
            probe,
            m,
            int(seed),
            _still(context_frames - 1),
            repeat(acts[m], horizon),
            scenario=scenario,
            params={"turn_step_deg": 0.0 if m == "forward" else turn_step_deg},
        )
        for seed in world_seeds
        for m in motions
    ]


def _check_motion_options(
    motions: Sequence[str], horizon: int, turn_step_deg: float, context_frames: int
) -> None:
    unknown = sorted(set(motions) - set(MOTIONS))
    _check(
        not unknown and len(motions) > 0, f"motions must be a non-empty subset of {MOTIONS}, got {motions}"
    )
    _check(int(horizon) == horizon and horizon >= 2, f"horizon must be an integer >= 2, got {horizon}")
    _check(0 < turn_step_deg <= 45, f"turn_step_deg must be in (0, 45], got {turn_step_deg}")
    _check(context_frames >= 1, f"context_frames must be >= 1, got {context_frames}")


def rigid_pixels(segmentation: np.ndarray, env_id: str) -> np.ndarray:
    """bool (..., H, W): pixels of the rigid, static scene, whose motion the camera's alone explains.

    Voxel world: everything but mobs (segmentation < ``MOB_SEGMENTATION``). ViZDoom: walls, floors
    and ceilings only (label 0): every labelled object is a sprite that turns to face the camera,
    and monsters move.
    """
    if env_id in VOXEL_ENVS:
        return segmentation < MOB_SEGMENTATION
    return segmentation == 0


def _missing(truth: Truth, fields: Sequence[str]) -> str:
    absent = [f for f in fields if getattr(truth, f) is None]
    return f"the env reports no {', '.join(absent)}" if absent else ""


def _summary(values: Sequence[float], notes: Sequence[str] = (), how: str = "mean") -> tuple[float, str]:
    """Mean (or median) of the finite values, and a note on the undefined ones (their commonest reason)."""
    v = np.asarray(values, np.float64)
    finite = v[np.isfinite(v)]
    why = [n for n, x in zip(notes, v) if not np.isfinite(x) and n]
    reason = f": {Counter(why).most_common(1)[0][0]}" if why else ""  # ties: the first seen
    if not len(finite):
        return math.nan, f"no step has a value{reason}"
    note = f"{len(v) - len(finite)} of {len(v)} steps undefined{reason}" if len(finite) < len(v) else ""
    return float(np.median(finite) if how == "median" else finite.mean()), note


# ---------------------------------------------------------------------------------- geometry
