"""Generation: autoregressive next-frame sampling (KV-cached or not) and per-frame-noise sampling.

``AutoregressiveSampler`` holds the context of B environments and samples one new latent frame
per call: only the newest frame is denoised (by a ``Sampler``), the context frames are fed at
``context_noise_level`` (noised once, when they enter the context, with the env's generator).
After sampling, the new frame is run once more at the context level; that pass appends its keys
and values to the KV cache and yields the features the reward/termination head reads. With a
causal model and the cache, a step costs the same at any time t (the window is bounded by
``max_context_frames``); without the cache the window is recomputed each denoising step.

Classifier-free guidance drops only the newest frame's action (the context keeps its actions, so
the cached context serves both branches): ``v = v_null + w (v_cond - v_null)``; w = 1 skips the
null branch. Training drops actions per frame to match (``training``).

``generate`` denoises any subset of frames with a per-frame noise-level schedule (diffusion
forcing; issue 12's interpolation, backward extension and SDEdit modes build on it), with DDIM
updates per frame since a diffusers scheduler takes one timestep per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from simworld.diffusion.reference import predict, previous_frames, uses_reference
from simworld.diffusion.samplers import Sampler, SamplerConfig
from simworld.diffusion.schedule import NoiseSchedule
from simworld.models.dit import DiT
from simworld.models.kv_cache import KVCache


def randn_per_env(
    shape: Sequence[int],
    generators: Sequence[torch.Generator] | None,
    device: torch.device | str,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Gaussian noise (B, *shape[1:]) with row i drawn from ``generators[i]`` (CPU generators).

    Drawing each env's noise from its own generator makes an env's frames independent of the
    other envs in the batch. ``generators=None`` uses the global RNG.
    """
    if generators is None:
        return torch.randn(tuple(shape)).to(device=device, dtype=dtype)
    if len(generators) != shape[0]:
        raise ValueError(f"need one generator per env: {shape[0]} envs, {len(generators)} generators")
    rows = [torch.randn(tuple(shape[1:]), generator=g) for g in generators]
    return torch.stack(rows).to(device=device, dtype=dtype)


def guide(v_cond: torch.Tensor, v_null: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: ``v_null + scale * (v_cond - v_null)``."""
    return v_null + scale * (v_cond - v_null)


@dataclass
class FrameResult:
    """One generated frame per env.

    Attributes:
        latent: float (B, C, h, w) clean latent.
        features: float (B, N, D) DiT features of the frame at the context level (head input).
    """

    latent: torch.Tensor
    features: torch.Tensor


class AutoregressiveSampler:
    """Next-frame generation for B environments; see the module docstring.

    Args:
        model: the DiT (eval mode).
        schedule: its noise schedule.
        sampler: sampler settings.
        max_context_frames: sliding window of context frames.
        use_kv_cache: cache context keys/values (default: when the model is causal).

    Raises:
        ValueError: a KV cache asked of a bidirectional model, or a window < 1.
    """

    def __init__(
        self,
        model: DiT,
        schedule: NoiseSchedule,
        sampler: SamplerConfig,
        max_context_frames: int,
        use_kv_cache: bool | None = None,
    ) -> None:
        if max_context_frames < 1:
            raise ValueError(f"max_context_frames must be >= 1, got {max_context_frames}")
        if use_kv_cache is None:
            use_kv_cache = model.config.causal
        if use_kv_cache and not model.config.causal:
            raise ValueError("a KV cache needs a causal model (temporal='causal')")
        self.model, self.schedule, self.config = model, schedule, sampler
        self.max_context_frames, self.use_kv_cache = max_context_frames, use_kv_cache
        self.sampler = Sampler(sampler.name, schedule)
        self.cache: KVCache | None = None
        self.window: dict[str, torch.Tensor] = {}
        self.extra: torch.Tensor | None = None

    def _context_input(self, latents: torch.Tensor, generators: Sequence[torch.Generator] | None) -> tuple:
        """Latents (B, T, ...) as fed to the model at the context level, and their levels (B, T)."""
        B, T = latents.shape[:2]
        level = self.config.context_noise_level
        levels = torch.full((B, T), float(level), device=latents.device)
        if level == 0:
            return latents, levels
        noise = randn_per_env(latents.shape, generators, latents.device, latents.dtype)
        return self.schedule.add_noise(latents, noise, levels), levels

    def _extra(self, T: int) -> torch.Tensor | None:
        return None if self.extra is None else self.extra[:, None].expand(-1, T, -1)

    @torch.no_grad()
    def reset(
        self,
        latents: torch.Tensor,
        actions: torch.Tensor,
        action_mask: torch.Tensor,
        generators: Sequence[torch.Generator] | None = None,
        extra: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Start from clean context latents (B, T, C, h, w) with per-frame actions (B, T, A) and mask (B, T).

        Args:
            latents: clean context latents; only the last ``max_context_frames`` are kept.
            actions: frame-aligned flat actions (frame f's action led to it).
            action_mask: bool, False where a frame has no action (the null action is used).
            generators: one CPU generator per env (None: global RNG).
            extra: (B, E) extra conditioning for the whole rollout, or None.

        Returns:
            DiT features (B, T', N, D) of the kept context frames.
        """
        keep = slice(-self.max_context_frames, None)
        latents, actions, action_mask = latents[:, keep], actions[:, keep], action_mask[:, keep]
        self.extra = extra
        fed, levels = self._context_input(latents, generators)
        reference = previous_frames(latents)  # the window's first frame has none (zeros)
        self.cache = KVCache(self.max_context_frames) if self.use_kv_cache else None
        out = predict(
            self.model,
            self.schedule,
            fed,
            levels,
            actions,
            action_mask,
            reference=reference,
            extra=self._extra(latents.shape[1]),
            cache=self.cache,
            write_cache=True,
        )
        self.window = {"latents": fed, "levels": levels, "actions": actions, "mask": action_mask}
        if uses_reference(self.model):  # kept only when used: the window is copied every step
            self.window.update(clean=latents, reference=reference)  # the newest clean latent: next reference
        return out.features

    def _run(self, x: torch.Tensor, t: float, actions: torch.Tensor, mask: torch.Tensor, write: bool):
        """Run the model on the newest frame x (B, 1, ...) at timestep t given the context."""
        B = x.shape[0]
        levels = torch.full((B, 1), t, device=x.device)
        w = self.window
        reference = w["clean"][:, -1:] if "clean" in w else None  # (B, 1, C, h, w): the previous frame
        if self.cache is not None:
            return predict(
                self.model,
                self.schedule,
                x,
                levels,
                actions,
                mask,
                reference=reference,
                extra=self._extra(1),
                cache=self.cache,
                write_cache=write,
            )
        out = predict(
            self.model,
            self.schedule,
            torch.cat([w["latents"], x], 1),
            torch.cat([w["levels"], levels], 1),
            torch.cat([w["actions"], actions], 1),
            torch.cat([w["mask"], mask], 1),
            reference=None if reference is None else torch.cat([w["reference"], reference], 1),
            extra=self._extra(w["latents"].shape[1] + 1),
        )
        return type(out)(out.prediction[:, -1:], out.features[:, -1:])

    def _velocity(self, x: torch.Tensor, t: float, actions: torch.Tensor) -> torch.Tensor:
        """Guided v prediction (B, 1, C, h, w) for the newest frame."""
        on = torch.ones(actions.shape[:2], dtype=torch.bool, device=x.device)
        v = self._run(x, t, actions, on, write=False).prediction
        if self.config.guidance_scale == 1.0:
            return v
        v_null = self._run(x, t, actions, ~on, write=False).prediction
        return guide(v, v_null, self.config.guidance_scale)

    @torch.no_grad()
    def next_frame(
        self, actions: torch.Tensor, generators: Sequence[torch.Generator] | None = None
    ) -> FrameResult:
        """Sample the next latent frame of every env given the actions (B, A) just taken.

        Raises:
            ValueError: called before ``reset``.
        """
        if not self.window:
            raise ValueError("call reset() before next_frame()")
        ctx = self.window["latents"]
        acts = actions[:, None].to(device=ctx.device, dtype=self.window["actions"].dtype)  # (B, 1, A)
        x = randn_per_env((ctx.shape[0], 1, *ctx.shape[2:]), generators, ctx.device, ctx.dtype)
        for i in range(self.sampler.start(self.config.num_inference_steps, ctx.device)):
            x_in, t = self.sampler.model_input(x, i)
            x = self.sampler.step(self._velocity(x_in, t, acts), i, x).to(ctx.dtype)
        fed, levels = self._context_input(x, generators)
        on = torch.ones(acts.shape[:2], dtype=torch.bool, device=x.device)
        out = self._run(fed, float(levels[0, 0]), acts, on, write=True)
        self._append(fed, levels, acts, on, x)
        return FrameResult(latent=x[:, 0], features=out.features[:, 0])

    def _append(
        self,
        fed: torch.Tensor,
        levels: torch.Tensor,
        actions: torch.Tensor,
        mask: torch.Tensor,
        clean: torch.Tensor,
    ) -> None:
        """Add the new frame (fed and ``clean`` latents) to the window, keeping ``max_context_frames``."""
        new = {"latents": fed, "levels": levels, "actions": actions, "mask": mask}
        if "clean" in self.window:  # a reference model: the new frame's reference is the last frame
            new.update(clean=clean, reference=self.window["clean"][:, -1:])
        self.window = {
            k: torch.cat([v, new[k]], 1)[:, -self.max_context_frames :] for k, v in self.window.items()
        }


def autoregressive_levels(
    num_context: int, num_steps: int, num_train_timesteps: int = 1000, context_level: float = 0.0
) -> torch.Tensor:
    """Per-frame schedule (S+1, T) that denoises only the last frame, with DDIM "trailing" timesteps.

    Context frames stay at ``context_level``; the last frame goes N-1 → ... → -1 (clean).
    """
    step = num_train_timesteps / num_steps
    last = [round(num_train_timesteps - i * step) - 1 for i in range(num_steps)] + [-1]
    levels = torch.full((num_steps + 1, num_context + 1), float(context_level))
    levels[:, -1] = torch.tensor(last, dtype=torch.float32)
    return levels


@torch.no_grad()
def generate(
    model: DiT,
    schedule: NoiseSchedule,
    latents: torch.Tensor,
    noise_levels: torch.Tensor,
    actions: torch.Tensor | None = None,
    action_mask: torch.Tensor | None = None,
    *,
    guidance_scale: float = 1.0,
    generators: Sequence[torch.Generator] | None = None,
    noise: torch.Tensor | None = None,
    extra: torch.Tensor | None = None,
) -> torch.Tensor:
    """Denoise a clip with a per-frame noise-level schedule (deterministic DDIM update per frame).

    At step s frame f goes from ``noise_levels[s, f]`` to ``noise_levels[s+1, f]`` by
    ``x ← α' x̂_0 + σ' ε̂`` with (x̂_0, ε̂) from the model's v; a frame whose level does not change
    is left as it is. Level -1 means clean: frames given at -1 throughout are conditioning frames
    and come back unchanged. Guidance drops the actions of the frames being denoised at a step.
    A previous-frame reference model (``DiTConfig.reference``) gets each frame's predecessor as
    its reference: the clean latent when that frame is clean at the step, else its x̂_0 from the
    previous step (zeros at the first).

    Args:
        model: the DiT.
        schedule: its noise schedule.
        latents: float (B, T, C, h, w) clean latents of the given frames (anything for the others).
        noise_levels: float (S+1, T) or (S+1, B, T) timesteps in [-1, N-1]; row 0 is the start.
        actions: float (B, T, A) frame-aligned actions, or None.
        action_mask: bool (B, T), or None (all True when actions are given).
        guidance_scale: classifier-free guidance scale; 1 = none.
        generators: one CPU generator per clip for the starting noise.
        noise: float (B, T, C, h, w) starting noise instead of drawing it.
        extra: (B, T, E) extra conditioning.

    Returns:
        float (B, T, C, h, w) latents at the last row's levels.
    """
    B, T = latents.shape[:2]
    levels = noise_levels.to(latents.device).float()
    levels = levels[:, None].expand(-1, B, -1) if levels.ndim == 2 else levels  # (S+1, B, T)
    if levels.shape[1:] != (B, T):
        raise ValueError(
            f"expected noise_levels (S+1, {T}) or (S+1, {B}, {T}), got {tuple(noise_levels.shape)}"
        )
    if action_mask is None and actions is not None:
        action_mask = torch.ones(B, T, dtype=torch.bool, device=latents.device)
    if noise is None:
        noise = randn_per_env(latents.shape, generators, latents.device, latents.dtype)
    x = schedule.add_noise(latents, noise, levels[0])  # (B, T, C, h, w)
    estimate = torch.zeros_like(x)  # x̂_0 of the frames not yet clean (reference models)
    for s in range(levels.shape[0] - 1):
        t, t_next = levels[s], levels[s + 1]  # (B, T)
        moving = t_next != t
        reference = None
        if uses_reference(model):  # a frame's reference is its predecessor: clean if it is, else its estimate
            reference = previous_frames(torch.where((t < 0).reshape(B, T, 1, 1, 1), x, estimate))
        run = dict(reference=reference, extra=extra)
        v = predict(model, schedule, x, t.clamp(min=0), actions, action_mask, **run).prediction
        if guidance_scale != 1.0 and actions is not None:
            v = guide(
                v,
                predict(model, schedule, x, t.clamp(min=0), actions, action_mask & ~moving, **run).prediction,
                guidance_scale,
            )
        x0, eps = schedule.x0_eps(x, v, t)
        estimate = x0
        stepped = schedule.add_noise(x0, eps, t_next)
        x = torch.where(moving.reshape(B, T, 1, 1, 1), stepped, x)
    return x
