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


def register_envs() -> None:
    """Register every simworld environment id (idempotent)."""
    register_learned_env()
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
