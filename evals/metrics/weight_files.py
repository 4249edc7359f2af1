"""Finding, hashing and (optionally) downloading the weight files that metrics load.

Lookups go through :func:`simworld.weights.find_weight` (search order: explicit directory,
``$SIMWORLD_WEIGHTS_DIR``, torch's hub cache, ``../shared/weights``). Every file loaded is hashed, and
the hash goes into the metric's label. A registered digest that does not match is an error (a
corrupt or different file must not produce a number under the metric's name); a file without a
published digest is loaded and labelled ``weights_verified=None``.

Downloads happen only when a caller asks (``download=True``): the file is streamed from its
registered URL into torch's hub cache (where the lookup finds it next time), hashed on the way,
checked against the registered digest if there is one, and otherwise its sha256 is printed and
written beside it (``<file>.sha256``) so that it can be compared with another copy.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

from evals.metrics.base import MetricUnavailable
from simworld.weights import (
    WEIGHTS,
    WEIGHTS_DIR_ENV,
    find_weight,
    sha256_of,
    torch_hub_checkpoints_dir,
)

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class WeightsFile:
    """A weights file chosen for loading.

    Attributes:
        path: The file.
        sha256: Its sha256 (hex), computed here.
        verified: ``True`` if it matched a registered digest, ``None`` if none is known.
        format: ``"safetensors"``, ``"torch-state-dict"`` or ``"torchscript"``.
    """

    path: Path
    sha256: str
    verified: bool | None
    format: str


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, cached in-process by (path, size, mtime)."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_of(path)
    return _SHA_CACHE[key]


def _format_for(path: Path) -> str:
    if path.suffix == ".safetensors":
        return "safetensors"
    return "torchscript" if path.name == "i3d_torchscript.pt" else "torch-state-dict"


def resolve_weights(
    name: str,
    *,
    metric: str,
    reason: str,
    weights_path: str | os.PathLike[str] | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> WeightsFile:
    """Pick the weights file for a registered weight name, hash it and check its digest.

    Args:
        name: A key of :data:`simworld.weights.WEIGHTS`.
        metric: Metric name, for errors.
        reason: First line of the ``MetricUnavailable`` raised when nothing is found.
        weights_path: An explicit file (skips the search).
        weights_dir: A directory searched first.
        download: Download from the registered URL into torch's hub cache if nothing is found.

    Returns:
        The file, its hash and whether the hash was verified.

    Raises:
        MetricUnavailable: Nothing found (and no download asked for, or the download failed).
        FileNotFoundError: ``weights_path`` does not exist.
        ValueError: The file's sha256 contradicts the registered digest.
    """
    spec = WEIGHTS[name]
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{metric}: weights_path {path} does not exist")
        sha = file_sha256(path)
        digests = [f.sha256.lower() for f in spec.files if f.sha256]
        same_name = [f for f in spec.files if f.filename == path.name and f.sha256]
        if same_name and not sha.startswith(same_name[0].sha256.lower()):
            _raise_mismatch(metric, path, sha, same_name[0].sha256)
        verified = any(sha.startswith(d) for d in digests) if digests else None
        if verified is False:
            warnings.warn(
                f"{metric}: {path} (sha256 {sha}) matches no registered digest of '{name}'; "
                "loading it, and the label records weights_verified=False",
                UserWarning,
                stacklevel=3,
            )
        return WeightsFile(path, sha, verified, _format_for(path))

    lookup = find_weight(name, weights_dir)
    if lookup.path is None and download:
        try:
            download_weights(name)
        except (OSError, ValueError) as exc:
            raise MetricUnavailable(
                metric, f"{reason} (download failed: {exc})", _fix_text(name), lookup.searched
            ) from exc
        lookup = find_weight(name, weights_dir)
    if lookup.path is None or lookup.file is None:
        searched = [str(p) for p in lookup.searched] + [f"(skipped {s})" for s in lookup.skipped]
        raise MetricUnavailable(metric, reason, _fix_text(name), searched)
    sha = file_sha256(lookup.path)
    expected = lookup.file.sha256
    if expected is not None and not sha.startswith(expected.lower()):
        _raise_mismatch(metric, lookup.path, sha, expected)
    return WeightsFile(lookup.path, sha, True if expected else None, lookup.file.format)


def _raise_mismatch(metric: str, path: Path, sha: str, expected: str) -> None:
    raise ValueError(
        f"{metric}: {path} has sha256 {sha}, but the registered digest is {expected}: the file is corrupt "
        "or a different network; replace it with the original file"
    )


def _fix_text(name: str) -> str:
    spec = WEIGHTS[name]
    options = "; ".join(f"{f.filename}" + (f" from {f.url}" if f.url else "") for f in spec.files)
    return (
        f"put {options} into ${WEIGHTS_DIR_ENV} (or pass weights_dir=/ weights_path=), "
        "or pass download=True on a machine that can reach the URL"
    )


def download_weights(
    name: str,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    url: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download a registered weight file into a cache directory, with a sha256 check.

    The file is written atomically (temporary file, then rename). With a registered digest a
    mismatch deletes it and raises; without one, the computed sha256 is printed to stderr and
    written to ``<file>.sha256`` — it is recorded, not vouched for.

    Args:
        name: A key of :data:`simworld.weights.WEIGHTS` with a URL.
        cache_dir: Destination directory (default: torch's hub cache, which the lookup searches).
        url: Override the registered URL (e.g. a mirror, or ``file://`` in tests).
        timeout: Socket timeout in seconds.

    Returns:
        The path of the downloaded file.

    Raises:
        ValueError: No URL is registered, the server sent an HTML page instead of the file, or the
            digest does not match.
        OSError: Network or file system errors (``urllib.error.URLError`` is one).
    """
    spec = WEIGHTS[name]
    weight_file = next((f for f in spec.files if f.url), spec.files[0] if url is not None else None)
    if weight_file is None:
        raise ValueError(f"weights '{name}' have no download URL; put the file in ${WEIGHTS_DIR_ENV}")
    source = url if url is not None else str(weight_file.url)
    dest_dir = Path(cache_dir) if cache_dir is not None else torch_hub_checkpoints_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / weight_file.filename
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=weight_file.filename + ".", suffix=".part", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(source, timeout=timeout) as response:
            content_type = response.headers.get("Content-Type", "") if response.headers else ""
            if "text/html" in content_type:
                raise ValueError(f"{source} returned an HTML page, not the weights file; download it by hand")
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        if weight_file.sha256 is not None and not sha.startswith(weight_file.sha256.lower()):
            raise ValueError(
                f"downloaded {source}: sha256 {sha} does not match the registered {weight_file.sha256}"
            )
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if weight_file.sha256 is None:
        (dest_dir / (weight_file.filename + ".sha256")).write_text(
            f"{sha}  {weight_file.filename}\n"
            f"# downloaded from {source}; no published digest to check against\n"
        )
        print(
            f"downloaded {dest} (sha256 {sha}); no published digest exists to verify it against, "
            f"the hash is recorded in {dest}.sha256",
            file=sys.stderr,
        )
    return dest
