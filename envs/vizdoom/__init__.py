"""ViZDoom behind the canonical action schema (optional extra ``vizdoom``).

``simworld/Doom-v0`` (my_way_home, a maze) and ``simworld/Doom<Scenario>-v0`` are registered by
``import envs`` without importing ViZDoom; making one needs ``pip install 'simworld[vizdoom]'``.
``envs.vizdoom.env.DoomEnv`` is the env, ``envs.vizdoom.policies`` the scripted exploration
policies for ``simworld collect`` (``policy=envs.vizdoom.policies:wander``).
"""
