"""The learned world behind Gymnasium: a world-model checkpoint as an ``Env`` and a native ``VectorEnv``.

``gymnasium.make("simworld/WorldModel-v0", checkpoint=...)`` and
``gymnasium.make_vec("simworld/WorldModel-v0", num_envs=N, checkpoint=...)`` after ``import envs``.
See docs/learned_env.md.
"""
