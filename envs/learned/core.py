"""``BatchedWorld``: N learned envs stepped together on one KV cache; shared by ``Env`` and ``VectorEnv``.

Each step denoises the N newest latent frames in one batched pass per denoising step
(``AutoregressiveSampler``: context held at ``context_noise_level``, KV cache over a sliding
window of ``max_context_frames``), decodes them, and reads reward/termination from the learned
head. Every env draws its noise from its own CPU ``torch.Generator``.

Per-env resets. The KV cache (``simworld.models.kv_cache``) keeps one frame counter and one set
of slots for the whole batch. The first reset prefills every env's window in one batched pass.
Later resets of some envs prefill only those rows: each new context window (left-padded to the
batch's window length L with copies of its first frame under the null action, "nothing happened
before") runs through the DiT into a cache positioned at the batch's current frame
(``KVCache(first_frame=next_frame - L)``), so its keys land in the same slots with the same RoPE
positions, and ``KVCache.load_row`` drops them into the batch. The other envs' cached keys are
left exactly as they were: an env's frames do not depend on when the others reset. Cost: one DiT
forward over (reset envs) x L frames. A new context longer than L (possible while the batch's
window is still filling) falls back to re-prefilling the whole batch from its windows. A padded
env sees a slightly different context from the same env alone in a batch of one; same
checkpoint, seeds and actions still give the same frames.

Uncertainty (``uncertainty="two_sample"``): a second sample of the next frame from independent
noise (its own generator per env, seeded from the env's seed, so the main trajectory is the same
with or without it), with the same context and action; the score is the mean absolute
difference of the two decoded frames / 255, in [0, 1]. It measures how much the model's
prediction depends on the sampling noise (its aleatoric spread plus any instability), not the
error against the real game. It costs ``num_inference_steps`` more forward passes per step.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import torch

from simworld.diffusion.generate import randn_per_env
from simworld.diffusion.reference import predict, previous_frames, uses_reference
from simworld.models.kv_cache import KVCache
from simworld.world_model import WorldModel

from .contexts import Context

UNCERTAINTY_MODES = ("none", "two_sample")


class BatchedWorld:
    """N learned envs on one batched sampler; see the module docstring.

    Args:
        model: the loaded world model.
        num_envs: N.
        uncertainty: "none" or "two_sample".

    Raises:
        ValueError: bad ``num_envs`` or ``uncertainty``, or a latent space with temporal_factor > 1.
    """

    def __init__(self, model: WorldModel, num_envs: int, uncertainty: str = "none") -> None:
        if uncertainty not in UNCERTAINTY_MODES:
            raise ValueError(f"uncertainty must be one of {UNCERTAINTY_MODES}, got {uncertainty!r}")
        tf = model.latent_space.config.temporal_factor
        if tf != 1:
            raise ValueError(
                f"a learned env needs a latent space with temporal_factor == 1 (one latent frame per "
                f"env frame); this checkpoint's has temporal_factor={tf}"
            )
        self.model, self.num_envs, self.uncertainty = model, num_envs, uncertainty
        self.device = model.device
        self.dtype = next(model.dit.parameters()).dtype
        self.ar = model.autoregressive_sampler()
        self.generators = [torch.Generator() for _ in range(num_envs)]
        self.aux_generators = [torch.Generator() for _ in range(num_envs)]
        self.context_frames = np.zeros(num_envs, np.int64)  # real (unpadded) frames per env's window
        self.ready = False
        self.last_latency_s = 0.0

    @property
    def window(self) -> int:
        """Sliding window of context frames."""
        return self.model.max_context_frames

    def _encode(self, ctx: Context, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """One env's window: context latents noised at the context level, levels, actions, mask, and
        for a reference model the clean latents with each frame's reference
        (``simworld.diffusion.reference``)."""
        frames = torch.from_numpy(ctx.frames[-self.window :]).to(self.device)[None]  # (1, T, H, W, 3)
        T = frames.shape[1]
        clean = self.model.latent_space.encode(frames).to(self.device, self.dtype)  # (1, T, C, h, w)
        level = float(self.model.sampler.context_noise_level)
        levels = torch.full((1, T), level, device=self.device)
        latents = clean
        if level > 0:
            noise = randn_per_env(latents.shape, [gen], self.device, self.dtype)
            latents = self.model.schedule.add_noise(latents, noise, levels)
        # frame-aligned actions: frame f's action led to it; the first frame has none (null)
        actions = torch.zeros(1, T, ctx.actions.shape[-1], device=self.device, dtype=self.dtype)
        mask = torch.zeros(1, T, dtype=torch.bool, device=self.device)
        if T > 1:
            actions[0, 1:] = torch.from_numpy(ctx.actions[-(T - 1) :]).to(self.device, self.dtype)
            mask[0, 1:] = True
        row = {"latents": latents, "levels": levels, "actions": actions, "mask": mask}
        if uses_reference(self.model.dit):  # the keys the sampler's window has (AutoregressiveSampler.reset)
            row.update(clean=clean, reference=previous_frames(clean))
        return row

    @staticmethod
    def _pad(row: dict[str, torch.Tensor], L: int) -> dict[str, torch.Tensor]:
        """Left-pad a window row to L frames with copies of its first frame under the null action."""
        T = row["latents"].shape[1]
        if T == L:
            return row
        out = {}
        for key, value in row.items():
            first = value[:, :1].expand(-1, L - T, *value.shape[2:])
            if key == "mask":
                first = torch.zeros_like(first)
            out[key] = torch.cat([first, value], 1)
        return out

    @torch.no_grad()
    def reset_rows(
        self, contexts: dict[int, Context], seeds: dict[int, int | None], fresh_seed: Sequence[int]
    ) -> None:
        """Reset envs ``contexts.keys()``: prefill their rows, or the whole cache (see the module docstring).

        Args:
            contexts: env index -> its new context.
            seeds: env index -> seed of its generators (None: ``fresh_seed[i]``).
            fresh_seed: per env, a seed drawn from the env's RNG, used when ``seeds[i]`` is None.

        Raises:
            ValueError: the first reset does not cover every env.
        """
        if not self.ready and set(contexts) != set(range(self.num_envs)):
            raise ValueError(f"the first reset must reset all {self.num_envs} envs")
        new: dict[int, dict[str, torch.Tensor]] = {}
        for i in sorted(contexts):
            s = seeds.get(i)
            s = int(fresh_seed[i]) if s is None else int(s)
            self.generators[i].manual_seed(s)
            self.aux_generators[i].manual_seed((s + 0x9E3779B97F4A7C15) % 2**63)
            new[i] = self._encode(contexts[i], self.generators[i])
            self.context_frames[i] = new[i]["latents"].shape[1]
        cache = self.ar.cache
        L = self.ar.window["latents"].shape[1] if self.ready else 0
        if (
            self.ready
            and len(new) < self.num_envs  # a full reset starts a fresh cache at frame 0
            and cache is not None
            and cache.num_frames == L
            and all(r["latents"].shape[1] <= L for r in new.values())
        ):
            self._prefill_rows({i: self._pad(r, L) for i, r in new.items()})
        else:
            self._prefill_all(new)
        self.ready = True

    def _prefill_rows(self, rows: dict[int, dict[str, torch.Tensor]]) -> None:
        """Prefill only the reset rows at the batch's position and load them into its cache."""
        idx = sorted(rows)
        stacked = {k: torch.cat([rows[i][k] for i in idx]) for k in rows[idx[0]]}
        for k, value in stacked.items():
            self.ar.window[k][idx] = value
        L = stacked["latents"].shape[1]
        part = KVCache(self.window, first_frame=self.ar.cache.next_frame - L)
        predict(
            self.model.dit,
            self.model.schedule,
            stacked["latents"],
            stacked["levels"],
            stacked["actions"],
            stacked["mask"],
            reference=stacked.get("reference"),
            cache=part,
            write_cache=True,
        )
        for j, i in enumerate(idx):
            self.ar.cache.load_row(i, part, j)

    def _prefill_all(self, new: dict[int, dict[str, torch.Tensor]]) -> None:
        """Rebuild every row's window (new contexts for the reset rows) and prefill a fresh cache."""
        rows = [
            new[i] if i in new else {k: v[i : i + 1] for k, v in self.ar.window.items()}
            for i in range(self.num_envs)
        ]
        L = max(r["latents"].shape[1] for r in rows)
        rows = [self._pad(r, L) for r in rows]
        window = {k: torch.cat([r[k] for r in rows]) for k in rows[0]}
        self.ar.extra = None
        self.ar.window = window
        self.ar.cache = KVCache(self.window) if self.ar.use_kv_cache else None
        if self.ar.cache is not None:  # prefill the cache with every row's window
            predict(
                self.model.dit,
                self.model.schedule,
                window["latents"],
                window["levels"],
                window["actions"],
                window["mask"],
                reference=window.get("reference"),
                cache=self.ar.cache,
                write_cache=True,
            )

    @torch.no_grad()
    def _second_sample(self, actions: torch.Tensor) -> torch.Tensor:
        """Another clean latent (B, C, h, w) of the next frame from the auxiliary generators."""
        ar = self.ar
        ctx = ar.window["latents"]
        acts = actions[:, None].to(ctx.device, ar.window["actions"].dtype)
        x = randn_per_env((ctx.shape[0], 1, *ctx.shape[2:]), self.aux_generators, ctx.device, ctx.dtype)
        for i in range(ar.sampler.start(ar.config.num_inference_steps, ctx.device)):
            x_in, t = ar.sampler.model_input(x, i)
            x = ar.sampler.step(ar._velocity(x_in, t, acts), i, x).to(ctx.dtype)
        return x[:, 0]

    @torch.no_grad()
    def step(self, actions: torch.Tensor) -> dict[str, torch.Tensor]:
        """Generate every env's next frame.

        Args:
            actions: float (N, 21) flat canonical actions on any device.

        Returns:
            ``frames`` uint8 (N, H, W, 3), ``reward`` float32 (N,), ``termination_prob`` float32 (N,),
            ``uncertainty`` float32 (N,) (zeros with ``uncertainty="none"``), on the model's device.
        """
        start = time.perf_counter()
        actions = actions.to(self.device, self.dtype)
        other = self._second_sample(actions) if self.uncertainty == "two_sample" else None
        result = self.ar.next_frame(actions, self.generators)
        decode = self.model.latent_space.decode
        frames = decode(result.latent[:, None])[:, 0]  # (N, H, W, 3)
        head = self.model.head(result.features[:, None])
        if other is None:
            uncertainty = torch.zeros(self.num_envs, device=frames.device)
        else:
            diff = frames.float() - decode(other[:, None])[:, 0].float()  # (N, H, W, 3)
            uncertainty = diff.abs().mean(dim=(1, 2, 3)) / 255.0
        self.context_frames = np.minimum(self.context_frames + 1, self.window)
        if frames.is_cuda:
            torch.cuda.synchronize(frames.device)
        self.last_latency_s = time.perf_counter() - start
        return {
            "frames": frames,
            "reward": head.reward[:, 0].float(),
            "termination_prob": torch.sigmoid(head.termination_logit[:, 0]).float(),
            "uncertainty": uncertainty.float(),
        }


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_model(
    checkpoint: str,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "float32",
    use_kv_cache: bool = True,
    num_inference_steps: int | None = None,
    context_noise_level: int | None = None,
    guidance_scale: float | None = None,
    max_context_frames: int | None = None,
) -> WorldModel:
    """Load a checkpoint for an env and apply sampler overrides (None: the checkpoint's default).

    Raises:
        CheckpointError: missing, corrupt or incompatible checkpoint (names the file).
        ValueError: bad overrides (names the valid values).
    """
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {list(DTYPES)} or a torch.dtype, got {dtype!r}")
        dtype = DTYPES[dtype]
    model = WorldModel.load(checkpoint, device=device, dtype=dtype, use_kv_cache=use_kv_cache)
    overrides = {
        k: v
        for k, v in {
            "num_inference_steps": num_inference_steps,
            "context_noise_level": context_noise_level,
            "guidance_scale": guidance_scale,
        }.items()
        if v is not None
    }
    model.sampler = dataclasses.replace(model.sampler, **overrides)  # SamplerConfig validates
    if max_context_frames is not None:
        if int(max_context_frames) < 1:
            raise ValueError(f"max_context_frames must be >= 1, got {max_context_frames}")
        model.max_context_frames = int(max_context_frames)
    model.dit.eval()
    model.head.eval()
    return model
