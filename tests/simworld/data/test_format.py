"""The on-disk format: reproducible shards, both frame encodings, manifests, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simworld.data.format import Manifest, canonical_action_schema, load_manifest
from simworld.data.shards import decode_shard, encode_mp4, encode_shard, read_shard
from simworld.data.writer import DatasetWriter


def test_shards_are_byte_reproducible_and_round_trip(tmp_path: Path, make_dataset) -> None:
    root = make_dataset(tmp_path / "ds", [5, 7])
    manifest = load_manifest(root)
    arrays = read_shard(root, manifest.episodes[1])
    assert encode_shard(arrays) == (root / manifest.episodes[1].file).read_bytes()  # fixed zip timestamps
    assert arrays["frames"].shape == (8, 8, 8, 3) and arrays["actions"].shape == (7, 21)
    assert np.load(root / manifest.episodes[1].file)["frames"].shape == (8, 8, 8, 3)  # plain numpy opens it
    again = make_dataset(tmp_path / "again", [5, 7])
    assert [r.sha256 for r in load_manifest(again).episodes] == [r.sha256 for r in manifest.episodes]


def test_mp4_frames_encoding(tmp_path: Path, make_dataset) -> None:
    # flat-colour frames survive H.264 almost exactly; odd sides are padded then cropped back
    root = make_dataset(tmp_path / "ds", [6], frame_sizes=[(9, 13)], encoding="mp4")
    manifest = load_manifest(root)
    assert manifest.frames_encoding == "mp4"
    frames = read_shard(root, manifest.episodes[0])["frames"]
    assert frames.shape == (7, 9, 13, 3) and frames.dtype == np.uint8
    expected = np.arange(7)[:, None, None]
    assert np.abs(frames[..., 0].astype(int) - expected).max() <= 3
    noisy = np.random.default_rng(0).integers(0, 255, (10, 16, 16, 3), dtype=np.uint8)
    assert encode_mp4(noisy) == encode_mp4(noisy)  # x264 output is reproducible (explicit timestamps)
    assert decode_shard((root / manifest.episodes[0].file).read_bytes(), keys=["frames"]).keys() == {"frames"}


def test_several_frame_sizes_in_one_dataset(tmp_path: Path, make_dataset) -> None:
    root = make_dataset(tmp_path / "ds", [3, 3, 3], frame_sizes=[(8, 8), (16, 12), (8, 8)])
    data = json.loads((root / "manifest.json").read_text())
    assert data["frame_sizes"] == [[8, 8], [16, 12]]
    assert [e["frame_size"] for e in data["episodes"]] == [[8, 8], [16, 12], [8, 8]]


def test_manifest_errors_name_what_was_found(tmp_path: Path, make_dataset) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        load_manifest(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a simworld dataset.*manifest.json does not exist"):
        load_manifest(tmp_path / "empty")
    root = make_dataset(tmp_path / "ds", [3])
    data = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps({**data, "format_version": 7}))
    with pytest.raises(ValueError, match="format_version 7; this simworld reads format_version 1"):
        load_manifest(root)
    (root / "manifest.json").write_text(json.dumps({**data, "schema": "webdataset"}))
    with pytest.raises(ValueError, match="schema 'webdataset'; expected one of \\['simworld-dataset'\\]"):
        load_manifest(root)
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_manifest(root)


def test_writer_rejects_episodes_that_break_the_format(tmp_path: Path, make_dataset) -> None:
    root = make_dataset(tmp_path / "ds", [3])
    header = load_manifest(root)
    writer = DatasetWriter(root, header)
    good = read_shard(root, header.episodes[0])
    with pytest.raises(ValueError, match=r"actions must be float32 \(T, 21\) = \(3, 21\) for 4 frames"):
        writer.write(1, {**good, "actions": good["actions"][:2]})
    with pytest.raises(ValueError, match="frames must be uint8"):
        writer.write(1, {**good, "frames": good["frames"].astype(np.float32)})
    with pytest.raises(ValueError, match="missing arrays \\['pose'\\]"):
        writer.write(1, {k: v for k, v in good.items() if k != "pose"})
    other = Manifest(
        env={"id": "other", "params": {}},
        action_schema=canonical_action_schema(),
        source={"kind": "test"},
        ground_truth=["pose"],
    )
    with pytest.raises(
        ValueError, match="other settings.*env.id: existing 'test/synthetic', requested 'other'"
    ):
        DatasetWriter(root, other)
