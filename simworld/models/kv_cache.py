"""Key/value cache of context frames for autoregressive generation with a causal DiT.

Every attention layer that looks across frames (temporal or full spacetime attention) keeps the
keys and values of the last ``max_frames`` frames in a ring buffer of ``max_frames + 1`` frame
slots, laid out the way SDPA reads them (temporal: (B, N, H, S, hd); full: (B, H, S, N, hd)), so
a denoising step copies nothing but the new frame: it writes its keys/values into the free
slot and attends over the valid slots as a view. Frame a lives in slot a mod S. Keys are stored
already rotated by RoPE at their absolute time position (angles in float64): attention scores
depend only on position differences, so slot order does not matter and a step at t = 10,000
costs the same as at t = 10. Memory and compute per step are bounded by the window.

Rules: a pass that does not write (a denoising step) takes one new frame; a pass that writes
either appends one frame or fills an empty cache with up to ``max_frames`` frames (the reset).

Once the window is full, the oldest cached frames carry keys computed while they could still see
frames that have since left the window; recomputing the window from scratch cannot. Cached and
uncached generation therefore agree only while the window has not been exceeded.
"""

from __future__ import annotations

import torch
from einops import rearrange

_LAYOUTS = {"temporal": "b t n h d -> b n h t d", "full": "b t n h d -> b h t n d"}
_TIME_DIM = {"temporal": 3, "full": 2}


class KVCache:
    """Ring-buffer cache of per-layer keys and values over a sliding window of frames.

    Args:
        max_frames: most context frames held (the sliding window).
        first_frame: absolute index of the first frame the empty cache will hold (0 for a new
            sequence). A row prefilled at another batch's current position (``first_frame =
            next_frame - L`` of that batch) lands in the same slots with the same RoPE positions,
            so ``load_row`` can drop it into the batch (a per-env reset).

    Raises:
        ValueError: ``max_frames`` < 1 or ``first_frame`` < 0.
    """

    def __init__(self, max_frames: int, first_frame: int = 0) -> None:
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        if first_frame < 0:
            raise ValueError(f"first_frame must be >= 0, got {first_frame}")
        self.max_frames = max_frames
        self.capacity = max_frames + 1
        self._keys: dict[int, torch.Tensor] = {}
        self._values: dict[int, torch.Tensor] = {}
        self.slot_frames = torch.full((self.capacity,), -1, dtype=torch.long)
        self.first_frame = first_frame
        self.next_frame = first_frame
        self.writing = False
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def num_frames(self) -> int:
        """Context frames held (at most ``max_frames``)."""
        return min(self.next_frame - self.first_frame, self.max_frames)

    def begin(self, new_frames: int, write: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Plan a pass over ``new_frames`` frames; return (query frame indices (T,), key frame indices (S',)).

        Raises:
            ValueError: a pass the rules in the module docstring do not allow.
        """
        if not write and new_frames != 1:
            raise ValueError(f"a pass that does not write the cache takes 1 frame, got {new_frames}")
        if new_frames > 1 and (self.next_frame > self.first_frame or new_frames > self.max_frames):
            raise ValueError(
                f"several frames ({new_frames}) can only fill an empty cache, at most max_frames="
                f"{self.max_frames}; the cache holds {self.num_frames}"
            )
        frames = torch.arange(self.next_frame, self.next_frame + new_frames)
        slot_frames = self.slot_frames.clone()
        slot_frames[frames % self.capacity] = frames
        valid = min(self.next_frame + new_frames, self.capacity)
        self.writing = write
        self._pending = (frames, slot_frames)
        return frames, slot_frames[:valid]

    def attend_buffers(
        self, layer: int, kind: str, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write new rotated keys/values (B, T, N, H, hd) of ``layer`` into their slots; return views of the
        valid slots in the ``kind`` layout (temporal: (B, N, H, S', hd); full: (B, H, S', N, hd))."""
        if self._pending is None:
            raise ValueError("call begin() before attend_buffers()")
        frames, _ = self._pending
        dim = _TIME_DIM[kind]
        new_k, new_v = (rearrange(x, _LAYOUTS[kind]) for x in (keys, values))
        if layer not in self._keys:
            shape = list(new_k.shape)
            shape[dim] = self.capacity
            self._keys[layer] = new_k.new_zeros(shape)
            self._values[layer] = new_v.new_zeros(shape)
        slots = (frames % self.capacity).to(new_k.device)
        self._keys[layer].index_copy_(dim, slots, new_k.to(self._keys[layer].dtype))
        self._values[layer].index_copy_(dim, slots, new_v.to(self._values[layer].dtype))
        valid = min(int(frames[-1]) + 1, self.capacity)
        return self._keys[layer].narrow(dim, 0, valid), self._values[layer].narrow(dim, 0, valid)

    def end(self, commit: bool = True) -> None:
        """Finish the pass planned by ``begin``: a writing pass appends its frames (unless not ``commit``,
        after a failed pass: the slots it wrote were free ones, so the cache stays as it was)."""
        if self._pending is not None and self.writing and commit:
            frames, slot_frames = self._pending
            self.slot_frames = slot_frames
            self.next_frame = int(frames[-1]) + 1
        self._pending, self.writing = None, False

    def select(self, index: torch.Tensor) -> None:
        """Keep the batch rows ``index`` (long (B',)) of every entry, e.g. to drop finished envs."""
        for store in (self._keys, self._values):
            for layer, tensor in store.items():
                store[layer] = tensor[index]

    def load_row(self, row: int, other: KVCache, other_row: int = 0) -> None:
        """Replace batch row ``row`` of every entry with row ``other_row`` of ``other``.

        ``other`` must hold the same frame positions in the same slots: a cache created with
        ``first_frame = self.next_frame - L`` and filled with L frames (see ``first_frame``).

        Raises:
            ValueError: ``other`` is at another position, has another window, or other layers.
        """
        if other.capacity != self.capacity or other.next_frame != self.next_frame:
            raise ValueError(
                f"load_row needs a cache of the same window at the same position; got capacity "
                f"{other.capacity} at frame {other.next_frame} for {self.capacity} at frame {self.next_frame}"
            )
        if set(other._keys) != set(self._keys):
            raise ValueError("load_row: the two caches hold different layers")
        for store, source in ((self._keys, other._keys), (self._values, other._values)):
            for layer, tensor in store.items():
                tensor[row] = source[layer][other_row].to(tensor.dtype)

    def clear(self) -> None:
        """Drop every entry (the next frame is ``first_frame`` again)."""
        self._keys.clear()
        self._values.clear()
        self.slot_frames.fill_(-1)
        self.next_frame = self.first_frame

    def nbytes(self) -> int:
        """Memory held by the cached tensors, in bytes."""
        tensors = [*self._keys.values(), *self._values.values()]
        return sum(t.numel() * t.element_size() for t in tensors)
