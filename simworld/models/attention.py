"""Attention over spacetime tokens: token layouts (grid or packed) and the attention layer.

A layout says how the token sequence x (B, L, D) maps to frames, and implements the three kinds
of attention a DiT block uses:

- ``"spatial"``: tokens attend within their own frame;
- ``"temporal"``: tokens attend to the tokens at the same (y, x) in other frames of their clip;
- ``"full"``: tokens attend to every token of their clip (spacetime attention).

With ``causal=True`` temporal and full attention only see frames at the same or an earlier time
(frame-causal block mask); otherwise they are bidirectional.

``GridLayout(teacher_forcing=True)`` lays out a clip twice, as in teacher-forced training of
autoregressive video diffusion (CausVid, Yin et al. 2025; MAGI-1): the first half holds the
context copies of frames 0..T-1 (nearly clean), the second half their noisy copies at the same
time positions. A context copy sees the context copies up to its own time; a noisy copy sees the
context copies strictly before it and itself. Every noisy frame is then denoised exactly as in
autoregressive sampling (clean past, noisy present) in one pass.

``GridLayout`` covers B clips of one size in frame-major order and reshapes tokens into groups
(cheap); it can also attend over cached context frames (``KVCache``). ``PackedLayout`` covers clips of
different sizes packed into one sequence (NaViT, Dehghani et al. 2023) and uses boolean masks
that keep the clips apart.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.normalization import RMSNorm
from einops import rearrange
from torch import nn

from simworld.models.kv_cache import KVCache
from simworld.models.rope import apply_rope, grid_positions, rope_angles

ATTENTION_KINDS = ("spatial", "temporal", "full")


def _sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None, causal: bool = False
) -> torch.Tensor:
    """SDPA on (G, H, Lq, hd) / (G, H, Lk, hd); ``mask`` bool (Lq, Lk), True = may attend."""
    return F.scaled_dot_product_attention(q, k.to(q.dtype), v.to(q.dtype), attn_mask=mask, is_causal=causal)


def teacher_forcing_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Frame mask (2T, 2T) of a teacher-forced clip: T context copies, then T noisy copies.

    Context copy i sees context copies j <= i; noisy copy i sees context copies j < i and itself.
    True = may attend.
    """
    i = torch.arange(T, device=device)
    past_or_now = i[None, :] <= i[:, None]  # (T, T)
    top = torch.cat([past_or_now, torch.zeros_like(past_or_now)], dim=1)  # context rows
    bottom = torch.cat([i[None, :] < i[:, None], torch.eye(T, dtype=torch.bool, device=device)], dim=1)
    return torch.cat([top, bottom], dim=0)  # (2T, 2T)


class GridLayout:
    """B clips of T frames of h×w patches each, tokens in (t, y, x) order, optionally after cached frames.

    Without a cache, frames sit at time positions 0..T-1. With a ``KVCache`` they sit at the
    cache's absolute frame indices and attend to the cached frames too (see ``kv_cache``). With
    ``teacher_forcing`` the T frames are a clip's T/2 context copies then its T/2 noisy copies
    (module docstring).

    Args:
        T: new frames in the sequence.
        h: patch rows per frame.
        w: patch columns per frame.
        causal: frame-causal temporal/full attention.
        head_dim: attention head dimension (for RoPE).
        theta: RoPE base.
        device: device of the tokens.
        cache: KV cache of earlier frames (None: none).
        write_cache: append these frames to ``cache``.
        teacher_forcing: the T frames are T/2 context copies then T/2 noisy copies (needs
            ``causal``, an even T and no cache).

    Raises:
        ValueError: ``teacher_forcing`` with a bidirectional layout, an odd T or a cache.
    """

    def __init__(
        self,
        T: int,
        h: int,
        w: int,
        causal: bool,
        head_dim: int,
        theta: float,
        device: torch.device,
        cache: KVCache | None = None,
        write_cache: bool = False,
        teacher_forcing: bool = False,
    ) -> None:
        self.T, self.h, self.w, self.N = T, h, w, h * w
        self.causal, self.cache = causal, cache
        self.time_mask: torch.Tensor | None = None  # bool (T, T), True = may attend; None: default
        if teacher_forcing:
            if not causal or T % 2 or cache is not None:
                raise ValueError(
                    "teacher forcing needs a causal model, an even number of frames (context "
                    f"copies + noisy copies) and no KV cache; got causal={causal}, T={T}, "
                    f"cache={'yes' if cache is not None else 'none'}"
                )
            self.time_mask = teacher_forcing_mask(T // 2, device)
            positions = grid_positions(T // 2, h, w, device=device).repeat(2, 1)  # (T*N, 3)
            self.cos, self.sin = rope_angles(positions, head_dim, theta)
            return
        t0 = 0
        if cache is not None:
            self.query_frames, self.key_frames = cache.begin(T, write_cache)
            t0 = int(self.query_frames[0])
        self.cos, self.sin = rope_angles(grid_positions(T, h, w, t0, device=device), head_dim, theta)

    def finish(self, commit: bool = True) -> None:
        """End the pass: a writing pass appends its frames to the cache unless ``commit`` is False."""
        if self.cache is not None:
            self.cache.end(commit)

    def modulate(self, x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """adaLN: ``x * (1 + scale) + shift`` with per-frame shift/scale (B, T, D) on x (B, L, D)."""
        x = rearrange(x, "b (t n) d -> b t n d", t=self.T)  # (B, T, N, D)
        x = x * (1 + scale[:, :, None]) + shift[:, :, None]  # (B, T, N, D)
        return rearrange(x, "b t n d -> b (t n) d")

    def gate(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """Scale x (B, L, D) by the per-frame gate (B, T, D)."""
        x = rearrange(x, "b (t n) d -> b t n d", t=self.T)  # (B, T, N, D)
        return rearrange(x * gate[:, :, None], "b t n d -> b (t n) d")

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kind: str, layer: int
    ) -> torch.Tensor:
        """Attention of q, k, v (B, L, H, hd) before RoPE; returns (B, L, H, hd)."""
        q = apply_rope(q, self.cos, self.sin).to(v.dtype)  # (B, L, H, hd)
        k = apply_rope(k, self.cos, self.sin).to(v.dtype)  # (B, L, H, hd)
        if kind == "spatial":
            groups = [rearrange(z, "b (t n) h d -> (b t) h n d", t=self.T) for z in (q, k, v)]
            out = _sdpa(*groups)  # (B*T, H, N, hd)
            return rearrange(out, "(b t) h n d -> b (t n) h d", t=self.T)
        if self.cache is not None:
            return self._attend_cached(q, k, v, kind, layer)
        if kind == "temporal":
            groups = [rearrange(z, "b (t n) h d -> (b n) h t d", t=self.T) for z in (q, k, v)]
            if self.time_mask is not None:
                out = _sdpa(*groups, mask=self.time_mask)  # (B*N, H, T, hd)
            else:
                out = _sdpa(*groups, causal=self.causal)  # (B*N, H, T, hd)
            return rearrange(out, "(b n) h t d -> b (t n) h d", n=self.N)
        if self.time_mask is not None:
            mask = self.time_mask.repeat_interleave(self.N, 0).repeat_interleave(self.N, 1)  # (T*N, T*N)
        else:
            frames = torch.arange(self.T, device=q.device).repeat_interleave(self.N)  # (T*N,)
            mask = frames[None, :] <= frames[:, None] if self.causal and self.T > 1 else None
        out = _sdpa(*(rearrange(z, "b l h d -> b h l d") for z in (q, k, v)), mask=mask)  # (B, H, L, hd)
        return rearrange(out, "b h l d -> b l h d")

    def _attend_cached(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kind: str, layer: int
    ) -> torch.Tensor:
        """Temporal/full attention of the new frames over the cached frames and themselves."""
        k, v = (rearrange(z, "b (t n) h d -> b t n h d", t=self.T) for z in (k, v))  # (B, T, N, H, hd)
        keys, values = self.cache.attend_buffers(layer, kind, k, v)  # views of the valid slots
        mask = None  # one new frame is the latest: it may see every slot
        if self.T > 1:  # filling an empty cache: causal by absolute frame index, never an empty slot
            kf = self.key_frames[None, :]
            mask = ((kf >= 0) & (kf <= self.query_frames[:, None])).to(q.device)  # (T, S')
        if kind == "temporal":
            qg = rearrange(q, "b (t n) h d -> (b n) h t d", t=self.T)  # (B*N, H, T, hd)
            out = _sdpa(qg, keys.flatten(0, 1), values.flatten(0, 1), mask)  # (B*N, H, T, hd)
            return rearrange(out, "(b n) h t d -> b (t n) h d", n=self.N)
        if mask is not None:
            mask = mask.repeat_interleave(self.N, 0).repeat_interleave(self.N, 1)  # (T*N, S'*N)
        qg = rearrange(q, "b l h d -> b h l d")  # (B, H, T*N, hd)
        out = _sdpa(qg, keys.flatten(2, 3), values.flatten(2, 3), mask)  # (B, H, T*N, hd)
        return rearrange(out, "b h l d -> b l h d")


class PackedLayout:
    """Clips of different (T, h, w) packed into one sequence (batch 1) with block-diagonal masks.

    Args:
        frame_ids: long (L,), index of each token's frame among all packed frames.
        clip_ids: long (L,), index of each token's clip.
        positions: float (L, 3), (t, y, x) of each token within its clip.
        causal: frame-causal temporal/full attention within each clip.
        head_dim: attention head dimension.
        theta: RoPE base.
    """

    def __init__(
        self,
        frame_ids: torch.Tensor,
        clip_ids: torch.Tensor,
        positions: torch.Tensor,
        causal: bool,
        head_dim: int,
        theta: float,
    ) -> None:
        self.frame_ids = frame_ids
        self.cos, self.sin = rope_angles(positions, head_dim, theta)
        same_clip = clip_ids[:, None] == clip_ids[None, :]  # (L, L)
        t = positions[:, 0]
        in_time = t[None, :] <= t[:, None] if causal else torch.ones_like(same_clip)
        same_place = (positions[:, None, 1:] == positions[None, :, 1:]).all(-1)  # (L, L)
        self.masks = {
            "spatial": frame_ids[:, None] == frame_ids[None, :],
            "temporal": same_clip & same_place & in_time,
            "full": same_clip & in_time,
        }

    def finish(self, commit: bool = True) -> None:
        """End the pass (nothing to do without a cache)."""

    def modulate(self, x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """adaLN with per-frame shift/scale (1, F, D) gathered per token onto x (1, L, D)."""
        return x * (1 + scale[:, self.frame_ids]) + shift[:, self.frame_ids]

    def gate(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """Scale x (1, L, D) by the per-frame gate (1, F, D) gathered per token."""
        return x * gate[:, self.frame_ids]

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kind: str, layer: int
    ) -> torch.Tensor:
        """Masked attention of q, k, v (1, L, H, hd); returns (1, L, H, hd)."""
        q = apply_rope(q, self.cos, self.sin).to(v.dtype)
        k = apply_rope(k, self.cos, self.sin)
        q, k, v = (rearrange(z, "b l h d -> b h l d") for z in (q, k, v))  # (1, H, L, hd)
        return rearrange(_sdpa(q, k, v, mask=self.masks[kind]), "b h l d -> b l h d")


Layout = GridLayout | PackedLayout


class Attention(nn.Module):
    """Multi-head self-attention with RMS-normalised queries/keys and 3D RoPE.

    Args:
        dim: model width.
        num_heads: attention heads (``dim`` divisible by it).
        kind: "spatial", "temporal" or "full".
        layer: index of this layer in the KV cache.
        qk_norm: RMSNorm on queries and keys per head (stabilises attention logits; SD3, ViT-22B).
    """

    def __init__(self, dim: int, num_heads: int, kind: str, layer: int, qk_norm: bool = True) -> None:
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"kind must be one of {ATTENTION_KINDS}, got {kind!r}")
        self.kind, self.layer, self.num_heads = kind, layer, num_heads
        head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = RMSNorm(head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, layout: Layout) -> torch.Tensor:
        """Attend over x (B, L, D) as ``layout`` says; returns (B, L, D)."""
        qkv = rearrange(self.qkv(x), "b l (three h d) -> three b l h d", three=3, h=self.num_heads)
        q, k, v = qkv.unbind(0)  # (B, L, H, hd) each
        q, k = self.q_norm(q), self.k_norm(k)  # (B, L, H, hd)
        out = layout.attend(q, k, v, self.kind, self.layer)  # (B, L, H, hd)
        return self.proj(rearrange(out, "b l h d -> b l (h d)"))
