"""Gymnasium ids of the environments in this package.

Gymnasium 1.x no longer auto-loads plugins: ``import envs`` (done by ``import simworld`` users
through ``envs``) registers these ids, or use the module-qualified form
``gymnasium.make("envs:simworld/VoxelWorld-v0")``.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

_VOXEL = "envs.voxel.env:VoxelWorldEnv"
_VOXEL_VEC = "envs.voxel.vector:VoxelWorldVectorEnv"

#: id -> (kwargs, max_episode_steps)
VOXEL_IDS: dict[str, tuple[dict, int]] = {
    "simworld/VoxelWorld-v0": ({"task": "free"}, 1000),
    "simworld/VoxelNavigate-v0": ({"task": "navigate"}, 600),
    "simworld/VoxelCollectLog-v0": ({"task": "collect", "task_kwargs": {"block": "log", "count": 4}}, 1000),
    "simworld/VoxelCollectDirt-v0": ({"task": "collect", "task_kwargs": {"block": "dirt", "count": 8}}, 1000),
}


_DOOM = "envs.vizdoom.env:DoomEnv"

#: id -> DoomEnv kwargs; ViZDoom is imported only when one is made (optional extra ``vizdoom``).
#: Episodes end at the scenario's own timeout.
DOOM_IDS: dict[str, dict] = {
    "simworld/Doom-v0": {"scenario": "my_way_home"},
    "simworld/DoomMyWayHome-v0": {"scenario": "my_way_home"},
    "simworld/DoomBasic-v0": {"scenario": "basic"},
    "simworld/DoomDeathmatch-v0": {"scenario": "deathmatch"},
    "simworld/DoomHealthGathering-v0": {"scenario": "health_gathering"},
}


def register_envs() -> None:
    """Register every simworld environment id (idempotent)."""
    register_learned_env()
    for env_id, kwargs in DOOM_IDS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=_DOOM, kwargs=kwargs)
    for env_id, (kwargs, max_steps) in VOXEL_IDS.items():
        if env_id in registry:
            continue
        register(
            id=env_id,
            entry_point=_VOXEL,
            vector_entry_point=_VOXEL_VEC,
            kwargs=kwargs,
            max_episode_steps=max_steps,
        )


_LEARNED = "envs.learned.env:WorldModelEnv"
_LEARNED_VEC = "envs.learned.vector:WorldModelVectorEnv"

#: The learned world: ``gymnasium.make(LEARNED_ID, checkpoint=...)`` (no default episode limit:
#: pass ``max_episode_steps``).
LEARNED_ID = "simworld/WorldModel-v0"


def register_learned_env() -> None:
    """Register ``simworld/WorldModel-v0`` (idempotent)."""
    if LEARNED_ID not in registry:
        register(id=LEARNED_ID, entry_point=_LEARNED, vector_entry_point=_LEARNED_VEC)
