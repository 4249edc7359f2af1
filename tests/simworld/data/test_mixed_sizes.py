"""MixedSizes: per-clip sizes and durations drawn by (seed, epoch, position), exact crops, resizes
that cover the drawn size, steps cut with their frames, resumable streams, and bad input."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from simworld.data.mixed_sizes import MixedSizes, check_sizes, resize_cover_crop
from simworld.train.data import BatchStream, DataConfig


def _batch(B: int = 6, T: int = 8, H: int = 16, W: int = 16) -> dict[str, torch.Tensor]:
    """A collated batch whose pixel values and steps say which clip, frame, row and column they are."""
    b, t, y, x = torch.meshgrid(
        torch.arange(B), torch.arange(T), torch.arange(H), torch.arange(W), indexing="ij"
    )
    frames = (b * 40 + t * 4 + (y + x) % 3).to(torch.uint8)[..., None].expand(B, T, H, W, 3).contiguous()
    steps = torch.arange(B)[:, None] * 100.0 + torch.arange(T - 1)[None]
    return {
        "frames": frames,
        "actions": steps[..., None].repeat(1, 1, 21),
        "rewards": steps.clone(),
        "terminated": torch.zeros(B, T - 1, dtype=torch.bool),
        "truncated": torch.zeros(B, T - 1, dtype=torch.bool),
        "episode": torch.arange(B),
        "start": torch.zeros(B, dtype=torch.int64),
    }


def test_clips_get_their_drawn_size_and_duration_with_their_steps() -> None:
    mixed = MixedSizes([[16, 16], [8, 16], [16, 8], [8, 8]], None, [2, 5, 8], window=8, seed=0)
    batch = _batch()
    out = mixed(batch, epoch=0, position=3)
    draws = mixed.draw(6, 0, 3)
    for i, (clip, draw) in enumerate(zip(out["frames"], draws)):
        T, s = draw["frames"], draw["start"]
        assert clip.shape == (T, *draw["size"], 3) and clip.dtype == torch.uint8
        assert out["rewards"][i].tolist() == batch["rewards"][i, s : s + T - 1].tolist()
        assert out["actions"][i].shape == (T - 1, 21)
        assert int(out["start"][i]) == s
        # every frame is still the frame it was (the value says clip and frame, up to the resize)
        frame_ids = ((clip[..., 0].float().mean(dim=(1, 2)) - i * 40) / 4).round().tolist()
        assert frame_ids == list(range(s, s + T))
        if draw["size"][0] == 16 or draw["size"][1] == 16:  # cover scale 1: an exact crop
            y = int(draw["crop"][0] * (16 - draw["size"][0] + 1))
            x = int(draw["crop"][1] * (16 - draw["size"][1] + 1))
            expected = batch["frames"][i, s : s + T, y : y + draw["size"][0], x : x + draw["size"][1]]
            assert torch.equal(clip, expected)


def test_draws_are_a_function_of_seed_epoch_and_position() -> None:
    mixed = MixedSizes([[8, 8], [16, 16]], [1.0, 3.0], [2, 4], window=4, seed=1)
    assert mixed.draw(8, 2, 5) == mixed.draw(8, 2, 5)
    assert mixed.draw(8, 2, 5) != mixed.draw(8, 2, 6)
    assert mixed.draw(8, 2, 5) != MixedSizes([[8, 8], [16, 16]], [1.0, 3.0], [2, 4], 4, seed=2).draw(8, 2, 5)
    counts = Counter(d["size"] for p in range(200) for d in mixed.draw(8, 0, p))
    assert 2.5 < counts[(16, 16)] / counts[(8, 8)] < 3.5  # the weights


def test_resize_covers_keeps_aspect_and_averages() -> None:
    flat = torch.full((2, 3, 16, 16), 7.0)
    assert torch.allclose(resize_cover_crop(flat, (24, 40), (0.5, 0.5)), torch.full((2, 3, 24, 40), 7.0))
    stripes = (torch.arange(16) % 2).float().expand(1, 1, 16, 16)  # alternating columns
    small = resize_cover_crop(stripes, (8, 8), (0.0, 0.0))
    inner = small[..., 1:-1]  # antialiased: stripes average to grey (no aliasing to 0 or 1) off the border
    assert small.shape == (1, 1, 8, 8) and torch.allclose(inner, torch.full_like(inner, 0.5), atol=0.01)
    # a 16x16 image to 8x16: scale 1 (already covers), so an exact crop of 8 rows
    image = torch.arange(256.0).reshape(1, 1, 16, 16)
    assert torch.equal(resize_cover_crop(image, (8, 16), (0.99, 0.0)), image[..., 8:, :])


def test_latents_are_resized_at_size_over_factor() -> None:
    mixed = MixedSizes([[32, 16]], None, None, window=3, seed=0, factor=4)
    batch = {**_batch(2, 3), "latents": torch.randn(2, 3, 12, 4, 4)}
    del batch["frames"]
    out = mixed(batch, 0, 0)
    assert [tuple(c.shape) for c in out["latents"]] == [(3, 12, 8, 4)] * 2


def test_stream_with_mixed_sizes_resumes_exactly(tmp_path: Path, make_dataset) -> None:
    root = make_dataset(tmp_path / "ds", [20] * 6)
    config = DataConfig(path=str(root), window=4, batch_size=2, sizes=[[8, 8], [4, 8]], windows=[2, 3, 4])

    def stream() -> BatchStream:
        ds = config.dataset(root, "train", seed=0)
        return BatchStream(ds, config.batch_size, 0, seed=0, transform=config.mixed_sizes(0, 1))

    first = stream()
    for _ in range(5):
        first.next()
    resumed = stream()
    resumed.load_state(first.state())
    a, b = first.next(), resumed.next()
    assert len(a["frames"]) == 2
    assert all(torch.equal(x, y) for x, y in zip(a["frames"], b["frames"]))
    assert torch.equal(a["start"], b["start"])


def test_bad_sizes_are_refused_naming_the_rule() -> None:
    with pytest.raises(ValueError, match="positive multiples of 8"):
        check_sizes([[64, 64], [60, 64]], 8)
    with pytest.raises(ValueError, match=r"in \[2, data.window=4\]"):
        DataConfig(path="x", window=4, windows=[2, 6])
    with pytest.raises(ValueError, match="one weight >= 0 per entry"):
        DataConfig(path="x", sizes=[[8, 8]], size_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"\[H, W\] pairs"):
        DataConfig(path="x", sizes=[[8, 8, 8]])
    assert DataConfig(path="x").mixed_sizes(0, 1) is None  # the default: batches as collated
