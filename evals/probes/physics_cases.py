"""The scripted scenes of the physics failure-case catalogue (``evals.probes.physics``), and the renderer
of their wrong outcomes.

Every case is built in a flat cleared arena (``scenarios.in_arena``: the player at its centre looking
along +z, "forward"), so that its outcome is known: sand falls when its support is broken, a wall
stops the player, a jump comes down... A case also names its *wrong outcomes*: what a world model
that got the physics wrong would show instead. They are rendered by the real renderer from the same
world (``render_wrong``), so that they share the truth's context frames and differ from the truth
only where the physics differs:

- ``static``: nothing happens (the last context frame repeated) — what a frozen world shows;
- a world edit rendered at the truth's camera poses ("the sand floats": the support removed, the
  sand left where it was; "the placed block vanished": the world without it);
- the truth's camera poses transformed ("walks on air": the eye height held; "never comes down":
  the eye at its running maximum; "the turn is not undone": the yaw at its running maximum);
- the camera poses of a real run of a sibling scene or action list, rendered in the true world
  ("walks through the wall": the poses of the same walk with the wall absent).

Cell coordinates are ``Arena.cell(dx, dz, dy)``: dx along +x (the player's left, as it starts looking
along +z), dz ahead, dy above the floor (1: standing level; the eye is at dy + 0.62 = 2.62).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from evals.probes.base import ProbeEnv
from evals.probes.scenarios import Arena, action, in_arena, repeat

Build = Callable[[Any, Arena], None]
"""Builds a case's scene in the arena: ``build(world, arena)`` (voxel scenario API)."""

PoseMap = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(future poses (K, 5), last context pose (5,)) -> poses (K, 5)``: eye x, y, z, yaw, pitch."""


@dataclass(frozen=True)
class Wrong:
    """A wrong outcome of a case: what a world model that got the physics wrong would show.

    Attributes:
        name: short label (``"static"``, ``"floats"``, ...); ``"static"`` is the last context
            frame repeated and needs nothing else.
        what: one line saying what it shows.
        edit: world edit applied after the scene, rendered (never stepped) at the poses.
        poses: transform of the truth's future camera poses; None keeps them.
        sibling: a scene whose real run (with ``sibling_actions``, default the case's own actions)
            gives the camera poses instead, rendered in the true world.
        sibling_actions: ``(context actions, future actions)`` of the sibling run.
        after_event: a block event kind ("break", "place"): the wrong outcome equals the truth until
            the first future step with such an event in the true run (nothing differs before it).
    """

    name: str
    what: str
    edit: Build | None = None
    poses: PoseMap | None = None
    sibling: Build | None = None
    sibling_actions: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None
    after_event: str | None = None


STATIC = Wrong("static", "nothing happens: the last context frame repeated")


@dataclass
class PhysicsCase:
    """One scripted case with a known outcome.

    Attributes:
        name: the case's name.
        build: its scene.
        context: actions stepped to build the context (the context is the reset frame + one per action).
        future: the K actions to predict.
        check: ``"outcome"`` (closer to the truth than to every wrong outcome), ``"static"`` (the
            prediction stays still, and is closer to the truth than to every wrong outcome) or
            ``"physics_iq"`` (motion masks against the truth, normalised by a second real run:
            stochastic cases).
        expect: the known outcome, in words.
        wrong: the wrong outcomes (``"outcome"`` check).
        region: block names (``"mob"`` for every mob) whose true pixels, over all future frames,
            form the case's screen region for the region metrics; empty: the whole frame.
        stochastic: the outcome depends on mob randomness.
    """

    name: str
    build: Build
    context: list[dict[str, Any]]
    future: list[dict[str, Any]]
    check: str
    expect: str
    wrong: tuple[Wrong, ...] = ()
    region: tuple[str, ...] = ()
    stochastic: bool = False


# ----------------------------------------------------------------------------------------- scenes


def _markers(world: Any, a: Arena) -> None:
    """Pillars around the arena, so that any camera motion shows (never red or yellow wool, which
    mark the cases' own blocks)."""
    world.fill(a.cell(-1, 8, 1), a.cell(1, 8, 3), "blue_wool")
    world.fill(a.cell(4, 6, 1), a.cell(4, 6, 2), "log")
    world.fill(a.cell(-5, 5, 1), a.cell(-5, 5, 4), "magenta_wool")
    world.fill(a.cell(-7, 0, 1), a.cell(-7, 1, 3), "magenta_wool")
    world.fill(a.cell(6, -3, 1), a.cell(6, -3, 2), "log")


def sand_column(world: Any, a: Arena) -> None:
    """A planks block floating at eye level 3 blocks ahead, holding a 3-block sand column."""
    _markers(world, a)
    world.set_block(*a.cell(0, 3, 2), "planks")
    world.fill(a.cell(0, 3, 3), a.cell(0, 3, 5), "sand")


def _sand_floats(world: Any, a: Arena) -> None:
    world.set_block(*a.cell(0, 3, 2), "air")  # rendered only: the sand never gets a tick to fall


def gravel_ledge(world: Any, a: Arena) -> None:
    """A planks block floating 3 blocks ahead and 3 up; the player looks up at its face."""
    _markers(world, a)
    world.set_block(*a.cell(0, 3, 3), "planks")
    world.set_pose(pitch=-15.0)


def _gravel_floats(world: Any, a: Arena) -> None:
    world.set_block(*a.cell(0, 2, 3), "gravel")


def planks_column(world: Any, a: Arena) -> None:
    """A dirt block floating at eye level 3 blocks ahead, holding a 3-block planks column."""
    _markers(world, a)
    world.set_block(*a.cell(0, 3, 2), "dirt")
    world.fill(a.cell(0, 3, 3), a.cell(0, 3, 5), "planks")


def _planks_fall(world: Any, a: Arena) -> None:
    world.fill(a.cell(0, 3, 2), a.cell(0, 3, 5), "air")
    world.fill(a.cell(0, 3, 1), a.cell(0, 3, 3), "planks")


def open_field(world: Any, a: Arena) -> None:
    """Markers only; the player stands 0.2 blocks further ahead, looking 20° down."""
    _markers(world, a)
    world.set_pose((a.cx + 0.5, a.floor + 1.0, a.cz + 0.7), pitch=20.0)


def low_wall(world: Any, a: Arena) -> None:
    """The open field with a 1-block log wall that the player's box touches."""
    open_field(world, a)
    world.fill(a.cell(-3, 1, 1), a.cell(3, 1, 1), "log")


def pillar_field(world: Any, a: Arena) -> None:
    """A blue wall 6 blocks ahead (what lies behind the pillar)."""
    _markers(world, a)
    world.fill(a.cell(-2, 6, 1), a.cell(2, 6, 2), "blue_wool")


def pillar(world: Any, a: Arena) -> None:
    """A 1×3 red pillar 3 blocks ahead, in front of the pillar field."""
    pillar_field(world, a)
    world.fill(a.cell(0, 3, 1), a.cell(0, 3, 3), "red_wool")


def platform(world: Any, a: Arena) -> None:
    """The player on a 3-block stone platform 1.5 blocks from its edge, looking 30° down at the drop."""
    _markers(world, a)
    world.fill(a.cell(-4, -4, 1), a.cell(4, 0, 3), "stone")
    world.set_pose((a.cx + 0.5, a.floor + 4.0, a.cz - 0.5), pitch=30.0)


def step(world: Any, a: Arena) -> None:
    """A 1-block stone step (5 deep) 0.2 blocks in front of the player's box."""
    _markers(world, a)
    world.fill(a.cell(-3, 1, 1), a.cell(3, 5, 1), "stone")


def placing_spot(world: Any, a: Arena) -> None:
    """Markers; the player looks 39° down at the floor cell 2 blocks ahead (where ``use`` places)."""
    _markers(world, a)
    world.set_pose(pitch=39.0)


def wool_wall(world: Any, a: Arena) -> None:
    """A 3×3 yellow wall 3 blocks ahead, its centre block at eye level."""
    _markers(world, a)
    world.fill(a.cell(-1, 3, 1), a.cell(1, 3, 3), "yellow_wool")


MOB_CONTEXT_STEPS = 4
"""Context steps of ``mob_moves``."""
MOB_SHARED_TICKS = 8
"""Future ticks of ``mob_moves`` during which its mobs still walk their scripted first leg."""


def mob_pen(world: Any, a: Arena) -> None:
    """Four mobs 3 to 6 blocks ahead, walking across the view, then wandering at random.

    Each walks a scripted first leg (across the view, 1 block/s) through the context and the first
    ``MOB_SHARED_TICKS`` future ticks; from then on it draws its choices (walk in a random
    direction, or idle) from the mob randomness. Two real runs with different mob randomness thus
    share the context and the start of the future, then drift apart: the natural variation that
    the case's score is normalised by.
    """
    from envs.voxel.mobs import MMOVING, MTIMER

    _markers(world, a)
    y = a.floor + 1.0
    first_leg = (MOB_CONTEXT_STEPS + MOB_SHARED_TICKS) * world.config.ticks_per_step + 1
    for kind, dx, dz, heading in (
        ("pig", -1.0, 4.0, 90.0),
        ("cow", 2.0, 5.5, 270.0),
        ("sheep", -3.0, 6.5, 270.0),
        ("zombie", 1.0, 3.0, 90.0),
    ):
        k = world.spawn_mob(kind, (a.cx + dx, y, a.cz + dz), heading)
        world.mobs[k, MMOVING], world.mobs[k, MTIMER] = 1.0, first_leg


# ------------------------------------------------------------------------------------ pose maps


def hold_height(future: np.ndarray, last: np.ndarray) -> np.ndarray:
    """The eye height held at the last context frame's: walks on air."""
    out = future.copy()
    out[:, 1] = last[1]
    return out


def never_down(future: np.ndarray, last: np.ndarray) -> np.ndarray:
    """The eye height at its running maximum: goes up, never comes down."""
    out = future.copy()
    out[:, 1] = np.maximum.accumulate(np.maximum(future[:, 1], last[1]))
    return out


def drift_yaw(future: np.ndarray, last: np.ndarray) -> np.ndarray:
    """The view turning right 1.5° per step without an action (a learned world's camera drift)."""
    out = future.copy()
    out[:, 3] = (last[3] + 1.5 * np.arange(1, len(future) + 1)) % 360.0
    return out


def turn_kept(future: np.ndarray, last: np.ndarray) -> np.ndarray:
    """The yaw at its running maximum from the last context yaw (a right turn first): not undone."""
    out = future.copy()
    d = (future[:, 3] - last[3] + 180.0) % 360.0 - 180.0
    out[:, 3] = (last[3] + np.maximum.accumulate(np.maximum(d, 0.0))) % 360.0
    return out


# ------------------------------------------------------------------------------------ catalogue


def _turn_away_and_back() -> list[dict[str, Any]]:
    """Turn right 120° in 6 steps, back in 6, then rest 2 steps."""
    return [*repeat(action(yaw=20), 6), *repeat(action(yaw=-20), 6), *repeat(action(), 2)]


def _block_cases() -> list[PhysicsCase]:
    """Cases where blocks fall, or must not."""
    return [
        PhysicsCase(
            "sand_falls",
            sand_column,
            repeat(action(), 3),
            [*repeat(action(attack=1), 3), *repeat(action(), 9)],
            "outcome",
            "attacking the planks block under a sand column breaks it (3 ticks); the sand then falls "
            "two cells, one cell every 2 ticks",
            (
                STATIC,
                Wrong(
                    "floats",
                    "the support breaks but the sand stays in the air",
                    _sand_floats,
                    after_event="break",
                ),
            ),
            region=("sand", "planks"),
        ),
        PhysicsCase(
            "gravel_falls",
            gravel_ledge,
            repeat(action(), 3),
            [action(use=1, hotbar=6), *repeat(action(), 11)],
            "outcome",
            "gravel placed with use against a floating block's face falls two cells to the floor",
            (
                STATIC,
                Wrong("floats", "the gravel stays where it was placed", _gravel_floats, after_event="place"),
            ),
            region=("gravel",),
        ),
        PhysicsCase(
            "non_gravity_stays",
            planks_column,
            repeat(action(), 3),
            [*repeat(action(attack=1), 2), *repeat(action(), 10)],
            "outcome",
            "breaking the dirt block under a planks column leaves the planks floating (only sand and "
            "gravel fall)",
            (STATIC, Wrong("falls", "the planks column drops like sand", _planks_fall, after_event="break")),
            region=("planks", "dirt"),
        ),
    ]


def _movement_cases() -> list[PhysicsCase]:
    """Cases where the player's body meets the world: walls, pillars, ledges, jumps."""
    return [
        PhysicsCase(
            "wall_blocks_motion",
            low_wall,
            repeat(action(forward=1), 3),
            repeat(action(forward=1), 12),
            "outcome",
            "walking into a 1-block wall the player touches does not move the player: the view stays",
            (
                Wrong(
                    "walks_over",
                    "the view advances as if the wall were not there",
                    sibling=open_field,
                ),
            ),
        ),
        PhysicsCase(
            "no_pass_through",
            pillar,
            repeat(action(), 2),
            repeat(action(forward=1), 20),
            "outcome",
            "walking at a pillar stops at it: the pillar fills the view and what is behind stays hidden",
            (
                STATIC,
                Wrong("passes_through", "the view goes into and through the pillar", sibling=pillar_field),
            ),
            region=("red_wool",),
        ),
        PhysicsCase(
            "ledge_fall",
            platform,
            repeat(action(), 2),
            repeat(action(forward=1), 20),
            "outcome",
            "walking off a 3-block ledge falls: the view drops 3 blocks and the floor comes up",
            (
                STATIC,
                Wrong("walks_on_air", "the view moves forward at the platform's height", poses=hold_height),
            ),
        ),
        PhysicsCase(
            "jump_lands",
            _markers,
            repeat(action(), 2),
            [action(jump=1), *repeat(action(), 15)],
            "outcome",
            "a jump rises about 1.25 blocks and lands back at the same height after about 12 ticks",
            (STATIC, Wrong("never_lands", "the view rises and stays up", poses=never_down)),
        ),
        PhysicsCase(
            "jump_onto_step",
            step,
            repeat(action(), 2),
            [action(forward=1, jump=1), *repeat(action(forward=1), 15)],
            "outcome",
            "jumping forward at a 1-block step lands on it: the view ends one block higher, moving on",
            (
                STATIC,
                Wrong(
                    "blocked",
                    "the view stays at floor level, stopped at the step (the walk without the jump)",
                    sibling=step,
                    sibling_actions=(repeat(action(), 2), repeat(action(forward=1), 16)),
                ),
            ),
        ),
    ]


def _view_cases() -> list[PhysicsCase]:
    """Cases of memory and stillness while the view turns or rests, and the mobs."""
    return [
        PhysicsCase(
            "placed_block_persists",
            placing_spot,
            [action(), action(use=1, hotbar=8), action()],
            _turn_away_and_back(),
            "outcome",
            "a red wool block placed in the context is still there after turning 120° away and back",
            (STATIC, Wrong("vanished", "the placed block is gone when the view comes back", edit=None)),
            region=("red_wool",),
        ),
        PhysicsCase(
            "broken_block_stays_broken",
            wool_wall,
            [action(), action(attack=1), action(attack=1), action()],
            _turn_away_and_back(),
            "outcome",
            "a wool block broken in the context is still missing after turning 120° away and back",
            (STATIC, Wrong("restored", "the broken block is back when the view comes back", edit=None)),
            region=("yellow_wool",),
        ),
        PhysicsCase(
            "noop_static",
            _markers,
            repeat(action(), 3),
            repeat(action(), 12),
            "static",
            "no-op actions in a scene without mobs change nothing: every frame equals the last context frame",
            (Wrong("drifts", "the view turns slowly (1.5° per step) without an action", poses=drift_yaw),),
        ),
        PhysicsCase(
            "rotate_restores",
            _markers,
            repeat(action(), 2),
            [*repeat(action(yaw=15), 6), *repeat(action(yaw=-15), 6)],
            "outcome",
            "turning right 90° then left 90° turns the view away and back to the starting view",
            (STATIC, Wrong("not_undone", "the view stays turned after the left turn", poses=turn_kept)),
        ),
        PhysicsCase(
            "mob_moves",
            mob_pen,
            repeat(action(), MOB_CONTEXT_STEPS),
            repeat(action(), 20),
            "physics_iq",
            "four mobs walk across the view (1 block/s), then wander at random (a new direction, or a "
            "rest): they keep moving plausibly and do not vanish",
            region=("mob",),
            stochastic=True,
        ),
    ]


def catalogue() -> dict[str, PhysicsCase]:
    """Every case, by name, in report order (fresh objects on every call)."""
    return {c.name: c for c in [*_block_cases(), *_movement_cases(), *_view_cases()]}


# ------------------------------------------------------------------------------- wrong outcomes


def require_voxel(env: ProbeEnv) -> None:
    """Refuse an env without the voxel world's scenario API (before any compute).

    Raises:
        ValueError: the env id is not registered, or not a voxel world.
    """
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    import envs  # noqa: F401  (registers the simworld ids)
    from envs.voxel.env import VoxelWorldEnv

    try:
        entry = gym.spec(env.id).entry_point
    except gym.error.Error as err:
        raise ValueError(f"the physics catalogue needs a voxel world env; {env.id!r}: {err}") from err
    creator = load_env_creator(entry) if isinstance(entry, str) else entry
    if not (isinstance(creator, type) and issubclass(creator, VoxelWorldEnv)):
        raise ValueError(
            f"the physics catalogue needs the voxel world's scenario API; {env.id} ({entry}) is not a "
            "voxel world"
        )


def render_wrong(
    env: ProbeEnv,
    world_seed: int,
    build: Build,
    edit: Build | None,
    poses: np.ndarray,
) -> np.ndarray:
    """Render a case's scene (then ``edit``) at given camera poses, without stepping the world.

    Args:
        env: the probe env (a voxel world: its config sets frame size, field of view, view distance).
        world_seed: the world.
        build: the case's scene (built in the arena exactly as the case's scenario does).
        edit: optional world edit after the scene.
        poses: float64 (N, 5) eye x, y, z, yaw, pitch.

    Returns:
        uint8 (N, H, W, 3) frames, as the env renders them.

    Raises:
        ValueError: the env is not a voxel world.
    """
    from envs.voxel import physics as P
    from envs.voxel.env import FrameRenderer

    require_voxel(env)
    gym_env = env.make()
    try:
        config = dataclasses.replace(gym_env.unwrapped.config)
    finally:
        gym_env.close()
    renderer = FrameRenderer(config, 1)
    world = renderer.new_world(0, int(world_seed))

    def scene(w: Any, a: Arena) -> None:
        build(w, a)
        if edit is not None:
            edit(w, a)

    in_arena(scene)(world)
    out = []
    for x, y, z, yaw, pitch in np.asarray(poses, np.float64):
        world.player[P.PX], world.player[P.PY], world.player[P.PZ] = x, y - P.EYE_HEIGHT, z
        world.player[P.YAW], world.player[P.PITCH] = yaw, pitch
        renderer.render([world], False)
        out.append(renderer.rgb[0].copy())
    return np.stack(out)
