"""Spacetime patches, and NaViT-style packing of clips of different (T, h, w) into one sequence.

``patchify`` cuts latents (B, T, C, h, w) into p×p patches per frame, tokens in (t, y, x) order;
``unpatchify`` inverts it. ``pack_clips`` concatenates the tokens of several clips (each its own
length and resolution) into one sequence of batch 1 and records, per token, its frame, its clip
and its (t, y, x) position, so that ``PackedLayout`` masks attention block-diagonally by clip
(Dehghani et al. 2023, "Patch n' Pack: NaViT") and RoPE uses each clip's own coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from einops import rearrange

from simworld.models.rope import grid_positions


def patchify(latents: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut latents (B, T, C, h, w) into tokens (B, T * h/p * w/p, C * p * p)."""
    return rearrange(latents, "b t c (y p1) (x p2) -> b (t y x) (c p1 p2)", p1=patch_size, p2=patch_size)


def unpatchify(tokens: torch.Tensor, T: int, h: int, w: int, patch_size: int) -> torch.Tensor:
    """Invert ``patchify``: tokens (B, T*h*w, C*p*p) of a T×h×w patch grid to (B, T, C, h*p, w*p)."""
    return rearrange(
        tokens, "b (t y x) (c p1 p2) -> b t c (y p1) (x p2)", t=T, y=h, x=w, p1=patch_size, p2=patch_size
    )


@dataclass
class PackedClips:
    """Clips of different sizes packed into one token sequence.

    Attributes:
        tokens: (1, L, C * p * p) patch values of every clip, clip after clip.
        noise_levels: float (1, F) diffusion timestep of every frame (F = total frames).
        actions: float (1, F, A) flat action of every frame.
        action_mask: bool (1, F), False where a frame gets the null action.
        extra: (1, F, E) extra conditioning, or None.
        extra_mask: bool (1, F) or None.
        frame_ids: long (L,) frame of each token.
        clip_ids: long (L,) clip of each token.
        positions: float (L, 3) (t, y, x) of each token within its clip.
        grids: (T, h/p, w/p) of each clip.
        patch_size: p.
    """

    tokens: torch.Tensor
    noise_levels: torch.Tensor
    actions: torch.Tensor
    action_mask: torch.Tensor
    extra: torch.Tensor | None
    extra_mask: torch.Tensor | None
    frame_ids: torch.Tensor
    clip_ids: torch.Tensor
    positions: torch.Tensor
    grids: list[tuple[int, int, int]]
    patch_size: int


def _check_clip(i: int, clip: torch.Tensor, levels: torch.Tensor, actions: torch.Tensor, p: int) -> None:
    if clip.ndim != 4 or clip.shape[-2] % p or clip.shape[-1] % p:
        raise ValueError(
            f"clip {i}: expected latents (T, C, h, w) with h, w divisible by patch_size={p}, "
            f"got shape {tuple(clip.shape)}"
        )
    if levels.shape != clip.shape[:1] or actions.ndim != 2 or actions.shape[0] != clip.shape[0]:
        raise ValueError(
            f"clip {i}: expected noise_levels ({clip.shape[0]},) and actions ({clip.shape[0]}, A), "
            f"got {tuple(levels.shape)} and {tuple(actions.shape)}"
        )


def pack_clips(
    latents: Sequence[torch.Tensor],
    noise_levels: Sequence[torch.Tensor],
    actions: Sequence[torch.Tensor],
    patch_size: int,
    action_masks: Sequence[torch.Tensor] | None = None,
    extras: Sequence[torch.Tensor] | None = None,
) -> PackedClips:
    """Pack clips of different (T, h, w) into one sequence.

    Args:
        latents: per clip, (T_i, C, h_i, w_i) with h_i, w_i divisible by ``patch_size``.
        noise_levels: per clip, float (T_i,) diffusion timesteps.
        actions: per clip, (T_i, A) flat actions.
        patch_size: DiT patch size p.
        action_masks: per clip, bool (T_i,) (default all True).
        extras: per clip, (T_i, E) extra conditioning (default none).

    Returns:
        The packed clips.

    Raises:
        ValueError: no clips, mismatched lengths, or shapes that do not fit.
    """
    if not latents or not len(latents) == len(noise_levels) == len(actions):
        raise ValueError(
            f"need as many latents, noise_levels and actions (>= 1), got "
            f"{len(latents)}, {len(noise_levels)}, {len(actions)}"
        )
    tokens, frame_ids, clip_ids, positions, grids = [], [], [], [], []
    first_frame = 0
    for i, (clip, levels, acts) in enumerate(zip(latents, noise_levels, actions)):
        _check_clip(i, clip, levels, acts, patch_size)
        T, h, w = clip.shape[0], clip.shape[-2] // patch_size, clip.shape[-1] // patch_size
        tokens.append(patchify(clip[None], patch_size)[0])  # (T*h*w, C*p*p)
        frame_ids.append(
            torch.arange(first_frame, first_frame + T, device=clip.device).repeat_interleave(h * w)
        )
        clip_ids.append(torch.full((T * h * w,), i, device=clip.device, dtype=torch.long))
        positions.append(grid_positions(T, h, w, device=clip.device))
        grids.append((T, h, w))
        first_frame += T
    masks = action_masks or [torch.ones(len(c), dtype=torch.bool, device=c.device) for c in latents]
    return PackedClips(
        tokens=torch.cat(tokens)[None],
        noise_levels=torch.cat(list(noise_levels)).float()[None],
        actions=torch.cat(list(actions))[None],
        action_mask=torch.cat(list(masks))[None],
        extra=torch.cat(list(extras))[None] if extras is not None else None,
        extra_mask=None,
        frame_ids=torch.cat(frame_ids),
        clip_ids=torch.cat(clip_ids),
        positions=torch.cat(positions),
        grids=grids,
        patch_size=patch_size,
    )


def unpack(values: torch.Tensor, packed: PackedClips) -> list[torch.Tensor]:
    """Split per-token values (1, L, X) of a packed sequence into per-clip (T_i, h_i*w_i, X)."""
    sizes = [T * h * w for T, h, w in packed.grids]
    return [
        rearrange(part[0], "(t n) x -> t n x", t=T)
        for part, (T, _, _) in zip(values.split(sizes, dim=1), packed.grids)
    ]
