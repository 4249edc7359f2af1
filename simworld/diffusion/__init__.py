"""Diffusion: the v-prediction noise schedule, diffusion-forcing training, samplers and generation.

- ``schedule``: ``NoiseSchedule`` (VP ``squaredcos_cap_v2``, 1000 steps, v-prediction);
- ``training``: ``diffusion_forcing_loss`` (per-frame noise levels, context noise, CFG dropout);
- ``samplers``: ``Sampler`` around diffusers' DDIM, DPM-Solver++ and flow-Euler schedulers;
- ``generate``: ``AutoregressiveSampler`` (KV-cached next-frame generation) and ``generate``
  (per-frame noise-level schedules).
"""
