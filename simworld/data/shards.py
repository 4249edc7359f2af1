"""Episode shards: one ``.npz`` file per episode, written byte-for-byte reproducibly.

A shard is a zip of ``.npy`` members (``numpy.load`` opens it). Members are DEFLATE-compressed
(level 6) and carry a fixed timestamp, so the same arrays always give the same bytes and the same
sha256: a resumed collection can be compared with an uninterrupted one by checksum.

With ``frames_encoding="mp4"`` the frames are not stored as ``frames`` but as ``frames_mp4``, the
bytes of an H.264 mp4 (yuv420p, CRF ``MP4_CRF``, sides padded to even by edge replication, one
frame per 1/20 s), stored without zip compression, plus ``frames_shape`` = (T+1, H, W, 3).
``decode_shard`` returns ``frames`` either way.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path

import numpy as np

from simworld.data.format import EpisodeRecord, atomic_write_bytes, episode_file

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""Timestamp of every zip member (the zip epoch): shards do not depend on when they were written."""

DEFLATE_LEVEL = 6
"""zlib level of the npz members (numpy's ``savez_compressed`` default)."""

MP4_CODEC = "libx264"
MP4_CRF = 18
"""x264 constant rate factor of mp4 frames (0 = lossless, 23 = x264's default; lower is better)."""

MP4_FPS = 20


class CorruptShardError(ValueError):
    """A shard's bytes do not match the manifest, or it does not decode."""


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------- mp4


def encode_mp4(frames: np.ndarray, crf: int = MP4_CRF) -> bytes:
    """Encode uint8 (T, H, W, 3) frames as H.264 yuv420p in an mp4; deterministic bytes.

    Odd sides are padded by edge replication (yuv420p needs even sides); ``decode_mp4`` with the
    original size crops them back. Explicit timestamps keep x264's rate control, and therefore
    the output, the same from run to run.
    """
    import av

    T, H, W, _ = frames.shape
    padded = np.pad(frames, ((0, 0), (0, H % 2), (0, W % 2), (0, 0)), mode="edge")
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream(MP4_CODEC, rate=MP4_FPS)
        stream.width, stream.height = padded.shape[2], padded.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, MP4_FPS)
        stream.options = {"crf": str(crf)}
        for t, frame in enumerate(padded):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts, video_frame.time_base = t, Fraction(1, MP4_FPS)
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def decode_video(source: str | Path | bytes) -> np.ndarray:
    """Decode every frame of a video file (path) or mp4 bytes to uint8 (T, H, W, 3) RGB.

    yuv420p streams are converted with OpenCV (BT.601), about 10× faster than PyAV's per-frame
    converter at small sizes; other pixel formats go through PyAV's ``rgb24`` conversion.
    """
    import av
    import cv2

    handle = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    out = []
    with av.open(handle) as container:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        for frame in container.decode(stream):
            if frame.format.name == "yuv420p":
                out.append(cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420))
            else:
                out.append(frame.to_ndarray(format="rgb24"))
    if not out:
        return np.zeros((0, 0, 0, 3), np.uint8)
    return np.stack(out)


# --------------------------------------------------------------------------------------- shards


def encode_shard(arrays: Mapping[str, np.ndarray], frames_encoding: str = "npz") -> bytes:
    """Serialise an episode's arrays to shard bytes (deterministic).

    Args:
        arrays: name -> array; ``frames`` uint8 (T+1, H, W, 3) among them (or ``latents``).
        frames_encoding: "npz" or "mp4" (how ``frames`` is stored).

    Returns:
        The bytes of the ``.npz`` file.
    """
    members: dict[str, tuple[np.ndarray, bool]] = {}
    for name, array in arrays.items():
        if name == "frames" and frames_encoding == "mp4":
            members["frames_mp4"] = (np.frombuffer(encode_mp4(array), np.uint8), False)
            members["frames_shape"] = (np.asarray(array.shape, np.int64), True)
        else:
            members[name] = (np.asarray(array), True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", allowZip64=True) as zf:
        for name, (array, compress) in members.items():
            if array.dtype.hasobject:
                raise TypeError(
                    f"shard array {name!r} has dtype object; only plain numeric/str arrays are stored"
                )
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            kind = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            zf.writestr(
                info, npy.getvalue(), compress_type=kind, compresslevel=DEFLATE_LEVEL if compress else None
            )
    return buf.getvalue()


def decode_shard(data: bytes, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Decode shard bytes to arrays (``frames_mp4`` becomes ``frames``).

    Args:
        data: the ``.npz`` bytes.
        keys: names to decode (``frames`` included); None for all.

    Raises:
        CorruptShardError: not a readable zip of ``.npy`` members (bad CRC, truncated, ...).
    """
    wanted = None if keys is None else set(keys)
    out: dict[str, np.ndarray] = {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            names = list(npz.files)
            for name in names:
                if name == "frames_shape":
                    continue
                target = "frames" if name == "frames_mp4" else name
                if wanted is not None and target not in wanted:
                    continue
                if name == "frames_mp4":
                    shape = tuple(int(v) for v in npz["frames_shape"])
                    frames = decode_video(npz["frames_mp4"].tobytes())
                    if len(frames) != shape[0]:
                        raise ValueError(f"mp4 holds {len(frames)} frames, frames_shape says {shape[0]}")
                    out["frames"] = np.ascontiguousarray(frames[:, : shape[1], : shape[2]])
                else:
                    out[name] = npz[name]
    except CorruptShardError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, zlib.error, ValueError, EOFError, av errors, ...
        raise CorruptShardError(f"{type(exc).__name__}: {exc}") from None
    return out


def write_shard(
    root: str | Path,
    index: int,
    arrays: Mapping[str, np.ndarray],
    frames_encoding: str = "npz",
    info: Mapping | None = None,
    frames_key: str = "frames",
) -> EpisodeRecord:
    """Write episode ``index``'s shard atomically and return its manifest entry.

    Args:
        root: dataset folder.
        index: episode id; the file is ``episodes/ep_<index:06d>.npz``.
        arrays: the episode (see ``simworld.data.format.check_episode``).
        frames_encoding: "npz" or "mp4".
        info: facts to keep in the manifest entry.
        frames_key: "frames", or "latents" for latent caches.

    Returns:
        The entry to add to the manifest (not added here: the caller commits it).
    """
    data = encode_shard(arrays, frames_encoding)
    relative = episode_file(index)
    atomic_write_bytes(Path(root) / relative, data)
    frames = arrays[frames_key]
    size = list(frames.shape[1:3]) if frames_key == "frames" else list(frames.shape[1:])
    return EpisodeRecord(
        index=int(index),
        file=relative,
        sha256=sha256_bytes(data),
        bytes=len(data),
        length=int(len(frames) - 1),
        frame_size=[int(v) for v in size],
        info=dict(info or {}),
    )


def read_shard(
    root: str | Path, record: EpisodeRecord, keys: Iterable[str] | None = None, verify: bool = True
) -> dict[str, np.ndarray]:
    """Read episode ``record`` from the dataset at ``root``.

    The file is read once into memory; with ``verify`` its sha256 is compared with the manifest
    before decoding (hashing costs a few percent of decoding, see benchmarks/dataset_io.py).

    Raises:
        FileNotFoundError: the shard is missing.
        CorruptShardError: size or checksum differs from the manifest, or the shard does not decode.
    """
    path = Path(root) / record.file
    if not path.is_file():
        raise FileNotFoundError(f"episode {record.index}: shard {path} is missing")
    data = path.read_bytes()
    if verify:
        if len(data) != record.bytes:
            raise CorruptShardError(
                f"episode {record.index}: shard {path} has {len(data)} bytes, the manifest "
                f"says {record.bytes} (truncated or replaced); run `simworld validate`"
            )
        digest = sha256_bytes(data)
        if digest != record.sha256:
            raise CorruptShardError(
                f"episode {record.index}: shard {path} has sha256 {digest[:16]}…, the manifest "
                f"says {record.sha256[:16]}… (corrupt); run `simworld validate`"
            )
    try:
        return decode_shard(data, keys)
    except CorruptShardError as exc:
        raise CorruptShardError(f"episode {record.index}: shard {path} does not decode: {exc}") from None
