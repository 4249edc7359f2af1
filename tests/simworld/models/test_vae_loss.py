"""VAE loss: LPIPS against the upstream reference values, LPIPS reported unavailable without weights,
the named terms, the PatchGAN hinge terms."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simworld import weights
from simworld.models.vae_blocks import Posterior
from simworld.models.vae_loss import PatchDiscriminator, VAELoss, VAELossConfig, load_lpips

TESTDATA = Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "lpips"
SHARED_TRUNK = (
    weights.shared_weights_dir() or Path("/nonexistent")
) / "alexnet_imagenet_features.safetensors"
needs_trunk = pytest.mark.skipif(
    not SHARED_TRUNK.is_file(), reason="../shared/weights not beside this checkout"
)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread (two OpenMP threads on a busy 2-core machine are ~10× slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def no_standard_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No $SIMWORLD_WEIGHTS_DIR, an empty $TORCH_HOME and shared folder; returns an empty weights_dir."""
    monkeypatch.delenv("SIMWORLD_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(weights, "shared_weights_dir", lambda: tmp_path / "shared")
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def clips(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, Posterior]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 2, 3, 32, 32, generator=g) * 2 - 1
    reconstruction = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    posterior = Posterior(torch.randn(1, 2, 4, 8, 8, generator=g), torch.full((1, 2, 4, 8, 8), -2.0))
    return x, reconstruction, posterior


@needs_trunk
@pytest.mark.skipif(not TESTDATA.is_dir(), reason="../shared/testdata/lpips not beside this checkout")
def test_lpips_matches_upstream_reference_distances() -> None:
    loaded = load_lpips()
    assert loaded.available and str(SHARED_TRUNK) in loaded.status

    def image(name: str) -> torch.Tensor:
        pixels = np.array(Image.open(TESTDATA / f"{name}.png").convert("RGB"))
        return torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1

    with torch.no_grad():
        ref = image("ex_ref")
        # richzhang/PerceptualSimilarity README: d(ref, p0) = 0.722, d(ref, p1) = 0.138 (v0.1 alex).
        assert loaded.net(ref, image("ex_p0")).item() == pytest.approx(0.72188, abs=1e-4)
        assert loaded.net(ref, image("ex_p1")).item() == pytest.approx(0.13757, abs=1e-4)


@needs_trunk
def test_loss_terms_with_the_shared_lpips_weights() -> None:
    loss = VAELoss()
    assert str(SHARED_TRUNK) in loss.lpips_status
    x, reconstruction, posterior = clips()
    terms = loss(x, reconstruction, posterior)
    assert set(terms) == {"loss", "l1", "kl", "lpips"}
    assert isinstance(terms["lpips"], torch.Tensor) and terms["lpips"] > 0
    expected = terms["l1"] + terms["lpips"] + 1e-6 * terms["kl"]
    torch.testing.assert_close(terms["loss"].detach(), expected)
    torch.testing.assert_close(terms["l1"], (x - reconstruction).abs().mean())
    kl = 0.5 * (posterior.mean**2 + np.exp(-2.0) - 1 + 2.0)
    torch.testing.assert_close(terms["kl"], kl.mean())
    assert not any(p.requires_grad for p in loss.lpips.parameters())


def test_lpips_reported_unavailable_with_an_empty_weights_dir(
    no_standard_weights: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        loss = VAELoss(VAELossConfig(weights_dir=str(no_standard_weights)))
    assert loss.lpips is None and loss.lpips_status.startswith("unavailable: AlexNet trunk weights not found")
    assert str(no_standard_weights / "alexnet_imagenet_features.safetensors") in loss.lpips_status
    assert "LPIPS term off" in caplog.text
    x, reconstruction, posterior = clips()
    terms = loss(x, reconstruction, posterior)
    assert terms["lpips"] == loss.lpips_status
    torch.testing.assert_close(terms["loss"].detach(), terms["l1"] + 1e-6 * terms["kl"])


def test_lpips_unavailable_when_the_file_fails_its_checksum(no_standard_weights: Path) -> None:
    (no_standard_weights / "alexnet_imagenet_features.safetensors").write_bytes(b"not alexnet")
    loaded = load_lpips(no_standard_weights)
    assert loaded.net is None and "does not match its sha256" in loaded.status


def test_adversarial_terms_start_at_adv_start_step(no_standard_weights: Path) -> None:
    loss = VAELoss(VAELossConfig(lpips_weight=0.0, adv_weight=0.5, adv_start_step=10, disc_channels=16))
    assert loss.lpips_status == "unavailable: lpips_weight is 0"
    x, reconstruction, posterior = clips()
    reconstruction.requires_grad_(True)
    assert "adv_g" not in loss(x, reconstruction, posterior, step=9)
    terms = loss(x, reconstruction, posterior, step=10)
    torch.testing.assert_close(
        terms["loss"].detach(), terms["l1"] + 1e-6 * terms["kl"] + 0.5 * terms["adv_g"]
    )
    terms["loss"].backward()
    assert reconstruction.grad is not None
    d_terms = loss.discriminator_loss(x, reconstruction)
    assert set(d_terms) == {"loss_d", "logits_real", "logits_fake"} and d_terms["loss_d"] > 0
    assert VAELoss(VAELossConfig(lpips_weight=0.0)).discriminator is None


def test_patch_discriminator_shape_and_config_errors() -> None:
    assert PatchDiscriminator(channels=16, num_layers=3)(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 6, 6)
    with pytest.raises(ValueError, match="kl_weight must be >= 0"):
        VAELossConfig(kl_weight=-1.0)
    with pytest.raises(ValueError, match="disc_channels a positive multiple of 8"):
        VAELossConfig(disc_channels=12)
