"""Object permanence: an object leaves the view for k frames and must come back where it was.

Every case is a controlled scene in a cleared arena (``evals.probes.scenarios.in_arena``) with one
object in view during the context:

- ``landmark``: a 2 wide × 3 high structure of magenta wool, 6 blocks ahead;
- ``mob``: a pig standing still (``spawn_mob(..., wander=False)``) 5 blocks ahead;
- ``placed`` (changed world): a yellow wool wall 4 blocks ahead with a red wool panel behind it;
  during the context the player places a blue wool block against the wall (``use`` with hotbar
  slot 9) and SEES it appear; the object is that new block;
- ``broken`` (changed world): the same wall; during the context the player breaks the wall block
  under the crosshair (two ``attack`` steps), opening a hole through which the red panel shows; the
  object is the hole (the pixels that see through the broken cell).

The occlusion, in the K future frames the predictor must generate:

- ``look_away``: the context ends with the object a quarter of the horizontal field of view (FOV)
  right of the view centre; the player turns left at ``turn_speed`` °/step until the object's
  centre is 90° + half the FOV off the view axis (90° beyond the edge of the view), holds, and
  turns back right past the start, so that the object returns a quarter FOV LEFT of the centre;
- ``cover`` (landmark and mob): a dirt wall stands left of the line of sight; the player
  strafes left until the wall hides the object, waits, and strafes right until it stands about
  2.8 blocks right of where it started, so the object returns further left in the view.

The context (the reset frame and five actions) shows the object. look_away: two still steps (for
the changed world, looking straight at the wall: ``use`` then a still step, or the two ``attack``
steps), two turn steps that put the object a quarter FOV right of the centre, one still step;
cover: five still steps.
Either way the return view differs from the last context frame: copying that frame shows the
background (or, for the changed cells, the yellow wall) where the object must be.

The hold is calibrated with real runs so that the object is absent from the TRUE segmentation in
exactly k future frames (the count is measured again when scoring and recorded in every row's
``params["occluded_frames"]``).

Scoring looks at the return frames — the last ``return_frames`` future frames, after the turn
back (or the walk back) — over the object's TRUE screen region (its segmentation id and the
pixels whose depth lies on its box; for the hole, the pixels whose ray crosses the empty cell
and hits something beyond it): masked PSNR, masked LPIPS, a presence score, a binary
``permanent`` (presence ≥ ``presence_threshold``) per case, from which the report computes the
permanence rate versus k, and a background control (masked PSNR/LPIPS over the same-shaped region
directly above the object, where the object is not).

On ViZDoom (``simworld/Doom-*``) the object is a ``Column`` decoration summoned in front of the
player, in the scenario's map as it is (``evals.probes.doom_scenes``: Doom's monsters move and its
items are picked up, a decoration stays), and only ``look_away`` runs (pitch 0); its region is the
segmentation of its label in each frame. Calibration and scoring are the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from envs.registration import DOOM_IDS
from envs.voxel.blocks import BLOCK_IDS
from envs.voxel.physics import EYE_HEIGHT
from envs.voxel.render import ENTITY_SEG_OFFSET, camera_basis
from evals.probes import doom_scenes
from evals.probes import frames as F
from evals.probes.base import (
    VOXEL_ENVS,
    Case,
    Media,
    MetricSpec,
    Probe,
    ProbeContext,
    ProbeEnv,
    ProbeOutput,
    Row,
    Truth,
    run_truth,
)
from evals.probes.scenarios import Arena, action, in_arena, repeat

OBJECTS = ("landmark", "mob", "placed", "broken")
"""Object kinds; ``placed`` and ``broken`` are the changed-world cases."""

MODES = ("look_away", "cover")
"""Occlusion modes (``cover`` applies to the landmark and the mob)."""

DEFAULT_LENGTHS = (4, 8, 16, 32, 64)
"""Default occlusion lengths k (future frames in which the object is absent from the truth)."""

LANDMARK_BLOCK, WALL_BLOCK, PANEL_BLOCK, COVER_BLOCK = "magenta_wool", "yellow_wool", "red_wool", "dirt"
PLACED_SLOT = 9  # blue_wool (envs.voxel.world.HOTBAR)
PLACED_BLOCK = "blue_wool"
MOB_KIND = "pig"
BREAK_STEPS = 2  # wool breaks after 2 ticks of attack (envs.voxel.world.BREAK_TICKS)
COVER_PROBE_STEPS = 16  # longest strafe tried to get behind the cover
COVER_SETTLE = 12  # held frames after which a strafing player has stopped (v × 0.546^12 < 1e-3)
COVER_PAST_STEPS = 13  # strafe steps past the start on the way back (~2.8 blocks at 0.216 block/step)
DEPTH_EPS = 0.02  # blocks: tolerance of "this pixel's depth lies on the object's box"
PALETTE_STEP = 8  # truth colours are quantised to bins of 8 levels per channel for the palette

# Object boxes as (dx, dz, dy) cell offsets from the arena centre, inclusive (lo, hi).
_LANDMARK = ((-1, 6, 1), (0, 6, 3))
_WALL = ((-2, 4, 1), (4, 4, 2))
_PANEL = ((-1, 8, 1), (1, 8, 3))
_CHANGED = {"placed": (0, 3, 2), "broken": (0, 4, 2)}  # the crosshair at yaw 0 hits the wall at (0, 4, 2)
_COVER = ((1, 2, 1), (3, 2, 3))
_MOB_FEET = (0.5, 5.5)  # (dx, dz) of the pig's feet centre from the centre cell's corner


def _cells(world: Any, a: Arena, box: tuple[tuple[int, int, int], ...], block: str) -> None:
    (x0, z0, y0), (x1, z1, y1) = box
    world.fill(a.cell(x0, z0, y0), a.cell(x1, z1, y1), block)


def _pig(world: Any, a: Arena) -> None:
    world.spawn_mob(MOB_KIND, (a.cx + _MOB_FEET[0], a.floor + 1.0, a.cz + _MOB_FEET[1]), 180.0, wander=False)


def landmark_scene(world: Any, a: Arena) -> None:
    """The magenta landmark ahead."""
    _cells(world, a, _LANDMARK, LANDMARK_BLOCK)


def mob_scene(world: Any, a: Arena) -> None:
    """A standing pig ahead, facing the player."""
    _pig(world, a)


def wall_scene(world: Any, a: Arena) -> None:
    """The yellow wall within reach and the red panel behind it (changed-world cases)."""
    _cells(world, a, _WALL, WALL_BLOCK)
    _cells(world, a, _PANEL, PANEL_BLOCK)


def landmark_cover_scene(world: Any, a: Arena) -> None:
    """The landmark, and a dirt wall left of the line of sight to hide behind."""
    landmark_scene(world, a)
    _cells(world, a, _COVER, COVER_BLOCK)


def mob_cover_scene(world: Any, a: Arena) -> None:
    """The pig, and a dirt wall left of the line of sight to hide behind."""
    mob_scene(world, a)
    _cells(world, a, _COVER, COVER_BLOCK)


_SCENES = {
    ("landmark", "look_away"): landmark_scene,
    ("mob", "look_away"): mob_scene,
    ("placed", "look_away"): wall_scene,
    ("broken", "look_away"): wall_scene,
    ("landmark", "cover"): landmark_cover_scene,
    ("mob", "cover"): mob_cover_scene,
}


# ------------------------------------------------------------------------------------- object regions


def arena_of(truth: Truth) -> Arena:
    """The arena of a case, recovered from the reset pose (the player starts on its centre cell)."""
    x, y, z = truth.pose[0, :3]
    floor = int(round(y - EYE_HEIGHT - 1.0))  # the feet stand on top of the floor cell
    return Arena(cx=int(math.floor(x)), cz=int(math.floor(z)), floor=floor, radius=10)  # in_arena's default


def _box(a: Arena, lo: tuple[int, int, int], hi: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """World AABB (min corner, max corner) of the inclusive cell box (dx, dz, dy) lo..hi."""
    return (
        np.array([a.cx + lo[0], a.floor + lo[2], a.cz + lo[1]], np.float64),
        np.array([a.cx + hi[0] + 1, a.floor + hi[2] + 1, a.cz + hi[1] + 1], np.float64),
    )


def box_crossings(
    pose: np.ndarray,
    K: np.ndarray,
    pixels: tuple[np.ndarray, np.ndarray, np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Where pixels' rays enter and leave a box, in units of planar depth (slab method).

    Args:
        pose: float64 (T, 5) eye x, y, z, yaw, pitch of every frame.
        K: float64 (3, 3) intrinsics (pixel centres at integer + 0.5).
        pixels: (frame, row, column) int arrays (N,) of the pixels to trace.
        lo, hi: the box's min and max corners.

    Returns:
        ``(t_enter, t_exit)``, float64 (N,) each; the ray misses the box where ``t_enter > t_exit``.
        The ray direction has a unit component along the view axis, so a point at parameter t has
        planar depth t (directly comparable to the depth map).
    """
    t, i, j = pixels
    cam = np.stack([(j + 0.5 - K[0, 2]) / K[0, 0], (i + 0.5 - K[1, 2]) / K[1, 1], np.ones(len(i))], axis=-1)
    R = np.stack([camera_basis(p[3], p[4]) for p in pose])  # (T, 3, 3) camera -> world
    d = np.einsum("nab,nb->na", R[t], cam)  # (N, 3) world ray directions
    o = pose[t, :3]
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - o) / d, (hi - o) / d
    near = np.nan_to_num(np.minimum(t1, t2), nan=-np.inf, posinf=np.inf, neginf=-np.inf)  # nan: 0/0
    far = np.nan_to_num(np.maximum(t1, t2), nan=np.inf, posinf=np.inf, neginf=-np.inf)
    return near.max(axis=-1), far.min(axis=-1)


def object_masks(case: Case, truth: Truth) -> np.ndarray:
    """bool (C+K, H, W): the object's TRUE screen region in every frame of the case.

    - landmark / placed block: pixels whose segmentation is the object's block and whose depth lies
      on the object's box (within ``DEPTH_EPS``), so that the same block elsewhere never counts;
    - mob: pixels whose segmentation is ``ENTITY_SEG_OFFSET`` + the pig's index (0);
    - broken cell (the hole): pixels whose ray crosses the whole empty cell and hits something
      beyond it (depth > exit + ``DEPTH_EPS``; sky counts), i.e. where the block used to be seen.

    Doom's object (``doom_scenes.DOOM_OBJECTS``): ``doom_scenes.object_masks``.

    Raises:
        ValueError: the truth lacks pose, intrinsics, depth or segmentation.
    """
    if case.params["object"] in doom_scenes.DOOM_OBJECTS:
        return doom_scenes.object_masks(case, truth)
    if truth.segmentation is None or truth.pose is None or truth.depth is None or truth.intrinsics is None:
        raise ValueError("the permanence probe needs pose, intrinsics, depth and segmentation ground truth")
    seg, obj = truth.segmentation, case.params["object"]
    if obj == "mob":
        return seg == ENTITY_SEG_OFFSET
    a = arena_of(truth)
    if obj == "landmark":
        box, candidates = _box(a, *_LANDMARK), seg == BLOCK_IDS[LANDMARK_BLOCK]
    elif obj == "placed":
        box, candidates = _box(a, _CHANGED[obj], _CHANGED[obj]), seg == BLOCK_IDS[PLACED_BLOCK]
    else:
        box, candidates = _box(a, _CHANGED[obj], _CHANGED[obj]), np.ones(seg.shape, bool)
    pixels = np.nonzero(candidates)
    t_in, t_out = box_crossings(truth.pose, truth.intrinsics, pixels, *box)
    depth = truth.depth[pixels].astype(np.float64)
    if obj == "broken":
        inside = (t_in <= t_out) & (t_in > 0) & (depth > t_out + DEPTH_EPS)
    else:
        inside = (t_in <= t_out) & (depth >= t_in - DEPTH_EPS) & (depth <= t_out + DEPTH_EPS)
    out = np.zeros(seg.shape, bool)
    out[tuple(p[inside] for p in pixels)] = True
    return out


def control_masks(masks: np.ndarray) -> np.ndarray:
    """bool (T, H, W): the background control — each object mask moved up by its own height.

    The region directly above the object (down instead when nothing of it stays in the frame),
    minus the object's pixels: the same shape and size, where the object is not.
    """
    out = np.zeros_like(masks)
    for t, m in enumerate(masks):
        rows = np.nonzero(m.any(axis=1))[0]
        if not len(rows):
            continue
        h = int(rows[-1] - rows[0] + 1)
        up = np.zeros_like(m)
        up[:-h] = m[h:]
        if not (up & ~m).any():
            up = np.zeros_like(m)
            up[h:] = m[:-h]
        out[t] = up & ~m
    return out


NO_PALETTE_NOTE = (
    "no presence test: the object's colours are also its surroundings' (Doom's column and walls); "
    "read masked_psnr / masked_lpips"
)


def presence(generated: np.ndarray, real: np.ndarray, masks: np.ndarray, tolerance: float) -> np.ndarray:
    """float64 (T,): fraction of the object's true pixels whose generated colour matches the object.

    The object's palette is the set of distinct TRUE colours inside its region, quantised to bins
    of ``PALETTE_STEP`` levels per channel (bin centres); a generated pixel matches when its RGB
    colour (0–255) is within Euclidean distance ``tolerance`` of some palette colour. The truth
    scores 1 (every pixel is within 4·√3 ≈ 6.9 of its own bin centre); an object that vanished leaves
    background colours (grass, sky, the wall) that are far from its palette, and uniform noise
    matches only the small volume of the RGB cube around the palette. NaN where the mask is empty.

    Args:
        generated, real: uint8 (T, H, W, 3).
        masks: bool (T, H, W).
        tolerance: colour distance on the 0–255 scale.
    """
    out = np.full(len(masks), np.nan)
    half = PALETTE_STEP / 2
    for t, m in enumerate(masks):
        if not m.any():
            continue
        palette = np.unique(real[t][m] // PALETTE_STEP, axis=0) * PALETTE_STEP + half  # (P, 3)
        px = generated[t][m].astype(np.float64)  # (N, 3)
        hits = np.zeros(len(px), bool)
        for s in range(0, len(px), 2048):  # bounded memory: (2048, P) distances at a time
            d = np.linalg.norm(px[s : s + 2048, None, :] - palette[None], axis=-1)
            hits[s : s + 2048] = d.min(axis=1) <= tolerance
        out[t] = hits.mean()
    return out


# ------------------------------------------------------------------------------------------- the probe

_REGION = (
    "the object's TRUE screen region in each return frame (the last return_frames future frames, after "
    "the turn or walk back; region from the truth's segmentation and depth: "
    "evals.probes.permanence.object_masks)"
)
_CONTROL = (
    "the background control region (the object's true region of each return frame moved up by its own "
    "height, down when nothing of it stays in the frame, minus the object: "
    "evals.probes.permanence.control_masks)"
)
_MEAN = "; per return frame (horizon) and the mean over the return frames (no horizon)"


def _metrics(tolerance: float, threshold: float) -> dict[str, MetricSpec]:
    lpips = "mean of the LPIPS spatial distance map (FrameScorer.masked_lpips; v0.1 alex by default) over "
    return {
        "masked_psnr": MetricSpec(f"masked PSNR over {_REGION}; {F.PSNR_PROTOCOL}{_MEAN}", True, "dB"),
        "masked_lpips": MetricSpec(f"{lpips}{_REGION}{_MEAN}", False),
        "presence": MetricSpec(
            f"fraction of the pixels of {_REGION} whose generated RGB colour (0-255) lies within Euclidean "
            f"distance {tolerance:g} of the object's true palette (the distinct true colours of the region, "
            f"quantised to bins of {PALETTE_STEP} levels per channel, bin centres){_MEAN}",
            True,
        ),
        "permanent": MetricSpec(
            f"1 if the case's mean presence over its return frames is >= {threshold:g}, else 0; the "
            "permanence rate versus occlusion length is its mean over the cases of equal params.k",
            True,
        ),
        "control_psnr": MetricSpec(
            f"masked PSNR over {_CONTROL}; {F.PSNR_PROTOCOL}; mean over the return frames", True, "dB"
        ),
        "control_lpips": MetricSpec(f"{lpips}{_CONTROL}; mean over the return frames", False),
    }


@dataclass(frozen=True)
class _Plan:
    """A case without its hold: context actions, the actions up to the hold, and those after it."""

    context: list[dict[str, Any]]
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]

    def actions(self, hold: int) -> list[dict[str, Any]]:
        return [*self.before, *repeat(action(), hold), *self.after]


def _turn(total: float, speed: float) -> list[dict[str, Any]]:
    """Yaw steps of ``speed`` degrees (the last one shorter) adding up to ``total`` (signed)."""
    n = max(1, math.ceil(abs(total) / speed - 1e-9))
    steps = [speed] * (n - 1) + [abs(total) - speed * (n - 1)]
    return [action(yaw=math.copysign(s, total)) for s in steps]


class ObjectPermanence(Probe):
    """Does an object that left the view come back where it was, k frames later?

    Args:
        objects: subset of ``OBJECTS`` ("landmark", "mob", and the changed-world "placed", "broken");
            on Doom the object is always the summoned column (``doom_scenes.DOOM_OBJECTS``).
        modes: subset of ``MODES`` ("look_away", "cover"); "cover" applies to the landmark and the mob.
        occlusion_lengths: k values: future frames in which the object is absent from the true
            segmentation (each >= 1; a k shorter than the frames the movement itself hides the object
            raises ValueError in ``cases``).
        return_frames: frames scored at the return pose (the last ones of each case).
        turn_speed: degrees of yaw per step of the look-away turns (at most 180). The default 60 lets
            k = 4 fit a turn of 90° + half the FOV each way; the voxel datasets turn ≤ 25°/step.
        colour_tolerance: RGB distance (0-255) of the presence score.
        presence_threshold: presence at or above which a case counts as permanent.

    Raises:
        ValueError: an unknown object or mode, or an option out of range (the message names the valid ones).
    """

    supported_envs = (*VOXEL_ENVS, *DOOM_IDS)

    name: ClassVar[str] = "permanence"
    metrics: ClassVar[dict[str, MetricSpec]] = _metrics(40.0, 0.5)

    def __init__(
        self,
        objects: Sequence[str] = OBJECTS,
        modes: Sequence[str] = MODES,
        occlusion_lengths: Sequence[int] = DEFAULT_LENGTHS,
        return_frames: int = 4,
        turn_speed: float = 60.0,
        colour_tolerance: float = 40.0,
        presence_threshold: float = 0.5,
    ) -> None:
        self.objects = _choose("objects", objects, OBJECTS)
        self.modes = _choose("modes", modes, MODES)
        if not any(m == "look_away" or o in ("landmark", "mob") for o in self.objects for m in self.modes):
            raise ValueError("mode 'cover' applies to the objects 'landmark' and 'mob' only; add one")
        lengths = list(occlusion_lengths)
        if not lengths or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in lengths):
            raise ValueError(f"occlusion_lengths must be a non-empty list of integers >= 1, got {lengths}")
        self.occlusion_lengths = sorted(set(lengths))
        if isinstance(return_frames, bool) or not isinstance(return_frames, int) or return_frames < 1:
            raise ValueError(f"return_frames must be an integer >= 1, got {return_frames!r}")
        if not 0 < turn_speed <= 180:
            raise ValueError(f"turn_speed must be in (0, 180] degrees per step, got {turn_speed}")
        if not 0 < colour_tolerance <= 442:
            raise ValueError(f"colour_tolerance must be in (0, 442] (RGB distance), got {colour_tolerance}")
        if not 0 < presence_threshold <= 1:
            raise ValueError(f"presence_threshold must be in (0, 1], got {presence_threshold}")
        self.return_frames, self.turn_speed = return_frames, float(turn_speed)
        self.colour_tolerance, self.presence_threshold = float(colour_tolerance), float(presence_threshold)
        self.metrics = _metrics(self.colour_tolerance, self.presence_threshold)  # exact protocol labels
        self._calibrated: dict[tuple[Any, ...], Any] = {}

    # ---------------------------------------------------------------------------------------- cases
    def cases(self, env: ProbeEnv, world_seeds: Sequence[int]) -> list[Case]:
        """Every (object, mode, k) per world, each hold calibrated on a real run (see the module doc).

        Raises:
            ValueError: the env lacks the ground truth the probe needs, the object is not in view at
                the start or at the return, or a k is shorter than the movement alone occludes it.
        """
        half_fov = self._half_fov(env)
        voxel = env.id not in DOOM_IDS
        if not voxel and "look_away" not in self.modes:
            raise ValueError(f"permanence on {env.id!r} has only the look_away mode; got modes {self.modes}")
        objects = self.objects if voxel else doom_scenes.DOOM_OBJECTS
        out = []
        for ws in world_seeds:
            for obj in objects:
                for mode in self.modes if voxel else ("look_away",):
                    if voxel and (obj, mode) not in _SCENES:
                        continue
                    scenario = in_arena(_SCENES[(obj, mode)]) if voxel else doom_scenes.summon_column
                    if mode == "look_away":
                        plan = self._look_away_plan(obj, half_fov)
                    else:
                        plan = self._cover_plan(env, ws, obj, scenario)
                    for k in self.occlusion_lengths:
                        hold = self._hold(env, ws, obj, mode, scenario, plan, k)
                        params: dict[str, Any] = {"object": obj, "mode": mode, "k": k, "hold": hold}
                        params["return_frames"] = self.return_frames
                        if mode == "look_away":
                            params["turn_speed"] = self.turn_speed
                        out.append(self._case(f"{obj}_{mode}_k{k}", ws, plan, hold, scenario, params))
        return out

    def _case(self, name: str, ws: int, plan: _Plan, hold: int, scenario: Any, params: dict) -> Case:
        return Case(self.name, name, int(ws), plan.context, plan.actions(hold), scenario, params)

    def _half_fov(self, env: ProbeEnv) -> float:
        """Half the horizontal field of view in degrees, from the env's intrinsics."""
        key = ("fov", repr(env.describe()))
        if key not in self._calibrated:
            gym_env = env.make()
            try:
                _, info = gym_env.reset(seed=0)
            finally:
                gym_env.close()
            missing = [k for k in ("pose", "intrinsics", "depth", "segmentation") if k not in info]
            if missing:
                raise ValueError(f"the permanence probe needs the ground truth {missing} from env {env.id}")
            K = np.asarray(info["intrinsics"])
            self._calibrated[key] = math.degrees(math.atan(K[0, 2] / K[0, 0]))
        return self._calibrated[key]

    def _look_away_plan(self, obj: str, half_fov: float) -> _Plan:
        offset = half_fov / 2  # the object sits a quarter of the FOV right of the centre, returns left
        if obj == "landmark":  # direction of the landmark's centre from the eye (Minecraft yaw)
            (x0, z0, _), (x1, z1, _) = _LANDMARK
            yaw_obj = math.degrees(math.atan2(-((x0 + x1 + 1) / 2 - 0.5), (z0 + z1 + 1) / 2 - 0.5))
        else:
            yaw_obj = 0.0
        settle = repeat(action(yaw=(yaw_obj - offset) / 2), 2) + [action()]
        change = {
            "landmark": repeat(action(), 2),
            "mob": repeat(action(), 2),
            "placed": [action(use=1, hotbar=PLACED_SLOT), action()],
            "broken": repeat(action(attack=1), BREAK_STEPS),
            "column": repeat(action(), 2),
        }[obj]
        away = 90.0 + half_fov - offset  # the object's centre ends 90° beyond the edge of the view
        return _Plan(
            context=[*change, *settle],
            before=_turn(-away, self.turn_speed),
            after=_turn(away + 2 * offset, self.turn_speed) + repeat(action(), self.return_frames - 1),
        )

    def _cover_plan(self, env: ProbeEnv, ws: int, obj: str, scenario: Any) -> _Plan:
        """Strafe left until the cover first hides the object (found with one real run)."""
        key = ("cover", repr(env.describe()), ws, obj)
        if key not in self._calibrated:
            probe = _Plan(repeat(action(), 5), repeat(action(left=1), COVER_PROBE_STEPS), [])
            masks = self._future_masks(env, ws, obj, "cover", scenario, probe, 0)
            hidden = np.nonzero(~masks.any(axis=(1, 2)))[0]
            if not len(hidden):
                raise ValueError(f"the cover never hides the {obj} at this frame size (world {ws})")
            self._calibrated[key] = int(hidden[0]) + 1
        n_in = self._calibrated[key]
        return _Plan(
            context=repeat(action(), 5),
            before=repeat(action(left=1), n_in),
            after=repeat(action(right=1), n_in + COVER_PAST_STEPS) + repeat(action(), self.return_frames - 1),
        )

    def _future_masks(
        self, env: ProbeEnv, ws: int, obj: str, mode: str, scenario: Any, plan: _Plan, hold: int
    ) -> np.ndarray:
        case = self._case("calibration", ws, plan, hold, scenario, {"object": obj, "mode": mode})
        truth = run_truth(env, case)
        masks = object_masks(case, truth)
        if not masks[truth.context_length - 1].any():
            raise ValueError(
                f"the {obj} is not in view at the end of the context ({mode}, world {ws}; is the frame too "
                "small or too narrow for this scene?)"
            )
        return masks[truth.context_length :]

    def _hold(self, env: ProbeEnv, ws: int, obj: str, mode: str, scenario: Any, plan: _Plan, k: int) -> int:
        """The hold that makes the object absent from exactly k future frames of the truth.

        A turn stops at once, so every held frame adds one occluded frame: one real run without a
        hold gives the count of the movement alone. A strafe coasts (velocity × 0.546 per tick): the
        count is linear in the hold once the player has settled (``COVER_SETTLE`` held frames; the
        drift left is < 1e-3 block), and shorter holds are found by correcting on real runs.
        """
        counts = self._calibrated.setdefault(("counts", mode, repr(env.describe()), ws, obj), {})

        def occluded(hold: int) -> int:
            if hold not in counts:
                visible = self._future_masks(env, ws, obj, mode, scenario, plan, hold).any(axis=(1, 2))
                where = f"({mode}, world {ws}; is the frame too small or too narrow for this scene?)"
                if not visible[-self.return_frames :].all():
                    raise ValueError(f"the {obj} is not in view in every return frame {where}")
                if visible[len(plan.before) - 1]:
                    raise ValueError(f"the {obj} is still in view when the hold starts {where}")
                counts[hold] = int((~visible).sum())
            return counts[hold]

        settled = 0 if mode == "look_away" else COVER_SETTLE
        hold = k - (occluded(settled) - settled)
        if hold >= settled:
            return hold
        for _ in range(4):
            if hold < 0:
                break
            if occluded(hold) == k:
                return hold
            hold += k - occluded(hold)
        raise ValueError(
            f"k={k} does not fit the {mode} of the {obj} (world {ws}): the movement alone hides it for "
            f"{occluded(0)} frames; drop this k, or raise turn_speed for look_away"
        )

    # ---------------------------------------------------------------------------------------- score
    def score(
        self,
        cases: Sequence[Case],
        predictions: Sequence[np.ndarray],
        seed: int,
        ctx: ProbeContext,
    ) -> ProbeOutput:
        """Per case: masked PSNR/LPIPS and presence per return frame and their means, ``permanent``,
        and the background control; ``params["occluded_frames"]`` is the measured k.

        Raises:
            ValueError: a prediction's shape differs from the truth's future frames.
        """
        out = ProbeOutput()
        for case, pred in zip(cases, predictions, strict=True):
            truth = ctx.truth(case)
            real, pred = truth.future_frames, np.asarray(pred)
            if pred.shape != real.shape or pred.dtype != np.uint8:
                raise ValueError(
                    f"case {case.key}: prediction must be uint8 {real.shape}, got {pred.dtype} {pred.shape}"
                )
            masks = object_masks(case, truth)[truth.context_length :]
            params = {**case.params, "occluded_frames": int((~masks.any(axis=(1, 2))).sum())}
            out.rows += self._case_rows(case, pred, real, masks, params, seed, ctx)
            if ctx.keep_media:
                out.media.append(
                    Media(self.name, case.name, seed, case.world_seed, real, pred, caption=_caption(case))
                )
        return out

    def _case_rows(
        self,
        case: Case,
        pred: np.ndarray,
        real: np.ndarray,
        masks: np.ndarray,
        params: dict[str, Any],
        seed: int,
        ctx: ProbeContext,
    ) -> list[Row]:
        R = self.return_frames
        g, r, m = pred[-R:], real[-R:], masks[-R:]
        control = control_masks(m)
        # a colour-palette test needs an object whose colours its surroundings lack: Doom's column
        # shares the walls' palette, so copy-last-frame would "find" it anywhere (measured 1.0)
        palette_note = NO_PALETTE_NOTE if case.params["object"] in doom_scenes.DOOM_OBJECTS else ""
        values = {
            "masked_psnr": F.psnr(g, r, m),
            "presence": np.full(R, np.nan) if palette_note else presence(g, r, m, self.colour_tolerance),
            "control_psnr": F.psnr(g, r, control),
        }
        note = ""
        if ctx.scorer.lpips_available:
            values["masked_lpips"] = ctx.scorer.masked_lpips(g, r, m)
            values["control_lpips"] = ctx.scorer.masked_lpips(g, r, control)
        else:
            note = ctx.scorer.lpips_unavailable
            values["masked_lpips"] = values["control_lpips"] = np.full(R, np.nan)
        first = len(pred) - R + 1  # horizon of the first return frame (1-based)

        def row(metric: str, value: float, horizon: int | None = None) -> Row:
            why = ""
            if not np.isfinite(value):
                if "lpips" in metric and note:
                    why = note
                elif metric in ("presence", "permanent") and palette_note:
                    why = palette_note
                else:
                    why = "empty control region" if "control" in metric else "the object is not in view"
            return Row(
                self.name, case.name, metric, float(value), seed, case.world_seed, horizon, dict(params), why
            )

        rows = []
        for metric in ("masked_psnr", "masked_lpips", "presence"):
            rows += [row(metric, v, first + i) for i, v in enumerate(values[metric])]
        means = {k: _mean(v) for k, v in values.items()}
        rows += [row(k, v) for k, v in means.items()]
        p = means["presence"]
        rows.append(row("permanent", float(p >= self.presence_threshold) if np.isfinite(p) else np.nan))
        return rows


def _mean(values: np.ndarray) -> float:
    """Mean over the finite values (NaN when there are none)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def _choose(option: str, values: Sequence[str], valid: tuple[str, ...]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys([values] if isinstance(values, str) else values))
    unknown = [v for v in chosen if v not in valid]
    if not chosen or unknown:
        raise ValueError(f"{option} must be a non-empty subset of {list(valid)}, got {list(chosen)}")
    return chosen


def _caption(case: Case) -> str:
    p = case.params
    what = {
        "landmark": "the magenta landmark",
        "mob": "the standing pig",
        "placed": "the blue block placed in the context",
        "broken": "the hole broken in the context (the red panel through it)",
        "column": "the column summoned in front of the player",
    }[p["object"]]
    how = "turns away and back" if p["mode"] == "look_away" else "hides behind the dirt wall and walks back"
    return (
        f"{p['object']}, {p['mode']}, k={p['k']}: the player {how}; in the last {p['return_frames']} frames "
        f"{what} must be back, further left in the view than in the context"
    )
