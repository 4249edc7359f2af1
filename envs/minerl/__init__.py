"""MineRL (0.4 and 1.0) behind Gymnasium in the canonical action schema (``envs.minerl.adapter``).

Importing this package registers ``simworld/MineRL-v0``; use the module-qualified id so that
``gymnasium.make`` imports it (also in ``simworld collect`` and live resets)::

    gymnasium.make("envs.minerl:simworld/MineRL-v0", minerl_id="MineRLTreechop-v0")   # real MineRL
    gymnasium.make("envs.minerl:simworld/MineRL-v0", minerl_id="MineRLTreechop-v0",
                   module="envs.minerl.standin:v04")                                 # the stand-in

Only the stand-in (``envs.minerl.standin``) has been run here; see docs/byo_env.md.
"""

from gymnasium.envs.registration import register, registry

from .adapter import MINERL_ID, MineRLEnv, explore_policy, load_module, make_minerl_env

__all__ = ["MINERL_ID", "MineRLEnv", "explore_policy", "load_module", "make_minerl_env"]

if MINERL_ID not in registry:
    register(id=MINERL_ID, entry_point="envs.minerl.adapter:MineRLEnv")
