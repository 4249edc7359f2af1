"""Breaking and placing blocks, the hotbar, drops, and falling sand and gravel."""

from __future__ import annotations

import numpy as np
import pytest

from envs.voxel import physics as P
from envs.voxel.blocks import BLOCK_IDS
from envs.voxel.render import camera_basis
from envs.voxel.world import BREAK_TICKS, HOTBAR


def _pixel(info, point):
    """(row, col) of a world point in the frame, from the info's pose and intrinsics."""
    pose, K = info["pose"], info["intrinsics"]
    cam = camera_basis(pose[3], pose[4]).T @ (np.asarray(point, float) - pose[:3])
    u, v, w = K @ cam
    assert w > 0
    return int(v / w), int(u / w)


def _aim(env, act, cell, face_point=None):
    """Point the crosshair at a cell (its centre, or a point on one of its faces); one no-op step."""
    point = np.asarray(cell, float) + 0.5 if face_point is None else face_point
    yaw, pitch = env.world.look_at(point)
    env.world.set_pose(yaw=yaw, pitch=pitch)
    return env.step(act())


def _hold(env, act, steps, **keys):
    """Hold keys for a number of steps; returns every step's events, flattened."""
    events = []
    for _ in range(steps):
        events += env.step(act(**keys))[4]["events"]
    return events


def test_placed_block_persists_when_looked_away_and_back(flat_env, act):
    env, _, _ = flat_env()
    env.world.set_pose(pitch=50.0)
    obs_before = env.step(act(hotbar=8))[0]  # slot 8: red wool
    target = env.world.target()
    assert target is not None and target[1] == (0, 1, 0)  # the floor's top face
    cell = tuple(np.add(target[0], target[1]))
    obs, _, _, _, info = env.step(act(use=1))
    assert [(e.kind, e.cell, e.new) for e in info["events"]] == [("place", cell, "red_wool")]
    assert env.world.blocks[cell] == BLOCK_IDS["red_wool"]
    pixel = _pixel(info, np.add(cell, (0.5, 1.0, 0.5)))  # centre of its top face
    assert info["segmentation"][pixel] == BLOCK_IDS["red_wool"]
    assert (obs != obs_before).any(axis=-1).sum() > 20  # the new block is visible
    placed_obs, placed_seg = obs.copy(), info["segmentation"].copy()
    # turn 180° in 12 steps: the block is out of view; then turn back
    for _ in range(12):
        away_obs, _, _, _, away = env.step(act(camera=(0.0, 15.0)))
    assert not (away["segmentation"] == BLOCK_IDS["red_wool"]).any()
    assert (away_obs != placed_obs).any()
    for _ in range(12):
        obs, _, _, _, info = env.step(act(camera=(0.0, -15.0)))
    assert env.world.blocks[cell] == BLOCK_IDS["red_wool"]
    assert info["segmentation"][pixel] == BLOCK_IDS["red_wool"]
    np.testing.assert_array_equal(info["segmentation"], placed_seg)
    np.testing.assert_array_equal(obs, placed_obs)


@pytest.mark.parametrize("slot", range(1, 10))
def test_hotbar_slot_selects_the_placed_block(flat_env, act, slot):
    env, _, _ = flat_env()
    env.world.set_pose(pitch=50.0)
    env.step(act(hotbar=slot))
    target = env.world.target()
    cell = tuple(np.add(target[0], target[1]))
    env.step(act(use=1))
    assert env.world.blocks[cell] == BLOCK_IDS[HOTBAR[slot - 1]]


def test_hotbar_zero_keeps_the_slot(flat_env, act):
    env, _, _ = flat_env()
    env.step(act(hotbar=4))
    env.step(act(hotbar=0))
    env.world.set_pose(pitch=50.0)
    target = env.world.target()
    env.step(act(use=1))
    assert env.world.blocks[tuple(np.add(target[0], target[1]))] == BLOCK_IDS["glass"]


def test_placing_inside_the_player_is_refused(flat_env, act):
    env, _, _ = flat_env()
    env.world.set_pose(pitch=90.0)  # straight down: the place cell is where the feet are
    target = env.world.target()
    assert target == ((24, 10, 24), (0, 1, 0))
    blocks = env.world.blocks.copy()
    events = _hold(env, act, 8, use=1)
    assert events == [] and np.array_equal(env.world.blocks, blocks)
    assert env.world.player[P.PY] == 11.0


def test_placing_inside_a_mob_is_refused(flat_env, act):
    env, _, _ = flat_env(lambda w: w.spawn_mob("cow", (24.5, 11.0, 26.5), wander=False))
    _aim(env, act, (24, 10, 26), face_point=(24.5, 11.0, 26.3))
    assert env.world.target() == ((24, 10, 26), (0, 1, 0))
    assert _hold(env, act, 8, use=1) == []


def test_use_places_on_the_targeted_face_with_a_cooldown(flat_env, act):
    """Holding use against a wall builds towards the player, one block per 4 ticks."""
    env, _, _ = flat_env(lambda w: w.fill((20, 11, 28), (28, 13, 28), "stone"))
    _aim(env, act, (24, 12, 28), face_point=(24.5, 12.5, 28.0))
    events = _hold(env, act, 9, use=1, hotbar=2)
    placed = [e.cell for e in events if e.kind == "place"]
    assert placed == [(24, 12, 27), (24, 12, 26), (24, 12, 25)]  # ticks 0, 4, 8
    assert [e.tick for e in events] == [events[0].tick, events[0].tick + 4, events[0].tick + 8]


def test_attack_breaks_after_the_blocks_break_time(flat_env, act):
    env, _, _ = flat_env(lambda w: w.set_block(24, 12, 26, "stone"))
    _aim(env, act, (24, 12, 26))
    need = BREAK_TICKS["stone"]
    assert _hold(env, act, need - 1, attack=1) == []
    assert env.world.blocks[24, 12, 26] == BLOCK_IDS["stone"]
    events = _hold(env, act, 1, attack=1)
    assert [(e.kind, e.cell, e.old, e.new) for e in events] == [("break", (24, 12, 26), "stone", "air")]
    assert env.world.inventory[BLOCK_IDS["stone"]] == 1


def test_releasing_attack_resets_the_break_progress(flat_env, act):
    env, _, _ = flat_env(lambda w: w.set_block(24, 12, 26, "stone"))
    _aim(env, act, (24, 12, 26))
    for _ in range(3):
        _hold(env, act, BREAK_TICKS["stone"] - 1, attack=1)
        env.step(act())
    assert env.world.blocks[24, 12, 26] == BLOCK_IDS["stone"]


def test_bedrock_cannot_be_broken(flat_env, act):
    env, _, _ = flat_env(lambda w: w.set_block(24, 12, 26, "bedrock"))
    _aim(env, act, (24, 12, 26))
    assert env.world.target()[0] == (24, 12, 26)
    assert _hold(env, act, 40, attack=1) == []
    assert env.world.blocks[24, 12, 26] == BLOCK_IDS["bedrock"]
    assert not env.world.inventory.any()


@pytest.mark.parametrize("block,drop", [("grass", "dirt"), ("log", "log"), ("glass", None), ("leaves", None)])
def test_drops_go_to_the_inventory(flat_env, act, block, drop):
    env, _, _ = flat_env(lambda w: w.set_block(24, 12, 26, block))
    _aim(env, act, (24, 12, 26))
    events = _hold(env, act, 6, attack=1)
    assert [e.kind for e in events] == ["break"]
    inventory = env.step(act())[4]["inventory"]
    expected = np.zeros_like(inventory)
    if drop is not None:
        expected[BLOCK_IDS[drop]] = 1
    np.testing.assert_array_equal(inventory, expected)


def test_blocks_out_of_reach_are_not_targeted(flat_env, act):
    env, _, _ = flat_env(lambda w: w.fill((20, 11, 30), (28, 14, 30), "stone"))
    assert env.world.target() is None  # the wall is 5.5 blocks away, reach is 4.5
    assert _hold(env, act, 10, attack=1) == []
    for _ in range(15):
        env.step(act(forward=1))
        if env.world.target() is not None:
            break
    hit, *_, distance = P.raycast(env.world.blocks, *env.world.eye(), *P.view_direction(0.0, 0.0), 10.0)
    assert env.world.target() is not None and distance <= P.REACH


@pytest.mark.parametrize("block", ["sand", "gravel"])
def test_gravity_block_falls_when_its_support_is_broken(flat_env, act, block):
    """A two-high column of sand (gravel) on a dirt block: break the dirt, the column drops by one."""

    def scene(world):
        world.set_block(24, 11, 26, "dirt")
        world.set_block(24, 12, 26, block)
        world.set_block(24, 13, 26, block)

    env, _, _ = flat_env(scene)
    blocks = env.world.blocks
    assert blocks[24, 12, 26] == blocks[24, 13, 26] == BLOCK_IDS[block]  # supported: did not fall
    _aim(env, act, (24, 11, 26), face_point=(24.5, 11.5, 26.0))
    assert env.world.target()[0] == (24, 11, 26)
    events = []
    for _ in range(10):
        events += env.step(act(attack=1))[4]["events"]
        if events:
            break
    assert (events[0].kind, events[0].cell) == ("break", (24, 11, 26))
    for _ in range(8):  # stop attacking (the sand will land in the crosshair); let it fall
        events += env.step(act())[4]["events"]
    assert blocks[24, 11, 26] == blocks[24, 12, 26] == BLOCK_IDS[block]
    assert blocks[24, 13, 26] == 0
    moves = [(e.kind, e.cell) for e in events[1:]]
    assert moves == [
        ("fall", (24, 12, 26)),
        ("land", (24, 11, 26)),
        ("fall", (24, 13, 26)),
        ("land", (24, 12, 26)),
    ]
    assert all(e.old == block and e.new == "air" for e in events[1:] if e.kind == "fall")


def test_sand_falls_all_the_way_down_a_shaft(flat_env, act):
    def scene(world):
        world.fill((30, 5, 30), (30, 10, 30), "air")  # a 6-deep hole in the floor
        world.set_block(30, 14, 30, "sand")  # floating sand: falls as soon as it is set

    env, _, _ = flat_env(scene)
    for _ in range(40):
        env.step(act())
    column = env.world.blocks[30, :, 30]
    assert column[5] == BLOCK_IDS["sand"] and not column[6:].any()
    assert column[4] == BLOCK_IDS["stone"]


def test_sand_does_not_fall_through_the_player(flat_env, act):
    def scene(world):
        world.set_block(24, 13, 24, "sand")  # just above the player's head (feet 11, head 12.8)

    env, _, _ = flat_env(scene)
    for _ in range(10):
        env.step(act())
    assert env.world.blocks[24, 13, 24] == BLOCK_IDS["sand"]
    for _ in range(10):  # step out from under it: it falls
        env.step(act(back=1))
    for _ in range(10):
        env.step(act())
    assert env.world.blocks[24, 13, 24] == 0 and env.world.blocks[24, 11, 24] == BLOCK_IDS["sand"]


def test_broken_blocks_persist(flat_env, act):
    env, _, _ = flat_env(lambda w: w.set_block(24, 12, 26, "planks"))
    _aim(env, act, (24, 12, 26))
    _hold(env, act, 5, attack=1)
    assert env.world.blocks[24, 12, 26] == 0
    for _ in range(24):
        env.step(act(camera=(0.0, 15.0)))
    assert env.world.blocks[24, 12, 26] == 0
