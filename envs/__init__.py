"""envs: Gymnasium environments for simworld.

Games the world model learns from: ``simworld/VoxelWorld-v0`` and its task variants (the built-in
Minecraft-style voxel world, ``envs.voxel``), ``simworld/Doom-v0`` and its scenario variants
(ViZDoom, ``envs.vizdoom``; optional extra ``vizdoom``), MineRL 0.4/1.0 through ``envs.minerl``
(``"envs.minerl:simworld/MineRL-v0"``; optional extra ``minerl``, tested only against a stand-in),
an example of bringing your own game (``envs.byo``, docs/byo_env.md), and
``simworld/WorldModel-v0``, a trained world-model checkpoint wrapped as an env (``envs.learned``). Each
environment follows the Gymnasium API exactly (spaces, ``reset(seed=...)``, autoreset for
vector envs) and is checked with ``gymnasium.utils.env_checker.check_env``.

Gymnasium 1.x does not auto-load plugins: users ``import envs`` (or use the ``"envs:<id>"``
form) before ``gymnasium.make``. Registration therefore happens at import, below.
"""

from .registration import register_envs

register_envs()
