"""simworld.weights: search order, what is recorded, checksums."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from simworld import weights
from simworld.weights import WEIGHTS, WeightFile, WeightLookup, find_weight, sha256_of

REAL_SHARED_WEIGHTS_DIR = weights.shared_weights_dir  # before the autouse fixture patches it
SHARED_TRUNK = (
    Path(__file__).resolve().parents[2].parent / "shared/weights/alexnet_imagenet_features.safetensors"
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No $SIMWORLD_WEIGHTS_DIR, an empty $TORCH_HOME and an empty shared folder."""
    monkeypatch.delenv("SIMWORLD_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(weights, "shared_weights_dir", lambda: tmp_path / "shared")


def test_registry_names() -> None:
    assert set(WEIGHTS) == {"lpips_alexnet_trunk", "lpips_vgg16_trunk", "i3d_stylegan_v", "i3d_videogpt"}
    assert WEIGHTS["lpips_vgg16_trunk"].files[0].filename == "vgg16-397923af.pth"
    trunk = WEIGHTS["lpips_alexnet_trunk"].files[0]
    assert trunk.filename == "alexnet_imagenet_features.safetensors"
    assert trunk.sha256 == "9f97fd313f4da83dbe6bbfbe6effca1241de9edfcd7c53386261ed9697286dd9"
    assert WEIGHTS["i3d_stylegan_v"].files[0].filename == "i3d_torchscript.pt"
    assert WEIGHTS["i3d_videogpt"].files[0].filename == "i3d_pretrained_400.pt"


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="valid names: i3d_stylegan_v, i3d_videogpt, lpips_alexnet_trunk"):
        find_weight("i3d")


def test_not_found_records_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMWORLD_WEIGHTS_DIR", str(tmp_path / "env"))
    lookup = find_weight("i3d_videogpt", weights_dir=tmp_path / "explicit")
    assert not lookup.found and lookup.path is None and lookup.sha256 is None
    assert lookup.searched == (
        tmp_path / "explicit/i3d_pretrained_400.pt",
        tmp_path / "env/i3d_pretrained_400.pt",
        tmp_path / "torch_home/hub/checkpoints/i3d_pretrained_400.pt",
        tmp_path / "shared/i3d_pretrained_400.pt",
    )
    assert lookup.skipped == ()
    with pytest.raises(FileNotFoundError) as info:
        lookup.require()
    assert str(tmp_path / "env/i3d_pretrained_400.pt") in str(info.value)
    assert "drive.google.com" in str(info.value)


def test_unset_env_is_reported_as_skipped() -> None:
    assert find_weight("i3d_stylegan_v").skipped == ("$SIMWORLD_WEIGHTS_DIR: not set",)


def test_explicit_dir_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for folder in ("explicit", "env"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "i3d_torchscript.pt").write_bytes(b"x")
    monkeypatch.setenv("SIMWORLD_WEIGHTS_DIR", str(tmp_path / "env"))
    lookup = find_weight("i3d_stylegan_v", weights_dir=tmp_path / "explicit")
    assert lookup.require() == tmp_path / "explicit/i3d_torchscript.pt"
    assert lookup.searched == (tmp_path / "explicit/i3d_torchscript.pt",)
    assert lookup.verify() is None  # no known sha256


def test_torchvision_download_in_torch_home_is_found(tmp_path: Path) -> None:
    checkpoints = tmp_path / "torch_home/hub/checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "alexnet-owt-7be5be79.pth").write_bytes(b"not really alexnet")
    lookup = find_weight("lpips_alexnet_trunk")
    assert lookup.path == checkpoints / "alexnet-owt-7be5be79.pth"
    assert lookup.file is not None and lookup.file.format == "torch-state-dict"
    assert lookup.sha256 == "7be5be79" and lookup.verify() is False


def test_verify_accepts_full_digest_or_prefix(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    assert sha256_of(path) == digest
    for expected, ok in ((digest, True), (digest[:8], True), ("0" * 64, False)):
        lookup = WeightLookup("x", path, WeightFile("w.bin", "torchscript", expected, None), (path,), ())
        assert lookup.verify() is ok


@pytest.mark.skipif(not SHARED_TRUNK.is_file(), reason="../shared/weights not beside this checkout")
def test_shared_lpips_trunk_found_and_verified(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights, "shared_weights_dir", lambda: SHARED_TRUNK.parent)
    lookup = find_weight("lpips_alexnet_trunk")
    assert lookup.path == SHARED_TRUNK and lookup.verify() is True


def test_shared_dir_is_beside_the_repository() -> None:
    repo_root = Path(weights.__file__).resolve().parent.parent
    assert (repo_root / "pyproject.toml").is_file()  # tests run from a source checkout
    assert REAL_SHARED_WEIGHTS_DIR() == repo_root.parent / "shared" / "weights"
